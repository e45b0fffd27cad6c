"""Checks on what the model put out: score drift, decision rate, fallback rate, calibration."""

from __future__ import annotations

import math
import statistics
from typing import Any

from checks.calibration import Bounds, rate_upper_bounds, z_upper
from checks.distributions import psi, true_share
from checks.feature_drift.univariate import drift_check, psi_floor
from checks.result import CheckResult
from checks.spec import Family
from checks.verdict import pct, result, skipped
from core.decision_value import share as decision_share
from profilers.stats_types import ColumnStats, PerformanceStats, ReferenceStats

FAMILY = Family.PREDICTION


def score_drift(reference: ReferenceStats | None, current: ColumnStats, params: dict[str, Any]) -> CheckResult:
    """PSI of the score column against the reference scores (the training snapshot's)."""
    return drift_check("score_drift", FAMILY, "Score PSI", psi, 1.0, psi_floor, reference, current, params)


def _baseline(
    reference_rate: float | None, chunk_rates: list[float], recent: list[float], expected: float | None,
    min_recent: int,
) -> tuple[float, list[float], str] | None:
    """Where the expected rate comes from, in order: reference, recent batches, configured value."""
    if reference_rate is not None:
        return reference_rate, chunk_rates, "reference"
    if len(recent) >= min_recent:
        return statistics.median(recent), recent, f"median of {len(recent)} recent batches"
    if expected is not None:
        return float(expected), [], "configured expected rate"
    return None


def decision_rate_shift(reference: ReferenceStats | None, current: ColumnStats, params: dict[str, Any]) -> CheckResult:
    """Share of the positive decision (e.g. 'approve') against the reference, recent batches or the config."""
    name, subject, batch = "decision_rate_shift", current.subject, current.batch
    positive = params.get("positive_decision")
    if positive is None or positive == "":
        return skipped(name, FAMILY, subject, batch, "no positive decision configured (predictions.positive_decision)")
    total = sum(current.categories.values())
    min_rows = int(params["min_rows"])
    if total < min_rows:
        return skipped(name, FAMILY, subject, batch, f"only {total} decisions in this batch (need {min_rows})")
    rate = decision_share(current.categories, positive)
    ref_rate = None
    chunk_rates: list[float] = []
    if reference is not None and reference.whole.categories:
        ref_rate = decision_share(reference.whole.categories, positive)
        chunk_rates = [decision_share(c.categories, positive) for c in reference.chunks if c.categories]
    recent = [float(r) for r in params.get("recent_rates") or [] if r is not None]
    base = _baseline(ref_rate, chunk_rates, recent, params.get("expected_rate"), int(params["min_recent_batches"]))
    if base is None:
        return skipped(name, FAMILY, subject, batch,
                       "no reference decisions, too few recent batches and no expected_rate configured")
    baseline, spread_rates, basis = base
    budget = float(params["false_alarm_budget"])
    z = z_upper(budget / 2)
    se = max(math.sqrt(max(baseline * (1 - baseline), 1e-9) / total),
             statistics.stdev(spread_rates) if len(spread_rates) >= 2 else 0.0)
    warn = max(z * se, float(params["min_effect"]) / 2)
    fail = max(float(params["margin"]) * z * se, float(params["min_effect"]))
    gap = rate - baseline
    status = "fail" if abs(gap) > fail else ("warn" if abs(gap) > warn else "ok")
    direction = "rose" if gap > 0 else "fell"
    sentence = {
        "ok": f"The {positive!r} rate is {pct(rate)}, close to the {basis} ({pct(baseline)}).",
        "warn": f"The {positive!r} rate {direction} to {pct(rate)} from {pct(baseline)} ({basis}).",
        "fail": f"The {positive!r} rate {direction} to {pct(rate)} from {pct(baseline)} ({basis}), beyond the allowed {pct(fail)}.",
    }[status]
    return result(name, FAMILY, subject, batch, status, sentence, params, value=rate, lower=baseline - fail,
                  upper=baseline + fail, evidence={"rate": rate, "baseline": baseline, "basis": basis,
                                                   "decisions": total, "warn_gap": warn, "fail_gap": fail})


