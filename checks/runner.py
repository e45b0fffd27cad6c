"""Run every enabled check on every subject of each batch and store the results.

For each batch: load the statistics through profilers.stats_store, build each check's
parameters (defaults <- config facts and recent history <- checks.params <- per-feature
overrides), call the pure check, turn any exception into an 'error' result (a broken
column never stops the cycle), then replace that batch's rows in check_results.
"""

from __future__ import annotations

import inspect
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import duckdb
import pandas as pd

from checks.distributions import category_shares, true_share
from checks.input_quality.skew import SkewStats, compare_features, load_builder
from checks.live_reference import expected_values, reference_selection_metrics
from checks.registry import CheckSpec, enabled_specs, params_for
from checks.result import CheckResult
from checks.subjects import (
    PREDICTIONS,
    Subject,
    column_subjects,
    model_subjects,
    static_context,
    table_subjects,
)
from checks.verdict import error_result, skipped
from core.clock import Clock, naive_utc
from core.config import VigilConfig
from core.sql import ident
from core.stores import Warehouse
from profilers import stats_store
from profilers.sources import bucket_sql, raw_table_name, window_micros
from profilers.stats_types import ColumnStats, PerformanceStats, ReferenceStats


def run_checks(
    cfg: VigilConfig,
    wh: Warehouse,
    batches: list[datetime],
    performance_batches: list[datetime],
    model_evaluation: dict[str, float] | None = None,
    clock: Clock | None = None,
) -> list[CheckResult]:
    """Check each batch (all families) and each performance batch (label-based checks); store and return."""
    specs = enabled_specs(cfg)
    checked_at = naive_utc(clock.now()) if clock else datetime.now(UTC).replace(tzinfo=None)
    references: dict[tuple[str, str], ReferenceStats | None] = {}
    stats = ColumnStatsCache()
    live_reference = _live_reference(cfg)
    out: list[CheckResult] = []
    label_only = sorted(set(performance_batches) - set(batches))
    for batch in sorted(set(batches)):
        with wh.write() as conn:
            results = check_batch(conn, cfg, specs, batch, references, stats, model_evaluation, live_reference, True)
            store_results(conn, results, checked_at)
        out += results
    for batch in label_only:
        with wh.write() as conn:
            results = check_batch(conn, cfg, specs, batch, references, stats, model_evaluation, live_reference, False)
            store_results(conn, results, checked_at)
        out += results
    return sorted(out, key=lambda r: (r.batch or datetime.min, r.family, r.check, r.subject))


# (registry evaluation, selection-matched reference metrics)
Expectations = tuple[dict[str, float] | None, dict[str, float]]


# ---- statistics, loaded once per batch ------------------------------------------------------

# Same columns, same order as profilers.stats_store.column_stats_from_row unpacks.
_STAT_COLUMNS = ("kind, count, nulls, nan, inf, min, max, mean, std, quantiles_json, bin_edges_json, "
                 "bin_counts_json, categories_json, distinct_count")


class ColumnStatsCache:
    """Column statistics of whole batches, one query per batch instead of one per column.

    Statistics do not change during a run, so batches loaded for one batch's history are
    reused by the next batch.
    """

    def __init__(self) -> None:
        self._by_batch: dict[datetime, dict[tuple[str, str], ColumnStats]] = {}

    def get(self, conn: duckdb.DuckDBPyConnection, source: str, column: str, batch: datetime) -> ColumnStats | None:
        if batch not in self._by_batch:
            rows = conn.execute(
                f"SELECT source, column_name, {_STAT_COLUMNS} FROM column_stats WHERE batch = ?",  # noqa: S608
                [batch],
            ).fetchall()
            self._by_batch[batch] = {
                (r[0], r[1]): stats_store.column_stats_from_row(r[0], r[1], batch, r[2:]) for r in rows
            }
        return self._by_batch[batch].get((source, column))


# ---- one batch -----------------------------------------------------------------------------


def safely(spec: CheckSpec, subject: str, batch: datetime, reference: Any, current: Any,
           params: dict[str, Any], model: str) -> CheckResult:
    try:
        res = spec.fn(reference, current, params)
    except Exception as err:  # a check bug or odd stats must not stop the cycle
        res = error_result(spec.name, spec.family, subject, batch, err)
    return replace(res, model=model, batch=res.batch or batch)


def _missing(spec: CheckSpec, subject: str, batch: datetime, what: str) -> CheckResult:
    return skipped(spec.name, spec.family, subject, batch, f"no {what} statistics for this batch")


