"""What the live test set should look like, measured on the reference with the same selection.

Outcomes arrive only for the rows the business acted on (approved applications plus the
random control slice), so live metrics are computed on a selected population: AUC among
approved applicants is lower than on everyone, by design. Comparing the live AUC with the
registry's full-holdout AUC would fire every day. When the reference file carries the
score, the label and the decision (the example model's reference does), the same metrics
are computed here on the reference rows with the same selection, once per run, and the
performance checks compare with those; the registry's figures remain in the evidence.
"""

from __future__ import annotations

import math
from typing import Any

import duckdb
import numpy as np
from sklearn.metrics import roc_auc_score

from checks.performance.live_metrics import hanley_mcneil_se
from core.config import VigilConfig
from core.sql import ident


def _reference_columns(conn: duckdb.DuckDBPyConnection, path: str) -> set[str]:
    return {r[0] for r in conn.execute("DESCRIBE SELECT * FROM read_parquet(?)", [path]).fetchall()}


def reference_selection_metrics(cfg: VigilConfig) -> dict[str, float]:
    """auc, brier, precision, recall (classification) or mae, rmse (regression) on the reference
    rows that would have a label in production. Empty when the reference lacks the columns."""
    if cfg.reference is None or cfg.reference.kind != "file" or not cfg.reference.path or cfg.labels is None:
        return {}
    path = cfg.resolve(cfg.reference.path)
    if not path.exists():
        return {}
    p = cfg.predictions
    label = cfg.labels.label_column
    with duckdb.connect() as conn:
        cols = _reference_columns(conn, str(path))
        if p.score_column not in cols or label not in cols:
            return {}
        where, params = "", [str(path)]
        if cfg.model.task == "binary" and p.decision_column and p.positive_decision is not None:
            if p.decision_column not in cols:
                return {}
            where = f" AND CAST({ident(p.decision_column)} AS VARCHAR) = ?"
            params.append(p.positive_decision)
        frame = conn.execute(
            f"SELECT CAST({ident(p.score_column)} AS DOUBLE) AS s, CAST({ident(label)} AS DOUBLE) AS y "  # noqa: S608
            f"FROM read_parquet(?) WHERE {ident(label)} IS NOT NULL AND {ident(p.score_column)} IS NOT NULL{where}",
            params,
        ).df()
    s, y = frame["s"].to_numpy(), frame["y"].to_numpy()
    if len(y) == 0:
        return {}
    out: dict[str, float] = {"rows": float(len(y))}
    if cfg.model.task == "regression":
        err = s - y
        out["mae"] = float(np.mean(np.abs(err)))
        out["rmse"] = float(math.sqrt(np.mean(err**2)))
        return out
    out["brier"] = float(np.mean((s - y) ** 2))
    out["label_rate"] = float(y.mean())
    if 0 < y.sum() < len(y):
        out["auc"] = float(roc_auc_score(y, s))
        # The reference is a sample too: its sampling error adds to the live one.
        out["auc_se"] = hanley_mcneil_se(out["auc"], int(y.sum()), int(len(y) - y.sum()))
    out["brier_se"] = float(np.std((s - y) ** 2) / math.sqrt(len(y)))
    thr = cfg.model.threshold
    if thr is not None:
        flagged = s >= thr
        tp = float(np.sum(flagged & (y == 1)))
        if flagged.sum() > 0:
            out["precision"] = tp / float(flagged.sum())
        if y.sum() > 0:
            out["recall"] = tp / float(y.sum())
    return out


def expected_values(
    check: str, live_reference: dict[str, float], model_evaluation: dict[str, Any] | None
) -> dict[str, Any]:
    """Params for a performance check: the selection-matched reference value if known, else the registry's."""
    key = "auc" if check == "estimated_performance" else check
    registered = None
    if model_evaluation:
        for name in (key, "roc_auc" if key == "auc" else key):
            value = model_evaluation.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
                registered = float(value)
                break
    if check == "estimated_performance":
        # The estimate covers every scored row, so the full-population registered AUC is the match.
        return {"expected": registered} if registered is not None else {}
    if key in live_reference:
        ctx: dict[str, Any] = {"expected": live_reference[key], "expected_basis": "reference rows with the live selection"}
        if f"{key}_se" in live_reference:
            ctx["expected_se"] = live_reference[f"{key}_se"]
        if registered is not None:
            ctx["registered"] = registered
        return ctx
    if registered is not None:
        return {"expected": registered, "expected_basis": "registered evaluation"}
    return {}
