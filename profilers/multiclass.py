"""The live test set of a multiclass model, per batch and per class (one-vs-rest), in SQL.

Each class has its own probability column (``predictions.class_scores``); the predicted
class is ``predictions.decision_column`` or else the class with the highest probability.
Labels are class names or codes, compared as text (``2.0`` reads as ``2``).

Per batch: rows, labelled rows, log loss (mean of -ln p(true class), probabilities floored
at 1e-15) with its standard deviation, accuracy. Per class: labelled positives and
negatives, rows predicted as the class (all, and labelled), true positives, the exact ROC
AUC of the class's probability (rank sum, ties at mid-rank), and the confidence-based
estimates before labels (CBPE, one-vs-rest): expected precision = mean probability of the
class over the rows predicted as it, expected recall = the class's probability mass on
those rows over its mass on every row, expected prevalence = mean probability.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import duckdb

from core.config import VigilConfig
from core.sql import ident
from profilers.segments import SegmentDef, live_cells_sql, segment_projection
from profilers.sources import PREDICTIONS, bucket_sql, raw_table_name, window_micros
from profilers.stats_types import PerformanceStats

EPS = 1e-15


def _label_text(expr: str) -> str:
    """A label as text, integral numbers without their '.0' (codes read from a float column)."""
    return f"regexp_replace(CAST({expr} AS VARCHAR), '\\.0+$', '')"


def _joined(cfg: VigilConfig, has_labels: bool, batches: list[datetime],
            segments: Sequence[SegmentDef] = ()) -> tuple[str, list[Any]]:
    """CTE ``j``: batch, k, _p0.._pN (class probabilities), pred (text), y (text or NULL), and each
    segment's label (``_s<position>``, profilers.segments) when segments are given."""
    p = cfg.predictions
    classes = list((p.class_scores or {}).keys())
    scores = [f"CAST({ident(col)} AS DOUBLE) AS _p{i}" for i, col in enumerate((p.class_scores or {}).values())]
    listed = "list_value(" + ", ".join(f"CAST({ident(col)} AS DOUBLE)" for col in (p.class_scores or {}).values()) + ")"
    params: list[Any] = [window_micros(cfg)]
    if p.decision_column:
        pred = f"{_label_text(ident(p.decision_column))} AS pred"
    else:
        pred = f"(?::VARCHAR[])[list_position({listed}, list_max({listed}))] AS pred"
        params.append(classes)
    seg_sql, seg_params = segment_projection(segments)
    params += seg_params
    base = (
        f"SELECT * FROM (SELECT {bucket_sql(ident(p.timestamp_column))} AS batch, "  # noqa: S608
        f"CAST({ident(p.id_column)} AS VARCHAR) AS k, {', '.join(scores)}, {pred}"
        f"{', ' + seg_sql if seg_sql else ''} FROM {PREDICTIONS}) "
        "WHERE list_contains(?::TIMESTAMP[], batch)"
    )
    params.append(batches)
    if not has_labels or cfg.labels is None:
        return f"WITH j AS (SELECT *, CAST(NULL AS VARCHAR) AS y FROM ({base}))", params  # noqa: S608
    lab = cfg.labels
    lts = ident(cfg.etl_table(lab.table).timestamp_column)
    labels = (
        f"SELECT CAST({ident(lab.join_key)} AS VARCHAR) AS k, "  # noqa: S608
        f"arg_max({_label_text(ident(lab.label_column))}, {lts}) AS y FROM {ident(raw_table_name(lab.table))} "
        f"WHERE {ident(lab.label_column)} IS NOT NULL AND {ident(lab.join_key)} IS NOT NULL GROUP BY 1"
    )
    return f"WITH l AS ({labels}), j AS (SELECT b.*, l.y FROM ({base}) b LEFT JOIN l USING (k))", params  # noqa: S608


def _long(n_classes: int) -> tuple[str, int]:
    """CTE ``u``: one row per (prediction, class) with the class's probability; n_classes class parameters."""
    parts = [f"SELECT batch, y, pred, ?::VARCHAR AS cls, _p{i} AS s FROM j" for i in range(n_classes)]  # noqa: S608
    return "u AS (" + " UNION ALL ".join(parts) + ")", n_classes


