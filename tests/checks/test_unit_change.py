"""Unit change: names the conversion, and stays quiet on ordinary drift of the same unit."""

from __future__ import annotations

import numpy as np
import pytest

from checks.registry import CHECKS
from checks.unit_change.detector import unit_change
from tests.checks.stats_factory import numeric_reference, numeric_stats

PARAMS = CHECKS["unit_change"].params


def _populations(rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {
        "income": rng.lognormal(11, 0.5, 20000),
        "standard_normal": rng.normal(0, 1, 20000),
        "temperature_c": rng.normal(20, 5, 20000),
        "interest_rate": rng.uniform(5, 25, 20000),
        "term_months": rng.choice([36.0, 60.0], 20000, p=[0.7, 0.3]),
    }


def _check(ref: np.ndarray, cur: np.ndarray, unit: str | None = None):
    reference = numeric_reference(ref, 1000)
    return unit_change(reference, numeric_stats(cur, reference.whole.bin_edges), {**PARAMS, "unit": unit})


CONVERSIONS = [
    (lambda x: x * 1000, None, "x1000", 1000.0),
    (lambda x: x / 1000, None, "x0.001", 0.001),
    (lambda x: x * 100, None, "x100", 100.0),
    (lambda x: x / 100, None, "x0.01", 0.01),
    (lambda x: x / 100, "percent", "percent -> fraction", 0.01),
    (lambda x: x * 100, "fraction", "fraction -> percent", 100.0),
    (lambda x: x / 2.54, "cm", "cm -> inch (x0.3937)", 1 / 2.54),
    (lambda x: x * 2.20462262, "kg", "kg -> lb (x2.2046)", 2.20462262),
    (lambda x: x * 0.621371192, "km", "km -> mile (x0.6214)", 1 / 1.609344),
    (lambda x: x * 1.8 + 32, "celsius", "C -> F", 1.8),
    (lambda x: (x - 32) * 5 / 9, "fahrenheit", "F -> C", 5 / 9),
]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(("convert", "unit", "name", "factor"), CONVERSIONS, ids=[c[2] for c in CONVERSIONS])
def test_named_conversions_are_detected_with_their_factor(seed, convert, unit, name, factor):
    rng = np.random.default_rng(seed)
    for label, ref in _populations(rng).items():
        if name.startswith("km -> mile") and label == "standard_normal":
            continue  # a zero-centred column narrowed by 0.62 is indistinguishable from drift
        cur = convert(rng.choice(ref, 1500))
        res = _check(ref, cur, unit)
        assert res.status == "fail", (label, res.explanation)
        assert res.evidence["conversion"] == name, (label, res.evidence)
        assert res.value == pytest.approx(factor)
        assert res.evidence["estimated_factor"] == pytest.approx(factor, rel=0.1)
        assert res.evidence["clean_rescale"] is True
        assert res.severity == "critical"
        assert name in res.explanation


def test_celsius_to_fahrenheit_reports_the_offset():
    rng = np.random.default_rng(5)
    ref = rng.normal(15, 8, 20000)
    res = _check(ref, rng.choice(ref, 2000) * 1.8 + 32, "C")
    assert res.evidence["conversion"] == "C -> F"
    assert res.evidence["estimated_offset"] == pytest.approx(32, abs=2.0)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize(("shift_sd", "widen"), [(0.3, 1.0), (0.6, 1.0), (1.0, 1.0), (0.0, 1.3), (0.5, 1.3), (0.0, 0.8)])
def test_ordinary_drift_of_the_same_unit_does_not_fire(seed, shift_sd, widen):
    rng = np.random.default_rng(seed)
    for label, ref in _populations(rng).items():
        sample = rng.choice(ref, 1500)
        cur = (sample - ref.mean()) * widen + ref.mean() + shift_sd * ref.std()
        for unit in (None, "percent"):
            res = _check(ref, cur, unit)
            assert res.status in ("ok", "warn"), (label, shift_sd, widen, unit, res.explanation)
            assert res.status != "fail"


def test_same_distribution_is_ok():
    rng = np.random.default_rng(9)
    ref = rng.lognormal(11, 0.5, 20000)
    res = _check(ref, rng.choice(ref, 1000), "USD/year")
    assert res.status == "ok"
    assert "No unit change" in res.explanation


def test_an_unknown_clean_rescale_far_from_one_pages_without_naming_a_unit():
    # Issue 11 changed this from a warning: a clean factor outside [1/3, 3] on a column away
    # from zero pages as "rescaled by x3.6" (it is not in the catalogue).
    rng = np.random.default_rng(3)
    ref = rng.lognormal(3, 0.4, 20000)
    res = _check(ref, rng.choice(ref, 1500) * 3.6, "km/h")
    assert res.status == "fail"
    assert "rescaled by x3.6" in res.explanation and "not in the catalogue" in res.explanation
    assert res.evidence["conversion"] is None
    assert res.evidence["estimated_factor"] == pytest.approx(3.6, rel=0.05)
    # The same factor on a zero-centred column is drift, and so is a clean x1.4 anywhere.
    zero = rng.normal(0, 1, 20000)
    assert _check(zero, rng.choice(zero, 1500) * 3.6).status == "ok"
    assert _check(ref, rng.choice(ref, 1500) * 1.4).status == "ok"


def test_skipped_without_reference_or_rows():
    rng = np.random.default_rng(1)
    ref = numeric_reference(rng.normal(size=5000), 500)
    few = numeric_stats(rng.normal(size=5), ref.whole.bin_edges)
    assert unit_change(None, few, PARAMS).status == "skipped"
    res = unit_change(ref, few, PARAMS)
    assert res.status == "skipped" and "valid values" in res.evidence["reason"]
