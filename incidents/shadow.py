"""Shadow evaluation: re-score the live test set's served features with registered versions.

"The previous version is better" is measured here, not assumed: the predictions of a
window that have matured labels are re-scored by each version and compared on the same
rows (ROC AUC, log loss, Brier score).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from core.config import VigilConfig
from core.sql import ident
from core.stores import Warehouse

LABEL = "__vigil_label"


@dataclass(frozen=True)
class VersionScore:
    version: int
    n: int
    positives: int
    roc_auc: float | None
    log_loss: float | None
    brier: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def live_test_set(cfg: VigilConfig, wh: Warehouse, start: datetime, end: datetime) -> pd.DataFrame:
    """Predictions with event time in [start, end) joined with their newest matured label."""
    if cfg.labels is None:
        return pd.DataFrame()
    p, lab = cfg.predictions, cfg.labels
    label_ts = ident(cfg.etl_table(lab.table).timestamp_column)
    sql = (
        f"WITH l AS (SELECT CAST({ident(lab.join_key)} AS VARCHAR) AS k, "  # noqa: S608 (identifiers from the validated config)
        f"arg_max(CAST({ident(lab.label_column)} AS DOUBLE), {label_ts}) AS y FROM {ident('etl_' + lab.table)} "
        f"WHERE {ident(lab.label_column)} IS NOT NULL GROUP BY 1) "
        f"SELECT p.*, l.y AS {ident(LABEL)} FROM predictions p JOIN l ON CAST(p.{ident(p.id_column)} AS VARCHAR) = l.k "
        f"WHERE p.{ident(p.timestamp_column)} >= ? AND p.{ident(p.timestamp_column)} < ?"
    )
    with wh.read() as conn:
        frame: pd.DataFrame = conn.execute(sql, [start, end]).df()
    return frame


def score_of(version: int, y: np.ndarray, p: np.ndarray) -> VersionScore:
    from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

    keep = np.isfinite(p) & np.isfinite(y)
    y, p = y[keep].astype(int), np.clip(p[keep], 1e-6, 1 - 1e-6)
    n, pos = int(len(y)), int(y.sum())
    if n == 0:
        return VersionScore(version, 0, 0, None, None, None)
    auc = float(roc_auc_score(y, p)) if 0 < pos < n else None
    return VersionScore(version, n, pos, auc, float(log_loss(y, p, labels=[0, 1])), float(brier_score_loss(y, p)))


def shadow_evaluate(
    cfg: VigilConfig, wh: Warehouse, registry: Any, model_name: str, versions: list[int], start: datetime, end: datetime
) -> list[VersionScore]:
    """Score each version on the same labelled rows of [start, end)."""
    from baseline_model.registry import load_artifact

    frame = live_test_set(cfg, wh, start, end)
    if frame.empty:
        return [VersionScore(v, 0, 0, None, None, None) for v in versions]
    y = frame[LABEL].to_numpy(dtype=float)
    out = []
    for v in versions:
        artifact = load_artifact(registry.get(model_name, v))
        out.append(score_of(v, y, np.asarray(artifact.predict_default_proba(frame), dtype=float)))
    return out


def better(a: VersionScore, b: VersionScore, margin: float = 0.0) -> bool:
    """Is a better than b on the live test set (AUC first, log loss when AUC is undefined)?"""
    if a.roc_auc is not None and b.roc_auc is not None:
        return a.roc_auc > b.roc_auc + margin
    if a.log_loss is not None and b.log_loss is not None and math.isfinite(a.log_loss) and math.isfinite(b.log_loss):
        return a.log_loss < b.log_loss - margin
    return False