def multiclass_stats(
    conn: duckdb.DuckDBPyConnection, cfg: VigilConfig, batches: list[datetime], has_labels: bool,
    matured: dict[datetime, bool],
) -> list[PerformanceStats]:
    classes = list((cfg.predictions.class_scores or {}).keys())
    cte, params = _joined(cfg, has_labels, batches)
    p_true = "CASE y " + " ".join(f"WHEN ? THEN _p{i}" for i in range(len(classes))) + " END"
    # greatest() ignores NULL: unlabelled rows must stay NULL, not become -ln(EPS).
    loss = f"CASE WHEN ({p_true}) IS NOT NULL THEN -ln(greatest({p_true}, {EPS})) END"
    overall = conn.execute(
        f"{cte} SELECT batch, count(*), count(y), "  # noqa: S608
        f"avg({loss}), stddev_samp({loss}), count({p_true}), "
        "avg(CASE WHEN pred = y THEN 1.0 ELSE 0.0 END) FILTER (WHERE y IS NOT NULL), "
        "count(*) FILTER (WHERE y IS NOT NULL AND NOT list_contains(?::VARCHAR[], y)) FROM j GROUP BY batch",
        params + classes * 5 + [classes],
    ).fetchall()
    long_sql, n = _long(len(classes))
    per_class = conn.execute(
        f"{cte}, {long_sql} SELECT batch, cls, count(y) FILTER (WHERE y = cls), count(y) FILTER (WHERE y <> cls), "  # noqa: S608
        "count(*) FILTER (WHERE pred = cls), count(y) FILTER (WHERE pred = cls), "
        "count(*) FILTER (WHERE y = cls AND pred = cls), avg(s), avg(s) FILTER (WHERE pred = cls), "
        "sum(s) FILTER (WHERE pred = cls) / nullif(sum(s), 0) FROM u GROUP BY batch, cls",
        params + classes,
    ).fetchall()
    ranks = conn.execute(
        f"{cte}, {long_sql}, r AS (SELECT batch, cls, y = cls AS pos, rank() OVER (PARTITION BY batch, cls ORDER BY s) "  # noqa: S608
        "+ (count(*) OVER (PARTITION BY batch, cls, s) - 1) / 2.0 AS rk FROM u WHERE y IS NOT NULL AND s IS NOT NULL) "
        "SELECT batch, cls, sum(rk) FILTER (WHERE pos), count(*) FILTER (WHERE pos), count(*) FILTER (WHERE NOT pos) "
        "FROM r GROUP BY batch, cls",
        params + classes,
    ).fetchall() if has_labels else []
    assert n == len(classes)
    auc = {(b, c): float((rs - npos * (npos + 1) / 2) / (npos * nneg)) for b, c, rs, npos, nneg in ranks if npos and nneg}
    stats: dict[datetime, dict[str, dict[str, float]]] = {}
    for b, c, pos, neg, predicted, pred_lab, tp, mean_s, est_prec, est_rec in per_class:
        d: dict[str, float] = {"positives": float(pos), "negatives": float(neg), "predicted": float(predicted),
                               "predicted_labeled": float(pred_lab), "tp": float(tp)}
        if pred_lab:
            d["precision"] = tp / pred_lab
        if pos:
            d["recall"] = tp / pos
        for key, v in (("expected_prevalence", mean_s), ("estimated_precision", est_prec), ("estimated_recall", est_rec),
                       ("auc", auc.get((b, c)))):
            if v is not None and math.isfinite(float(v)):
                d[key] = float(v)
        stats.setdefault(b, {})[str(c)] = d
    out = []
    for b, rows, labeled, log_loss, ll_sd, n_ll, accuracy, unknown in overall:
        metrics: dict[str, float] = {"unknown_labels": float(unknown)}
        if log_loss is not None:
            metrics["log_loss"] = float(log_loss)
            if n_ll and n_ll > 1 and ll_sd is not None:
                metrics["log_loss_se"] = float(ll_sd) / math.sqrt(n_ll)
        if accuracy is not None:
            metrics["accuracy"] = float(accuracy)
        per = stats.get(b, {})
        aucs = [per[c]["auc"] for c in classes if "auc" in per.get(c, {})]
        macro = sum(aucs) / len(aucs) if aucs and len(aucs) == len(classes) else None
        if macro is not None:
            metrics["macro_auc"] = macro
        out.append(PerformanceStats(batch=b, predictions=int(rows), labeled=int(labeled), matured=matured.get(b, False),
                                    auc=macro, metrics=metrics, classes=per))
    return out


