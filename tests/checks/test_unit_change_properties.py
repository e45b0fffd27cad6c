"""Unit changes from the shape of the change (issue 11), as properties over many shapes.

Every catalogue conversion (and its inverse) applied to any shape - normal, lognormal,
uniform, bimodal, integer counts, zero-inflated, zero-centred - is found and named with its
factor within 2%. Random non-unit changes of the same shapes - a location shift, a spread
change on a column away from zero, a mixture, a tail change, a truncation - are never a
unit change.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checks.registry import CHECKS
from checks.unit_change.conversions import AFFINE, MULTIPLICATIVE
from checks.unit_change.detector import unit_change
from tests.checks.stats_factory import numeric_reference, numeric_stats

PARAMS = CHECKS["unit_change"].params
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
REF_ROWS, CHUNK_ROWS, BATCH_ROWS = 20_000, 2_000, 2_000


def sample(shape: str, rng: np.random.Generator, n: int) -> np.ndarray:
    if shape == "normal":
        return rng.normal(50, 8, n)
    if shape == "lognormal":
        return rng.lognormal(3, 0.6, n)
    if shape == "uniform":
        return rng.uniform(5, 25, n)
    if shape == "bimodal":
        return np.where(rng.random(n) < 0.4, rng.normal(20, 3, n), rng.normal(60, 5, n))
    if shape == "counts":
        return rng.poisson(6, n).astype(float)
    if shape == "zero_inflated":
        return np.where(rng.random(n) < 0.6, 0.0, rng.lognormal(2, 0.5, n))
    if shape == "zero_centred":
        return rng.normal(0, 2, n)
    raise ValueError(shape)


SHAPES = ("normal", "lognormal", "uniform", "bimodal", "counts", "zero_inflated", "zero_centred")
AWAY_FROM_ZERO = tuple(s for s in SHAPES if s != "zero_centred")


def check(shape: str, seed: int, change) -> dict:
    rng = np.random.default_rng(seed)
    ref = numeric_reference(sample(shape, rng, REF_ROWS), CHUNK_ROWS)
    batch = change(sample(shape, rng, BATCH_ROWS), rng)
    res = unit_change(ref, numeric_stats(batch, ref.whole.bin_edges), PARAMS)
    return {"status": res.status, "evidence": res.evidence, "explanation": res.explanation}


@SETTINGS
@given(shape=st.sampled_from(SHAPES), conversion=st.sampled_from(MULTIPLICATIVE), seed=st.integers(0, 10_000))
def test_every_catalogue_factor_is_found_within_two_percent_on_every_shape(shape, conversion, seed):
    res = check(shape, seed, lambda x, rng: x * conversion.factor)
    assert res["status"] == "fail", (shape, conversion.name, res["explanation"])
    assert abs(res["evidence"]["factor"] / conversion.factor - 1) < 0.02, (shape, conversion.name, res["evidence"])
    assert res["evidence"]["conversion"] is not None


@SETTINGS
@given(shape=st.sampled_from(SHAPES), conversion=st.sampled_from(AFFINE), seed=st.integers(0, 10_000))
def test_exact_temperature_conversions_are_named_with_their_offset(shape, conversion, seed):
    res = check(shape, seed, lambda x, rng: conversion.factor * x + conversion.offset)
    assert res["status"] == "fail", (shape, conversion.name, res["explanation"])
    assert res["evidence"]["offset"] == conversion.offset and res["evidence"]["factor"] == conversion.factor


def _shift(sd_units: float):
    def change(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        d = sd_units * x.std()
        return x + (max(1.0, round(d)) * np.sign(d) if np.all(x == np.round(x)) else d)
    return change


def _mixture(share: float, sd_units: float):
    def change(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return np.where(rng.random(len(x)) < share, x + sd_units * x.std(), x)
    return change


def _tail(share: float, sd_units: float):
    def change(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return np.where(x > np.quantile(x, 1 - share), x + sd_units * x.std(), x)
    return change


def _truncate(q: float):
    def change(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return np.minimum(x, np.quantile(x, q))
    return change


def _spread(factor: float):
    def change(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        m = x.mean()
        return m + factor * (x - m)
    return change


NON_UNIT = st.one_of(
    st.builds(_shift, st.sampled_from([-1, 1]).flatmap(lambda s: st.floats(0.5, 3.0).map(lambda v: s * v))),
    st.builds(_mixture, st.floats(0.2, 0.4), st.floats(1.5, 3.0)),
    st.builds(_tail, st.floats(0.05, 0.1), st.floats(2.0, 4.0)),
    st.builds(_truncate, st.floats(0.7, 0.9)),
)


@SETTINGS
@given(shape=st.sampled_from(SHAPES), change=NON_UNIT, seed=st.integers(0, 10_000))
def test_a_shift_mixture_tail_change_or_truncation_is_never_a_unit_change(shape, change, seed):
    res = check(shape, seed, change)
    assert res["status"] != "fail", (shape, res["explanation"])


@SETTINGS
@given(shape=st.sampled_from(AWAY_FROM_ZERO), factor=st.one_of(st.floats(0.5, 0.8), st.floats(1.25, 2.0)),
       seed=st.integers(0, 10_000))
def test_a_spread_change_on_a_column_away_from_zero_is_never_a_unit_change(shape, factor, seed):
    res = check(shape, seed, lambda x, rng: _spread(factor)(x, rng))
    assert res["status"] != "fail", (shape, factor, res["explanation"])


@SETTINGS
@given(shape=st.sampled_from(SHAPES), seed=st.integers(0, 10_000))
def test_a_clean_batch_is_no_unit_change(shape, seed):
    res = check(shape, seed, lambda x, rng: x)
    assert res["status"] == "ok", (shape, res["explanation"])


# Data seeds (found by a direct sweep over 400) where the batch's share of zeros swung by 1-2
# points from the reference's: every non-zero quantile moved rank the same way, and comparing
# quantiles at the same rank named the conversion 15% away (x2.54 as x2.2046, x0.4536 as x0.3937).
ZERO_SWINGS = [(304, 2.54), (304, 0.45359237), (339, 1 / 2.54), (339, 2.20462262), (358, 1 / 2.54),
               (358, 2.20462262)]


@pytest.mark.parametrize(("seed", "factor"), ZERO_SWINGS)
def test_a_zero_inflated_column_names_its_factor_when_its_share_of_zeros_swings(seed, factor):
    conversion = next(c for c in MULTIPLICATIVE if c.factor == factor)
    res = check("zero_inflated", seed, lambda x, rng: x * conversion.factor)
    assert res["status"] == "fail", res["explanation"]
    assert res["evidence"]["conversion"] == conversion.name, res["evidence"]


def _gamma_with_zeros(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.where(rng.random(n) < 0.15, 0.0, rng.gamma(2.0, 5.0, n))


# Data seeds (found by a direct sweep) where a mixture - 35% of the rows, zeros included, moved
# up by 2 sd - on a gamma column with 15% zeros reads as mile -> km (x1.609): its non-zero part
# looks stretched within noise at every stored quantile, and the share of zeros fell from 15% to
# about 10%, between the 10% and 25% quantiles, which stay 0 and positive. A rescale keeps zeros
# at zero: the share moved by 6-6.6 binomial sds.
ZERO_MIXTURES = [8, 12, 14, 24]


@pytest.mark.parametrize("seed", ZERO_MIXTURES)
def test_a_mixture_that_moves_the_zeros_of_a_zero_inflated_column_is_not_a_unit_change(seed):
    rng = np.random.default_rng(seed)
    ref = numeric_reference(_gamma_with_zeros(rng, REF_ROWS), CHUNK_ROWS)
    x = _gamma_with_zeros(rng, BATCH_ROWS)
    batch = np.where(rng.random(len(x)) < 0.35, x + 2.0 * x.std(), x)
    res = unit_change(ref, numeric_stats(batch, ref.whole.bin_edges), PARAMS)
    assert res.status == "ok", res.explanation
    assert res.evidence["zero_share_z"] > 5, res.evidence


def _tail_change(x: np.ndarray) -> np.ndarray:
    return np.where(x > np.quantile(x, 0.92), x + 3.0 * x.std(), x)


def _truncation(x: np.ndarray) -> np.ndarray:
    return np.minimum(x, np.quantile(x, 0.85))


# Data seeds (found by a direct sweep) where a tail change or a truncation of a gamma column with
# 75% zeros (about 500 non-zero rows a batch) fit a catalogue conversion on the plain quantiles -
# three of the nine are 0, and the rank noise of the rest is wide - but not on the non-zero part
# at matched levels. Not a property: at these settings a sixth to a quarter of seeds still fit
# both (a caveat in the runbook).
SPARSE_CHANGES = [(_tail_change, 1), (_tail_change, 2), (_tail_change, 10), (_truncation, 4), (_truncation, 8),
                  (_truncation, 25)]


@pytest.mark.parametrize(("change", "seed"), SPARSE_CHANGES)
def test_a_conversion_must_fit_the_non_zero_part_of_a_mostly_zero_column(change, seed):
    rng = np.random.default_rng(seed)
    zeros = 0.75

    def draw(n: int) -> np.ndarray:
        return np.where(rng.random(n) < zeros, 0.0, rng.gamma(2.0, 5.0, n))

    ref = numeric_reference(draw(REF_ROWS), CHUNK_ROWS)
    batch = change(draw(BATCH_ROWS))
    res = unit_change(ref, numeric_stats(batch, ref.whole.bin_edges), PARAMS)
    assert res.status == "ok", res.explanation