@dataclass
class BatchContext:
    """Everything the checks of one batch share: connection, config, caches, expectations."""

    conn: duckdb.DuckDBPyConnection
    cfg: VigilConfig
    batch: datetime
    references: dict[tuple[str, str], ReferenceStats | None]
    stats: ColumnStatsCache
    expected: Expectations
    history: list[datetime]
    perf: PerformanceStats | None

    @property
    def model(self) -> str:
        return self.cfg.model.name

    @property
    def task(self) -> str:
        return self.cfg.model.task

    def reference(self, source: str, column: str) -> ReferenceStats | None:
        key = (source, column)
        if key not in self.references:
            self.references[key] = stats_store.load_reference(self.conn, source, column)
        return self.references[key]


def check_batch(
    conn: duckdb.DuckDBPyConnection,
    cfg: VigilConfig,
    specs: list[CheckSpec],
    batch: datetime,
    references: dict[tuple[str, str], ReferenceStats | None],
    stats: ColumnStatsCache,
    model_evaluation: dict[str, float] | None,
    live_reference: dict[str, float],
    include_data: bool,
) -> list[CheckResult]:
    """All checks of one batch; include_data=False (labels just matured) runs only the label-based
    checks (reading the live test set) and the performance family."""
    depth = max((int(s.params.get("recent_batches", 0)) for s in specs), default=0)
    ctx = BatchContext(conn, cfg, batch, references, stats, (model_evaluation, live_reference),
                       recent_batches(conn, batch, depth), stats_store.load_performance(conn, batch))
    if not include_data:
        specs = [s for s in specs if s.family == "performance" or s.reads == "performance"]
    results, feature_current, feature_reference = column_checks(ctx, specs)
    results += feature_set_checks(ctx, specs, feature_reference, feature_current)
    results += table_checks(ctx, specs)
    results += skew_checks(ctx, specs)
    results += model_checks(ctx, specs)
    return results


def column_checks(
    ctx: BatchContext, specs: list[CheckSpec]
) -> tuple[list[CheckResult], dict[str, ColumnStats], dict[str, ReferenceStats]]:
    """Checks over one column's statistics, for every column subject; also collects the features."""
    results: list[CheckResult] = []
    feature_current: dict[str, ColumnStats] = {}
    feature_reference: dict[str, ReferenceStats] = {}
    for subj in column_subjects(ctx.cfg):
        applicable = [s for s in specs if s.reads == "column" and s.applies(subj.role, subj.kind, ctx.task)]
        wants_features = subj.role == "feature" and any(s.reads == "features" for s in specs)
        if not applicable and not wants_features:
            continue
        assert subj.source is not None and subj.column is not None
        current = ctx.stats.get(ctx.conn, subj.source, subj.column, ctx.batch)
        if current is None and subj.role == "fallback":
            current = fallback_stats(ctx.conn, ctx.cfg, subj.column, ctx.batch)
        reference = ctx.reference(subj.source, subj.column)
        if subj.role == "feature" and current is not None:
            feature_current[subj.column] = current
            if reference is not None:
                feature_reference[subj.column] = reference
        for spec in applicable:
            if current is None:
                results.append(_missing(spec, subj.name, ctx.batch, f"{subj.name} column"))
                continue
            params = _params(spec, ctx.cfg, subj, ctx.expected)
            params.update(_history_context(ctx.conn, ctx.cfg, ctx.stats, spec, subj, ctx.history, params, ctx.perf))
            if params.get("enabled", True):
                results.append(safely(spec, subj.name, ctx.batch, reference, current, params, ctx.model))
    return results, feature_current, feature_reference


def feature_set_checks(
    ctx: BatchContext, specs: list[CheckSpec], reference: dict[str, ReferenceStats], current: dict[str, ColumnStats]
) -> list[CheckResult]:
    results = []
    for spec in (s for s in specs if s.reads == "features" and s.applies("features", None, ctx.task)):
        params = _params(spec, ctx.cfg, Subject("features", PREDICTIONS), ctx.expected)
        params["batch"] = ctx.batch
        if params.get("enabled", True):
            results.append(safely(spec, PREDICTIONS, ctx.batch, reference, current, params, ctx.model))
    return results


def table_checks(ctx: BatchContext, specs: list[CheckSpec]) -> list[CheckResult]:
    results = []
    for subj in table_subjects(ctx.cfg):
        applicable = [s for s in specs if s.reads == "table" and s.applies(subj.role, None, ctx.task)]
        if not applicable:
            continue
        assert subj.source is not None
        table = stats_store.load_table_stats(ctx.conn, subj.source, ctx.batch)
        for spec in applicable:
            if table is None:
                results.append(_missing(spec, subj.name, ctx.batch, f"{subj.name} table"))
                continue
            params = _params(spec, ctx.cfg, subj, ctx.expected)
            if spec.name == "volume":
                params.setdefault("recent_rows", _recent_rows(ctx.conn, subj.source, ctx.history,
                                                              int(params["recent_batches"])))
            if params.get("enabled", True):
                results.append(safely(spec, subj.name, ctx.batch, None, table, params, ctx.model))
    return results