def fallback_rate(reference: ReferenceStats | None, current: ColumnStats, params: dict[str, Any]) -> CheckResult:
    """Share of predictions that took the fallback path, against its usual level."""
    name, subject, batch = "fallback_rate", current.subject, current.batch
    rate = true_share(current)
    min_rows = int(params["min_rows"])
    if rate is None or current.valid < min_rows:
        return skipped(name, FAMILY, subject, batch, f"only {max(current.valid, 0)} fallback flags in this batch (need {min_rows})")
    recent = [float(r) for r in params.get("recent_rates") or [] if r is not None]
    ref_rate = true_share(reference.whole) if reference is not None else None
    chunk_rates = [r for r in (true_share(c) for c in reference.chunks) if r is not None] if reference else []
    base = _baseline(ref_rate, chunk_rates, recent, params.get("expected_rate"), int(params["min_recent_batches"]))
    baseline, spread_rates, basis = base if base else (0.0, [], "no fallbacks expected")
    bounds: Bounds = rate_upper_bounds(baseline, current.valid, float(params["false_alarm_budget"]),
                                       float(params["min_effect"]), spread_rates, float(params["margin"]))
    fail_at = min(bounds.fail, float(params["max_rate"]))
    status = "fail" if rate > fail_at else ("warn" if rate > min(bounds.warn, fail_at) else "ok")
    sentence = {
        "ok": f"{pct(rate)} of predictions used the fallback rule ({basis}: {pct(baseline)}).",
        "warn": f"The fallback share rose to {pct(rate)} ({basis}: {pct(baseline)}).",
        "fail": f"{pct(rate)} of predictions fell back to the rule instead of the model ({basis}: {pct(baseline)}, limit {pct(fail_at)}).",
    }[status]
    return result(name, FAMILY, subject, batch, status, sentence, params, value=rate, lower=0.0, upper=fail_at,
                  evidence={"rate": rate, "baseline": baseline, "basis": basis, "rows": current.valid,
                            **bounds.evidence()})


def calibration_pair(current: PerformanceStats) -> tuple[float, float, int, str] | None:
    """(mean predicted, observed rate, rows, population) on rows where both are known.

    Labels exist only for the approved (and control) rows, so the comparison is made on
    the approved rows when the profiler provides their mean score; otherwise on the whole
    batch only when every row is labelled.
    """
    est = current.estimated.get("expected_approved_positive_rate")
    if est is not None and current.approved_labeled > 0:
        return float(est), current.approved_positives / current.approved_labeled, current.approved_labeled, "approved rows"
    if current.mean_score is not None and current.mean_label is not None and current.labeled >= current.predictions:
        return current.mean_score, current.mean_label, current.labeled, "all rows"
    return None


def calibration_drift(reference: None, current: PerformanceStats, params: dict[str, Any]) -> CheckResult:
    """Mean predicted probability against the observed label rate on the live test set, with a CI."""
    name, subject, batch = "calibration_drift", "model", current.batch
    if not current.matured:
        return skipped(name, FAMILY, subject, batch, "the labels of this batch have not matured yet")
    pair = calibration_pair(current)
    min_rows = int(params["min_rows"])
    if pair is None or pair[2] < min_rows:
        return skipped(name, FAMILY, subject, batch,
                       f"only {pair[2] if pair else current.labeled} comparable labelled rows (need {min_rows})")
    predicted, observed, n, population = pair
    p = min(max(predicted, 1e-6), 1 - 1e-6)
    se = math.sqrt(p * (1 - p) / n)
    z = z_upper(float(params["false_alarm_budget"]) / 2)
    gap = observed - predicted
    warn = max(z * se, float(params["min_effect"]) / 2)
    fail = max(float(params["margin"]) * z * se, float(params["min_effect"]))
    status = "fail" if abs(gap) > fail else ("warn" if abs(gap) > warn else "ok")
    ci = (observed - z * se, observed + z * se)
    word = "under" if gap > 0 else "over"
    sentence = {
        "ok": f"Scores are calibrated on the {population}: {predicted:.3f} predicted, {observed:.3f} observed.",
        "warn": f"Scores {word}-estimate the observed rate a little on the {population}: {predicted:.3f} predicted, {observed:.3f} observed.",
        "fail": f"Scores {word}-estimate the outcome on the {population}: {predicted:.3f} predicted against {observed:.3f} observed (CI {ci[0]:.3f}-{ci[1]:.3f}).",
    }[status]
    return result(name, FAMILY, subject, batch, status, sentence, params, value=gap, lower=-fail, upper=fail,
                  evidence={"predicted_rate": predicted, "observed_rate": observed, "rows": n,
                            "population": population, "observed_ci": list(ci), "warn_gap": warn})
