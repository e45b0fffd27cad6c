"""What the live test set should look like, measured on the reference rows comparable with it.

Outcomes often arrive only for some rows: the business acts on a decision (approves an
application) and learns the outcome for those, plus perhaps a random control slice of the
others. Live metrics are computed on whichever rows got a label, so the expectation must
come from the same mix of reference rows, or the comparison is biased by design (AUC
among approved applicants only is far lower than on everyone).

The rule: each reference row is weighted by the live label coverage of its decision
group, measured on the matured batches (``profilers.stats_store.label_coverage``): the
share of rows with ``predictions.positive_decision`` that got a label, and the share of
the other rows that did. Labels for every row -> every reference row counts alike;
labels only for the positive decision -> only those reference rows; a 5% control slice of
the others -> those rows count 5% as much. Before any batch matured, or without a decision
column, every reference row counts alike. The registry's figures stay in the evidence.
"""

from __future__ import annotations

import math
from typing import Any

import duckdb
import numpy as np
from sklearn.metrics import roc_auc_score

from checks.performance.estimated import expected_auc_with_error
from checks.performance.live_metrics import hanley_mcneil_se
from core.config import VigilConfig
from core.decision_value import match_sql
from core.sql import ident
from profilers.ingest import read_sql
from profilers.sources import file_format, renamed_sql


def _reference_columns(conn: duckdb.DuckDBPyConnection, relation: str, path: str) -> set[str]:
    return {str(r[0]) for r in conn.execute(f"DESCRIBE SELECT * FROM {relation}", [path]).fetchall()}  # noqa: S608


def _mean_se(values: np.ndarray) -> float:
    return float(np.std(values, ddof=1) / math.sqrt(len(values))) if len(values) > 1 else 0.0


