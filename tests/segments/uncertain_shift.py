"""A within-segment covariate shift into the region where the model is less certain.

Data generated here (not by the loan simulator): a calibrated model, score = P(y = 1 | x) =
sigmoid(4 x), x ~ N(0, 1) in three regions. On the shift day, inside one region, every x
moves 0.5 sd towards the model's boundary (x = 0, where it stops): the spread of x shrinks,
scores move towards 0.5, so the AUC inside that region falls, and the estimated AUC (from the
calibrated scores alone) falls with it on that batch, before any label. As in
tests/scenarios/auc_drop.py at model level. Outcomes land the next day; the shift day's are
written only when ``deliver_labels`` is called. Real ingest, reference, profile and runner;
no alerts and no full cycles.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from checks.result import CheckResult
from checks.runner import run_checks
from core.config import VigilConfig, config_from_dict
from core.stores import Warehouse
from profilers.ingest import ingest_all
from profilers.profile import profile_batches
from profilers.reference import ensure_reference

DAY0 = datetime(2026, 4, 6)
SLOPE = 4.0
ROWS = 1500  # a batch; the shifted region holds about 600 of them
CHUNKS = 12  # reference chunks of ROWS rows
REGIONS = ("north", "south", "west")
SHARES = (0.4, 0.35, 0.25)
SHIFTED = "north"
SHIFT_SD = 0.5
SEGMENT = f"region={SHIFTED}"


def config_dict(checks: dict[str, Any] | None = None, x_checks: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "model": {"name": "risk_by_region", "task": "binary", "threshold": 0.5},
        "predictions": {"source": {"path": "landing/predictions"}, "id_column": "id", "timestamp_column": "ts",
                        "score_column": "score"},
        "features": [{"name": "x", "type": "numeric", "checks": x_checks or {}},
                     {"name": "region", "type": "categorical"}],
        "etl_tables": [{"name": "outcomes", "source": {"path": "landing/outcomes"}, "timestamp_column": "observed_at",
                        "key": "id"}],
        "labels": {"table": "outcomes", "join_key": "id", "label_column": "y", "maturity": "1d"},
        "batch": {"window": "1d", "max_future": "520w"},
        "reference": {"kind": "file", "path": "ref.parquet", "chunk_rows": ROWS},
        "segments": [{"name": "region", "column": "region"}],
        "checks": checks or {},
    }


def toward_boundary(x: np.ndarray, sd: float = SHIFT_SD) -> np.ndarray:
    """Each value moves ``sd`` standard deviations of x towards the boundary x = 0, stopping there."""
    return np.sign(x) * np.maximum(np.abs(x) - sd, 0.0)


def rows(rng: np.random.Generator, n: int, shifted: bool = False) -> pd.DataFrame:
    region = rng.choice(REGIONS, n, p=SHARES)
    x = rng.normal(0.0, 1.0, n)
    if shifted:
        inside = region == SHIFTED
        x[inside] = toward_boundary(x[inside])
    score = 1.0 / (1.0 + np.exp(-SLOPE * x))
    y = (rng.random(n) < score).astype(int)
    return pd.DataFrame({"x": x, "region": region, "score": score, "y": y})


def day(i: int) -> datetime:
    return DAY0 + timedelta(days=i)


class Scenario:
    """Clean days 0 .. shift_day - 1 (labels the next day), then the shifted day without its labels."""

    def __init__(self, root: Path, seed: int, shift_day: int = 3) -> None:
        self.root, self.shift_day = root, shift_day
        self.rng = np.random.default_rng(seed)
        rows(self.rng, ROWS * CHUNKS).to_parquet(root / "ref.parquet", index=False)
        self.frames: dict[int, pd.DataFrame] = {}
        for i in range(shift_day + 1):
            self._predictions(i)
            if i < shift_day:
                self._labels(i)

    def _predictions(self, i: int) -> None:
        frame = self.frames[i] = rows(self.rng, ROWS, shifted=i == self.shift_day)
        out = frame.drop(columns=["y"])
        out.insert(0, "id", [f"d{i}-{k}" for k in range(len(frame))])
        out.insert(1, "ts", [day(i) + timedelta(seconds=int(s)) for s in np.linspace(0, 86_000, len(frame))])
        self._write("predictions", f"p{i:02d}", out)

    def _write(self, folder: str, name: str, frame: pd.DataFrame) -> None:
        (self.root / "landing" / folder).mkdir(parents=True, exist_ok=True)
        frame.to_parquet(self.root / "landing" / folder / f"{name}.parquet", index=False)

    def _labels(self, i: int) -> None:
        frame = self.frames[i]
        self._write("outcomes", f"o{i:02d}", pd.DataFrame({
            "id": [f"d{i}-{k}" for k in range(len(frame))], "y": frame["y"].to_numpy(),
            "observed_at": [day(i + 1) + timedelta(hours=1)] * len(frame)}))

    def config(self, checks: dict[str, Any] | None = None, x_checks: dict[str, Any] | None = None) -> VigilConfig:
        return config_from_dict(config_dict(checks, x_checks), file=str(self.root / "monitor.yaml"), root=self.root)

    def profile(self, cfg: VigilConfig) -> tuple[Warehouse, list[datetime]]:
        wh = Warehouse(cfg.warehouse_path, memory_limit="1GB")
        report = ingest_all(cfg, wh)
        ensure_reference(cfg, wh)
        profiled = set(profile_batches(cfg, wh, set(report.dirty_batches) | set(report.label_batches) or None))
        profiled |= set(profile_batches(cfg, wh, None))
        return wh, sorted(profiled)

    def deliver_labels(self) -> None:
        """The next (clean) day: its predictions, and the shifted day's outcomes, now mature."""
        self._predictions(self.shift_day + 1)
        self._labels(self.shift_day)


def check(cfg: VigilConfig, wh: Warehouse, batches: list[datetime], performance: list[datetime] | None = None,
          ) -> list[CheckResult]:
    return run_checks(cfg, wh, batches, batches if performance is None else performance)


def failed_segments(results: list[CheckResult]) -> set[tuple[str, str]]:
    return {(r.check, r.evidence["segment"]) for r in results if r.check.startswith("segment_") and r.status == "fail"}


def at(results: list[CheckResult], i: int) -> list[CheckResult]:
    return [r for r in results if r.batch == day(i)]
