"""Run every enabled check on every subject of each batch and store the results.

For each batch: load the statistics through profilers.stats_store, build each check's
parameters (defaults <- config facts and recent history <- checks.params <- per-feature
overrides), call the pure check, turn any exception into an 'error' result (a broken
column never stops the cycle), then replace that batch's rows in check_results. A batch
whose checking fails as a whole (its statistics unreadable, its results unwritable) gets one
``batch_checks`` error result; the other batches are still checked.

The model's performance checks of a batch share one false-alarm budget
(checks.performance.family): ``_params`` gives each member its tail, and ``model_checks``
makes the realized checks' Holm decision. Nowhere else.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import duckdb

from checks.distributions import true_share
from checks.input_quality.quarantine import CYCLE_CHECKS
from checks.input_quality.skew_sample import skew_sample
from checks.live_reference import expected_values, reference_selection_metrics
from checks.performance.family import PerformanceFamily, decide_realized, explain, judged, opted_out, part_of
from checks.registry import AnySpec, enabled_specs, params_for
from checks.result import CheckResult
from checks.segments.batch import enabled_segment_checks, segment_batch
from checks.segments.batch import load_references as load_segment_references
from checks.spec import COLUMN, FEATURES, PERFORMANCE, SKEW, TABLE, Computed, Family, run_spec
from checks.stats_access import ColumnStatsCache, fallback_stats, recent_batches, recent_rows
from checks.storage import store_results
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
from core.decision_value import share as decision_share
from core.stores import Warehouse
from profilers import stats_store
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
    family = performance_family(cfg, specs)
    checked_at = naive_utc(clock.now()) if clock else datetime.now(UTC).replace(tzinfo=None)
    references: dict[tuple[str, str], ReferenceStats | None] = {}
    stats = ColumnStatsCache()
    with wh.read() as conn:
        coverage = stats_store.label_coverage(conn)
        # Every reference in one query: one per column costs 1,000 round trips on a wide table.
        references.update(stats_store.load_all_references(conn))
        segments = load_segment_references(conn, cfg) if cfg.segments else None
    live_reference = _live_reference(cfg, coverage)
    segment_checks = enabled_segment_checks(cfg, specs)
    out: list[CheckResult] = []
    label_only = sorted(set(performance_batches) - set(batches))
    work = [(b, True) for b in sorted(set(batches))] + [(b, False) for b in label_only]
    for batch, include_data in work:
        try:
            with wh.write() as conn:
                results = check_batch(conn, cfg, specs, batch, references, stats, model_evaluation, live_reference, include_data,
                                      family)
                if segments is not None:  # per-segment checks and the decomposition of what moved
                    results = segment_batch(conn, cfg, segments, batch, include_data, results, segment_checks)
                store_results(conn, results, checked_at)
        except Exception as err:  # one batch's failure is that batch's error, never the cycle's
            log.exception("checking batch %s failed", batch.isoformat())
            results = [replace(error_result(BATCH_CHECKS, "monitoring", PREDICTIONS, batch, err), model=cfg.model.name)]
            try:
                with wh.write() as conn:
                    store_results(conn, results, checked_at)
            except Exception:  # the error stays in the cycle's results even if the store refuses it
                log.exception("recording the error of batch %s failed", batch.isoformat())
        out += results
    return sorted(out, key=lambda r: (r.batch or datetime.min, r.family, r.check, r.subject))


BATCH_CHECKS = CYCLE_CHECKS[1]  # "batch_checks": the error result of a batch whose checking failed as a whole
log = logging.getLogger("vigil.checks")


# (registry evaluation, selection-matched reference metrics)
Expectations = tuple[dict[str, float] | None, dict[str, float]]


# ---- one batch -----------------------------------------------------------------------------


def safely(spec: AnySpec, subject: str, batch: datetime, reference: Any, current: Any,
           params: dict[str, Any], model: str) -> CheckResult:
    return run_spec(spec, subject, batch, reference, current, params, model)


def _missing(spec: AnySpec, subject: str, batch: datetime, what: str) -> CheckResult:
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
    family: PerformanceFamily

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
    specs: list[AnySpec],
    batch: datetime,
    references: dict[tuple[str, str], ReferenceStats | None],
    stats: ColumnStatsCache,
    model_evaluation: dict[str, float] | None,
    live_reference: dict[str, float],
    include_data: bool,
    family: PerformanceFamily | None = None,
) -> list[CheckResult]:
    """All checks of one batch; include_data=False (labels just matured) runs only the label-based
    checks (reading the live test set) and the performance family."""
    depth = max((int(s.params.get("recent_batches", 0)) for s in specs), default=0)
    ctx = BatchContext(conn, cfg, batch, references, stats, (model_evaluation, live_reference),
                       recent_batches(conn, batch, depth), stats_store.load_performance(conn, batch),
                       family or performance_family(cfg, specs))
    if not include_data:
        specs = [s for s in specs if s.family == Family.PERFORMANCE or s.inputs == PERFORMANCE]
    results, feature_current, feature_reference = column_checks(ctx, specs)
    results += feature_set_checks(ctx, specs, feature_reference, feature_current)
    results += table_checks(ctx, specs)
    results += skew_checks(ctx, specs)
    results += model_checks(ctx, specs, results)
    return results


def column_checks(
    ctx: BatchContext, specs: list[AnySpec]
) -> tuple[list[CheckResult], dict[str, ColumnStats], dict[str, ReferenceStats]]:
    """Checks over one column's statistics, for every column subject; also collects the features."""
    results: list[CheckResult] = []
    feature_current: dict[str, ColumnStats] = {}
    feature_reference: dict[str, ReferenceStats] = {}
    for subj in column_subjects(ctx.cfg):
        applicable = [s for s in specs if s.inputs == COLUMN and s.applies(subj.role, subj.kind, ctx.task)]
        wants_features = subj.role == "feature" and any(s.inputs == FEATURES for s in specs)
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
            params = _params(spec, ctx.cfg, subj, ctx.expected, ctx.family)
            params.update(_history_context(ctx.conn, ctx.cfg, ctx.stats, spec, subj, ctx.history, params, ctx.perf))
            if params.get("enabled", True):
                res = _named(safely(spec, subj.name, ctx.batch, reference, current, params, ctx.model), spec, subj)
                results.append(_explained(res, spec, params, ctx.family))
    return results, feature_current, feature_reference