def regression_reference(s: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """MAE, RMSE, RMSLE, MAPE of the reference and their standard errors (the reference is a sample too)."""
    err = s - y
    out: dict[str, float] = {"mae": float(np.mean(np.abs(err))), "mae_se": _mean_se(np.abs(err))}
    mse = float(np.mean(err**2))
    out["rmse"] = math.sqrt(mse)
    if mse > 0:
        out["rmse_se"] = _mean_se(err**2) / (2 * math.sqrt(mse))
    ok = (s > -1) & (y > -1)
    if ok.any():
        sle = (np.log1p(s[ok]) - np.log1p(y[ok])) ** 2
        out["rmsle"] = math.sqrt(float(sle.mean()))
        if sle.mean() > 0:
            out["rmsle_se"] = _mean_se(sle) / (2 * out["rmsle"])
    nz = y != 0
    if nz.any():
        ape = np.abs(err[nz]) / np.abs(y[nz])
        out["mape"] = float(ape.mean())
        out["mape_se"] = _mean_se(ape)
    return {k: v for k, v in out.items() if math.isfinite(v)}


def selection_weights(positive: np.ndarray, coverage: tuple[float, float] | None) -> np.ndarray:
    """Weight of each reference row: the live label coverage of its decision group."""
    if coverage is None:
        return np.ones(len(positive))
    w_pos, w_other = (max(0.0, float(c)) for c in coverage)
    if w_pos + w_other <= 0:
        return np.ones(len(positive))
    return np.where(positive, w_pos, w_other)


def weighted_metrics(s: np.ndarray, y: np.ndarray, w: np.ndarray, threshold: float | None) -> dict[str, float]:
    """Classification metrics of scores s and labels y with row weights w (and their errors)."""
    keep = w > 0
    s, y, w = s[keep], y[keep], w[keep]
    if len(y) == 0:
        return {}
    total = float(w.sum())
    n_eff = total * total / float(np.sum(w * w))  # Kish effective sample size
    out: dict[str, float] = {"rows": n_eff}
    sq = (s - y) ** 2
    out["brier"] = float(np.sum(w * sq) / total)
    out["brier_se"] = float(math.sqrt(np.sum(w * (sq - out["brier"]) ** 2) / total) / math.sqrt(n_eff))
    out["label_rate"] = float(np.sum(w * y) / total)
    pos_w, neg_w = float(np.sum(w * y)), float(np.sum(w * (1 - y)))
    if pos_w > 0 and neg_w > 0:
        out["auc"] = float(roc_auc_score(y, s, sample_weight=w))
        # The reference is a sample too: its sampling error adds to the live one.
        scale = n_eff / total
        out["auc_se"] = hanley_mcneil_se(out["auc"], max(1, round(pos_w * scale)), max(1, round(neg_w * scale)))
    if threshold is not None:
        flagged = s >= threshold
        tp = float(np.sum(w * (flagged & (y == 1))))
        if np.sum(w * flagged) > 0:
            out["precision"] = tp / float(np.sum(w * flagged))
            out["precision_se"] = _proportion_se(out["precision"], w[flagged])
        if pos_w > 0:
            out["recall"] = tp / pos_w
            out["recall_se"] = _proportion_se(out["recall"], w[y == 1])
    return out


def _proportion_se(p: float, weights: np.ndarray) -> float:
    """Binomial error of a proportion over weighted rows (Kish effective size): precision over the
    flagged rows, recall over the positives. A small reference (600 rows) leaves its expected
    precision / recall a few points uncertain, which the live check's tolerance must include."""
    n_eff = float(weights.sum()) ** 2 / float(np.sum(weights * weights))
    return math.sqrt(max(p * (1.0 - p), 0.0) / n_eff) if n_eff > 0 else 0.0


CHUNK_SEED = 20240601  # fixed: the same reference gives the same bounds on every run
MAX_CHUNK_ROWS_TOTAL = 50_000  # rows drawn for the chunk spread (enough for ~20 chunks of 2,500)
MIN_CHUNKS = 20
MIN_CHUNK_ROWS = 100


def _chunks(n: int, rng: np.random.Generator, p: np.ndarray | None) -> list[np.ndarray]:
    """Disjoint random chunks of the rows (drawn with probability p when the rows are weighted)."""
    m = min(n, MAX_CHUNK_ROWS_TOTAL)
    if p is not None:
        m = min(m, int(np.count_nonzero(p)))
    size = max(MIN_CHUNK_ROWS, m // MIN_CHUNKS)
    if m < 2 * size:
        return []
    order = rng.choice(n, size=m, replace=False, p=p)
    return [order[i * size:(i + 1) * size] for i in range(m // size)]


def chunk_spreads(s: np.ndarray, y: np.ndarray, w: np.ndarray, threshold: float | None) -> dict[str, float]:
    """Standard deviation of each realized metric over reference chunks of the live selection,
    with the chunk size (``chunk_rows``): the bounds rescale it to each batch's size."""
    rng = np.random.default_rng(CHUNK_SEED)
    total = float(w.sum())
    p = w / total if total > 0 and not np.allclose(w, w[0]) else None
    chunks = _chunks(len(s), rng, p)
    if len(chunks) < 2:
        return {}
    per_metric: dict[str, list[float]] = {}
    for idx in chunks:
        m = weighted_metrics(s[idx], y[idx], np.ones(len(idx)), threshold)
        for key in ("auc", "brier", "precision", "recall"):
            if key in m:
                per_metric.setdefault(key, []).append(m[key])
    out = {f"{k}_chunk_sd": float(np.std(v, ddof=1)) for k, v in per_metric.items() if len(v) >= 2}
    if out:
        out["chunk_rows"] = float(len(chunks[0]))
    return out


def reference_estimate(s: np.ndarray) -> dict[str, float]:
    """The CBPE estimate on every reference score, its spread over reference chunks and its
    per-row influence sd (its own sampling error at n rows is unit_sd / sqrt(n))."""
    whole = expected_auc_with_error(s)
    if whole is None:
        return {}
    # The reference estimate is a sample too: its own error (unit_sd / sqrt(N)) adds to the live one.
    out = {"estimated_auc": whole[0], "estimated_auc_unit_sd": whole[1], "estimated_auc_se": whole[1] / math.sqrt(len(s))}
    chunks = _chunks(len(s), np.random.default_rng(CHUNK_SEED + 1), None)
    values = [v[0] for idx in chunks if (v := expected_auc_with_error(s[idx])) is not None]
    if len(values) >= 2:
        out["estimated_auc_chunk_sd"] = float(np.std(values, ddof=1))
        out["estimated_auc_chunk_rows"] = float(len(chunks[0]))
    return out


def reference_selection_metrics(cfg: VigilConfig, coverage: tuple[float, float] | None = None) -> dict[str, float]:
    """auc, brier, precision, recall (binary) or mae, rmse, rmsle, mape (regression) on the reference
    rows weighted as the live test set is labelled (see the module docstring); ``coverage`` is
    (labelled share of positive-decision rows, labelled share of the others). Empty when the
    reference lacks the score or the label."""
    if cfg.reference is None or cfg.reference.kind != "file" or not cfg.reference.path or cfg.labels is None:
        return {}
    path = cfg.resolve(cfg.reference.path)
    if not path.exists():
        return {}
    p = cfg.predictions
    label = cfg.labels.label_column
    if cfg.model.task == "multiclass":
        return multiclass_reference(cfg, path)
    if not p.score_column:
        return {}
    with duckdb.connect() as conn:
        rel = read_sql(file_format(path))
        present = {str(r[0]) for r in conn.execute(f"DESCRIBE SELECT * FROM {rel}", [str(path)]).fetchall()}  # noqa: S608
        relation = renamed_sql(rel, cfg.column_map, present)
        cols = _reference_columns(conn, relation, str(path))
        if p.score_column not in cols or label not in cols:
            return {}
        positive_sql, params = "false", list[object]()
        selective = (cfg.model.task == "binary" and p.decision_column is not None
                     and p.positive_decision is not None and coverage is not None)
        if selective:
            assert p.decision_column is not None and p.positive_decision is not None
            if p.decision_column not in cols:
                return {}
            positive_sql, params = match_sql(ident(p.decision_column), p.positive_decision)
        rows = conn.execute(
            f"SELECT CAST({ident(p.score_column)} AS DOUBLE) AS s, TRY_CAST({ident(label)} AS DOUBLE) AS y, "  # noqa: S608
            f"{positive_sql} AS d FROM {relation} WHERE {ident(label)} IS NOT NULL AND {ident(p.score_column)} IS NOT NULL",
            [*params, str(path)],
        ).fetchall()
    rows = [r for r in rows if r[1] is not None]
    if not rows:
        return {}
    s = np.asarray([r[0] for r in rows], dtype=float)
    y = np.asarray([r[1] for r in rows], dtype=float)
    positive = np.asarray([bool(r[2]) for r in rows])
    if cfg.model.task == "regression":
        return {"rows": float(len(y)), **regression_reference(s, y)}
    weights = selection_weights(positive, coverage if selective else None)
    out = weighted_metrics(s, y, weights, cfg.model.threshold)
    out.update(chunk_spreads(s, y, weights, cfg.model.threshold))
    out.update(reference_estimate(s))  # the estimate covers every scored row: no selection
    if selective and coverage is not None:
        out["coverage_positive_decision"], out["coverage_other"] = float(coverage[0]), float(coverage[1])
    return out


def multiclass_reference(cfg: VigilConfig, path: Any) -> dict[str, float]:
    """Per-class ROC AUC (and its error), precision and recall, macro AUC and log loss on the reference.

    Keys: ``macro_auc``, ``log_loss`` (+ ``_se``), ``class_auc:<class>`` (+ ``_se``),
    ``class_precision:<class>``, ``class_recall:<class>``. Empty when the reference lacks a column."""
    assert cfg.labels is not None
    p = cfg.predictions
    scores = dict(p.class_scores or {})
    label = cfg.labels.label_column
    with duckdb.connect() as conn:
        rel = read_sql(file_format(path))
        present = {str(r[0]) for r in conn.execute(f"DESCRIBE SELECT * FROM {rel}", [str(path)]).fetchall()}  # noqa: S608
        relation = renamed_sql(rel, cfg.column_map, present)
        cols = _reference_columns(conn, relation, str(path))
        if label not in cols or not set(scores.values()) <= cols:
            return {}
        pred = f", CAST({ident(p.decision_column)} AS VARCHAR) AS pred" if p.decision_column in cols else ""
        select = ", ".join(f"CAST({ident(c)} AS DOUBLE) AS {ident('s_' + str(i))}" for i, c in enumerate(scores.values()))
        frame = conn.execute(
            f"SELECT {select}, regexp_replace(CAST({ident(label)} AS VARCHAR), '\\.0+$', '') AS y{pred} "  # noqa: S608
            f"FROM {relation} WHERE {ident(label)} IS NOT NULL",
            [str(path)],
        ).df().dropna()
    classes = list(scores)
    if frame.empty:
        return {}
    probs = frame[[f"s_{i}" for i in range(len(classes))]].to_numpy(float)
    y = frame["y"].astype(str).to_numpy()
    predicted = frame["pred"].astype(str).to_numpy() if "pred" in frame else np.array(classes)[probs.argmax(axis=1)]
    out: dict[str, float] = {"rows": float(len(y))}
    aucs = []
    for i, c in enumerate(classes):
        pos = y == c
        if 0 < pos.sum() < len(y):
            auc = float(roc_auc_score(pos, probs[:, i]))
            aucs.append(auc)
            out[f"class_auc:{c}"] = auc
            out[f"class_auc:{c}_se"] = hanley_mcneil_se(auc, int(pos.sum()), int(len(y) - pos.sum()))
        flagged = predicted == c
        if flagged.sum():
            out[f"class_precision:{c}"] = float((flagged & pos).sum() / flagged.sum())
        if pos.sum():
            out[f"class_recall:{c}"] = float((flagged & pos).sum() / pos.sum())
    if len(aucs) == len(classes):
        out["macro_auc"] = float(np.mean(aucs))
        out["macro_auc_se"] = math.sqrt(sum(out[f"class_auc:{c}_se"] ** 2 for c in classes)) / len(classes)
    known = np.isin(y, classes)
    if known.any():
        index = {c: i for i, c in enumerate(classes)}
        p_true = probs[known, [index[v] for v in y[known]]]
        loss = -np.log(np.clip(p_true, 1e-15, None))
        out["log_loss"] = float(loss.mean())
        out["log_loss_se"] = _mean_se(loss)
    return out


def expected_values(
    check: str, live_reference: dict[str, float], model_evaluation: dict[str, Any] | None, klass: str | None = None
) -> dict[str, Any]:
    """Params for a performance check: the selection-matched reference value if known, else the
    registry's; with the reference-chunk spread of the metric for calibrated bounds.

    ``klass``: a per-class check of a multiclass model reads ``<check>:<class>``."""
    key = "auc" if check == "estimated_performance" else check
    if klass is not None and check != "estimated_performance":
        key = f"{check}:{klass}"
    registered = None
    if model_evaluation:
        for name in (key, "roc_auc" if key == "auc" else key):
            value = model_evaluation.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
                registered = float(value)
                break
    if check == "estimated_performance":
        # The estimate covers every scored row, so the full-population registered AUC is the match;
        # the same estimate on every reference score is the yardstick when the reference has scores.
        ctx: dict[str, Any] = {"expected": registered} if registered is not None else {}
        for name in ("estimated_auc", "estimated_auc_chunk_sd", "estimated_auc_chunk_rows", "estimated_auc_unit_sd",
                     "estimated_auc_se"):
            if name in live_reference:
                ctx[f"reference_{name}"] = live_reference[name]
        return ctx
    spread: dict[str, Any] = {}
    if f"{key}_chunk_sd" in live_reference and "chunk_rows" in live_reference:
        spread = {"chunk_sd": live_reference[f"{key}_chunk_sd"], "chunk_rows": live_reference["chunk_rows"]}
    if key in live_reference:
        ctx = {"expected": live_reference[key], "expected_basis": "reference rows with the live selection", **spread}
        if f"{key}_se" in live_reference:
            ctx["expected_se"] = live_reference[f"{key}_se"]
        if registered is not None:
            ctx["registered"] = registered
        return ctx
    if registered is not None:
        return {"expected": registered, "expected_basis": "registered evaluation"}
    return {}
