"""Performance estimated before labels arrive, from calibrated scores (confidence-based estimation).

If the scores are calibrated probabilities, a row with score s is a positive with
probability s. From the score distribution alone (its stored quantiles) we get the
expected ROC AUC, the expected Brier score and the expected positive rate. The result
is marked estimated; once the batch's labels mature the realized AUC check runs on the
same batch, and the estimate's result stores the realized AUC and its own error. Caveat: the live test set is the labelled
(approved + control) rows, the estimate covers every scored row.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from checks.distributions import quantile_function
from checks.performance.bounds import chunk_spread, drop_bounds, fail_tail
from checks.result import CheckResult
from checks.spec import Family
from checks.verdict import result, skipped
from profilers.stats_types import ColumnStats, ReferenceStats

FAMILY = Family.PERFORMANCE
_GRID = (np.arange(400) + 0.5) / 400


# Floor on the AUC drop for an estimate from stored quantiles (see estimated_performance).
STORED_QUANTILES_MIN_EFFECT = 0.03

def score_sample(stats: ColumnStats) -> np.ndarray:
    """A deterministic, equally weighted sample of scores from the stored quantile function."""
    probs, values = quantile_function(stats)
    return np.clip(np.interp(_GRID, probs, values), 0.0, 1.0)


def expected_auc(scores: np.ndarray) -> float | None:
    """AUC expected if each row is positive with probability equal to its score."""
    s = np.sort(scores)
    pos, neg = s, 1.0 - s
    total_pos, total_neg = pos.sum(), neg.sum()
    if total_pos <= 0 or total_neg <= 0:
        return None
    neg_below = np.cumsum(neg) - neg  # negatives with a strictly lower score (ties: half)
    return float(np.sum(pos * (neg_below + 0.5 * neg)) / (total_pos * total_neg))


def expected_auc_with_error(scores: np.ndarray) -> tuple[float, float] | None:
    """Exact expected AUC of calibrated scores and the per-row standard deviation of its
    influence function: the estimate's own sampling error at n rows is unit_sd / sqrt(n)
    (the way NannyML derives a sampling error from reference components: a spread measured
    once on the reference, divided by the square root of the batch size)."""
    s = np.clip(np.sort(np.asarray(scores, dtype=float)), 0.0, 1.0)
    n = len(s)
    if n < 2:
        return None
    neg = 1.0 - s
    m1, m0 = float(s.mean()), float(neg.mean())
    if m1 <= 0 or m0 <= 0:
        return None
    a = (np.cumsum(neg) - 0.5 * neg) / n  # negative mass below each row (itself at half)
    b = (s.sum() - np.cumsum(s) + 0.5 * s) / n  # positive mass above each row
    u = float(np.mean(s * a))
    auc = u / (m1 * m0)
    psi_u = s * a + neg * b - 2 * u
    psi = psi_u / (m1 * m0) - auc * ((s - m1) / m1 + (neg - m0) / m0)
    return float(auc), float(np.std(psi, ddof=1))


def estimate(stats: ColumnStats) -> dict[str, float | None]:
    s = score_sample(stats)
    return {"auc": expected_auc(s), "brier": float(np.mean(s * (1 - s))), "positive_rate": float(s.mean())}


def _chunk_estimate_spread(reference: ReferenceStats, rows: int) -> float:
    """Spread of the (quantile-based) estimate over the stored reference chunks, at `rows` rows."""
    values, sizes = [], []
    for chunk in reference.chunks:
        if chunk.valid < 30:
            continue
        try:
            auc = estimate(chunk)["auc"]
        except ValueError:
            continue
        if auc is not None:
            values.append(auc)
            sizes.append(chunk.valid)
    if len(values) < 2:
        return 0.0
    return chunk_spread(float(np.std(values, ddof=1)), float(np.mean(sizes)), rows)


def estimated_performance(reference: ReferenceStats | None, current: ColumnStats, params: dict[str, Any]) -> CheckResult:
    """Estimated AUC of the batch (before labels) against the same estimate on the reference scores.

    Exact when the live test set statistics carry it (``estimated_auc_exact``, every scored row)
    and the reference file gave its own (``expected`` with basis 'reference'); otherwise from the
    stored quantiles of the score column. Bounds: the larger of the estimate's spread over
    reference chunks at the batch's size and its own sampling error, times z at its tail,
    floored at min_effect (checks.performance.bounds). When the batch's labels have matured,
    the realized AUC and the estimate's error on the same labelled rows are stored beside it.
    """
    name, subject, batch = "estimated_performance", "model", current.batch
    min_rows = int(params["min_rows"])
    if current.valid < min_rows:
        return skipped(name, FAMILY, subject, batch, f"only {current.valid} scores in this batch (need {min_rows})")
    registered = params.get("expected")  # the registered evaluation (full population, as the estimate)
    exact = params.get("estimated_auc_exact")
    ref_exact = params.get("reference_estimated_auc")
    rows = int(params.get("scored_rows") or current.valid)
    est: dict[str, float | None]
    expected: float | None
    if exact is not None and ref_exact is not None:
        est = {"auc": float(exact), "brier": None, "positive_rate": None}
        expected, basis = float(ref_exact), "the same estimate on every reference score"
        spread = chunk_spread(params.get("reference_estimated_auc_chunk_sd"),
                              params.get("reference_estimated_auc_chunk_rows"), rows)
        unit_sd = params.get("reference_estimated_auc_unit_sd")
        live_se = float(unit_sd) / np.sqrt(rows) if unit_sd else 0.0
        # The expected value is the same estimate on the reference's scores: a sample too.
        ref_se = float(params.get("reference_estimated_auc_se") or 0.0)
        own = float(np.hypot(live_se, ref_se))
        method = "exact"
    else:
        est = estimate(current)
        # Estimate against estimate: the same method on the reference scores cancels the
        # method's own bias (coarse quantiles); the registered AUC is kept as evidence.
        expected, basis = registered, "registered evaluation"
        spread, own, method = 0.0, 0.0, "stored quantiles"
        if reference is not None and reference.whole.valid >= min_rows:
            expected, basis = estimate(reference.whole)["auc"], "same estimate on the reference scores"
            spread = _chunk_estimate_spread(reference, current.valid)
    if est["auc"] is None:
        return skipped(name, FAMILY, subject, batch, "all scores are 0 or 1: no AUC can be estimated", {"estimated": True})
    if expected is None:
        return skipped(name, FAMILY, subject, batch, "nothing to compare the estimate with (no registered AUC, no reference)",
                       {"estimated": True, "estimated_auc": est["auc"]})
    value = float(est["auc"])
    floor = float(params["min_effect"])
    if method == "stored quantiles":
        # The estimate from a batch's stored quantiles (per-class multiclass estimates, or no live
        # test set statistics) carries an approximation error the reference chunks do not show:
        # measured on the multiclass example, its batch-to-batch spread is about 1.5x the chunk
        # spread. Only the exact estimate gets the tight floor.
        floor = max(floor, STORED_QUANTILES_MIN_EFFECT)
    bounds = drop_bounds(own, spread, float(params["false_alarm_budget"]), floor, fail_tail(params))
    drop = float(expected) - value
    status = bounds.grade(drop)
    expected = float(expected)
    limit = expected - bounds.fail_tolerance
    subject_label = f" of class {params['class_name']!r}" if params.get("class_name") is not None else ""
    sentence = {
        "ok": f"Estimated AUC{subject_label} before labels is {value:.3f} ({basis}: {expected:.3f}).",
        "warn": f"Estimated AUC{subject_label} before labels dipped to {value:.3f} ({basis}: {expected:.3f}).",
        "fail": f"Estimated AUC{subject_label} before labels fell to {value:.3f} against {expected:.3f} ({basis}; limit {limit:.3f}); "
                "confirm when labels mature.",
    }[status]
    realized = params.get("realized_auc")
    labelled_estimate = params.get("estimated_auc_labelled")
    evidence: dict[str, Any] = {"estimated": True, "estimated_auc": value, "estimated_brier": est["brier"],
                                "estimated_positive_rate": est["positive_rate"], "expected_auc": expected,
                                "basis": basis, "method": method, "registered_auc": registered,
                                "realized_auc": realized, "pvalue": bounds.pvalue(drop), **bounds.evidence()}
    if realized is not None:
        # The estimate on the rows that got a label, against what they showed: the estimate's error.
        same_rows = float(labelled_estimate) if labelled_estimate is not None else value
        evidence["estimated_auc_labelled"] = same_rows
        evidence["estimate_error"] = same_rows - float(realized)
    return result(name, FAMILY, subject, batch, status, sentence, params, value=value, lower=limit, evidence=evidence)
