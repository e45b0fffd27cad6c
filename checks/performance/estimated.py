"""Performance estimated before labels arrive, from calibrated scores (confidence-based estimation).

If the scores are calibrated probabilities, a row with score s is a positive with
probability s. From the score distribution alone (its stored quantiles) we get the
expected ROC AUC, the expected Brier score and the expected positive rate. The result
is marked estimated; once the batch's labels mature the realized AUC check runs on the
same batch, and the page shows both. Caveat: the live test set is the labelled
(approved + control) rows, the estimate covers every scored row.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from checks.calibration import rescale, size_scale, upper_bounds
from checks.distributions import quantile_function
from checks.result import CheckResult
from checks.spec import Family
from checks.verdict import result, skipped
from profilers.stats_types import ColumnStats, ReferenceStats

FAMILY = Family.PERFORMANCE
_GRID = (np.arange(400) + 0.5) / 400


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


def estimate(stats: ColumnStats) -> dict[str, float | None]:
    s = score_sample(stats)
    return {"auc": expected_auc(s), "brier": float(np.mean(s * (1 - s))), "positive_rate": float(s.mean())}


def estimated_performance(reference: ReferenceStats | None, current: ColumnStats, params: dict[str, Any]) -> CheckResult:
    """Estimated AUC of the batch (before labels) against the registered or reference-estimated AUC."""
    name, subject, batch = "estimated_performance", "model", current.batch
    min_rows = int(params["min_rows"])
    if current.valid < min_rows:
        return skipped(name, FAMILY, subject, batch, f"only {current.valid} scores in this batch (need {min_rows})")
    est = estimate(current)
    # Estimate against estimate: the same method on the reference scores cancels the
    # method's own bias (coarse quantiles); the registered AUC is kept as evidence.
    registered = params.get("expected")
    expected, basis = registered, "registered evaluation"
    if reference is not None and reference.whole.valid >= min_rows:
        expected, basis = estimate(reference.whole)["auc"], "same estimate on the reference scores"
    if est["auc"] is None:
        return skipped(name, FAMILY, subject, batch, "all scores are 0 or 1: no AUC can be estimated", {"estimated": True})
    if expected is None:
        return skipped(name, FAMILY, subject, batch, "nothing to compare the estimate with (no registered AUC, no reference)",
                       {"estimated": True, "estimated_auc": est["auc"]})
    expected = float(expected)
    drop = expected - est["auc"]
    min_effect = float(params["min_effect"])
    # Calibrated: how far the same estimate moves over batch-sized reference chunks, rescaled to
    # this batch's size, at the false-alarm budget; never below the minimum effect.
    chunk_drops: list[float] = []
    if reference is not None and basis.startswith("same estimate"):
        raw, scales = [], []
        for chunk in reference.chunks:
            if chunk.valid >= min_rows:
                chunk_auc = estimate(chunk)["auc"]
                if chunk_auc is not None:
                    raw.append(abs(expected - chunk_auc))
                    scales.append(size_scale(current.valid, chunk.valid, reference.whole.valid))
        chunk_drops = rescale(raw, scales, 0.5)
    bounds = upper_bounds(chunk_drops, float(params["false_alarm_budget"]), min_effect, float(params["margin"]))
    status = bounds.grade(drop)
    subject_label = f" of class {params['class_name']!r}" if params.get("class_name") is not None else ""
    sentence = {
        "ok": f"Estimated AUC{subject_label} before labels is {est['auc']:.3f} ({basis}: {expected:.3f}).",
        "warn": f"Estimated AUC{subject_label} before labels dipped to {est['auc']:.3f} ({basis}: {expected:.3f}).",
        "fail": (f"Estimated AUC{subject_label} before labels fell to {est['auc']:.3f} against {expected:.3f} ({basis}); "
                 "confirm when labels mature."),
    }[status]
    evidence: dict[str, Any] = {"estimated": True, "estimated_auc": est["auc"], "estimated_brier": est["brier"],
                                "estimated_positive_rate": est["positive_rate"], "expected_auc": expected,
                                "basis": basis, "registered_auc": registered,
                                "realized_auc": params.get("realized_auc"), "min_effect": min_effect,
                                **bounds.evidence()}
    return result(name, FAMILY, subject, batch, status, sentence, params, value=est["auc"],
                  lower=expected - bounds.fail, evidence=evidence)
