"""The loan simulator's population, scored by a calibrated stand-in for the model, through the
real profilers: a reference and daily batches with segments, no training and no full cycles.

The score is the default probability the observable features imply (the simulator's own
risk model, shrunk for the risk the lender cannot see), so it is calibrated and its AUC is
what a good model reaches (~0.75). Approved rows and a 10% control slice get labels.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from baseline_model.simulator import Incident, default_logit, generate_day
from checks.result import CheckResult
from checks.runner import run_checks
from core.config import VigilConfig, config_from_dict
from core.stores import Warehouse
from profilers.ingest import ingest_all
from profilers.profile import profile_batches
from profilers.reference import ensure_reference

START = date(2026, 3, 2)
THRESHOLD = 0.2
_SHRINK = 1.0 / np.sqrt(1.0 + np.pi * 0.75**2 / 8.0)  # probit approximation of the unobserved N(0, 0.75) risk
FEATURES = ("income", "credit_score", "interest_rate", "utilisation", "home_ownership", "purpose")

Mutate = Callable[[pd.DataFrame], pd.DataFrame]


def config_dict(segments: list[dict[str, Any]] | None = None, volume: int = 1500) -> dict[str, Any]:
    return {
        "model": {"name": "loan_toy", "task": "binary", "threshold": THRESHOLD},
        "predictions": {"source": {"path": "landing/predictions"}, "id_column": "application_id",
                        "timestamp_column": "scored_at", "score_column": "score", "decision_column": "decision",
                        "positive_decision": "approve"},
        "features": [
            {"name": "income", "type": "numeric"}, {"name": "credit_score", "type": "numeric"},
            {"name": "interest_rate", "type": "numeric"}, {"name": "utilisation", "type": "numeric"},
            {"name": "home_ownership", "type": "categorical"}, {"name": "purpose", "type": "categorical"},
        ],
        "etl_tables": [{"name": "outcomes", "source": {"path": "landing/outcomes"}, "timestamp_column": "observed_at",
                        "key": "application_id"}],
        "labels": {"table": "outcomes", "join_key": "application_id", "label_column": "defaulted", "maturity": "1d"},
        "batch": {"window": "1d", "max_future": "520w"},
        "reference": {"kind": "file", "path": "reference.parquet", "chunk_rows": volume},
        "kpis": [{"name": "default_rate_approved", "kind": "label_rate", "decision": "approve", "upper": 0.3,
                  "min_rows": 50}],
        "segments": segments if segments is not None else [{"name": "home_ownership", "column": "home_ownership"},
                                                            {"name": "purpose", "column": "purpose", "top": 3}],
    }


def scored_day(day: date, seed: int, volume: int, incidents: list[Incident], mutate: Mutate | None = None) -> pd.DataFrame:
    data = generate_day(day, seed, volume, incidents, start=START)
    assert data.bureau is not None
    frame = data.applications.merge(data.bureau, on="application_id").merge(
        data.truth[["application_id", "defaulted"]], on="application_id")
    if mutate is not None:
        frame = mutate(frame)
    frame["score"] = 1.0 / (1.0 + np.exp(-default_logit(frame) * _SHRINK))
    frame["decision"] = np.where(frame["score"] < THRESHOLD, "approve", "refer")
    frame["scored_at"] = frame["submitted_at"]
    return frame


def build(root: Path, *, days: int, seed: int = 0, volume: int = 1500, reference_days: int = 20,
          incidents: list[Incident] | None = None, mutate: dict[int, Mutate] | None = None,
          segments: list[dict[str, Any]] | None = None) -> tuple[VigilConfig, Warehouse, list[datetime]]:
    """Reference (reference_days before START, every row labelled) and `days` production days."""
    root.mkdir(parents=True, exist_ok=True)
    ref = pd.concat([scored_day(START - timedelta(days=reference_days - i), seed + 1000, volume, [])
                     for i in range(reference_days)])
    ref[[*FEATURES, "score", "decision", "defaulted"]].to_parquet(root / "reference.parquet", index=False)
    rng = np.random.default_rng(seed)
    for i in range(days):
        day = START + timedelta(days=i)
        frame = scored_day(day, seed, volume, incidents or [], (mutate or {}).get(i))
        (root / "landing" / "predictions").mkdir(parents=True, exist_ok=True)
        frame[["application_id", "scored_at", *FEATURES, "score", "decision"]].to_parquet(
            root / "landing" / "predictions" / f"predictions_{day}.parquet", index=False)
        labelled = (frame["decision"] == "approve") | (rng.random(len(frame)) < 0.1)
        out = frame.loc[labelled, ["application_id", "defaulted"]].copy()
        out["observed_at"] = datetime.combine(day + timedelta(days=1), time(1))
        (root / "landing" / "outcomes").mkdir(parents=True, exist_ok=True)
        out.to_parquet(root / "landing" / "outcomes" / f"outcomes_{day}.parquet", index=False)
    cfg = config_from_dict(config_dict(segments, volume), file=str(root / "monitor.yaml"), root=root)
    wh = Warehouse(cfg.warehouse_path, memory_limit="1GB")
    ingest_all(cfg, wh)
    ensure_reference(cfg, wh)
    batches = sorted(profile_batches(cfg, wh))
    return cfg, wh, batches


def check_all(cfg: VigilConfig, wh: Warehouse, batches: list[datetime]) -> list[CheckResult]:
    return run_checks(cfg, wh, batches, batches)


def day(i: int) -> datetime:
    return datetime.combine(START + timedelta(days=i), time())
