"""The covariate-driven 0.01 AUC drop of issue 11 (failure 5), shared by
tests/scenarios/test_performance_bounds.py and bench/detection_bench.py.

A calibrated model (score = P(y = 1 | x)) and a covariate shift that moves x towards the
region where the model is less certain (x's spread shrinks by 13%): ROC AUC falls by about
0.01 (0.948 -> 0.936) at 4,000 rows a batch, where the AUC's spread over reference chunks
of that size is about 0.003. Labels land the next day (maturity 1d). Data generated here,
not by the loan simulator.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from app.cycle import run_cycle
from checks.queries import estimate_vs_realized
from checks.result import CheckResult
from core.clock import ManualClock
from core.config import config_from_dict
from core.stores import Warehouse

DAY0 = datetime(2025, 6, 2)
ROWS = 4000
CLEAN_DAYS = 5  # days 0..4 clean
SHIFT_DAYS = 2  # days 5, 6 shifted
DAYS = CLEAN_DAYS + SHIFT_DAYS + 1  # day 7 clean again: the labels of day 6 land
SLOPE = 4.0
SHIFT_SCALE = 0.87


def auc_drop_rows(rng: np.random.Generator, n: int, scale: float) -> pd.DataFrame:
    x = rng.normal(0.0, scale, n)
    score = 1.0 / (1.0 + np.exp(-SLOPE * x))
    y = (rng.random(n) < score).astype(int)
    return pd.DataFrame({"x": x, "score": score, "y": y})


def auc_drop_config(chunk_rows: int = ROWS) -> dict[str, Any]:
    return {
        "model": {"name": "risk", "task": "binary", "threshold": 0.5},
        "predictions": {"source": {"path": "landing/predictions", "glob": "*.parquet"}, "id_column": "id",
                        "timestamp_column": "ts", "score_column": "score"},
        "features": [{"name": "x", "type": "numeric"}],
        "etl_tables": [{"name": "outcomes", "source": {"path": "landing/outcomes", "glob": "*.parquet"},
                        "timestamp_column": "observed_at", "key": "id"}],
        "labels": {"table": "outcomes", "join_key": "id", "label_column": "y", "maturity": "1d"},
        "batch": {"window": "1d"},
        "reference": {"kind": "file", "path": "ref.parquet", "chunk_rows": chunk_rows},
    }


def land_outcomes(root: Path, day0: datetime, day: int, rows: pd.DataFrame) -> None:
    """The outcomes (id, y) of ``rows``, observed at 02:00 on ``day``, as one landing file."""
    (root / "landing" / "outcomes").mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"id": rows["id"], "y": rows["y"],
                  "observed_at": pd.Timestamp(day0 + timedelta(days=day, hours=2))}).to_parquet(
        root / "landing" / "outcomes" / f"o{day:02d}.parquet")


def auc_drop_scale(day: int) -> float:
    return SHIFT_SCALE if CLEAN_DAYS <= day < CLEAN_DAYS + SHIFT_DAYS else 1.0


def run_auc_drop(root: Path, seed: int, fired: list[tuple[str, datetime, int]] | None = None,
                 every: dict[tuple[str, datetime], list[CheckResult]] | None = None,
                 ) -> tuple[dict[str, list[tuple[int, str]]], list[dict[str, Any]]]:
    """Cycle after each day; (check -> [(cycle day, status) per batch in batch order]), estimate errors.
    ``fired`` collects every alert that turned firing: (check, batch, cycle day); ``every`` each
    judged result of the two checks per (check, batch), one per cycle that judged it."""
    cfg = config_from_dict(auc_drop_config(), file="risk.yaml", root=root)
    rng = np.random.default_rng(seed)
    auc_drop_rows(rng, 40_000, 1.0).to_parquet(root / "ref.parquet")
    days: dict[int, pd.DataFrame] = {}
    seen: dict[str, dict[datetime, tuple[int, str]]] = {"estimated_performance": {}, "auc": {}}
    for day in range(DAYS):
        frame = auc_drop_rows(rng, ROWS, auc_drop_scale(day))
        frame.insert(0, "id", [f"d{day}-{i}" for i in range(ROWS)])
        frame.insert(1, "ts", pd.to_datetime([DAY0 + timedelta(days=day, seconds=int(s))
                                              for s in rng.integers(0, 86400, ROWS)]))
        days[day] = frame
        (root / "landing" / "predictions").mkdir(parents=True, exist_ok=True)
        frame.drop(columns=["y"]).to_parquet(root / "landing" / "predictions" / f"p{day:02d}.parquet")
        if day >= 1:  # yesterday's outcomes, observed today
            prev = days[day - 1]
            land_outcomes(root, DAY0, day, prev)
        report = run_cycle(cfg, clock=ManualClock(DAY0 + timedelta(days=day + 1, hours=3)), notify=False)
        assert report.status == "ok", report.error
        for t in report.alerts.transitions if report.alerts and fired is not None else []:
            if t.to_state == "firing":
                fired.append((t.check, datetime.fromisoformat(t.batch), day))
        for r in report.results:
            if r.check in seen and r.status != "skipped" and r.batch is not None:
                if every is not None:
                    every.setdefault((r.check, r.batch), []).append(r)
                if r.batch not in seen[r.check]:
                    seen[r.check][r.batch] = (day, r.status)
    with Warehouse(cfg.warehouse_path, memory_limit="512MB").read() as conn:
        errors = estimate_vs_realized(conn)
    return {k: [v[b] for b in sorted(v)] for k, v in seen.items()}, errors
