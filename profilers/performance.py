"""The live test set per prediction batch: predictions joined with their labels, in SQL.

Labels come from the label ETL table (the newest label per key). A batch is matured when
its labels have all landed by event time: see ``labels_matured``.
Before labels arrive, ``estimated`` gives what calibrated scores predict (expected
positive rate, precision and recall at the threshold), in the spirit of CBPE.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import duckdb
import pyarrow as pa

from core.config import VigilConfig
from core.decision_value import match_sql
from core.model_kinds import BINARY, MULTICLASS, REGRESSION, model_kind
from core.sql import ident
from profilers.expected_error import estimate_batches
from profilers.multiclass import multiclass_stats, segment_live_rows
from profilers.segments import (
    LIVE_ARROW_TYPES,
    SegmentDef,
    live_cells_sql,
    load_score_edges,
    segment_projection,
    split_cells,
)
from profilers.sources import PREDICTIONS, batch_of, bucket_sql, fetch_one, raw_table_name, window_micros
from profilers.stats_store import insert_stat_rows
from profilers.stats_types import PerformanceStats


def maturity_cutoff(now: datetime, window: timedelta, maturity: timedelta) -> datetime:
    """The newest batch start whose labels have all matured by event-time ``now``.

    Event time advances in whole batches: once a batch has arrived, its window counts as
    passed (the cycle after day D ran on day D's file). A prediction at t has its label by
    t + maturity, so the labels of batch b (rows up to b + window) have all landed once the
    batch holding b + maturity has arrived: b + maturity <= batch_of(now). With daily
    batches and maturity 3d, batch i is judged in the cycle that ingested day i + 3 (the
    day its last outcomes were observed), not a cycle later. Caveat for a partial newest
    batch (hourly files into a daily window): the last batch may be judged up to one
    window early; use a window no longer than the arrival cadence.
    """
    return batch_of(now, window) - maturity


def labels_matured(batch: datetime, now: datetime | None, window: timedelta, maturity: timedelta | None) -> bool:
    return now is not None and maturity is not None and batch <= maturity_cutoff(now, window, maturity)


def _table_exists(conn: duckdb.DuckDBPyConnection, name: str) -> bool:
    row = fetch_one(
        conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name])
    )
    return bool(row and row[0])


def _joined_sql(cfg: VigilConfig, has_labels: bool, segments: Sequence[SegmentDef] = ()) -> tuple[str, list[Any]]:
    """CTE ``j``: batch, score, approved, y (NULL when unlabeled) for the given batches, and
    each segment's label ``_s<i>`` when segments are given.

    Parameters: window, batches (then the caller's own)."""
    p = cfg.predictions
    ts = ident(p.timestamp_column)
    approved = "false"
    params: list[Any] = [window_micros(cfg)]
    if p.decision_column and p.positive_decision is not None:
        approved, match_params = match_sql(ident(p.decision_column), p.positive_decision)
        params += match_params
    seg_sql, seg_params = segment_projection(segments)
    params += seg_params
    params.append(None)  # placeholder for batches, replaced below
    base = (
        f"SELECT * FROM (SELECT {bucket_sql(ts)} AS batch, CAST({ident(p.id_column)} AS VARCHAR) AS k, "  # noqa: S608
        f"CAST({ident(p.score_column or '')} AS DOUBLE) AS score, {approved} AS approved"
        f"{', ' + seg_sql if seg_sql else ''} FROM predictions) "
        "WHERE list_contains(?::TIMESTAMP[], batch)"
    )
    if not has_labels or cfg.labels is None:
        return f"WITH j AS (SELECT *, CAST(NULL AS DOUBLE) AS y FROM ({base}))", params  # noqa: S608
    lab = cfg.labels
    label_table = ident(raw_table_name(lab.table))
    lts = ident(cfg.etl_table(lab.table).timestamp_column)
    labels = (
        f"SELECT CAST({ident(lab.join_key)} AS VARCHAR) AS k, arg_max(CAST({ident(lab.label_column)} AS DOUBLE), {lts}) AS y "  # noqa: S608
        f"FROM {label_table} WHERE {ident(lab.label_column)} IS NOT NULL AND {ident(lab.join_key)} IS NOT NULL GROUP BY 1"
    )
    return f"WITH l AS ({labels}), j AS (SELECT b.*, l.y FROM ({base}) b LEFT JOIN l USING (k))", params  # noqa: S608


def performance_stats(
    conn: duckdb.DuckDBPyConnection,
    cfg: VigilConfig,
    batches: list[datetime],
    now: datetime | None,
    rows_conn: duckdb.DuckDBPyConnection | None = None,
) -> list[PerformanceStats]:
    """The live test set's statistics per batch. ``conn`` runs the SQL (DuckDB, or Spark through
    profilers.spark_sql); ``rows_conn`` (default ``conn``) is the warehouse whose rows the
    regression error model reads (the Spark engine's bounded sample)."""
    if not batches or not _table_exists(conn, PREDICTIONS) or cfg.model.task == "none":
        return []  # a feature table has no model outputs to judge
    has_labels = cfg.labels is not None and _table_exists(conn, raw_table_name(cfg.labels.table))
    if cfg.model.task == "multiclass":
        maturity = cfg.labels.maturity if cfg.labels else None
        ripe = {b: labels_matured(b, now, cfg.batch.window, maturity) for b in batches}
        return multiclass_stats(conn, cfg, batches, has_labels, ripe)
    cte, params = _joined_sql(cfg, has_labels)
    params[-1] = batches
    thr = cfg.model.threshold
    regression = cfg.model.task == "regression"
    thr_params = [thr, thr, thr, thr, thr, thr] if thr is not None else []
    thr_sql = (
        ", count(*) FILTER (WHERE y IS NOT NULL AND score >= ? AND y = 1) AS tp"
        ", count(*) FILTER (WHERE y IS NOT NULL AND score >= ?) AS pp"
        ", avg(score) FILTER (WHERE score >= ?) AS est_precision"
        ", sum(score) FILTER (WHERE score >= ?) / nullif(sum(score), 0) AS est_recall"
        ", avg(CASE WHEN score >= ? THEN 1.0 ELSE 0.0 END) AS predicted_positive_rate"
        ", count(*) FILTER (WHERE score >= ?) AS predicted_positives"
        if thr is not None
        else ""
    )
    rows = conn.execute(
        f"{cte} SELECT batch, count(*) AS n, count(y) AS labeled, "  # noqa: S608
        "count(*) FILTER (WHERE y = 1) AS positives, count(*) FILTER (WHERE approved) AS approved, "
        "count(y) FILTER (WHERE approved) AS approved_labeled, count(*) FILTER (WHERE approved AND y = 1) AS approved_positives, "
        "avg(score) AS mean_score, avg(y) AS mean_label, "
        "avg((score - y) * (score - y)) AS mse, avg(abs(score - y)) AS mae, "
        "sum(score) AS expected_positives, avg(score) FILTER (WHERE approved) AS est_approved_positive_rate"
        f"{thr_sql} FROM j GROUP BY batch",
        params + thr_params,
    ).fetchall()
    auc, auc_se = _auc_by_batch(conn, cte, params) if has_labels and not regression else ({}, {})
    extra_metrics = _regression_metrics(conn, cte, params) if has_labels and regression else {}
    error_estimates = estimate_batches(rows_conn or conn, cfg, batches) if regression else {}
    est_auc, est_auc_labelled = _estimated_auc_by_batch(conn, cte, params, has_labels) if not regression else ({}, {})
    maturity = cfg.labels.maturity if cfg.labels else None
    out = []
    for r in rows:
        (
            batch,
            n,
            labeled,
            positives,
            approved,
            approved_labeled,
            approved_positives,
            mean_score,
            mean_label,
            mse,
            mae,
            expected_positives,
            est_approved_rate,
        ) = r[:13]
        extra = r[13:]
        matured = labels_matured(batch, now, cfg.batch.window, maturity)
        estimated: dict[str, float] = {}
        if mean_score is not None:
            estimated["mean_score"] = float(mean_score)
        estimated.update(error_estimates.get(batch, {}))
        if not regression:
            if expected_positives is not None:
                estimated["expected_positives"] = float(expected_positives)
                estimated["expected_positive_rate"] = float(mean_score)
            if est_approved_rate is not None:
                estimated["expected_approved_positive_rate"] = float(est_approved_rate)
            if batch in est_auc:
                estimated["auc"] = est_auc[batch]
            if batch in est_auc_labelled:
                estimated["auc_labelled"] = est_auc_labelled[batch]
        precision = recall = None
        if thr is not None and not regression:
            tp, pp, est_precision, est_recall, ppr, ppos = extra
            precision = tp / pp if pp else None
            recall = tp / positives if positives else None
            for k, v in (
                ("precision", est_precision),
                ("recall", est_recall),
                ("predicted_positive_rate", ppr),
                ("predicted_positives", ppos),
            ):
                if v is not None:
                    estimated[k] = float(v)
        out.append(
            PerformanceStats(
                batch=batch,
                predictions=int(n),
                labeled=int(labeled),
                matured=matured,
                positives=0 if regression else int(positives),
                approved=int(approved),
                approved_labeled=int(approved_labeled),
                approved_positives=0 if regression else int(approved_positives),
                mean_score=mean_score,
                mean_label=mean_label,
                auc=auc.get(batch),
                brier=None if regression else mse,
                precision=precision,
                recall=recall,
                mae=mae if regression else None,
                rmse=(mse**0.5 if mse is not None else None) if regression else None,
                estimated=estimated,
                metrics=extra_metrics.get(batch, {}) if regression else (
                    {"auc_se": auc_se[batch]} if batch in auc_se else {}),
            )
        )
    return out


def segment_live_cells(
    conn: duckdb.DuckDBPyConnection, cfg: VigilConfig, batches: list[datetime], now: datetime | None,
    segments: Sequence[SegmentDef],
) -> int:
    """The live test set of each batch as cells (score bin x labelled x positive x approved), for the
    whole batch and every segment in one grouped query; replaces the batches' rows in
    segment_live_stats. A multiclass model's cells are over its predicted class (profilers.multiclass)."""
    values = segment_live_values(conn, cfg, batches, now, segments, load_score_edges(conn))
    if values is None:
        return 0
    write_segment_live_cells(conn, batches, values)
    return len(values)


def segment_live_values(
    conn: duckdb.DuckDBPyConnection, cfg: VigilConfig, batches: list[datetime], now: datetime | None,
    segments: Sequence[SegmentDef], edges: Sequence[float],
) -> list[list[Any]] | None:
    """The segment_live_stats rows of the batches (None: no live test set for this model kind).
    ``conn`` runs the SQL (DuckDB, or Spark through profilers.spark_sql); ``edges``: the stored score bins."""
    kind = model_kind(cfg.model.task)
    if not batches or kind not in BINARY | REGRESSION | MULTICLASS or not _table_exists(conn, PREDICTIONS):
        return None
    has_labels = cfg.labels is not None and _table_exists(conn, raw_table_name(cfg.labels.table))
    if kind in MULTICLASS:  # cells over the predicted class instead of score bins (profilers.multiclass)
        rows = segment_live_rows(conn, cfg, batches, has_labels, segments)
    else:
        cte, params = _joined_sql(cfg, has_labels, segments)
        params[-1] = batches
        sql, bin_params = live_cells_sql("j", "batch", [d.key for d in segments], edges)
        rows = conn.execute(f"{cte} {sql}", params + bin_params).fetchall()
    maturity = cfg.labels.maturity if cfg.labels else None
    return [
        [batch, name, label, *cell, labels_matured(batch, now, cfg.batch.window, maturity)]
        for batch, name, label, cell in split_cells(rows, list(segments))
    ]


def write_segment_live_cells(conn: duckdb.DuckDBPyConnection, batches: list[datetime], values: list[list[Any]]) -> None:
    conn.execute("DELETE FROM segment_live_stats WHERE list_contains(?::TIMESTAMP[], batch)", [batches])
    types = [pa.timestamp("us"), *LIVE_ARROW_TYPES, pa.bool_()]
    insert_stat_rows(conn, "segment_live_stats", types, values)


def _regression_metrics(conn: duckdb.DuckDBPyConnection, cte: str, params: list[Any]) -> dict[datetime, dict[str, float]]:
    """RMSLE, MAPE and the standard errors of MAE, RMSE, RMSLE and MAPE per batch (labelled rows).

    RMSLE uses rows where prediction and outcome are above -1; MAPE rows with a non-zero outcome.
    Standard errors: of a mean, sd / sqrt(n); of a root mean square, by the delta method."""
    rows = conn.execute(
        f"{cte}, e AS (SELECT batch, score - y AS err, abs(score - y) AS ae, (score - y) * (score - y) AS se, "  # noqa: S608
        "CASE WHEN score > -1 AND y > -1 THEN power(ln(greatest(1 + score, 1e-300)) - ln(greatest(1 + y, 1e-300)), 2) END AS sle, "
        "CASE WHEN y <> 0 THEN abs(score - y) / abs(y) END AS ape FROM j WHERE y IS NOT NULL AND score IS NOT NULL) "
        "SELECT batch, count(*), stddev_samp(ae), avg(se), stddev_samp(se), count(sle), avg(sle), stddev_samp(sle), "
        "count(ape), avg(ape), stddev_samp(ape) FROM e GROUP BY batch",
        params,
    ).fetchall()
    out: dict[datetime, dict[str, float]] = {}
    for batch, n, ae_sd, mse, se_sd, n_sle, msle, sle_sd, n_ape, mape, ape_sd in rows:
        m: dict[str, float] = {}
        if n and n > 1 and ae_sd is not None:
            m["mae_se"] = float(ae_sd) / math.sqrt(n)
        if n and n > 1 and mse and se_sd is not None:
            m["rmse_se"] = float(se_sd) / math.sqrt(n) / (2 * math.sqrt(mse))
        if n_sle and msle is not None:
            m["rmsle"] = math.sqrt(float(msle))
            if n_sle > 1 and msle > 0 and sle_sd is not None:
                m["rmsle_se"] = float(sle_sd) / math.sqrt(n_sle) / (2 * math.sqrt(msle))
        if n_ape and mape is not None:
            m["mape"] = float(mape)
            if n_ape > 1 and ape_sd is not None:
                m["mape_se"] = float(ape_sd) / math.sqrt(n_ape)
        out[batch] = {k: v for k, v in m.items() if math.isfinite(v)}
    return out


def _estimated_auc_by_batch(
    conn: duckdb.DuckDBPyConnection, cte: str, params: list[Any], labelled: bool
) -> tuple[dict[datetime, float], dict[datetime, float]]:
    """The ROC AUC that calibrated scores predict (confidence-based estimation, as NannyML's CBPE):
    each row is a positive with probability s and a negative with probability 1 - s, so
    E[AUC] = sum_i s_i * (negative mass below s_i, ties at half) / (sum s * sum (1 - s)).
    Exact over every row of the batch, and over its labelled rows (to compare with the realized
    AUC, when ``labelled``): (every row, labelled rows).

    Computed without a running sum: with s_(k) the k-th smallest score, the numerator is
    sum_k k s_(k) - sum s / 2 - (sum s)^2 / 2 (the pairs' s_i s_j terms sum to (sum s)^2 / 2
    in any order; tied scores are equal, so their positions add up to their mid-ranks). One
    row_number() per batch is the only sort.
    """
    lab_rank = (
        "CASE WHEN lab THEN row_number() OVER (PARTITION BY batch, lab ORDER BY s) END"
        if labelled
        else "CAST(NULL AS BIGINT)"
    )
    rows = conn.execute(
        f"{cte}, c AS (SELECT batch, greatest(0.0, least(1.0, score)) AS s, y IS NOT NULL AS lab "  # noqa: S608
        "FROM j WHERE score IS NOT NULL), "
        f"r AS (SELECT batch, s, lab, row_number() OVER (PARTITION BY batch ORDER BY s) AS k, {lab_rank} AS lk FROM c) "
        "SELECT batch, sum(s * k), sum(s), sum(1 - s), sum(s * lk), sum(CASE WHEN lab THEN s END), "
        "sum(CASE WHEN lab THEN 1 - s END) FROM r GROUP BY batch",
        params,
    ).fetchall()

    def expected(ranked: Any, pos: Any, neg: Any) -> float | None:
        if ranked is None or not pos or not neg or pos <= 0 or neg <= 0:
            return None
        pos, neg = float(pos), float(neg)
        return (float(ranked) - 0.5 * pos - 0.5 * pos * pos) / (pos * neg)

    every: dict[datetime, float] = {}
    of_labelled: dict[datetime, float] = {}
    for batch, ranked, pos, neg, lranked, lpos, lneg in rows:
        value = expected(ranked, pos, neg)
        if value is not None:
            every[batch] = value
        value = expected(lranked, lpos, lneg) if labelled else None
        if value is not None:
            of_labelled[batch] = value
    return every, of_labelled


def _auc_by_batch(
    conn: duckdb.DuckDBPyConnection, cte: str, params: list[Any]
) -> tuple[dict[datetime, float], dict[datetime, float]]:
    """ROC AUC per batch by the rank-sum (Mann-Whitney) formula, ties at their mid-rank, and its
    DeLong standard error: (AUC per batch, its standard error per batch).

    DeLong (1988): each positive's placement is the share of negatives below it (ties at half),
    each negative's the share of positives above it; var(AUC) = var(positive placements) / npos
    + var(negative placements) / nneg. Unlike Hanley-McNeil it assumes no score distribution
    (Hanley-McNeil's exponential model overstates the error by half on a calibrated logistic
    model's scores, which would hide a real 0.01 drop at 4,000 rows)."""
    pos, neg = "CASE WHEN y = 1 THEN 1 ELSE 0 END", "CASE WHEN y = 1 THEN 0 ELSE 1 END"
    rows = conn.execute(
        f"{cte}, r AS (SELECT batch, y, rank() OVER (PARTITION BY batch ORDER BY score) "  # noqa: S608
        "+ (count(*) OVER (PARTITION BY batch, score) - 1) / 2.0 AS rk, "
        # the default frame with ORDER BY takes the tied rows too: counts at or below the score
        f"sum({neg}) OVER (PARTITION BY batch ORDER BY score) - sum({neg}) OVER (PARTITION BY batch, score) / 2.0 AS neg_below, "
        f"sum({pos}) OVER (PARTITION BY batch ORDER BY score) - sum({pos}) OVER (PARTITION BY batch, score) / 2.0 AS pos_below "
        "FROM j WHERE y IS NOT NULL AND score IS NOT NULL) "
        "SELECT batch, sum(rk) FILTER (WHERE y = 1) AS rs, count(*) FILTER (WHERE y = 1) AS npos, "
        "count(*) FILTER (WHERE y <> 1) AS nneg, var_samp(neg_below) FILTER (WHERE y = 1) AS v10, "
        "var_samp(pos_below) FILTER (WHERE y <> 1) AS v01 FROM r GROUP BY batch",
        params,
    ).fetchall()
    out, se = {}, {}
    for batch, rs, npos, nneg, v10, v01 in rows:
        if npos and nneg:
            out[batch] = float((rs - npos * (npos + 1) / 2) / (npos * nneg))
            # placements are counts here: divide by nneg^2 (positives') and npos^2 (negatives');
            # a side with one row has no variance to measure: no DeLong error (Hanley-McNeil instead)
            if v10 is not None and v01 is not None:
                var = float(v10) / (nneg * nneg * npos) + float(v01) / (npos * npos * nneg)
                if math.isfinite(var) and var > 0:
                    se[batch] = math.sqrt(var)
    return out, se

