"""Column-level input quality: null rate, NaN / infinity, out-of-range values, unseen categories."""

from __future__ import annotations

from typing import Any

import numpy as np

from checks.calibration import rate_upper_bounds, z_upper
from checks.distributions import quantile_function
from checks.result import CheckResult
from checks.spec import Family
from checks.verdict import pct, result, skipped
from profilers.stats_types import CATEGORY_CAP, ColumnStats, ReferenceStats

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
    """Share of rows whose category is not allowed (config 'allowed') or never seen in the reference.

    The reference's categories are complete (every value, up to CATEGORY_CAP distinct ones), so a
    value present in the reference is never unseen. A high-cardinality column (over the cap in the
    reference or in the batch) is checked by its distinct count and value lengths instead.
    """
    name, subject, batch = "unseen_category", current.subject, current.batch
    allowed = params.get("allowed")
    if allowed is None and (current.high_cardinality or (reference is not None and reference.whole.high_cardinality)):
        return high_cardinality_check(reference, current, params)
    if allowed is not None:
        known = {str(a) for a in allowed}
        basis = "the configured allowed values"
    elif reference is not None and reference.whole.categories:
        known = set(reference.whole.categories)
        basis = "the reference"
    else:
        return skipped(name, FAMILY, subject, batch, "no allowed values configured and no reference categories")
    if current.high_cardinality:
        return result(
            name, FAMILY, subject, batch, "fail",
            f"{subject} has more than {CATEGORY_CAP:,} distinct values in this batch, far more than {basis} "
            f"({len(known):,}): most of them are new.", params, value=1.0, lower=0.0,
            upper=float(params["max_share"]),
            evidence={"high_cardinality": True, "distinct": current.distinct, "known": len(known), "basis": basis},
        )
    total = sum(current.categories.values())
    if total <= 0:
        return skipped(name, FAMILY, subject, batch, "no valid values in this batch")
    unseen = {k: v for k, v in current.categories.items() if k not in known}
    share = sum(unseen.values()) / total
    max_share = float(params["max_share"])
    status = "fail" if share > max_share else ("warn" if unseen else "ok")
    listed = ", ".join(f"{k!r} ({v})" for k, v in sorted(unseen.items(), key=lambda kv: -kv[1])[:5])
    sentence = {
        "ok": f"Every value of {subject} is among {basis}.",
        "warn": f"{subject} has a few values not in {basis}: {listed}.",
        "fail": f"{pct(share)} of {subject} has values not in {basis}: {listed}.",
    }[status]
    top_unseen = dict(sorted(unseen.items(), key=lambda kv: (-kv[1], kv[0]))[:50])
    return result(
        name, FAMILY, subject, batch, status, sentence, params, value=share, lower=0.0, upper=max_share,
        evidence={"unseen": top_unseen, "unseen_values": len(unseen), "known": len(known),
                  "known_sample": sorted(known)[:50], "basis": basis},
    )


# A high-cardinality column's distinct share (distinct / valid rows) and mean value length
# are compared with the reference chunks: mean +- max(z * sd, this floor).
HIGH_CARDINALITY_DISTINCT_FLOOR = 0.1  # absolute change of the distinct share
HIGH_CARDINALITY_LENGTH_FLOOR = 0.2  # relative change of the mean length


def high_cardinality_check(reference: ReferenceStats | None, current: ColumnStats, params: dict[str, Any]) -> CheckResult:
    """A column with more than CATEGORY_CAP distinct values: distinct share and value length
    against the reference chunks (the null rate has its own check)."""
    name, subject, batch = "unseen_category", current.subject, current.batch
    intro = (f"{subject} is high-cardinality (more than {CATEGORY_CAP:,} distinct values): its categories are not "
             "kept, so it is checked by distinct count, null rate and length statistics instead")
    valid = current.count - current.nulls
    if valid <= 0:
        return skipped(name, FAMILY, subject, batch, f"{intro}; no values in this batch", {"high_cardinality": True})
    if reference is None:
        return skipped(name, FAMILY, subject, batch, f"{intro}; no reference to compare with", {"high_cardinality": True})
    z = z_upper(float(params["false_alarm_budget"]))
    chunks = [c for c in reference.chunks if c.count - c.nulls > 0]
    problems: list[str] = []
    evidence: dict[str, Any] = {"high_cardinality": True, "category_cap": CATEGORY_CAP, "distinct": current.distinct,
                                "valid_rows": valid, "mean_length": current.mean}
    if current.distinct is not None:
        share = current.distinct / valid
        ref_shares = [c.distinct / (c.count - c.nulls) for c in chunks if c.distinct is not None]
        if ref_shares:
            centre = float(np.mean(ref_shares))
            tol = max(z * float(np.std(ref_shares, ddof=1)) if len(ref_shares) >= 2 else 0.0,
                      HIGH_CARDINALITY_DISTINCT_FLOOR)
            evidence.update({"distinct_share": share, "reference_distinct_share": centre, "distinct_tolerance": tol})
            if abs(share - centre) > tol:
                problems.append(f"distinct share {pct(share)} against {pct(centre)} in reference chunks")
    ref_len = reference.whole.mean
    if current.mean is not None and ref_len is not None and ref_len > 0:
        chunk_lengths = [float(c.mean) for c in chunks if c.mean is not None]
        tol = max(z * float(np.std(chunk_lengths, ddof=1)) if len(chunk_lengths) >= 2 else 0.0,
                  HIGH_CARDINALITY_LENGTH_FLOOR * float(ref_len))
        evidence.update({"reference_mean_length": ref_len, "length_tolerance": tol,
                         "min_length": current.min, "max_length": current.max})
        if abs(float(current.mean) - float(ref_len)) > tol:
            problems.append(f"mean length {float(current.mean):.1f} characters against {float(ref_len):.1f}")
    status = "fail" if problems else "ok"
    sentence = f"{intro}: " + ("; ".join(problems) + "." if problems else "distinct count and lengths are as in the reference.")
    return result(name, FAMILY, subject, batch, status, sentence, params, value=float(len(problems)), lower=0.0,
                  upper=0.0, evidence=evidence)
