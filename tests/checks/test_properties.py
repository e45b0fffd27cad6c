"""Property-based tests (hypothesis) for the statistics-based checks."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checks.registry import CHECKS
from checks.unit_change.conversions import CONVERSIONS
from tests.checks.stats_factory import numeric_reference, numeric_stats

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DRIFT = ("psi", "jensen_shannon", "wasserstein", "ks")
shapes = st.sampled_from(["normal", "lognormal", "uniform", "exponential"])


def _sample(shape: str, seed: int, loc: float, scale: float, n: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = {
        "normal": lambda: rng.normal(0, 1, n),
        "lognormal": lambda: rng.lognormal(0, 0.5, n),
        "uniform": lambda: rng.uniform(-1, 1, n),
        "exponential": lambda: rng.exponential(1, n),
    }[shape]()
    return loc + scale * base


@SETTINGS
@given(shape=shapes, seed=st.integers(0, 10_000), loc=st.floats(-1000, 1000), scale=st.floats(0.01, 1000),
       n=st.integers(2000, 6000))
def test_drift_of_a_sample_against_itself_is_zero_and_within_bounds(shape, seed, loc, scale, n):
    values = _sample(shape, seed, loc, scale, n)
    ref = numeric_reference(values, n // 10)
    same = numeric_stats(values, ref.whole.bin_edges)
    for name in DRIFT:
        res = CHECKS[name].fn(ref, same, CHECKS[name].params)
        assert res.status == "ok", (name, res.explanation)
        assert abs(res.value) < 1e-6, (name, res.value)
        assert res.value <= res.upper
    res = CHECKS["unit_change"].fn(ref, same, CHECKS["unit_change"].params)
    assert res.status == "ok"


POWERS = [c for c in CONVERSIONS if c.kind == "power_of_ten" and abs(np.log10(c.factor)) <= 4]


@SETTINGS
@given(shape=shapes, seed=st.integers(0, 10_000), loc=st.floats(-5, 50), scale=st.floats(0.5, 20),
       conversion=st.sampled_from(POWERS))
def test_scaling_by_a_unit_factor_is_detected_with_that_factor(shape, seed, loc, scale, conversion):
    values = _sample(shape, seed, loc, scale, 8000)
    ref = numeric_reference(values[:6000], 600)
    cur = numeric_stats(values[6000:] * conversion.factor, ref.whole.bin_edges)
    res = CHECKS["unit_change"].fn(ref, cur, CHECKS["unit_change"].params)
    assert res.status == "fail", res.explanation
    assert res.evidence["conversion"] == conversion.name
    assert res.value == conversion.factor
    assert np.isclose(res.evidence["estimated_factor"], conversion.factor, rtol=0.15)


@SETTINGS
@given(shape=shapes, seed=st.integers(0, 10_000), shift=st.floats(0, 1.0), perm_seed=st.integers(0, 1000))
def test_row_order_changes_nothing(shape, seed, shift, perm_seed):
    values = _sample(shape, seed, 10.0, 2.0, 5000)
    ref = numeric_reference(values[:4000], 400)
    batch = values[4000:] + shift
    permuted = np.random.default_rng(perm_seed).permutation(batch)
    a = numeric_stats(batch, ref.whole.bin_edges)
    b = numeric_stats(permuted, ref.whole.bin_edges)
    for name in (*DRIFT, "unit_change", "null_rate", "nan_inf"):
        spec = CHECKS[name]
        ra, rb = spec.fn(ref, a, spec.params), spec.fn(ref, b, spec.params)
        # Same verdict and sentence; numbers equal up to floating-point summation order (mean, std).
        assert (ra.status, ra.explanation, ra.severity) == (rb.status, rb.explanation, rb.severity)
        for x, y in ((ra.value, rb.value), (ra.lower, rb.lower), (ra.upper, rb.upper)):
            assert (x is None and y is None) or np.isclose(x, y, rtol=1e-9, atol=1e-12)
        assert set(ra.evidence) == set(rb.evidence)


@SETTINGS
@given(ref_counts=st.lists(st.integers(0, 5000), min_size=2, max_size=12),
       cur_counts=st.lists(st.integers(0, 5000), min_size=2, max_size=12))
def test_psi_of_counts_is_finite_non_negative_and_ignores_bins_empty_on_both_sides(ref_counts, cur_counts):
    from checks.distributions import psi_from_counts

    k = min(len(ref_counts), len(cur_counts))
    r, c = np.asarray(ref_counts[:k], float), np.asarray(cur_counts[:k], float)
    if r.sum() == 0 or c.sum() == 0:
        return
    value = psi_from_counts(r, c)
    assert np.isfinite(value) and value >= -1e-12
    assert psi_from_counts(r, r) == 0.0
    # A bin empty in both samples adds nothing; scaling both samples changes nothing when no bin is empty.
    assert psi_from_counts(np.append(r, 0), np.append(c, 0)) == value
    if (r > 0).all() and (c > 0).all():
        assert abs(psi_from_counts(3 * r, 7 * c) - value) < 1e-9
    # An empty batch bin counts half a row of the batch: the value is what the textbook formula
    # gives with that share, whatever the batch size.
    empty = (c == 0) & (r > 0)
    if empty.any():
        rs, cs = r / r.sum(), c / c.sum()
        cs = np.where(empty, 0.5 / c.sum(), cs)
        rs = np.where(r == 0, 0.5 / r.sum(), rs)
        keep = (r > 0) | (c > 0)
        assert abs(value - float(np.sum(((rs - cs) * np.log(rs / cs))[keep]))) < 1e-9