def skew_checks(ctx: BatchContext, specs: list[CheckSpec]) -> list[CheckResult]:
    results = []
    for spec in (s for s in specs if s.reads == "skew" and s.applies("model", None, ctx.task)):
        params = _params(spec, ctx.cfg, Subject("model", "model"), ctx.expected)
        if not params.get("enabled", True):
            continue
        try:
            sample = skew_sample(ctx.conn, ctx.cfg, ctx.batch, int(params["sample_rows"]), float(params["rtol"]))
        except Exception as err:  # the builder is user code: report, do not crash
            results.append(replace(error_result(spec.name, spec.family, PREDICTIONS, ctx.batch, err), model=ctx.model))
            continue
        results.append(safely(spec, PREDICTIONS, ctx.batch, None, sample, params, ctx.model))
    return results


def model_checks(ctx: BatchContext, specs: list[CheckSpec]) -> list[CheckResult]:
    results = []
    for subj in model_subjects(ctx.cfg):
        for spec in (s for s in specs if s.reads == "performance" and s.applies(subj.role, None, ctx.task)):
            if ctx.perf is None:
                results.append(replace(_missing(spec, subj.name, ctx.batch, "live test set"), model=ctx.model))
                continue
            params = _params(spec, ctx.cfg, subj, ctx.expected)
            if params.get("enabled", True):
                results.append(safely(spec, subj.name, ctx.batch, None, ctx.perf, params, ctx.model))
    return results


def _params(spec: CheckSpec, cfg: VigilConfig, subj: Subject, expected: Expectations) -> dict[str, Any]:
    ctx = static_context(cfg, subj)
    if "expected" in spec.context:
        ctx.update(expected_values(spec.name, expected[1], expected[0]))
    return params_for(spec, cfg, subj.feature, ctx)


def _live_reference(cfg: VigilConfig) -> dict[str, float]:
    try:
        return reference_selection_metrics(cfg)
    except Exception:  # an unreadable reference only loses the selection-matched expectations
        return {}


def recent_batches(conn: duckdb.DuckDBPyConnection, batch: datetime, n: int) -> list[datetime]:
    """Up to n profiled batches before this one, newest last."""
    if n <= 0:
        return []
    earlier = [b for b in stats_store.list_batches(conn) if b < batch]
    return earlier[-n:]


def _recent_rows(conn: duckdb.DuckDBPyConnection, source: str, history: list[datetime], n: int) -> list[int]:
    rows = []
    for b in history[-n:]:
        t = stats_store.load_table_stats(conn, source, b)
        if t is not None and t.row_count > 0:
            rows.append(t.row_count)
    return rows


def _history_context(
    conn: duckdb.DuckDBPyConnection, cfg: VigilConfig, stats: ColumnStatsCache, spec: CheckSpec, subj: Subject, history: list[datetime],
    params: dict[str, Any], perf: PerformanceStats | None,
) -> dict[str, Any]:
    """Recent rates for decision / fallback checks; the realized AUC next to the estimated one."""
    ctx: dict[str, Any] = {}
    if spec.name in ("decision_rate_shift", "fallback_rate") and "recent_rates" not in params:
        assert subj.source is not None and subj.column is not None
        rates = []
        for b in history[-int(params.get("recent_batches", 7)):]:
            s = stats.get(conn, subj.source, subj.column, b)
            if s is None and spec.name == "fallback_rate":
                s = fallback_stats(conn, cfg, subj.column, b)
            if s is None:
                continue
            if spec.name == "decision_rate_shift":
                if s.categories:
                    rates.append(category_shares(s).get(str(params.get("positive_decision")), 0.0))
            else:
                r = true_share(s)
                if r is not None:
                    rates.append(r)
        ctx["recent_rates"] = rates
    if spec.name == "estimated_performance" and perf is not None and perf.matured and perf.auc is not None:
        ctx["realized_auc"] = perf.auc
    return ctx