def _named(res: CheckResult, spec: AnySpec, subj: Subject) -> CheckResult:
    """Subjects the check cannot name itself: one class of a multiclass model, a mapped source column."""
    # A model-level check that reads a class's column speaks for the model's class.
    if subj.klass is not None and spec.scope == "model":
        res = replace(res, subject=f"model.{subj.klass}", evidence={**res.evidence, "class": subj.klass})
    elif subj.role == "class_decision":
        res = replace(res, subject=subj.name, evidence={**res.evidence, "class": subj.klass})
    f = subj.feature
    if f is not None and f.column and f.column != f.name and subj.role == "feature":
        res = replace(res, evidence={**res.evidence, "source_column": f.column},
                      explanation=f"{res.explanation} (source column {f.column!r})")
    return res


def feature_set_checks(
    ctx: BatchContext, specs: list[AnySpec], reference: dict[str, ReferenceStats], current: dict[str, ColumnStats]
) -> list[CheckResult]:
    results = []
    for spec in (s for s in specs if s.inputs == FEATURES and s.applies("features", None, ctx.task)):
        params = _params(spec, ctx.cfg, Subject("features", PREDICTIONS), ctx.expected)
        if spec.needs(Computed.BATCH):
            params["batch"] = ctx.batch
        if params.get("enabled", True):
            results.append(safely(spec, PREDICTIONS, ctx.batch, reference, current, params, ctx.model))
    return results


def table_checks(ctx: BatchContext, specs: list[AnySpec]) -> list[CheckResult]:
    results = []
    for subj in table_subjects(ctx.cfg):
        applicable = [s for s in specs if s.inputs == TABLE and s.applies(subj.role, None, ctx.task)]
        if not applicable:
            continue
        assert subj.source is not None
        table = stats_store.load_table_stats(ctx.conn, subj.source, ctx.batch)
        for spec in applicable:
            if table is None:
                results.append(_missing(spec, subj.name, ctx.batch, f"{subj.name} table"))
                continue
            params = _params(spec, ctx.cfg, subj, ctx.expected)
            if spec.needs(Computed.RECENT_ROWS):
                params.setdefault("recent_rows", recent_rows(ctx.conn, subj.source, ctx.history,
                                                              int(params["recent_batches"])))
            if params.get("enabled", True):
                results.append(safely(spec, subj.name, ctx.batch, None, table, params, ctx.model))
    return results


def skew_checks(ctx: BatchContext, specs: list[AnySpec]) -> list[CheckResult]:
    results: list[CheckResult] = []
    if not ctx.cfg.model.feature_builder:
        return results  # nothing rebuilds the features: the check is absent, not skipped
    for spec in (s for s in specs if s.inputs == SKEW and s.applies("model", None, ctx.task)):
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


def model_checks(ctx: BatchContext, specs: list[AnySpec], earlier: Sequence[CheckResult] = ()) -> list[CheckResult]:
    """Model-level checks; the realized performance checks under the family's Holm decision, with
    the tails of the batch's rejected estimates (``earlier`` and the estimated checks here) passed on."""
    results = []
    realized: list[tuple[AnySpec, Subject, dict[str, Any]]] = []  # the Holm family, decided below
    realized_results: list[CheckResult] = []
    for subj in model_subjects(ctx.cfg):
        for spec in (s for s in specs if s.inputs == PERFORMANCE and s.applies(subj.role, None, ctx.task)):
            if ctx.perf is None:
                results.append(replace(_missing(spec, subj.name, ctx.batch, "live test set"), model=ctx.model))
                continue
            params = _params(spec, ctx.cfg, subj, ctx.expected, ctx.family)
            if params.get("enabled", True):
                res = _model_result(ctx, spec, subj, params)
                if _member(spec, params) == "realized":
                    realized.append((spec, subj, params))
                    realized_results.append(res)
                else:
                    results.append(_explained(res, spec, params, ctx.family))

    def rerun(i: int, tail: float) -> CheckResult:
        spec, subj, params = realized[i]
        return _model_result(ctx, spec, subj, {**params, "fail_tail": tail})

    return results + decide_realized(realized_results, ctx.family, rerun, [*earlier, *results])


