"""A small monitored model written as landing files and run through the real profilers.

Clean days 0..N-1 plus optional incidents, so the runner is tested end to end against
DuckDB statistics computed by profilers (no hand-written rows).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.config import VigilConfig, config_from_dict
from core.stores import Warehouse
from profilers.ingest import ingest_all
from profilers.profile import profile_batches
from profilers.reference import ensure_reference

DAY0 = datetime(2025, 5, 1)
ROWS = 600


def config_dict(**overrides: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "model": {"name": "toy", "task": "classification", "threshold": 0.5,
                  "feature_builder": "tests.checks.warehouse_fixture:build_features"},
        "predictions": {
            "source": {"path": "landing/predictions", "glob": "*.parquet"},
            "id_column": "id", "timestamp_column": "ts", "score_column": "score",
            "decision_column": "decision", "positive_decision": "approve", "fallback_column": "fallback",
        },
        "features": [
            {"name": "income", "type": "numeric", "unit": "USD", "range": [100, 1e7], "lineage": "apps.income"},
            {"name": "rate", "type": "numeric", "unit": "percent", "range": [0, 40], "lineage": "apps.rate"},
            {"name": "cat", "type": "categorical", "allowed": ["a", "b", "c"], "lineage": "apps.cat"},
        ],
        "etl_tables": [
            {"name": "apps", "source": {"path": "landing/apps", "glob": "*.parquet"}, "timestamp_column": "ts",
             "key": "id", "freshness": "1d", "expected_rows": [ROWS // 2, ROWS * 2]},
            {"name": "outcomes", "source": {"path": "landing/outcomes", "glob": "*.parquet"},
             "timestamp_column": "observed_at", "key": "id"},
        ],
        "labels": {"table": "outcomes", "join_key": "id", "label_column": "y", "maturity": "3d"},
        "batch": {"window": "1d"},
        "reference": {"kind": "file", "path": "ref.parquet", "chunk_rows": ROWS},
        "kpis": [{"name": "default_rate_approved", "kind": "label_rate", "decision": "approve", "upper": 0.5,
                  "min_rows": 50}],
    }
    cfg.update(overrides)
    return cfg


def build_features(apps: pd.DataFrame) -> pd.DataFrame:
    """The toy model's feature builder (served features are the upstream columns as they are)."""
    return apps[["id", "income", "rate", "cat"]].copy()


def _frame(rng: np.random.Generator, n: int) -> pd.DataFrame:
    income = rng.lognormal(10.8, 0.4, n)
    rate = rng.uniform(5, 25, n)
    score = 1 / (1 + np.exp(-(rate - 15) / 4 + (np.log(income) - 10.8)))
    return pd.DataFrame({"income": income, "rate": rate, "cat": rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2]),
                         "score": score})


def write_day(root: Path, day: int, seed: int, mutate: Callable[[pd.DataFrame], pd.DataFrame] | None = None) -> None:
    rng = np.random.default_rng(seed * 1000 + day)
    df = _frame(rng, ROWS)
    df.insert(0, "id", [f"d{day}-{i}" for i in range(ROWS)])
    df.insert(1, "ts", pd.to_datetime([DAY0 + timedelta(days=day, seconds=int(s))
                                       for s in np.sort(rng.integers(0, 86400, ROWS))]))
    if mutate is not None:
        df = mutate(df)
    df["decision"] = np.where(df["score"] < 0.6, "approve", "refer")
    if "fallback" not in df.columns:
        df["fallback"] = rng.random(len(df)) < 0.002
    for folder, cols in (("predictions", ["id", "ts", "score", "decision", "fallback", "income", "rate", "cat"]),
                         ("apps", ["id", "ts", "income", "rate", "cat"])):
        (root / "landing" / folder).mkdir(parents=True, exist_ok=True)
        df[cols].to_parquet(root / "landing" / folder / f"{folder}_{day:02d}.parquet", index=False)
    y = (rng.random(ROWS) < df["score"].to_numpy()).astype(int)
    out = pd.DataFrame({"id": df["id"], "observed_at": DAY0 + timedelta(days=day + 1), "y": y})
    (root / "landing" / "outcomes").mkdir(parents=True, exist_ok=True)
    out.to_parquet(root / "landing" / "outcomes" / f"outcomes_{day:02d}.parquet", index=False)


def write_reference(root: Path, seed: int, rows: int = ROWS * 20) -> None:
    df = _frame(np.random.default_rng(seed + 99), rows)
    root.mkdir(parents=True, exist_ok=True)
    df.to_parquet(root / "ref.parquet", index=False)


def build_history(
    root: Path, days: int, seed: int = 0, incidents: dict[int, Callable[[pd.DataFrame], pd.DataFrame]] | None = None,
    **overrides: Any,
) -> tuple[VigilConfig, Warehouse, list[datetime]]:
    write_reference(root, seed)
    for d in range(days):
        write_day(root, d, seed, (incidents or {}).get(d))
    cfg = config_from_dict(config_dict(**overrides), file="toy.yaml", root=root)
    wh = Warehouse(cfg.warehouse_path, memory_limit="512MB")
    ingest_all(cfg, wh)
    ensure_reference(cfg, wh)
    batches = profile_batches(cfg, wh)
    return cfg, wh, sorted(batches)
