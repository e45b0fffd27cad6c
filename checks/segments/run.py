"""Segment checks of one batch, under one false-alarm budget for the whole model.

Every segment of every segmentation is tested by the enabled segment checks (registered
``CheckSpec``s, ``checks.segments.specs``; ``checks.enabled`` / ``checks.disabled`` and
``checks.params.<check>`` apply to them, and each declares the model kinds it applies to):
drift and null rate of each feature, drift of the score, the configured KPIs, calibration and
realized / estimated AUC (binary), MAE (regression) or realized / estimated accuracy (multiclass). Each test gives a p-value (checks.segments.stats.tail_pvalue: a t tail fitted
to the reference chunks' values of the same segment, rescaled to the segment's size in the
batch); the batch's tests then share the budget through Holm's procedure (or
Benjamini-Hochberg, ``checks.segment_correction``). A test pages only when it is rejected
AND its effect reaches the check's ``min_effect``: never a raw p-value at large n.

The budget is split between the tests that read only the batch's own statistics and those
that read its matured labels (each family at half the budget when labels are configured),
because the two are run at different times (labels mature days later) and a batch's data
verdicts must not change when its labels arrive. Together they stay within the budget.

A result's subject carries its segment as ``<subject>{<segmentation>=<label>}`` (like a
Prometheus series), so each segment alert has its own fingerprint and the model's labels.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import numpy as np

from checks.distributions import binned_shares
from checks.inputs import SegmentTest
from checks.result import CheckResult
from checks.segments import live as lv
from checks.segments.specs import (
    LABEL_MODEL_KINDS,
    SEGMENT_ACCURACY,
    SEGMENT_AUC,
    SEGMENT_CALIBRATION,
    SEGMENT_DRIFT,
    SEGMENT_ESTIMATED_ACCURACY,
    SEGMENT_ESTIMATED_AUC,
    SEGMENT_KPI,
    SEGMENT_MAE,
    SEGMENT_NULL_RATE,
    SEGMENT_SCORE_DRIFT,
    SEGMENT_SPECS,
)
from checks.segments.stats import Direction, adjusted_pvalues, tail_pvalue
from checks.spec import Params, run_spec
from checks.verdict import skipped
from core.config import Kpi, VigilConfig
from core.model_kinds import model_kind
from profilers.stats_store import SegmentKey
from profilers.stats_types import ColumnStats, ReferenceStats

SEGMENT_CHECKS: tuple[str, ...] = tuple(SEGMENT_SPECS)
DATA_CHECKS = (SEGMENT_DRIFT, SEGMENT_NULL_RATE, SEGMENT_SCORE_DRIFT)
MIN_LABEL_CLASS = 10  # positives and negatives a segment AUC needs
# The enabled segment checks of a run and their parameters (checks.registry.params_for).
Enabled = Mapping[str, Params]


class SegmentChecks(dict[str, Params]):
    """Enabled segment check -> its parameters (``checks.params.<check>``), and ``by_feature``:
    (check, feature) -> the parameters with that feature's ``features[].checks.<check>`` on top
    (``enabled: false`` there turns the check off for the feature's column)."""

    def __init__(self, params: Mapping[str, Params], by_feature: Mapping[tuple[str, str], Params] | None = None):
        super().__init__(params)
        self.by_feature: dict[tuple[str, str], Params] = dict(by_feature or {})


def default_checks(cfg: VigilConfig) -> SegmentChecks:
    """Every segment check that applies to the model's kind, with its default parameters."""
    kind = model_kind(cfg.model.task)
    return SegmentChecks({name: {**spec.params, "false_alarm_budget": cfg.checks.false_alarm_budget}
                          for name, spec in SEGMENT_SPECS.items() if kind in spec.model_kinds})


def params_of(checks: Enabled, check: str, column: str | None = None) -> Params:
    """The parameters of a check, for a feature's column when it has its own."""
    by_feature = getattr(checks, "by_feature", {})
    if column is not None and (check, column) in by_feature:
        found: Params = by_feature[(check, column)]
        return found
    return checks[check]


def _column_of(subject: str) -> str | None:
    """'predictions.income{ownership=RENT}' -> 'income'; 'model{...}' -> None."""
    source, _, column = subject.partition("{")[0].partition(".")
    return column if source == "predictions" and column else None


def segment_subject(subject: str, segment: str) -> str:
    """'predictions.income' + 'ownership=RENT' -> 'predictions.income{ownership=RENT}'."""
    return f"{subject}{{{segment}}}"


@dataclass
class SegmentInputs:
    """What the segment checks of one batch read (all from profilers.stats_store)."""

    segments: list[tuple[str, str, int]]  # (segmentation, label, min_rows) of every configured segment label
    current: dict[SegmentKey, dict[str, ColumnStats]]
    references: dict[SegmentKey, dict[str, ReferenceStats]]
    live: dict[SegmentKey, list[tuple[Any, ...]]]
    matured: bool
    reference_live: dict[SegmentKey, dict[int, list[tuple[Any, ...]]]]
    n_bins: int
    columns: dict[str, str] = field(default_factory=dict)  # segmentation -> its column
    # Reference-side values that do not depend on the batch (chunk metrics, reference tables),
    # shared across the batches of a run.
    cache: dict[Any, Any] = field(default_factory=dict)


# ---- data tests ------------------------------------------------------------------------------


def _cube(x: float) -> float:
    return math.copysign(abs(x) ** (1.0 / 3.0), x)


def smoothed_psi(reference: ColumnStats, current: ColumnStats) -> tuple[float, int]:
    """(PSI with half a count added to every bin on both sides, number of bins).

    A segment holds tens to hundreds of rows: an empty bin would dominate the plain PSI
    (its zero share is filled with a tiny one, whose logarithm is huge), giving it a heavy
    tail no fitted distribution follows. With half a count per bin, n * PSI stays close to
    chi-square with bins - 1 degrees of freedom."""
    r, c = binned_shares(reference, current)
    k = len(r)
    n, big_n = max(current.valid, 0), max(reference.valid, 0)
    pr = (r * big_n + 0.5) / (big_n + 0.5 * k)
    pc = (c * n + 0.5) / (n + 0.5 * k)
    return float(np.sum((pc - pr) * np.log(pc / pr))), k


def _chunk_psis(ref: ReferenceStats, cache: dict[Any, Any], key: Any) -> list[tuple[float, int]]:
    """(PSI of each chunk against the whole, chunk rows): the same for every batch of a run."""
    if key not in cache:
        out = []
        for c in ref.chunks:
            if c.valid <= 0:
                continue
            try:
                out.append((smoothed_psi(ref.whole, c)[0], c.valid))
            except ValueError:
                continue
        cache[key] = out
    found: list[tuple[float, int]] = cache[key]
    return found


def _psi_test(check: str, subject: str, segment: str, ref: ReferenceStats, cur: ColumnStats,
              cache: dict[Any, Any] | None = None) -> SegmentTest | None:
    whole = ref.whole
    n, big_n = cur.valid, whole.valid
    if n <= 0 or big_n <= 0:
        return None
    try:
        value, bins = smoothed_psi(whole, cur)
    except ValueError:
        return None
    inv = 1.0 / big_n
    chunk_values = [_cube(v * (1.0 / n + inv) / (1.0 / m - inv))
                    for v, m in _chunk_psis(ref, cache if cache is not None else {}, ("psi", segment, subject)) if m < big_n]
    nu = max(bins - 1, 1)
    var = 1.0 / n + 1.0 / big_n
    floor = (var * nu) ** (1.0 / 3.0) * math.sqrt(2.0 / (9.0 * nu))  # Wilson-Hilferty sd of (c chi2_nu)^(1/3)
    p = tail_pvalue(_cube(value), chunk_values, "upper", floor_sd=floor)
    what = "PSI of the score" if check == SEGMENT_SCORE_DRIFT else f"PSI of {cur.column}"
    return SegmentTest(check, segment_subject(subject, segment), segment, value, 0.0, value, p, cur.count, False, what,
                       {"reference_chunks": len(chunk_values), "valid_rows": n, "reference_rows": big_n})


def _deviation_test(
    check: str, subject: str, segment: str, value: float, expected: float, chunk: list[tuple[float, float]],
    n: float, big_n: float, direction: Direction, floor_sd: float, labels: bool, what: str, rows: int,
) -> SegmentTest | None:
    """A test of value - expected against the chunks' deviations (value_i - expected) rescaled to size n."""
    if not (math.isfinite(value) and math.isfinite(expected)) or n <= 0:
        return None
    inv = 1.0 / big_n if big_n > 0 else 0.0
    # Rescaled to the batch's size (checks.calibration.size_scale): a chunk is part of the reference.
    devs = [(v - expected) * math.sqrt((1.0 / n + inv) / (1.0 / m - inv))
            for v, m in chunk if m > 0 and 1.0 / m > inv and math.isfinite(v)]
    p = tail_pvalue(value - expected, devs, direction, floor_sd=floor_sd, center=0.0)
    diff = value - expected
    effect = diff if direction == "upper" else (-diff if direction == "lower" else abs(diff))
    return SegmentTest(check, segment_subject(subject, segment), segment, value, expected, effect, p, rows, labels, what,
                       {"reference_chunks": len(devs), "direction": direction})


def _null_test(subject: str, segment: str, ref: ReferenceStats, cur: ColumnStats) -> SegmentTest | None:
    whole = ref.whole
    if cur.count <= 0 or whole.count <= 0:
        return None
    r0 = whole.nulls / whole.count
    chunk = [(c.nulls / c.count, float(c.count)) for c in ref.chunks if c.count > 0]
    p0 = max(r0, 0.5 / whole.count)
    floor = math.sqrt(p0 * (1 - p0) * (1.0 / cur.count + 1.0 / whole.count))
    return _deviation_test(SEGMENT_NULL_RATE, subject, segment, cur.nulls / cur.count, r0, chunk, cur.count,
                           whole.count, "upper", floor, False, f"null rate of {cur.column}", cur.count)


Small = list[tuple[str, str, str, int, int]]  # (check, segmentation, 'name=label', rows, rows needed)


def _need(checks: Enabled, check: str, min_rows: int) -> int:
    """Rows a segment needs for a check: the larger of the segmentation's and the check's min_rows."""
    return max(min_rows, int(checks[check].get("min_rows") or 0))


def data_tests(cfg: VigilConfig, inputs: SegmentInputs, checks: Enabled | None = None) -> tuple[list[SegmentTest], Small]:
    """Drift and null rate of each feature and drift of the score, per segment (the enabled checks
    of ``checks``); and the segments too small in this batch for a check."""
    checks = checks if checks is not None else default_checks(cfg)
    tests: list[SegmentTest] = []
    small: Small = []
    features = [f.name for f in cfg.features]
    enabled = [c for c in DATA_CHECKS if c in checks]
    scores = list(cfg.score_columns.values()) if SEGMENT_SCORE_DRIFT in checks else []
    columns = inputs.columns
    for name, label, min_rows in inputs.segments:
        key = (name, label)
        display = f"{name}={label}"
        current = inputs.current.get(key, {})
        refs = inputs.references.get(key, {})
        rows = max((s.count for s in current.values()), default=0)
        runs = set()
        for check in enabled:
            need = _need(checks, check, min_rows)
            if rows >= need:
                runs.add(check)
            elif rows > 0 or refs:  # a label neither the reference nor the batch has is not news
                small.append((check, name, display, rows, need))
        if not runs:
            continue
        for col in features + scores:
            if col == columns.get(name):
                continue  # the segment's own column is constant inside it
            cur, ref = current.get(col), refs.get(col)
            if cur is None or ref is None:
                continue
            subject = f"predictions.{col}"
            found: list[SegmentTest | None] = []
            on = {c for c in runs if params_of(checks, c, col).get("enabled", True)}  # features[].checks
            if col in scores:
                if SEGMENT_SCORE_DRIFT in on:
                    found.append(_psi_test(SEGMENT_SCORE_DRIFT, subject, display, ref, cur, inputs.cache))
            else:
                if SEGMENT_DRIFT in on:
                    found.append(_psi_test(SEGMENT_DRIFT, subject, display, ref, cur, inputs.cache))
                if SEGMENT_NULL_RATE in on:
                    found.append(_null_test(subject, display, ref, cur))
            tests += [t for t in found if t is not None]
    return tests, small


# ---- live-test-set tests ---------------------------------------------------------------------


def _kpi_metric(cfg: VigilConfig, kpi: Kpi) -> tuple[Callable[[lv.LiveTable], float], bool]:
    """(metric over a live table, reads labels) of a configured KPI."""
    if kpi.kind == "approval_rate":
        return lv.approval_rate, False
    if kpi.kind == "mean_score":
        return lv.mean_score, False
    approved_only = kpi.decision is not None and str(kpi.decision) == str(cfg.predictions.positive_decision)
    return (lambda t: lv.label_rate(t, approved_only)), True


def _direction(kpi: Kpi) -> Direction:
    if kpi.upper is not None and kpi.lower is None:
        return "upper"
    if kpi.lower is not None and kpi.upper is None:
        return "lower"
    return "two-sided"


def _rate_floor(p: float, n: float, big_n: float) -> float:
    p = min(max(p, 0.5 / max(big_n, 1.0)), 1.0)
    return math.sqrt(p * (1 - p) * (1.0 / max(n, 1.0) + 1.0 / max(big_n, 1.0)))


def live_tables(inputs: SegmentInputs, key: SegmentKey) -> tuple[lv.LiveTable | None, lv.LiveTable | None, dict[int, lv.LiveTable]]:
    """(the batch's table, the reference's whole table, its chunk tables) of one segment."""
    cur = inputs.live.get(key)
    current = lv.LiveTable.from_cells(cur, inputs.n_bins) if cur else None
    cache_key = ("live", key)
    if cache_key not in inputs.cache:
        ref = inputs.reference_live.get(key, {})
        whole = lv.LiveTable.from_cells(ref[-1], inputs.n_bins) if -1 in ref else None
        chunks = {c: lv.LiveTable.from_cells(cells, inputs.n_bins) for c, cells in ref.items() if c >= 0}
        inputs.cache[cache_key] = (whole, chunks)
    whole, chunks = inputs.cache[cache_key]
    return current, whole, chunks


def live_tests(cfg: VigilConfig, inputs: SegmentInputs, labels: bool,
               checks: Enabled | None = None) -> tuple[list[SegmentTest], Small]:
    """KPIs, estimated AUC or accuracy (labels=False) or calibration, realized AUC, label KPIs, MAE,
    accuracy (labels=True), for the enabled checks of ``checks``."""
    checks = checks if checks is not None else default_checks(cfg)
    tests: list[SegmentTest] = []
    small: Small = []
    overall, _, _ = live_tables(inputs, ("", ""))
    coverage = overall.coverage() if overall is not None and labels else None
    own = [c for c in ((SEGMENT_CALIBRATION, SEGMENT_AUC, SEGMENT_MAE, SEGMENT_ACCURACY) if labels
                       else (SEGMENT_ESTIMATED_AUC, SEGMENT_ESTIMATED_ACCURACY)) if c in checks]
    kpis = [(kpi, *_kpi_metric(cfg, kpi)) for kpi in cfg.kpis] if SEGMENT_KPI in checks else []
    kpi_metrics = [(kpi, metric) for kpi, metric, needs_labels in kpis if needs_labels == labels]
    wanted = own + ([SEGMENT_KPI] if kpi_metrics else [])
    if not wanted:
        return tests, small
    for name, label, min_rows in inputs.segments:
        display = f"{name}={label}"
        cur, whole, chunks = live_tables(inputs, (name, label))
        if cur is None or whole is None or whole.rows <= 0:
            continue
        if labels:
            if coverage is None:
                continue
            whole = whole.with_coverage(*coverage)
            n, big_n = cur.labelled, whole.labelled
        else:
            n, big_n = cur.rows, whole.rows
        runs = set()
        for check in wanted:
            need = _need(checks, check, min_rows)
            if n >= need:
                runs.add(check)
            elif check != SEGMENT_KPI and (n > 0 or big_n > 0):
                small.append((check, name, display, int(n), need))
        if not runs:
            continue

        def chunk_values(check: str, subject: str, metric: Callable[[lv.LiveTable], float],
                         chunks: dict[int, lv.LiveTable] = chunks, display: str = display) -> list[tuple[float, float]]:
            """(metric, size) of each reference chunk: computed once per run (and label coverage)."""
            key = ("chunks", display, check, subject, labels, tuple(round(c, 6) for c in coverage or ()))
            if key not in inputs.cache:
                values = []
                for t in chunks.values():
                    t = t.with_coverage(*coverage) if labels and coverage is not None else t
                    values.append((metric(t), t.labelled if labels else t.rows))
                inputs.cache[key] = values
            found: list[tuple[float, float]] = inputs.cache[key]
            return found

        def test(check: str, subject: str, metric: Callable[[lv.LiveTable], float], direction: Direction,
                 floor: float, what: str, n: float = n, big_n: float = big_n,
                 cur: lv.LiveTable = cur, whole: lv.LiveTable = whole, display: str = display) -> None:
            t = _deviation_test(check, subject, display, metric(cur), metric(whole),
                                chunk_values(check, subject, metric), n, big_n, direction, floor, labels, what,
                                int(cur.rows))
            if t is not None:
                tests.append(t)

        if SEGMENT_KPI in runs:
            for kpi, metric in kpi_metrics:
                base = metric(whole)
                test(SEGMENT_KPI, f"model.{kpi.name}", metric, _direction(kpi),
                     _rate_floor(base if math.isfinite(base) else 0.5, n, big_n), f"KPI {kpi.name}")
        if SEGMENT_ESTIMATED_AUC in runs:
            est = lv.estimated_auc(whole)
            ms = lv.mean_score(cur)
            floor = 0.5 * lv.auc_se(est, n * ms, n * (1 - ms)) if math.isfinite(ms) else 0.0
            test(SEGMENT_ESTIMATED_AUC, "model", lv.estimated_auc, "lower", floor, "estimated AUC")
        if SEGMENT_CALIBRATION in runs:
            ms = lv.mean_score(whole)
            test(SEGMENT_CALIBRATION, "model", lv.calibration_gap, "two-sided",
                 _rate_floor(ms if math.isfinite(ms) else 0.5, n, big_n), "mean outcome minus mean score")
        if SEGMENT_AUC in runs:
            pos, neg = lv.positives_negatives(cur)
            if pos >= MIN_LABEL_CLASS and neg >= MIN_LABEL_CLASS:
                test(SEGMENT_AUC, "model", lv.auc, "lower", lv.auc_se(lv.auc(whole), pos, neg), "AUC")
        if SEGMENT_MAE in runs:
            test(SEGMENT_MAE, "model", lv.mae, "upper", 0.0, "MAE")
        if SEGMENT_ACCURACY in runs:
            base = lv.accuracy(whole)
            test(SEGMENT_ACCURACY, "model", lv.accuracy, "lower",
                 _rate_floor(base if math.isfinite(base) else 0.5, n, big_n), "accuracy")
        if SEGMENT_ESTIMATED_ACCURACY in runs:
            # A probability's variance is at most m (1 - m): half the binomial error as a floor,
            # as the estimated AUC's (the chunks give the real spread).
            base = lv.estimated_accuracy(whole)
            test(SEGMENT_ESTIMATED_ACCURACY, "model", lv.estimated_accuracy, "lower",
                 0.5 * _rate_floor(base if math.isfinite(base) else 0.5, n, big_n), "estimated accuracy")
    return tests, small


# ---- the family-wise decision ----------------------------------------------------------------


def judge(tests: list[SegmentTest], alpha: float, method: str, batch: datetime, model: str,
          checks: Enabled | None = None) -> list[CheckResult]:
    """One family of tests -> results: the correction's adjusted p-values (Holm or
    Benjamini-Hochberg over every test of the family at ``alpha``), then each test's registered
    check judges it with its parameters (checks.segments.specs.segment_verdict)."""
    if not tests:
        return []
    adjusted = adjusted_pvalues([t.pvalue for t in tests], method)
    out = []
    for t, adj in zip(tests, adjusted, strict=True):
        spec = SEGMENT_SPECS[t.check]
        params = dict(params_of(checks, t.check, _column_of(t.subject))) if checks is not None and t.check in checks \
            else spec.params
        decided = replace(t, batch=batch, adjusted_pvalue=adj, family_size=len(tests), alpha=alpha, correction=method)
        out.append(run_spec(spec, t.subject, batch, None, decided, params, model))
    return out


def too_small(small: Small, batch: datetime, model: str, what: str) -> list[CheckResult]:
    """One skipped result per check and segment too small in this batch (reported, never merged)."""
    out = []
    for check, _name, display, rows, need in small:
        family = SEGMENT_SPECS[check].family
        subject = segment_subject("model" if check not in DATA_CHECKS else "predictions", display)
        res = skipped(check, str(family), subject, batch,
                      f"segment {display} has {rows} {what} in this batch, below min_rows {need}",
                      {"segment": display, "rows": rows, "min_rows": need, "too_small": True})
        out.append(replace(res, model=model))
    return out


def segment_results(cfg: VigilConfig, inputs: SegmentInputs, batch: datetime, include_data: bool,
                    checks: Enabled | None = None) -> list[CheckResult]:
    """Every enabled segment check of one batch (``checks``: name -> parameters, by default every
    segment check of the model's kind), each family under its share of the budget."""
    checks = checks if checks is not None else default_checks(cfg)
    budget = cfg.checks.false_alarm_budget
    method = cfg.checks.segment_correction
    has_labels = cfg.labels is not None and model_kind(cfg.model.task) in LABEL_MODEL_KINDS
    alpha_data = budget / 2 if has_labels else budget
    alpha_labels = budget / 2
    model = cfg.model.name
    out: list[CheckResult] = []
    if include_data:
        dtests, small = data_tests(cfg, inputs, checks)
        ltests, lsmall = live_tests(cfg, inputs, False, checks)
        out += judge(dtests + ltests, alpha_data, method, batch, model, checks)
        out += too_small(small + lsmall, batch, model, "rows")
    if has_labels and inputs.matured:
        ltests, small = live_tests(cfg, inputs, True, checks)
        out += judge(ltests, alpha_labels, method, batch, model, checks)
        out += too_small(small, batch, model, "labelled rows")
    return out
def share_of_failures(results: list[CheckResult]) -> float:
    """Share of judged segment results that failed (a summary for the cycle and the desk)."""
    judged = [r for r in results if r.status in ("ok", "warn", "fail")]
    return float(np.mean([r.status == "fail" for r in judged])) if judged else 0.0