# ---- the live test set per segment ------------------------------------------------------------
#
# A multiclass model's segment live cells reuse the binary cells' layout (profilers.segments.
# live_cells_sql; checks.segments.live): the "bin" is the predicted class's index (0..classes-1,
# -1 without a prediction), "positive" is "predicted class = true class", the score is the
# predicted class's probability (its confidence). So a segment's accuracy is the share of its
# labelled rows that are "positive", and its confidence-based accuracy estimate before labels is
# the mean score: the mean of the predicted class's probability, which is the row-weighted sum
# of the per-class CBPE estimated precisions above (mean probability of the class over the rows
# predicted as it), the same definition for a calibrated model.


def top_class_inner(cfg: VigilConfig, source: str, group: str, keys: Sequence[str]) -> tuple[str, list[Any]]:
    """A relation over ``source`` (columns: ``group``, _p0.._pN, pred, y as text or NULL, and the
    segment ``keys``) with the columns live_cells_sql reads: score (the predicted class's
    probability), y (1.0 when the prediction is right, 0.0 when wrong, NULL unlabelled),
    approved (false) and cls_bin (the predicted class's index, -1 for none)."""
    classes = list((cfg.predictions.class_scores or {}).keys())
    score = "CASE pred " + " ".join(f"WHEN ? THEN _p{i}" for i in range(len(classes))) + " END"
    cls_bin = "CASE pred " + " ".join(f"WHEN ? THEN {i}" for i in range(len(classes))) + " ELSE -1 END"
    head = ", ".join([group, *keys])
    sql = (
        f"(SELECT {head}, {score} AS score, "  # noqa: S608
        "CAST(CASE WHEN y IS NULL THEN NULL WHEN y = pred THEN 1 ELSE 0 END AS DOUBLE) AS y, false AS approved, "
        f"{cls_bin} AS cls_bin FROM {source})"
    )
    return sql, classes + classes


def segment_live_rows(
    conn: duckdb.DuckDBPyConnection, cfg: VigilConfig, batches: list[datetime], has_labels: bool,
    segments: Sequence[SegmentDef],
) -> list[tuple[Any, ...]]:
    """live_cells_sql rows of the batches (overall and per segment, one grouped query): per
    (batch, segment, predicted class, labelled, right) the count, the sum of the predicted
    class's probability and the number right."""
    cte, params = _joined(cfg, has_labels, batches, segments)
    keys = [d.key for d in segments]
    inner, inner_params = top_class_inner(cfg, "j", "batch", keys)
    sql, bin_params = live_cells_sql(inner, "batch", keys, (), bin_column="cls_bin")
    rows: list[tuple[Any, ...]] = conn.execute(f"{cte} {sql}", params + bin_params + inner_params).fetchall()
    return rows


def reference_class_columns(cfg: VigilConfig, columns: Sequence[str]) -> tuple[str, list[Any]] | None:
    """SELECT-list items _p0.._pN, pred and y (text) over a reference relation with ``columns``
    (the decision column when it has it, else the most probable class; y NULL without the label
    column); None when a class probability column is missing."""
    p = cfg.predictions
    cols = list((p.class_scores or {}).values())
    if not cols or any(c not in columns for c in cols):
        return None
    classes = list((p.class_scores or {}).keys())
    scores = [f"CAST({ident(col)} AS DOUBLE) AS _p{i}" for i, col in enumerate(cols)]
    listed = "list_value(" + ", ".join(f"CAST({ident(col)} AS DOUBLE)" for col in cols) + ")"
    params: list[Any] = []
    if p.decision_column and p.decision_column in columns:
        pred = f"{_label_text(ident(p.decision_column))} AS pred"
    else:
        pred = f"(?::VARCHAR[])[list_position({listed}, list_max({listed}))] AS pred"
        params.append(classes)
    label = cfg.labels.label_column if cfg.labels else None
    y = f"{_label_text(ident(label))} AS y" if label and label in columns else "CAST(NULL AS VARCHAR) AS y"
    return ", ".join([*scores, pred, y]), params
