"""Calibrated bounds: from the spread of a metric over reference chunks, not from p-values.

Each reference chunk (a batch-sized slice of the reference) is compared with the whole
reference with the same metric. Those values show how much the metric moves when nothing
changed. The warning bound is a high quantile of that spread at the configured
false-alarm budget; the failure bound adds a margin. Neither is ever below the configured
minimum effect size (half of it for warnings), so a very large batch, whose sampling
noise is tiny, does not fire on an immaterial shift.

Chunk values are rescaled to the current batch size: a chunk is part of the whole
reference, so its sampling variance against it is proportional to (1/n_chunk - 1/N),
while an independent batch of n rows has (1/n + 1/N).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.stats import norm

from checks.result import Status


@lru_cache(maxsize=256)
def z_upper(tail: float) -> float:
    """Standard normal quantile of 1 - tail (cached: the same budgets come back all the time)."""
    return float(norm.ppf(1.0 - tail))


@dataclass(frozen=True)
class Bounds:
    warn: float
    fail: float
    method: str
    chunk_values: tuple[float, ...] = ()

    def grade(self, value: float) -> Status:
        if value > self.fail:
            return "fail"
        if value > self.warn:
            return "warn"
        return "ok"

    def evidence(self) -> dict[str, object]:
        vals = self.chunk_values
        return {
            "warn_upper": self.warn,
            "fail_upper": self.fail,
            "calibration": self.method,
            "reference_chunks": len(vals),
            "chunk_metric_max": max(vals) if vals else None,
            "chunk_metric_mean": float(np.mean(vals)) if vals else None,
        }


def size_scale(n_current: int, n_chunk: int, n_reference: int) -> float | None:
    """Variance ratio of 'batch of n vs reference' to 'chunk (inside the reference) vs reference'."""
    if n_current <= 0 or n_chunk <= 0 or n_reference <= 0 or n_chunk >= n_reference:
        return None
    denom = 1.0 / n_chunk - 1.0 / n_reference
    if denom <= 0:
        return None
    return (1.0 / n_current + 1.0 / n_reference) / denom


def rescale(values: Sequence[float], scales: Sequence[float | None], exponent: float) -> list[float]:
    """Chunk metric values rescaled to the current batch size (exponent 1 for PSI-like, 0.5 for distances)."""
    out = []
    for v, s in zip(values, scales, strict=True):
        if s is not None and math.isfinite(v):
            out.append(float(v) * s**exponent)
    return out


def upper_bounds(
    chunk_values: Sequence[float],
    budget: float,
    min_effect: float,
    margin: float = 1.5,
    noise_floor: float = 0.0,
) -> Bounds:
    """Warn / fail upper bounds for a metric where larger means more change.

    warn = max(spread bound, noise floor, min_effect / 2)
    fail = max(margin * max(spread bound, noise floor), min_effect)
    where spread bound = max(mean + z * sd, (1 - budget) quantile) over the chunk values
    and z is the standard normal quantile of 1 - budget.
    """
    if not 0 < budget < 0.5:
        raise ValueError(f"false-alarm budget must be in (0, 0.5), got {budget} (hint: checks.false_alarm_budget)")
    vals = [float(v) for v in chunk_values if math.isfinite(v)]
    if len(vals) >= 2:
        z = z_upper(budget)
        arr = np.asarray(vals)
        spread = max(float(arr.mean() + z * arr.std(ddof=1)), float(np.quantile(arr, 1.0 - budget)))
        method = f"{len(vals)} reference chunks, mean + {z:.2f} sd"
    else:
        spread = 0.0
        method = "no reference chunks: sampling-noise floor and minimum effect only"
    base = max(spread, noise_floor)
    warn = max(base, min_effect / 2.0)
    fail = max(margin * base, min_effect)
    return Bounds(warn=warn, fail=max(fail, warn), method=method, chunk_values=tuple(vals))


def rate_upper_bounds(
    reference_rate: float,
    n_current: int,
    budget: float,
    min_effect: float,
    chunk_rates: Sequence[float] = (),
    margin: float = 1.5,
) -> Bounds:
    """Bounds on a rate (nulls, NaN) that should not rise: reference rate plus calibrated noise."""
    p = min(max(reference_rate, 1.0 / max(n_current, 1)), 1.0)
    z = z_upper(budget)
    se_binomial = math.sqrt(p * (1 - p) / max(n_current, 1))
    se_chunks = float(np.std(chunk_rates, ddof=1)) if len(chunk_rates) >= 2 else 0.0
    noise = z * max(se_binomial, se_chunks)
    warn = reference_rate + max(noise, min_effect / 2.0)
    fail = reference_rate + max(margin * noise, min_effect)
    method = f"reference rate + max({z:.2f} se, minimum effect)"
    return Bounds(warn=warn, fail=fail, method=method, chunk_values=tuple(float(r) for r in chunk_rates))
