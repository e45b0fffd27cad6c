"""Label-based metrics of one matured batch against the expected value.

Bounds are calibrated (checks.performance.bounds): a metric fails when it is worse than
expected by more than the larger of its reference-chunk spread at the batch's size and
its own sampling error, times z at the check's tail (its share of the model's false-alarm
budget for the batch, checks.performance.family), and by more than the configured minimum
effect (a floor), so small live test sets do not page on noise and a small real drop on a
large batch is not hidden behind a fixed tolerance.
"""

from __future__ import annotations

import math
from typing import Any

from checks.calibration import z_upper
from checks.performance.bounds import chunk_spread, drop_bounds, fail_tail
from checks.result import CheckResult
from checks.spec import Family
from checks.verdict import result, skipped
from profilers.stats_types import PerformanceStats

FAMILY = Family.PERFORMANCE


def hanley_mcneil_se(auc: float, positives: int, negatives: int) -> float:
    """Standard error of ROC AUC (Hanley & McNeil, 1982)."""
    q1 = auc / (2 - auc)
    q2 = 2 * auc * auc / (1 + auc)
    var = (auc * (1 - auc) + (positives - 1) * (q1 - auc * auc) + (negatives - 1) * (q2 - auc * auc)) / (
        positives * negatives
    )
    return math.sqrt(max(var, 0.0))


def readiness(name: str, current: PerformanceStats, params: dict[str, Any], need_both_classes: bool) -> str | None:
    if not current.matured:
        return "the labels of this batch have not matured yet"
    min_rows = int(params["min_rows"])
    if current.labeled < min_rows:
        return f"only {current.labeled} labelled rows (need {min_rows})"
    if need_both_classes:
        negatives = current.labeled - current.positives
        min_pos = int(params.get("min_positives", 1))
        if current.positives < min_pos or negatives < min_pos:
            return f"{current.positives} positive and {negatives} negative labels (need {min_pos} of each)"
    return None


def compare_metric(
    name: str, label: str, value: float | None, se: float, current: PerformanceStats, params: dict[str, Any],
    higher_is_better: bool,
) -> CheckResult:
    batch = current.batch
    expected = params.get("expected")
    if value is None or not math.isfinite(value):
        return skipped(name, FAMILY, "model", batch, f"no {label} in the live test set statistics")
    if expected is None:
        return skipped(name, FAMILY, "model", batch,
                       f"no registered evaluation to compare {label} with (set checks.params.{name}.expected or register the model)",
                       {"value": value})
    expected = float(expected)
    basis = str(params.get("expected_basis") or "registered evaluation")
    budget = float(params["false_alarm_budget"])
    min_effect = float(params["min_effect"])
    if params.get("relative"):
        min_effect *= abs(expected)
    # Both the live value and a reference-measured expectation are samples: combine their errors.
    expected_se = float(params.get("expected_se") or 0.0)
    se = math.sqrt(se * se + expected_se * expected_se)
    spread = chunk_spread(params.get("chunk_sd"), params.get("chunk_rows"), current.labeled)
    bounds = drop_bounds(se, spread, budget, min_effect, fail_tail(params))
    z = z_upper(bounds.tail)
    ci = (value - z * bounds.sigma, value + z * bounds.sigma)
    worse_by = (expected - value) if higher_is_better else (value - expected)
    status = bounds.grade(worse_by)
    limit = expected - bounds.fail_tolerance if higher_is_better else expected + bounds.fail_tolerance
    sentence = {
        "ok": f"{label} on the live test set is {value:.3f} (expected {expected:.3f}, {basis}).",
        "warn": f"{label} on the live test set is {value:.3f} against an expected {expected:.3f} ({basis}); not yet conclusive.",
        "fail": f"{label} fell to {value:.3f} on the live test set against an expected {expected:.3f} ({basis}; "
                f"limit {limit:.3f}, noise {bounds.sigma:.4f}).",
    }[status]
    if not higher_is_better and status == "fail":
        sentence = (f"{label} worsened to {value:.3f} on the live test set against an expected {expected:.3f} "
                    f"({basis}; limit {limit:.3f}, noise {bounds.sigma:.4f}).")
    lower, upper = (limit, None) if higher_is_better else (None, limit)
    return result(name, FAMILY, "model", batch, status, sentence, params, value=value, lower=lower, upper=upper,
                  evidence={"expected": expected, "expected_se": expected_se, "expected_basis": basis,
                            "registered": params.get("registered"), "ci": list(ci), "se": se,
                            "labeled": current.labeled, "positives": current.positives,
                            "chunk_sd": params.get("chunk_sd"), "chunk_rows": params.get("chunk_rows"),
                            "pvalue": bounds.pvalue(worse_by), **bounds.evidence()})


def auc(reference: None, current: PerformanceStats, params: dict[str, Any]) -> CheckResult:
    """ROC AUC with a Hanley-McNeil confidence interval against the registered AUC."""
    why = readiness("auc", current, params, need_both_classes=True)
    if why:
        return skipped("auc", FAMILY, "model", current.batch, why)
    value = current.auc
    se = auc_se(value, current)
    return compare_metric("auc", "ROC AUC", value, se, current, params, higher_is_better=True)


