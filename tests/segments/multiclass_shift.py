"""A multiclass model with a segment column: a concept change in one segment, then a covariate
shift towards the class boundary in another.

Data generated here: a calibrated three-class model, P(class k | x) = softmax(SLOPE * x . u_k)
with x ~ N(0, I) in two dimensions and u_k unit vectors 120 degrees apart, so at x = 0 every
class has probability 1/3. Rows fall in three regions. Days 0 .. 2 are clean. On CONCEPT_DAY,
inside CONCEPT_REGION, the true classes ``a`` and ``b`` swap (labels only: the predictions and
every input are unchanged). On SHIFT_DAY, inside SHIFT_REGION, every x moves SHIFT_SD sd
towards the boundary x = 0 (its radius shrinks, stopping at 0): the predicted class's
probability falls, and so does the accuracy a calibrated model predicts from it, before any
label. Outcomes land the next day (maturity 1d), so the newest day has none. Real ingest,
reference, profile and runner; no alerts and no full cycles.
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

DAY0 = datetime(2026, 5, 4)
SLOPE = 2.5
CLASSES = ("a", "b", "c")
ANGLES = np.deg2rad([90.0, 210.0, 330.0])
ROWS = 1200  # a batch
CHUNKS = 10  # reference chunks of ROWS rows
REGIONS = ("north", "south", "west")
SHARES = (0.4, 0.35, 0.25)
CONCEPT_DAY, CONCEPT_REGION = 3, "north"
SHIFT_DAY, SHIFT_REGION = 4, "south"
SHIFT_SD = 0.5


def config_dict() -> dict[str, Any]:
    return {
        "model": {"name": "router_by_region", "task": "multiclass"},
        "predictions": {"source": {"path": "landing/predictions"}, "id_column": "id", "timestamp_column": "ts",
                        "class_scores": {c: f"p_{c}" for c in CLASSES}},
        "features": [{"name": "x1", "type": "numeric"}, {"name": "x2", "type": "numeric"},
                     {"name": "region", "type": "categorical"}],
        "etl_tables": [{"name": "outcomes", "source": {"path": "landing/outcomes"}, "timestamp_column": "observed_at",
                        "key": "id"}],
        "labels": {"table": "outcomes", "join_key": "id", "label_column": "y", "maturity": "1d"},
        "batch": {"window": "1d", "max_future": "520w"},
        "reference": {"kind": "file", "path": "ref.parquet", "chunk_rows": ROWS},
        "segments": [{"name": "region", "column": "region"}],
    }


def toward_boundary(x: np.ndarray, sd: float = SHIFT_SD) -> np.ndarray:
    """Each point moves ``sd`` towards the origin (where every class is equally likely), stopping there."""
    r = np.linalg.norm(x, axis=1, keepdims=True)
    return x * np.where(r > 0, np.maximum(r - sd, 0.0) / np.where(r > 0, r, 1.0), 0.0)


def rows(rng: np.random.Generator, n: int, day: int | None = None) -> pd.DataFrame:
    region = rng.choice(REGIONS, n, p=SHARES)
    x = rng.normal(0.0, 1.0, (n, 2))
    if day == SHIFT_DAY:
        inside = region == SHIFT_REGION
        x[inside] = toward_boundary(x[inside])
    logits = SLOPE * (x @ np.stack([np.cos(ANGLES), np.sin(ANGLES)]))
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    y = np.array(CLASSES)[(rng.random((n, 1)) > np.cumsum(p, axis=1)).sum(axis=1).clip(0, len(CLASSES) - 1)]
    if day == CONCEPT_DAY:  # labels only: a and b swap inside the region
        inside = region == CONCEPT_REGION
        y = np.where(inside & (y == "a"), "b", np.where(inside & (y == "b"), "a", y))
    out = pd.DataFrame({"x1": x[:, 0], "x2": x[:, 1], "region": region, "y": y})
    for k, c in enumerate(CLASSES):
        out[f"p_{c}"] = p[:, k]
    return out


def day(i: int) -> datetime:
    return DAY0 + timedelta(days=i)


class Scenario:
    """Days 0 .. last with predictions; outcomes of every day but the last (they land the next day)."""

    def __init__(self, root: Path, seed: int, last: int = SHIFT_DAY) -> None:
        self.root = root
        rng = np.random.default_rng(seed)
        rows(rng, ROWS * CHUNKS).to_parquet(root / "ref.parquet", index=False)
        self.frames: dict[int, pd.DataFrame] = {}
        for i in range(last + 1):
            frame = self.frames[i] = rows(rng, ROWS, i)
            ids = [f"d{i}-{k}" for k in range(len(frame))]
            out = frame.drop(columns=["y"])
            out.insert(0, "id", ids)
            out.insert(1, "ts", [day(i) + timedelta(seconds=int(s)) for s in np.linspace(0, 86_000, len(frame))])
            self._write("predictions", f"p{i:02d}", out)
            if i < last:
                self._write("outcomes", f"o{i:02d}", pd.DataFrame({
                    "id": ids, "y": frame["y"].to_numpy(), "observed_at": [day(i + 1) + timedelta(hours=1)] * len(frame)}))

    def _write(self, folder: str, name: str, frame: pd.DataFrame) -> None:
        (self.root / "landing" / folder).mkdir(parents=True, exist_ok=True)
        frame.to_parquet(self.root / "landing" / folder / f"{name}.parquet", index=False)

    def config(self) -> VigilConfig:
        return config_from_dict(config_dict(), file=str(self.root / "monitor.yaml"), root=self.root)

    def results(self) -> list[CheckResult]:
        """Ingest, reference, profile, and every check of every batch."""
        cfg = self.config()
        wh = Warehouse(cfg.warehouse_path, memory_limit="1GB")
        ingest_all(cfg, wh)
        ensure_reference(cfg, wh)
        batches = sorted(profile_batches(cfg, wh, None))
        return run_checks(cfg, wh, batches, batches)


def failed_segments(results: list[CheckResult]) -> set[tuple[str, str]]:
    return {(r.check, r.evidence["segment"]) for r in results if r.check.startswith("segment_") and r.status == "fail"}


def at(results: list[CheckResult], i: int) -> list[CheckResult]:
    return [r for r in results if r.batch == day(i)]
