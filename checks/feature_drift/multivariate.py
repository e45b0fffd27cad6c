"""Multivariate drift: the mean drift across all features, from stored statistics.

How it works: for every feature we take a scale-free distance between the batch and
the reference (numeric: Wasserstein-1 divided by the reference standard deviation;
categorical / boolean: total variation distance over categories) and average them.
Many small shifts that each stay under their own feature's bound (a population change
that moves every feature a little) add up here. The bound is calibrated like the
univariate ones: the same average for each reference chunk against the whole
reference (chunk i of every feature covers the same reference rows), rescaled to the
batch size, with a minimum effect. It looks at marginals only: a change in the
correlation between features with unchanged marginals is not detected.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from checks.calibration import rescale, size_scale, upper_bounds, z_upper
from checks.distributions import total_variation
from checks.feature_drift.chunk_values import chunk_values
from checks.feature_drift.univariate import W_NULL_MEAN, W_NULL_SD, normalised_wasserstein
from checks.result import CheckResult
from checks.spec import Family
from checks.verdict import result, skipped
from profilers.stats_types import ColumnStats, ReferenceStats

FAMILY = Family.FEATURE_DRIFT


def feature_distance(reference: ColumnStats, current: ColumnStats) -> float:
    if reference.kind == "numeric":
        return normalised_wasserstein(reference, current)
    return total_variation(reference, current)


def multivariate_drift(
    reference: dict[str, ReferenceStats] | None, current: dict[str, ColumnStats], params: dict[str, Any]
) -> CheckResult:
    """Mean normalised drift over all features with a reference and enough rows."""
    name = "multivariate_drift"
    batch = next((c.batch for c in current.values()), params.get("batch"))
    subject = "predictions"
    if not reference:
        return skipped(name, FAMILY, subject, batch, "no reference statistics for the features")
    min_rows = int(params["min_rows"])
    usable = sorted(
        f for f, cur in current.items()
        if f in reference and cur.valid >= min_rows and reference[f].whole.valid >= min_rows
    )
    if len(usable) < int(params["min_features"]):
        return skipped(name, FAMILY, subject, batch,
                       f"only {len(usable)} features have enough rows and a reference (need {params['min_features']})")
    per_feature: dict[str, float] = {}
    for f in usable:
        try:
            per_feature[f] = feature_distance(reference[f].whole, current[f])
        except ValueError:
            continue
    if not per_feature:
        return skipped(name, FAMILY, subject, batch, "no feature could be compared with its reference")
    value = float(np.mean(list(per_feature.values())))
    n_chunks = min((len(reference[f].chunks) for f in per_feature), default=0)
    chunk_means: list[float] = []
    scales: list[float | None] = []
    # Each feature's chunk distances are computed once per reference (and shared with its own checks).
    per_chunk = {
        f: chunk_values(normalised_wasserstein if reference[f].whole.kind == "numeric" else total_variation, reference[f])
        for f in per_feature
    }
    for i in range(n_chunks):
        dists = [d for d in (per_chunk[f][i] for f in per_feature) if d is not None]
        if dists:
            chunk_means.append(float(np.mean(dists)))
            f0 = next(iter(per_feature))
            scales.append(size_scale(current[f0].valid, reference[f0].chunks[i].valid, reference[f0].whole.valid))
    budget = float(params["false_alarm_budget"])
    # Sampling-noise floor of a mean of p distances: each has mean ~W_NULL_MEAN and sd
    # ~W_NULL_SD in units of sqrt(1/n + 1/N); averaging p of them shrinks only the sd.
    n = int(np.median([current[f].valid for f in per_feature]))
    big_n = int(np.median([reference[f].whole.valid for f in per_feature]))
    unit = float(np.sqrt(1 / max(n, 1) + 1 / max(big_n, 1)))
    floor = (W_NULL_MEAN + z_upper(budget) * W_NULL_SD / np.sqrt(len(per_feature))) * unit
    bounds = upper_bounds(rescale(chunk_means, scales, 0.5), budget, float(params["min_effect"]),
                          float(params["margin"]), floor)
    status = bounds.grade(value)
    top = sorted(per_feature.items(), key=lambda kv: -kv[1])[:3]
    top_text = ", ".join(f"{f} {d:.3f}" for f, d in top)
    sentence = {
        "ok": f"Across {len(per_feature)} features the mean drift is {value:.3f}, within {bounds.warn:.3f}.",
        "warn": f"The features moved together a little: mean drift {value:.3f} over {len(per_feature)} features (largest: {top_text}).",
        "fail": f"The input population shifted: mean drift {value:.3f} over {len(per_feature)} features is above {bounds.fail:.3f} (largest: {top_text}).",
    }[status]
    return result(name, FAMILY, subject, batch, status, sentence, params, value=value, lower=0.0, upper=bounds.fail,
                  evidence={"per_feature": per_feature, "features": len(per_feature), **bounds.evidence()})