def auc_se(value: float | None, current: PerformanceStats) -> float:
    """The AUC's DeLong error from the profiler (no distributional assumption), else Hanley-McNeil."""
    delong = current.metrics.get("auc_se")
    if isinstance(delong, int | float) and math.isfinite(delong) and delong > 0:
        return float(delong)
    return hanley_mcneil_se(value, current.positives, current.labeled - current.positives) if value is not None else 0.0


def agresti_coull_se(p: float, n: int) -> float:
    """Standard error of a proportion that is never zero (two pseudo-successes and failures)."""
    successes = p * n
    p_tilde = (successes + 2) / (n + 4)
    return math.sqrt(p_tilde * (1 - p_tilde) / (n + 4))


def proportion_se(p: float, n: int, expected: Any) -> float:
    """Standard error of an observed proportion for the comparison with its expected value.

    The larger of the Agresti-Coull error at the observed value and the error under the
    expected value (the null hypothesis): a low observed share from few counts (2 of 143
    positives flagged) has a tiny error of its own, and alone would call ordinary sampling
    noise around the expected share a drop.
    """
    se = agresti_coull_se(p, n)
    if expected is not None and n > 0:
        p0 = min(max(float(expected), 0.0), 1.0)
        se = max(se, math.sqrt(p0 * (1 - p0) / n))
    return se


def precision(reference: None, current: PerformanceStats, params: dict[str, Any]) -> CheckResult:
    """Precision at the decision threshold, over the labelled rows at or above it."""
    why = readiness("precision", current, params, need_both_classes=True)
    if why:
        return skipped("precision", FAMILY, "model", current.batch, why)
    p, r = current.precision, current.recall
    if p is None or r is None or not math.isfinite(p) or not math.isfinite(r):
        return skipped("precision", FAMILY, "model", current.batch, "no precision / recall in the live test set statistics")
    true_positives = r * current.positives
    if true_positives <= 0 or p <= 0:
        # Labels exist mostly for approved rows: few labelled rows sit above the threshold, and
        # without a true positive their number cannot be recovered from the statistics.
        return skipped("precision", FAMILY, "model", current.batch,
                       "no labelled true positive at the threshold: too few flagged rows with outcomes to judge")
    flagged = round(true_positives / p)
    min_flagged = int(params["min_flagged"])
    if flagged < min_flagged:
        return skipped("precision", FAMILY, "model", current.batch,
                       f"only {flagged} labelled rows at or above the threshold (need {min_flagged})")
    return compare_metric("precision", "Precision at the threshold", p, proportion_se(p, flagged, params.get("expected")), current, params,
                          higher_is_better=True)


def recall(reference: None, current: PerformanceStats, params: dict[str, Any]) -> CheckResult:
    """Recall at the decision threshold (share of labelled positives flagged)."""
    why = readiness("recall", current, params, need_both_classes=True)
    if why:
        return skipped("recall", FAMILY, "model", current.batch, why)
    r = current.recall
    se = proportion_se(r, current.positives, params.get("expected")) if r is not None and math.isfinite(r) else 0.0
    return compare_metric("recall", "Recall at the threshold", r, se, current, params, higher_is_better=True)


def brier(reference: None, current: PerformanceStats, params: dict[str, Any]) -> CheckResult:
    """Brier score; its standard error is bounded by sqrt(b (1 - b) / n) since squared errors lie in [0, 1]."""
    why = readiness("brier", current, params, need_both_classes=False)
    if why:
        return skipped("brier", FAMILY, "model", current.batch, why)
    b = current.brier
    se = math.sqrt(b * (1 - b) / current.labeled) if b is not None else 0.0
    return compare_metric("brier", "Brier score", b, se, current, params, higher_is_better=False)


def _regression(name: str, label: str, value: float | None, current: PerformanceStats, params: dict[str, Any]) -> CheckResult:
    """A regression error metric against the expected one, a relative minimum effect (min_effect x expected)."""
    why = readiness(name, current, params, need_both_classes=False)
    if why:
        return skipped(name, FAMILY, "model", current.batch, why)
    se = float(current.metrics.get(f"{name}_se", 0.0))
    return compare_metric(name, label, value, se, current, {**params, "relative": True}, higher_is_better=False)


def mae(reference: None, current: PerformanceStats, params: dict[str, Any]) -> CheckResult:
    """Mean absolute error of a regression model, against the expected value (relative tolerance)."""
    return _regression("mae", "MAE", current.mae, current, params)


def rmse(reference: None, current: PerformanceStats, params: dict[str, Any]) -> CheckResult:
    """Root mean squared error of a regression model, against the expected value (relative tolerance)."""
    return _regression("rmse", "RMSE", current.rmse, current, params)


def rmsle(reference: None, current: PerformanceStats, params: dict[str, Any]) -> CheckResult:
    """Root mean squared log error (rows with prediction and outcome above -1), against the expected value."""
    return _regression("rmsle", "RMSLE", current.metrics.get("rmsle"), current, params)


def mape(reference: None, current: PerformanceStats, params: dict[str, Any]) -> CheckResult:
    """Mean absolute percentage error (rows with a non-zero outcome), as a fraction, against the expected value."""
    return _regression("mape", "MAPE", current.metrics.get("mape"), current, params)
