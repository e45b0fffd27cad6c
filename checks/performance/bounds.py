"""Calibrated bounds for a performance metric (realized or estimated), like the drift bounds.

The tolerance for a drop below the expected value is the larger of
- the metric's spread over reference chunks, rescaled to the batch's size
  (sd_chunks * sqrt(chunk_rows / rows): a metric's sampling sd falls as 1 / sqrt(n)), and
- the live metric's own sampling error (Hanley-McNeil for AUC, the binomial error of a
  proportion, the influence-function error of the CBPE estimate), combined with the error
  of the expected value when that was measured on a sample too,
times the standard normal quantile of the false-alarm budget (one-sided: only a drop
pages), and never below the configured minimum effect (``min_effect``, a floor in the
metric's units, configurable per check), so a huge batch does not page on an immaterial dip.
A warning needs z at five times the budget (at most 25%) and half the minimum effect.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from checks.calibration import z_upper
from checks.result import Status


@dataclass(frozen=True)
class DropBounds:
    sigma: float  # the noise scale the tolerance is built on
    spread: float  # reference-chunk spread at this batch's size (0 when unknown)
    own_error: float  # the live metric's own sampling error (with the expectation's)
    warn_tolerance: float
    fail_tolerance: float
    min_effect: float

    def grade(self, worse_by: float) -> Status:
        if worse_by > self.fail_tolerance:
            return "fail"
        if worse_by > self.warn_tolerance:
            return "warn"
        return "ok"

    def evidence(self) -> dict[str, Any]:
        return {"sigma": self.sigma, "chunk_spread_at_batch_size": self.spread, "own_sampling_error": self.own_error,
                "warn_tolerance": self.warn_tolerance, "fail_tolerance": self.fail_tolerance,
                "min_effect": self.min_effect,
                "calibration": "max(reference-chunk spread at batch size, own sampling error) x z(budget), "
                               "floored at min_effect"}


def chunk_spread(chunk_sd: Any, chunk_rows: Any, rows: int) -> float:
    """The reference-chunk sd rescaled from chunk_rows to rows (0 when either is unknown)."""
    try:
        sd, n0 = float(chunk_sd), float(chunk_rows)
    except (TypeError, ValueError):
        return 0.0
    if not (math.isfinite(sd) and sd > 0 and n0 > 0 and rows > 0):
        return 0.0
    return sd * math.sqrt(n0 / rows)


def drop_bounds(own_error: float, spread: float, budget: float, min_effect: float) -> DropBounds:
    if not 0 < budget < 0.5:
        raise ValueError(f"false-alarm budget must be in (0, 0.5), got {budget} (hint: checks.false_alarm_budget)")
    own = float(own_error) if math.isfinite(own_error) and own_error > 0 else 0.0
    sigma = max(own, spread)
    fail = max(z_upper(budget) * sigma, min_effect)
    warn = min(fail, max(z_upper(min(0.25, 5 * budget)) * sigma, min_effect / 2))
    return DropBounds(sigma=sigma, spread=spread, own_error=own, warn_tolerance=warn, fail_tolerance=fail,
                      min_effect=min_effect)
