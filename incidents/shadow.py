"""Shadow evaluation: re-score the live test set's served features with registered versions.

"The previous version is better" is measured here, not assumed: the predictions of a
window that have matured labels are re-scored by each version, through the model's
adapter (core.adapter), and compared on the same rows: ROC AUC, log loss and Brier score
for a binary model, log loss and accuracy for a multiclass one, MAE and RMSE for regression.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from core.adapter import (
    LABEL,
    PRIMARY_METRIC,
    ModelAdapter,
    adapter_for,
    is_better,
    metrics_for,
    model_task,
    ref_of,
)
from core.config import VigilConfig
from core.model_kinds import ModelKind
from core.sql import ident
from core.stores import Warehouse

__all__ = ["LABEL", "VersionScore", "better", "live_test_set", "score_of", "shadow_evaluate", "scores_on"]


@dataclass(frozen=True)
class VersionScore:
    version: int
    n: int
    positives: int
    roc_auc: float | None
    log_loss: float | None
    brier: float | None
    mae: float | None = None
    rmse: float | None = None
    accuracy: float | None = None

    @classmethod
    def of(cls, version: int, metrics: dict[str, float]) -> VersionScore:
        def get(key: str) -> float | None:
            value = metrics.get(key)
            return None if value is None else float(value)

        return cls(version, int(metrics.get("n", 0)), int(metrics.get("positives", 0)), get("roc_auc"), get("log_loss"),
                   get("brier"), get("mae"), get("rmse"), get("accuracy"))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def live_test_set(cfg: VigilConfig, wh: Warehouse, start: datetime, end: datetime) -> pd.DataFrame:
    """Predictions with event time in [start, end) joined with their newest matured label (a number;
    for a multiclass model the class name or code as text)."""
    if cfg.labels is None:
        return pd.DataFrame()
    p, lab = cfg.predictions, cfg.labels
    label_ts = ident(cfg.etl_table(lab.table).timestamp_column)
    label_type = "VARCHAR" if cfg.model.task == ModelKind.MULTICLASS else "DOUBLE"
    sql = (
        f"WITH l AS (SELECT CAST({ident(lab.join_key)} AS VARCHAR) AS k, "  # noqa: S608 (identifiers from the validated config)
        f"arg_max(CAST({ident(lab.label_column)} AS {label_type}), {label_ts}) AS y FROM {ident('etl_' + lab.table)} "
        f"WHERE {ident(lab.label_column)} IS NOT NULL GROUP BY 1) "
        f"SELECT p.*, l.y AS {ident(LABEL)} FROM predictions p JOIN l ON CAST(p.{ident(p.id_column)} AS VARCHAR) = l.k "
        f"WHERE p.{ident(p.timestamp_column)} >= ? AND p.{ident(p.timestamp_column)} < ?"
    )
    with wh.read() as conn:
        frame: pd.DataFrame = conn.execute(sql, [start, end]).df()
    return frame


def score_of(version: int, y: np.ndarray, p: np.ndarray, task: str = "binary") -> VersionScore:
    return VersionScore.of(version, metrics_for(task, y, p))


def scores_on(
    adapter: ModelAdapter, registry: Any, model_name: str, versions: list[int], frame: pd.DataFrame
) -> list[VersionScore]:
    """Each version's metrics on the same labelled rows (features + LABEL), through the adapter."""
    if frame.empty:
        return [VersionScore(v, 0, 0, None, None, None) for v in versions]
    out = []
    for v in versions:
        model = adapter.load(ref_of(registry.get(model_name, v)))
        out.append(VersionScore.of(v, adapter.evaluate(model, frame)))
    return out


def shadow_evaluate(
    cfg: VigilConfig, wh: Warehouse, registry: Any, model_name: str, versions: list[int], start: datetime, end: datetime,
    adapter: ModelAdapter | None = None,
) -> list[VersionScore]:
    """Score each version on the same labelled rows of [start, end)."""
    frame = live_test_set(cfg, wh, start, end)
    return scores_on(adapter or adapter_for(cfg), registry, model_name, versions, frame)


def better(a: VersionScore, b: VersionScore, margin: float = 0.0) -> bool:
    """Is a better than b on the live test set? AUC first, then log loss (classifiers), MAE then RMSE (regression)."""
    for metric in ("roc_auc", "log_loss", "mae", "rmse"):
        x, y = getattr(a, metric), getattr(b, metric)
        if x is not None and y is not None and math.isfinite(x) and math.isfinite(y):
            return is_better(metric, x, y, margin)
    return False


def primary_metric(cfg: VigilConfig) -> str:
    return PRIMARY_METRIC[model_task(cfg)]
