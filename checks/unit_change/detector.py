"""Detect and name a unit change from quantiles of the current batch against the reference.

A unit change maps every value through the same affine function y = a x + b. So the
current quantiles are that function of the reference quantiles. For each known
conversion we measure how far the current quantiles are from the converted reference
quantiles, relative to the converted spread; we also measure the distance with no
conversion at all. A conversion is reported only when it explains the batch far better
than "no change" and fits closely in absolute terms. Ordinary drift (a shift of a
fraction of a standard deviation, a 1.3x wider spread) is explained about as well by
"no change" as by any named factor, so it does not fire.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np

from checks.distributions import spread
from checks.result import CheckResult
from checks.spec import Family
from checks.unit_change.conversions import UnitConversion, candidates
from checks.verdict import result, skipped
from profilers.stats_types import QUANTILES, ColumnStats, ReferenceStats

FAMILY = Family.UNIT_CHANGE
# Interior quantiles only: robust to a handful of outliers at the tails.
FIT_QUANTILES: tuple[float, ...] = tuple(q for q in QUANTILES if 0.05 <= q <= 0.95)


@dataclass(frozen=True)
class UnitChangeFinding:
    conversion: UnitConversion | None  # best named conversion, None when none qualifies
    error_unchanged: float  # mean |cur - ref| of quantiles, in reference spreads
    error_converted: float  # mean |cur - converted ref|, in converted spreads
    factor: float  # robust (Theil-Sen) fit of cur = factor * ref + offset
    offset: float
    confidence: float


def _pairs(reference: ColumnStats, current: ColumnStats) -> tuple[np.ndarray, np.ndarray]:
    ref = np.asarray([reference.quantiles.get(q, math.nan) for q in FIT_QUANTILES], dtype=float)
    cur = np.asarray([current.quantiles.get(q, math.nan) for q in FIT_QUANTILES], dtype=float)
    keep = np.isfinite(ref) & np.isfinite(cur)
    return ref[keep], cur[keep]


def theil_sen(ref: np.ndarray, cur: np.ndarray) -> tuple[float, float]:
    """Median of pairwise slopes; offset is the median residual. Robust to a few bad quantiles."""
    slopes = [(cur[j] - cur[i]) / (ref[j] - ref[i]) for i, j in combinations(range(len(ref)), 2) if ref[j] != ref[i]]
    factor = float(np.median(slopes)) if slopes else 1.0
    offset = float(np.median(cur - factor * ref))
    return factor, offset


def find_unit_change(
    reference: ColumnStats, current: ColumnStats, unit: str | None, tolerance: float, ratio: float, min_change: float
) -> UnitChangeFinding:
    ref, cur = _pairs(reference, current)
    if ref.size < 3:
        raise ValueError(f"{current.subject}: need at least 3 quantiles in both reference and batch statistics")
    scale = spread(reference)
    err0 = float(np.mean(np.abs(cur - ref))) / scale
    best: UnitConversion | None = None
    best_err = math.inf
    for conv in candidates(unit):
        err = float(np.mean(np.abs(cur - (conv.factor * ref + conv.offset)))) / (abs(conv.factor) * scale)
        if err < best_err:
            best, best_err = conv, err
    factor, offset = theil_sen(ref, cur)
    qualifies = best is not None and err0 >= min_change and best_err <= tolerance and best_err <= ratio * err0
    confidence = 0.0
    if qualifies:
        confidence = max(0.0, min(1.0, (1 - best_err / err0) * (1 - 0.5 * best_err / tolerance)))
    return UnitChangeFinding(best if qualifies else None, err0, best_err, factor, offset, confidence)


def unit_change(reference: ReferenceStats | None, current: ColumnStats, params: dict[str, Any]) -> CheckResult:
    """Did this numeric column change unit? Names the conversion, its factor / offset and a confidence."""
    name, subject, batch = "unit_change", current.subject, current.batch
    if reference is None:
        return skipped(name, FAMILY, subject, batch, "no reference statistics for this column")
    min_rows = int(params["min_rows"])
    if current.valid < min_rows:
        return skipped(name, FAMILY, subject, batch, f"only {current.valid} valid values (need {min_rows})")
    if reference.whole.valid < min_rows:
        return skipped(name, FAMILY, subject, batch, f"the reference has only {reference.whole.valid} valid values")
    unit = params.get("unit")
    f = find_unit_change(reference.whole, current, unit, float(params["tolerance"]), float(params["ratio"]),
                         float(params["min_change"]))
    evidence: dict[str, Any] = {
        "unit": unit,
        "estimated_factor": f.factor,
        "estimated_offset": f.offset,
        "error_unchanged": f.error_unchanged,
        "error_converted": f.error_converted,
        "confidence": f.confidence,
        "reference_quantiles": {str(q): reference.whole.quantiles.get(q) for q in FIT_QUANTILES},
        "current_quantiles": {str(q): current.quantiles.get(q) for q in FIT_QUANTILES},
    }
    if f.conversion is not None:
        conv = f.conversion
        evidence.update({"conversion": conv.name, "conversion_kind": conv.kind, "factor": conv.factor,
                         "offset": conv.offset})
        how = f"factor {f.factor:.4g}" + (f", offset {f.offset:.4g}" if conv.offset else "")
        sentence = (f"{subject} changed unit: {conv.name} (estimated {how}, confidence {f.confidence:.2f}); "
                    f"the values are the reference's converted, not a real shift.")
        return result(name, FAMILY, subject, batch, "fail", sentence, params, value=conv.factor, lower=1.0,
                      upper=1.0, evidence=evidence)
    far = abs(math.log(abs(f.factor))) if f.factor not in (0.0,) and math.isfinite(f.factor) else 0.0
    if f.error_unchanged >= float(params["min_change"]) and far >= math.log(float(params["unknown_factor"])):
        sentence = (f"{subject} was rescaled by about x{f.factor:.3g} (offset {f.offset:.3g}), "
                    f"which is not a known unit conversion: check the upstream definition.")
        return result(name, FAMILY, subject, batch, "warn", sentence, params, value=f.factor, lower=1.0, upper=1.0,
                      evidence=evidence)
    sentence = f"No unit change in {subject} (quantiles fit the reference scale; estimated factor {f.factor:.3g})."
    return result(name, FAMILY, subject, batch, "ok", sentence, params, value=1.0, lower=1.0, upper=1.0,
                  evidence=evidence)