def fallback_stats(conn: duckdb.DuckDBPyConnection, cfg: VigilConfig, column: str, batch: datetime) -> ColumnStats | None:
    """Counts of the fallback flag for a batch, when the profilers do not profile that column.

    One aggregate over the batch's rows (no rows leave DuckDB); stored as a boolean
    ColumnStats so the fallback_rate check reads it like any other statistics.
    """
    if not _table_exists(conn, PREDICTIONS):
        return None
    ts = ident(cfg.predictions.timestamp_column)
    flag = f"CAST({ident(column)} AS BOOLEAN)"
    rows = conn.execute(
        f"SELECT count(*), count(*) FILTER (WHERE {flag} IS NULL), count(*) FILTER (WHERE {flag}), "  # noqa: S608
        f"count(*) FILTER (WHERE NOT {flag}) FROM predictions WHERE {bucket_sql(ts)} = ?",
        [window_micros(cfg), batch],
    ).fetchall()  # fetchall: DuckDB 2 keeps a fetchone() result open, blocking the next statement
    row = rows[0] if rows else None
    if not row or not row[0]:
        return None
    total, nulls, trues, falses = (int(x) for x in row)
    return ColumnStats(PREDICTIONS, column, "boolean", batch, total, nulls=nulls,
                       categories={"true": trues, "false": falses}, distinct=int(trues > 0) + int(falses > 0))


# ---- training-serving skew sample ------------------------------------------------------------


def skew_sample(conn: duckdb.DuckDBPyConnection, cfg: VigilConfig, batch: datetime, rows: int, rtol: float) -> SkewStats:
    """Rebuild the served features of a sample of the batch from the upstream tables and compare."""
    spec = cfg.model.feature_builder
    if not spec:
        return SkewStats(batch=batch, builder=None)
    p = cfg.predictions
    features = [f.name for f in cfg.features]
    pred_cols = [p.id_column] + features
    served = conn.execute(
        f"SELECT {', '.join(ident(c) for c in pred_cols)} FROM predictions "  # noqa: S608
        f"WHERE {bucket_sql(ident(p.timestamp_column))} = ? ORDER BY {ident(p.id_column)} LIMIT ?",
        [window_micros(cfg), batch, rows],
    ).df()
    if served.empty:
        return SkewStats(batch=batch, builder=spec, note="no predictions in this batch")
    builder = load_builder(spec)
    ids = served[p.id_column].astype(str).tolist()
    tables = {}
    for t in cfg.etl_tables:
        if not t.key or not _table_exists(conn, raw_table_name(t.name)):
            continue
        tables[t.name] = conn.execute(
            f"SELECT * EXCLUDE (_file) FROM {ident(raw_table_name(t.name))} "  # noqa: S608
            f"WHERE CAST({ident(t.key)} AS VARCHAR) IN (SELECT unnest(?::VARCHAR[]))",
            [ids],
        ).df()
    accepted = inspect.signature(builder).parameters
    kwargs = {name: df for name, df in tables.items() if name in accepted}
    if not kwargs:
        return SkewStats(batch=batch, builder=spec,
                         note=f"the feature builder takes none of the ETL tables ({', '.join(tables) or 'none loaded'})")
    rebuilt = builder(**kwargs)
    return compare_features(served, rebuilt, p.id_column, features, rtol, batch=batch, builder=spec)


def _table_exists(conn: duckdb.DuckDBPyConnection, name: str) -> bool:
    rows = conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]).fetchall()
    return bool(rows and rows[0][0])


# ---- storage -------------------------------------------------------------------------------


def _json_default(obj: Any) -> Any:
    if isinstance(obj, datetime):
        return obj.isoformat()
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    return str(obj)


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def evidence_json(evidence: dict[str, Any]) -> str:
    return json.dumps(_clean(evidence), default=_json_default, sort_keys=True)


def store_results(conn: duckdb.DuckDBPyConnection, results: Iterable[CheckResult], checked_at: datetime) -> None:
    """Replace earlier rows of the same (check, subject, batch, model), in the caller's transaction."""
    rows = []
    for r in results:
        if r.batch is None:
            continue
        rows.append([r.check, r.family, r.subject, r.batch, r.model, r.status, r.severity,
                     _num(r.value), _num(r.lower), _num(r.upper), r.explanation, evidence_json(r.evidence),
                     checked_at])
    if not rows:
        return
    frame = pd.DataFrame(rows, columns=list(_RESULT_COLUMNS))
    # One set-based delete + insert per batch: executemany is ~100x slower in DuckDB.
    conn.register("_new_check_results", frame)
    try:
        conn.execute(
            "DELETE FROM check_results c USING _new_check_results n WHERE c.check_name = n.check_name "
            "AND c.subject = n.subject AND c.batch = n.batch AND c.model = n.model"
        )
        cols = ", ".join(_RESULT_COLUMNS)
        conn.execute(f"INSERT INTO check_results ({cols}) SELECT {cols} FROM _new_check_results")  # noqa: S608
    finally:
        conn.unregister("_new_check_results")


_RESULT_COLUMNS = ("check_name", "family", "subject", "batch", "model", "status", "severity", "value", "lower",
                   "upper", "explanation", "evidence_json", "checked_at")


def _num(v: float | None) -> float | None:
    return float(v) if v is not None and math.isfinite(v) else None
