"""Calibrated bounds for a performance metric (realized or estimated), like the drift bounds.

The tolerance for a drop below the expected value is the larger of
- the metric's spread over reference chunks, rescaled to the batch's size
  (sd_chunks * sqrt(chunk_rows / rows): a metric's sampling sd falls as 1 / sqrt(n)), and
- the live metric's own sampling error (Hanley-McNeil for AUC, the binomial error of a
  proportion, the influence-function error of the CBPE estimate), combined with the error
  of the expected value when that was measured on a sample too,
times the standard normal quantile of the check's tail (one-sided: only a drop pages), and
never below the configured minimum effect (``min_effect``, a floor in the metric's units,
configurable per check), so a huge batch does not page on an immaterial dip. The tail is the
check's share of the model's false-alarm budget for the batch (checks.performance.family:
the runner passes it as ``fail_tail``); a check called alone uses the whole budget.
A warning needs z at five times the budget (at most 25%) and half the minimum effect: a
warning does not page, so it stays on the budget itself, not on the share.

The p-value of a drop ``d`` is ``P(Z > d / sigma)``: the check fails exactly when that
p-value is below its tail and the drop exceeds the minimum effect.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from scipy.special import ndtr

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
    tail: float = 0.0  # the one-sided tail the fail tolerance is built on

    def pvalue(self, worse_by: float) -> float:
        return drop_pvalue(worse_by, self.sigma)

    def grade(self, worse_by: float) -> Status:
        if worse_by > self.fail_tolerance:
            return "fail"
        if worse_by > self.warn_tolerance:
            return "warn"
        return "ok"

    def evidence(self) -> dict[str, Any]:
        return {"sigma": self.sigma, "chunk_spread_at_batch_size": self.spread, "own_sampling_error": self.own_error,
                "warn_tolerance": self.warn_tolerance, "fail_tolerance": self.fail_tolerance,
                "min_effect": self.min_effect, "tail": self.tail,
                "calibration": "max(reference-chunk spread at batch size, own sampling error) x z(tail), "
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


def drop_pvalue(worse_by: float, sigma: float) -> float:
    """One-sided p-value of a drop of ``worse_by`` at noise ``sigma`` (0 or 1 without noise)."""
    if not math.isfinite(worse_by):
        return 1.0
    if not (math.isfinite(sigma) and sigma > 0):
        return 0.0 if worse_by > 0 else 1.0
    return float(ndtr(-worse_by / sigma))


def fail_tail(params: dict[str, Any]) -> float:
    """The check's one-sided tail: its share of the family budget when the runner set one."""
    tail = params.get("fail_tail")
    return float(tail) if tail is not None else float(params["false_alarm_budget"])


def drop_bounds(own_error: float, spread: float, budget: float, min_effect: float,
                tail: float | None = None) -> DropBounds:
    """Bounds at ``tail`` (default: the whole budget); the warning stays at the budget."""
    if not 0 < budget < 0.5:
        raise ValueError(f"false-alarm budget must be in (0, 0.5), got {budget} (hint: checks.false_alarm_budget)")
    tail = budget if tail is None else tail
    if not 0 < tail < 0.5:
        raise ValueError(f"a check's tail must be in (0, 0.5), got {tail} (hint: checks.false_alarm_budget)")
    own = float(own_error) if math.isfinite(own_error) and own_error > 0 else 0.0
    sigma = max(own, spread)
    fail = max(z_upper(tail) * sigma, min_effect)
    warn = min(fail, max(z_upper(min(0.25, 5 * budget)) * sigma, min_effect / 2))
    return DropBounds(sigma=sigma, spread=spread, own_error=own, warn_tolerance=warn, fail_tolerance=fail,
                      min_effect=min_effect, tail=tail)
