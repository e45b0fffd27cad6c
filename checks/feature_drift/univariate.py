"""PSI, Jensen-Shannon distance, normalised Wasserstein distance and KS, per feature.

All four are computed from stored statistics (histogram over the reference's bin
edges, quantiles, category counts). Bounds come from checks.calibration: the metric
of each reference chunk against the whole reference, rescaled to the batch size, a
sampling-noise floor from the metric's large-sample distribution, and a minimum effect.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from scipy.stats import chi2

from checks.calibration import Bounds, rescale, size_scale, upper_bounds, z_upper
from checks.distributions import (
    binned_shares,
    category_bins,
    category_counts,
    is_discrete,
    js_distance,
    ks_binned,
    n_category_bins,
    psi,
    spread,
    wasserstein_binned,
    wasserstein_from_quantiles,
)
from checks.feature_drift.chunk_values import chunk_values
from checks.result import CheckResult
from checks.spec import Family
from checks.verdict import result, skipped
from profilers.stats_types import CATEGORY_CAP, ColumnStats, ReferenceStats

FAMILY = Family.FEATURE_DRIFT

Metric = Callable[[ColumnStats, ColumnStats], float]
# (number of bins, n current, n reference, budget) -> metric value that noise alone reaches at the budget
NoiseFloor = Callable[[int, int, int, float], float]


def _inv(n: int, big_n: int) -> float:
    return 1.0 / max(n, 1) + 1.0 / max(big_n, 1)


@lru_cache(maxsize=256)
def _chi2_upper(budget: float, df: int) -> float:
    return float(chi2.ppf(1 - budget, df))


def psi_floor(k: int, n: int, big_n: int, budget: float) -> float:
    # PSI ~ (1/n + 1/N) * chi2(k - 1) for two samples of one distribution.
    return _chi2_upper(budget, max(k - 1, 1)) * _inv(n, big_n)


def js_floor(k: int, n: int, big_n: int, budget: float) -> float:
    # JS divergence ~ PSI / 8 (in nats); the distance is its square root in bits.
    return math.sqrt(psi_floor(k, n, big_n, budget) / (8 * math.log(2)))


def ks_floor(k: int, n: int, big_n: int, budget: float) -> float:
    # Two-sample Kolmogorov-Smirnov critical value.
    return math.sqrt(-math.log(budget / 2) / 2) * math.sqrt(_inv(n, big_n))


# W1/sd of two samples of one distribution, in units of sqrt(1/n + 1/N), measured by
# simulation on normal and lognormal data with the stored-quantile approximation:
# mean about 1.15, 99th percentile about 2.8, standard deviation about 0.7.
W_NULL_MEAN, W_NULL_SD = 1.15, 0.7


def wasserstein_floor(k: int, n: int, big_n: int, budget: float) -> float:
    return (W_NULL_MEAN + z_upper(budget) * W_NULL_SD) * math.sqrt(_inv(n, big_n))


def normalised_wasserstein(reference: ColumnStats, current: ColumnStats) -> float:
    """W1 / reference sd: from the histogram for discrete columns, from quantiles otherwise."""
    if is_discrete(reference) and reference.bin_edges:
        return wasserstein_binned(reference, current) / spread(reference)
    return wasserstein_from_quantiles(reference, current) / spread(reference)


def n_bins(reference: ColumnStats, current: ColumnStats) -> int:
    if reference.kind == "numeric":
        return len(reference.bin_counts)
    return n_category_bins(reference, current)


def calibrated_bounds(
    metric: Metric, exponent: float, floor: NoiseFloor, reference: ReferenceStats, current: ColumnStats,
    params: dict[str, Any],
) -> Bounds:
    whole = reference.whole
    values, scales = [], []
    # The chunks' values depend on the reference only: computed once per reference, not per batch.
    for chunk, value in zip(reference.chunks, chunk_values(metric, reference), strict=True):
        if value is None:
            continue
        values.append(value)
        scales.append(size_scale(current.valid, chunk.valid, whole.valid))
    budget = float(params["false_alarm_budget"])
    noise = floor(n_bins(whole, current), current.valid, whole.valid, budget)
    return upper_bounds(rescale(values, scales, exponent), budget, float(params["min_effect"]),
                        float(params["margin"]), noise)


def drift_check(
    name: str, family: str, label: str, metric: Metric, exponent: float, floor: NoiseFloor,
    reference: ReferenceStats | None, current: ColumnStats, params: dict[str, Any],
) -> CheckResult:
    subject, batch = current.subject, current.batch
    if reference is None:
        return skipped(name, family, subject, batch, "no reference statistics for this column")
    min_rows = int(params["min_rows"])
    if current.valid < min_rows:
        return skipped(name, family, subject, batch, f"only {current.valid} valid values in this batch (need {min_rows})")
    if reference.whole.valid < min_rows:
        return skipped(name, family, subject, batch, f"the reference has only {reference.whole.valid} valid values")
    if reference.whole.high_cardinality or current.high_cardinality:
        return skipped(name, family, subject, batch,
                       f"{subject} is high-cardinality (more than {CATEGORY_CAP:,} distinct values): its categories "
                       "are not kept, so it is checked by distinct count and length (unseen_category) and null_rate "
                       "instead of a category distribution", {"high_cardinality": True})
    value = metric(reference.whole, current)
    bounds = calibrated_bounds(metric, exponent, floor, reference, current, params)
    status = bounds.grade(value)
    sentence = {
        "ok": f"{label} of {subject} is {value:.3f}, within the calibrated bound {bounds.warn:.3f}.",
        "warn": f"{subject} drifted a little: {label} {value:.3f} is above the warning bound {bounds.warn:.3f}.",
        "fail": f"{subject} drifted from the reference: {label} {value:.3f} is above the bound {bounds.fail:.3f}.",
    }[status]
    evidence: dict[str, Any] = {"rows": current.valid, "reference_rows": reference.whole.valid, **bounds.evidence()}
    try:
        ref_shares, cur_shares = binned_shares(reference.whole, current)
        evidence["reference_shares"] = [round(float(x), 6) for x in ref_shares]
        evidence["current_shares"] = [round(float(x), 6) for x in cur_shares]
        if reference.whole.kind == "numeric":
            evidence["bin_edges"] = list(reference.whole.bin_edges)
        else:
            evidence["categories"] = category_counts(reference.whole, current)[0]
            evidence["pooled_rare_categories"] = len(category_bins(reference.whole)[1])
    except ValueError:
        pass
    if reference.whole.kind == "numeric" and current.mean is not None and reference.whole.mean is not None:
        evidence["mean_shift_in_sd"] = (current.mean - reference.whole.mean) / spread(reference.whole)
    return result(name, family, subject, batch, status, sentence, params, value=value, lower=0.0,
                  upper=bounds.fail, evidence=evidence)


def psi_check(reference: ReferenceStats | None, current: ColumnStats, params: dict[str, Any]) -> CheckResult:
    """Population stability index over the reference bins (or categories)."""
    return drift_check("psi", FAMILY, "PSI", psi, 1.0, psi_floor, reference, current, params)


def jensen_shannon(reference: ReferenceStats | None, current: ColumnStats, params: dict[str, Any]) -> CheckResult:
    """Jensen-Shannon distance (base 2) over the reference bins (or categories)."""
    return drift_check("jensen_shannon", FAMILY, "Jensen-Shannon distance", js_distance, 0.5, js_floor,
                       reference, current, params)


def wasserstein(reference: ReferenceStats | None, current: ColumnStats, params: dict[str, Any]) -> CheckResult:
    """Wasserstein-1 distance between quantile functions, divided by the reference standard deviation."""
    return drift_check("wasserstein", FAMILY, "Normalised Wasserstein distance", normalised_wasserstein, 0.5,
                       wasserstein_floor, reference, current, params)


def ks(reference: ReferenceStats | None, current: ColumnStats, params: dict[str, Any]) -> CheckResult:
    """Kolmogorov-Smirnov statistic: largest CDF gap at the reference bin edges."""
    return drift_check("ks", FAMILY, "KS statistic", ks_binned, 0.5, ks_floor, reference, current, params)
