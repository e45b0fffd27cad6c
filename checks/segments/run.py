"""Segment checks of one batch, under one false-alarm budget for the whole model.

Every segment of every segmentation is tested for drift and null rate of each feature, drift
of the score, the configured KPIs, calibration and realized / estimated AUC (binary) or MAE
(regression). Each test gives a p-value (checks.segments.stats.tail_pvalue: a t tail fitted
to the reference chunks' values of the same segment, rescaled to the segment's size in the
batch); the batch's tests then share the budget through Holm's procedure (or
Benjamini-Hochberg, ``checks.segment_correction``). A test pages only when it is rejected
AND its effect reaches the check's minimum effect: never a raw p-value at large n.

The budget is split between the tests that read only the batch's own statistics and those
that read its matured labels (each family at half the budget when labels are configured),
because the two are run at different times (labels mature days later) and a batch's data
verdicts must not change when its labels arrive. Together they stay within the budget.

A result's subject carries its segment as ``<subject>{<segmentation>=<label>}`` (like a
Prometheus series), so each segment alert has its own fingerprint and the model's labels.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import numpy as np

from checks.distributions import binned_shares
from checks.result import CheckResult, Severity
from checks.segments import live as lv
from checks.segments.stats import Direction, adjusted_pvalues, reject, tail_pvalue
from checks.spec import Family
from checks.verdict import skipped
from core.config import Kpi, VigilConfig
from profilers.stats_store import SegmentKey
from profilers.stats_types import ColumnStats, ReferenceStats

SEGMENT_DRIFT = "segment_drift"
SEGMENT_NULL_RATE = "segment_null_rate"
SEGMENT_SCORE_DRIFT = "segment_score_drift"
SEGMENT_CALIBRATION = "segment_calibration"
SEGMENT_KPI = "segment_kpi"
SEGMENT_AUC = "segment_auc"
SEGMENT_ESTIMATED_AUC = "segment_estimated_auc"
SEGMENT_MAE = "segment_mae"
# Every segment check name (each has runbooks/<name>.md), its family, default minimum effect
# and the severity of a failure.
SEGMENT_SPECS: dict[str, tuple[Family, float, Severity]] = {
    SEGMENT_DRIFT: (Family.FEATURE_DRIFT, 0.1, "warning"),  # PSI
    SEGMENT_NULL_RATE: (Family.INPUT_QUALITY, 0.02, "critical"),  # absolute rise of the null rate
    SEGMENT_SCORE_DRIFT: (Family.PREDICTION, 0.1, "critical"),  # PSI of the score
    SEGMENT_CALIBRATION: (Family.PREDICTION, 0.03, "critical"),  # change of mean outcome - mean score
    SEGMENT_KPI: (Family.PERFORMANCE, 0.02, "critical"),  # absolute change of the KPI
    SEGMENT_AUC: (Family.PERFORMANCE, 0.03, "critical"),  # AUC drop
    SEGMENT_ESTIMATED_AUC: (Family.PERFORMANCE, 0.02, "warning"),  # estimated AUC drop
    SEGMENT_MAE: (Family.PERFORMANCE, 0.1, "critical"),  # relative MAE rise
}
SEGMENT_CHECKS: tuple[str, ...] = tuple(SEGMENT_SPECS)
DATA_CHECKS = (SEGMENT_DRIFT, SEGMENT_NULL_RATE, SEGMENT_SCORE_DRIFT)
MIN_LABEL_CLASS = 10  # positives and negatives a segment AUC needs


def segment_subject(subject: str, segment: str) -> str:
    """'predictions.income' + 'ownership=RENT' -> 'predictions.income{ownership=RENT}'."""
    return f"{subject}{{{segment}}}"


@dataclass
class SegmentTest:
    """One test of one segment, before the family-wise decision."""

    check: str
    subject: str  # with its segment
    segment: str  # 'ownership=RENT'
    value: float
    expected: float
    effect: float  # in the harmful direction (or absolute, two-sided)
    pvalue: float
    rows: int
    labels: bool  # reads matured labels (the label family)
    what: str  # the metric in words
    evidence: dict[str, Any] = field(default_factory=dict)


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


def data_tests(cfg: VigilConfig, inputs: SegmentInputs) -> tuple[list[SegmentTest], list[tuple[str, str, int]]]:
    """Drift and null rate of each feature and drift of the score, per segment; and the
    segments too small in this batch (segment, display, rows)."""
    tests: list[SegmentTest] = []
    small: list[tuple[str, str, int]] = []
    features = [f.name for f in cfg.features]
    scores = list(cfg.score_columns.values()) if cfg.model.task in ("binary", "regression") else []
    columns = inputs.columns
    for name, label, min_rows in inputs.segments:
        key = (name, label)
        display = f"{name}={label}"
        current = inputs.current.get(key, {})
        refs = inputs.references.get(key, {})
        rows = max((s.count for s in current.values()), default=0)
        if rows < min_rows:
            if rows > 0 or refs:  # a label neither the reference nor the batch has is not news
                small.append((name, display, rows))
            continue
        for col in features + scores:
            if col == columns.get(name):
                continue  # the segment's own column is constant inside it
            cur, ref = current.get(col), refs.get(col)
            if cur is None or ref is None:
                continue
            check = SEGMENT_SCORE_DRIFT if col in scores else SEGMENT_DRIFT
            found = [_psi_test(check, f"predictions.{col}", display, ref, cur, inputs.cache)]
            if col in features:
                found.append(_null_test(f"predictions.{col}", display, ref, cur))
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


def live_tests(cfg: VigilConfig, inputs: SegmentInputs, labels: bool) -> tuple[list[SegmentTest], list[tuple[str, str, int]]]:
    """KPIs, estimated AUC (labels=False) or calibration, realized AUC, label KPIs, MAE (labels=True)."""
    tests: list[SegmentTest] = []
    small: list[tuple[str, str, int]] = []
    overall, _, _ = live_tables(inputs, ("", ""))
    coverage = overall.coverage() if overall is not None and labels else None
    binary = cfg.model.task == "binary"
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
            if n < min_rows:
                if n > 0 or big_n > 0:
                    small.append((name, display, int(n)))
                continue
        else:
            n, big_n = cur.rows, whole.rows
            if n < min_rows:
                continue  # reported once, by the data tests

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

        for kpi in cfg.kpis:
            metric, needs_labels = _kpi_metric(cfg, kpi)
            if needs_labels == labels:
                base = metric(whole)
                test(SEGMENT_KPI, f"model.{kpi.name}", metric, _direction(kpi),
                     _rate_floor(base if math.isfinite(base) else 0.5, n, big_n), f"KPI {kpi.name}")
        if not labels and binary:
            est = lv.estimated_auc(whole)
            ms = lv.mean_score(cur)
            floor = 0.5 * lv.auc_se(est, n * ms, n * (1 - ms)) if math.isfinite(ms) else 0.0
            test(SEGMENT_ESTIMATED_AUC, "model", lv.estimated_auc, "lower", floor, "estimated AUC")
        if labels and binary:
            ms = lv.mean_score(whole)
            test(SEGMENT_CALIBRATION, "model", lv.calibration_gap, "two-sided",
                 _rate_floor(ms if math.isfinite(ms) else 0.5, n, big_n), "mean outcome minus mean score")
            pos, neg = lv.positives_negatives(cur)
            if pos >= MIN_LABEL_CLASS and neg >= MIN_LABEL_CLASS:
                test(SEGMENT_AUC, "model", lv.auc, "lower", lv.auc_se(lv.auc(whole), pos, neg), "AUC")
        if labels and cfg.model.task == "regression":
            test(SEGMENT_MAE, "model", lv.mae, "upper", 0.0, "MAE")
    return tests, small


# ---- the family-wise decision ----------------------------------------------------------------


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def judge(tests: list[SegmentTest], alpha: float, method: str, batch: datetime, model: str,
          min_effects: dict[str, float] | None = None) -> list[CheckResult]:
    """One family of tests -> results: fail when rejected by the correction at ``alpha`` and the
    effect reaches the minimum effect; warn when significant alone (unadjusted) with half of it."""
    if not tests:
        return []
    pvalues = [t.pvalue for t in tests]
    rejected = reject(pvalues, alpha, method)
    adjusted = adjusted_pvalues(pvalues, method)
    name = "Holm" if method == "holm" else "Benjamini-Hochberg"
    out = []
    for t, rej, adj in zip(tests, rejected, adjusted, strict=True):
        family, default_effect, severity = SEGMENT_SPECS[t.check]
        min_effect = (min_effects or {}).get(t.check, default_effect)
        effect = t.effect / abs(t.expected) if t.check == SEGMENT_MAE and t.expected else t.effect
        if rej and effect >= min_effect:
            status = "fail"
        elif t.pvalue <= alpha and effect >= min_effect / 2:
            status = "warn"
        else:
            status = "ok"
        sentence = (
            f"In segment {t.segment} ({t.rows} rows), the {t.what} is {_fmt(t.value)} against {_fmt(t.expected)} "
            f"in the reference (p = {t.pvalue:.2g}, {name}-adjusted {adj:.2g} over {len(tests)} segment tests at "
            f"budget {alpha:.3g}; minimum effect {min_effect:g})."
        )
        evidence = {
            **t.evidence, "segment": t.segment, "segmentation": t.segment.split("=", 1)[0],
            "segment_label": t.segment.split("=", 1)[1], "rows": t.rows, "expected": t.expected, "effect": t.effect,
            "pvalue": t.pvalue, "adjusted_pvalue": adj, "correction": method, "family_size": len(tests),
            "alpha": alpha, "min_effect": min_effect, "labels": t.labels,
        }
        out.append(CheckResult(
            check=t.check, family=str(family), subject=t.subject, batch=batch, status=status,  # type: ignore[arg-type]
            severity=severity if status == "fail" else ("warning" if status == "warn" else "info"),
            explanation=sentence, value=t.value if math.isfinite(t.value) else None, evidence=evidence, model=model,
        ))
    return out


def too_small(checks: tuple[str, ...], small: list[tuple[str, str, int]], min_rows: dict[str, int], batch: datetime,
              model: str, what: str) -> list[CheckResult]:
    """One skipped result per check and segment too small in this batch (reported, never merged)."""
    out = []
    for name, display, rows in small:
        for check in checks:
            family = SEGMENT_SPECS[check][0]
            subject = segment_subject("model" if check not in DATA_CHECKS else "predictions", display)
            res = skipped(check, str(family), subject, batch,
                          f"segment {display} has {rows} {what} in this batch, below min_rows {min_rows[name]}",
                          {"segment": display, "rows": rows, "min_rows": min_rows[name], "too_small": True})
            out.append(replace(res, model=model))
    return out


def segment_results(cfg: VigilConfig, inputs: SegmentInputs, batch: datetime, include_data: bool) -> list[CheckResult]:
    """Every segment check of one batch, each family under its share of the budget."""
    budget = cfg.checks.false_alarm_budget
    method = cfg.checks.segment_correction
    has_labels = cfg.labels is not None and cfg.model.task in ("binary", "regression")
    alpha_data = budget / 2 if has_labels else budget
    alpha_labels = budget / 2
    model = cfg.model.name
    min_rows = {s.name: s.min_rows for s in cfg.segments}
    out: list[CheckResult] = []
    if include_data:
        dtests, small = data_tests(cfg, inputs)
        ltests, _ = live_tests(cfg, inputs, labels=False)
        out += judge(dtests + ltests, alpha_data, method, batch, model)
        out += too_small((*DATA_CHECKS, SEGMENT_ESTIMATED_AUC), small, min_rows, batch, model, "rows")
    if has_labels and inputs.matured:
        ltests, small = live_tests(cfg, inputs, labels=True)
        out += judge(ltests, alpha_labels, method, batch, model)
        label_checks = (SEGMENT_CALIBRATION, SEGMENT_AUC) if cfg.model.task == "binary" else (SEGMENT_MAE,)
        out += too_small(label_checks, small, min_rows, batch, model, "labelled rows")
    return out


def share_of_failures(results: list[CheckResult]) -> float:
    """Share of judged segment results that failed (a summary for the cycle and the desk)."""
    judged = [r for r in results if r.status in ("ok", "warn", "fail")]
    return float(np.mean([r.status == "fail" for r in judged])) if judged else 0.0