def _model_result(ctx: BatchContext, spec: AnySpec, subj: Subject, params: dict[str, Any]) -> CheckResult:
    assert ctx.perf is not None
    res = safely(spec, subj.name, ctx.batch, None, ctx.perf, params, ctx.model)
    return replace(res, subject=subj.name) if subj.klass is not None else res


def performance_family(cfg: VigilConfig, specs: list[AnySpec]) -> PerformanceFamily:
    """Count the model's performance checks the config runs on a batch (estimated and realized
    members, checks.performance.family), once per run: the count never depends on what a batch
    shows, so an estimated check's tail is the same when its labels arrive."""
    counts = {"estimated": 0, "realized": 0}
    candidates = [(subj, s) for subj in column_subjects(cfg) for s in specs
                  if s.inputs == COLUMN and s.applies(subj.role, subj.kind, cfg.model.task)]
    candidates += [(subj, s) for subj in model_subjects(cfg) for s in specs
                   if s.inputs == PERFORMANCE and s.applies(subj.role, None, cfg.model.task)]
    for subj, spec in candidates:
        part = part_of(spec.name, spec.family)
        if part is None or opted_out(spec.name, cfg, subj.feature):
            continue
        if params_for(spec, cfg, subj.feature).get("enabled", True):
            counts[part] += 1
    return PerformanceFamily(cfg.checks.false_alarm_budget, counts["estimated"], counts["realized"])


def _member(spec: AnySpec, params: dict[str, Any]) -> str | None:
    """The check's part of the performance family, when the runner gave it a tail."""
    return part_of(spec.name, spec.family) if "fail_tail" in params else None


def _explained(res: CheckResult, spec: AnySpec, params: dict[str, Any], family: PerformanceFamily) -> CheckResult:
    """An estimated member's result with the family's evidence (its tail is final: Bonferroni)."""
    if _member(spec, params) != "estimated" or not judged(res):
        return res
    return explain(res, family, "estimated", float(params["fail_tail"]), family.estimated)


def _params(spec: AnySpec, cfg: VigilConfig, subj: Subject, expected: Expectations,
            family: PerformanceFamily | None = None) -> dict[str, Any]:
    ctx = static_context(cfg, subj)
    if spec.needs(Computed.EXPECTED):
        ctx.update(expected_values(spec.name, expected[1], expected[0], subj.klass))
    params = params_for(spec, cfg, subj.feature, ctx)
    # The one place a performance check gets its share of the model's budget for the batch.
    part = part_of(spec.name, spec.family) if family is not None else None
    if family is not None and part is not None and not opted_out(spec.name, cfg, subj.feature):
        params["fail_tail"] = family.tail(part)
    return params


def _live_reference(cfg: VigilConfig, coverage: tuple[float, float] | None) -> dict[str, float]:
    try:
        return reference_selection_metrics(cfg, coverage)
    except Exception:  # an unreadable reference only loses the selection-matched expectations
        return {}


def _history_context(
    conn: duckdb.DuckDBPyConnection, cfg: VigilConfig, stats: ColumnStatsCache, spec: AnySpec, subj: Subject, history: list[datetime],
    params: dict[str, Any], perf: PerformanceStats | None,
) -> dict[str, Any]:
    """Recent rates of the subject column and the realized AUC next to an estimate, for the checks
    whose spec asks for them (``Computed``)."""
    ctx: dict[str, Any] = {}
    if spec.needs(Computed.RECENT_RATES) and "recent_rates" not in params:
        assert subj.source is not None and subj.column is not None
        rates = []
        for b in history[-int(params.get("recent_batches", 7)):]:
            s = stats.get(conn, subj.source, subj.column, b)
            if s is None and subj.role == "fallback":
                s = fallback_stats(conn, cfg, subj.column, b)
            if s is None:
                continue
            if "positive_decision" in spec.context:  # the positive decision's share, else the true share
                if s.categories:
                    positive = params.get("positive_decision")
                    rates.append(decision_share(s.categories, positive) if positive is not None else 0.0)
            else:
                r = true_share(s)
                if r is not None:
                    rates.append(r)
        ctx["recent_rates"] = rates
    if spec.needs(Computed.REALIZED_AUC) and perf is not None:
        if subj.role == "score" and "auc" in perf.estimated:
            ctx["estimated_auc_exact"] = perf.estimated["auc"]
            ctx["scored_rows"] = perf.predictions
        if perf.matured:
            realized = perf.classes.get(subj.klass, {}).get("auc") if subj.klass is not None else perf.auc
            if realized is not None:
                ctx["realized_auc"] = realized
                if subj.klass is None and "auc_labelled" in perf.estimated:
                    ctx["estimated_auc_labelled"] = perf.estimated["auc_labelled"]
    return ctx


