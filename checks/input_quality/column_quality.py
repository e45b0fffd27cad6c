"""Column-level input quality: null rate, NaN / infinity, out-of-range values, unseen categories."""

from __future__ import annotations

from typing import Any

import numpy as np

from checks.calibration import rate_upper_bounds
from checks.distributions import quantile_function
from checks.result import CheckResult
from checks.spec import Family
from checks.verdict import pct, result, skipped
from profilers.stats_types import OTHER, ColumnStats, ReferenceStats

FAMILY = Family.INPUT_QUALITY


def _rate_check(
    name: str,
    what: str,
    bad: int,
    reference_bad: tuple[int, int] | None,
    chunk_rates: list[float],
    current: ColumnStats,
    params: dict[str, Any],
) -> CheckResult:
    """Shared logic: a share of bad rows that must not rise above the reference's by more than noise."""
    if current.count <= 0:
        return skipped(name, FAMILY, current.subject, current.batch, "no rows in this batch")
    rate = bad / current.count
    ref_rate = reference_bad[0] / reference_bad[1] if reference_bad and reference_bad[1] > 0 else 0.0
    bounds = rate_upper_bounds(
        ref_rate, current.count, float(params["false_alarm_budget"]), float(params["min_effect"]),
        chunk_rates, float(params.get("margin", 1.5)),
    )
    status = bounds.grade(rate)
    sentence = {
        "ok": f"{what} in {current.subject} is {pct(rate)}, within the expected {pct(bounds.warn)}.",
        "warn": f"{what} in {current.subject} rose to {pct(rate)} (reference {pct(ref_rate)}, warning above {pct(bounds.warn)}).",
        "fail": f"{what} in {current.subject} jumped to {pct(rate)} against {pct(ref_rate)} in the reference (limit {pct(bounds.fail)}).",
    }[status]
    return result(
        name, FAMILY, current.subject, current.batch, status, sentence, params,
        value=rate, lower=0.0, upper=bounds.fail,
        evidence={"rows": current.count, "bad_rows": bad, "reference_rate": ref_rate, **bounds.evidence()},
    )


def null_rate(reference: ReferenceStats | None, current: ColumnStats, params: dict[str, Any]) -> CheckResult:
    """Share of null values, against the reference share plus calibrated noise and a minimum effect."""
    ref = (reference.whole.nulls, reference.whole.count) if reference else None
    chunks = [c.nulls / c.count for c in reference.chunks if c.count > 0] if reference else []
    return _rate_check("null_rate", "The null rate", current.nulls, ref, chunks, current, params)


def nan_inf(reference: ReferenceStats | None, current: ColumnStats, params: dict[str, Any]) -> CheckResult:
    """Share of NaN and infinite values in a numeric column."""
    ref = (reference.whole.nan + reference.whole.inf, reference.whole.count) if reference else None
    chunks = [(c.nan + c.inf) / c.count for c in reference.chunks if c.count > 0] if reference else []
    res = _rate_check("nan_inf", "The NaN / infinity rate", current.nan + current.inf, ref, chunks, current, params)
    if res.status != "skipped":
        res.evidence.update({"nan": current.nan, "inf": current.inf})
    return res


def _share_below(stats: ColumnStats, x: float) -> float:
    """Estimated share of valid values below x, from the piecewise-linear quantile function."""
    probs, values = quantile_function(stats)
    if x <= values[0]:
        return 0.0 if x < values[0] else float(probs[0])
    if x > values[-1]:
        return 1.0
    # Invert the quantile function: the largest p with Q(p) < x.
    idx = int(np.searchsorted(values, x, side="left"))
    lo_v, hi_v = values[idx - 1], values[idx]
    lo_p, hi_p = probs[idx - 1], probs[idx]
    if hi_v <= lo_v:
        return float(lo_p)
    return float(lo_p + (hi_p - lo_p) * (x - lo_v) / (hi_v - lo_v))


def out_of_range(reference: ReferenceStats | None, current: ColumnStats, params: dict[str, Any]) -> CheckResult:
    """Share of values outside the feature's configured range (params 'range': [low, high])."""
    name, subject, batch = "out_of_range", current.subject, current.batch
    rng = params.get("range")
    if rng is None:
        return skipped(name, FAMILY, subject, batch, "no expected range configured for this feature (set features[].range)")
    low, high = float(rng[0]), float(rng[1])
    if current.valid <= 0 or current.min is None or current.max is None:
        return skipped(name, FAMILY, subject, batch, "no valid values in this batch")
    if current.min >= low and current.max <= high:
        share = 0.0
    else:
        below = _share_below(current, low) if current.min < low else 0.0
        above = 1.0 - _share_below(current, high) if current.max > high else 0.0
        # At least one row is out whenever min / max is out: never report zero then.
        share = max(below + above, 1.0 / current.valid)
    max_share = float(params["max_share"])
    status = "fail" if share > max_share else ("warn" if share > 0 else "ok")
    sentence = {
        "ok": f"All values of {subject} are inside the expected range [{low:g}, {high:g}].",
        "warn": f"A few values of {subject} (about {pct(share)}) fall outside [{low:g}, {high:g}] (min {current.min:g}, max {current.max:g}).",
        "fail": f"About {pct(share)} of {subject} falls outside the expected range [{low:g}, {high:g}] (min {current.min:g}, max {current.max:g}).",
    }[status]
    return result(
        name, FAMILY, subject, batch, status, sentence, params, value=share, lower=0.0, upper=max_share,
        evidence={"range": [low, high], "min": current.min, "max": current.max, "valid_rows": current.valid},
    )


def unseen_category(reference: ReferenceStats | None, current: ColumnStats, params: dict[str, Any]) -> CheckResult:
    """Share of rows whose category is not allowed (config 'allowed') or never seen in the reference."""
    name, subject, batch = "unseen_category", current.subject, current.batch
    allowed = params.get("allowed")
    if allowed is not None:
        known = {str(a) for a in allowed}
        basis = "the configured allowed values"
    elif reference is not None and reference.whole.categories:
        known = {k for k in reference.whole.categories if k != OTHER}
        basis = "the reference"
        if reference.whole.categories.get(OTHER, 0) > 0:
            # The reference's top-k list was truncated: a rare known value may look new.
            basis = "the reference's most frequent values"
    else:
        return skipped(name, FAMILY, subject, batch, "no allowed values configured and no reference categories")
    total = sum(current.categories.values())
    if total <= 0:
        return skipped(name, FAMILY, subject, batch, "no valid values in this batch")
    unseen = {k: v for k, v in current.categories.items() if k not in known and k != OTHER}
    share = sum(unseen.values()) / total
    max_share = float(params["max_share"])
    status = "fail" if share > max_share else ("warn" if unseen else "ok")
    listed = ", ".join(f"{k!r} ({v})" for k, v in sorted(unseen.items(), key=lambda kv: -kv[1])[:5])
    sentence = {
        "ok": f"Every value of {subject} is among {basis}.",
        "warn": f"{subject} has a few values not in {basis}: {listed}.",
        "fail": f"{pct(share)} of {subject} has values not in {basis}: {listed}.",
    }[status]
    return result(
        name, FAMILY, subject, batch, status, sentence, params, value=share, lower=0.0, upper=max_share,
        evidence={"unseen": dict(sorted(unseen.items())), "known": sorted(known), "basis": basis},
    )
