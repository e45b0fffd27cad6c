"""Input quality checks on stats built from samples."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from checks.input_quality.column_quality import nan_inf, null_rate, out_of_range, unseen_category
from checks.input_quality.skew import SkewStats, compare_features, load_builder, training_serving_skew
from checks.input_quality.table_quality import duplicate_ids, freshness, schema, volume
from checks.registry import CHECKS
from profilers.stats_types import TableStats
from tests.checks.stats_factory import (
    categorical_reference,
    categorical_stats,
    numeric_reference,
    numeric_stats,
)

B = datetime(2026, 3, 1)


def P(name: str, **kw):  # noqa: N802 - reads like the config
    return {**CHECKS[name].params, **kw}


@pytest.fixture(scope="module")
def income_ref():
    rng = np.random.default_rng(0)
    return numeric_reference(rng.lognormal(11, 0.5, 20000), 1000, source="applications", column="income")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_null_rate_catches_a_one_percent_spike_and_ignores_clean_batches(income_ref, seed):
    rng = np.random.default_rng(seed)
    edges = income_ref.whole.bin_edges
    clean = numeric_stats(rng.lognormal(11, 0.5, 2000), edges, source="applications", column="income")
    assert null_rate(income_ref, clean, P("null_rate")).status == "ok"
    spiked = numeric_stats(rng.lognormal(11, 0.5, 1980), edges, source="applications", column="income", nulls=20)
    res = null_rate(income_ref, spiked, P("null_rate"))
    assert res.status == "fail"
    assert res.value == pytest.approx(0.01)
    assert res.subject == "applications.income"
    assert "1.00%" in res.explanation
    assert res.severity == "critical"


def test_null_rate_tolerates_the_reference_level_of_nulls():
    rng = np.random.default_rng(3)
    values = rng.normal(size=20000)
    values[rng.random(20000) < 0.05] = np.nan  # NaN stands in for nulls in the reference sample
    ref = numeric_reference(values, 1000)
    ref = type(ref)(whole=type(ref.whole)(**{**ref.whole.__dict__, "nulls": ref.whole.nan, "nan": 0}),
                    chunks=tuple(type(c)(**{**c.__dict__, "nulls": c.nan, "nan": 0}) for c in ref.chunks))
    cur = numeric_stats(rng.normal(size=1900), ref.whole.bin_edges, nulls=100)  # 5%
    assert null_rate(ref, cur, P("null_rate")).status == "ok"
    cur = numeric_stats(rng.normal(size=1800), ref.whole.bin_edges, nulls=200)  # 10%
    assert null_rate(ref, cur, P("null_rate")).status == "fail"


def test_nan_inf(income_ref):
    vals = np.r_[np.random.default_rng(1).lognormal(11, 0.5, 990), [np.nan] * 5, [np.inf] * 5]
    res = nan_inf(income_ref, numeric_stats(vals, income_ref.whole.bin_edges), P("nan_inf"))
    assert res.status == "fail" and res.evidence["nan"] == 5 and res.evidence["inf"] == 5


def test_out_of_range(income_ref):
    rng = np.random.default_rng(2)
    edges = income_ref.whole.bin_edges
    ok = numeric_stats(rng.uniform(2000, 90000, 1000), edges)
    assert out_of_range(income_ref, ok, P("out_of_range", range=[1000, 5e6])).status == "ok"
    some = numeric_stats(np.r_[rng.uniform(2000, 90000, 999), [10.0]], edges)
    assert out_of_range(income_ref, some, P("out_of_range", range=[1000, 5e6])).status == "warn"
    many = numeric_stats(np.r_[rng.uniform(2000, 90000, 900), rng.uniform(1, 100, 100)], edges)
    res = out_of_range(income_ref, many, P("out_of_range", range=[1000, 5e6]))
    assert res.status == "fail" and 0.05 < res.value < 0.15
    assert out_of_range(income_ref, ok, P("out_of_range")).status == "skipped"


def test_unseen_category():
    rng = np.random.default_rng(4)
    cats = ["car", "credit_card", "other"]
    ref = categorical_reference(list(rng.choice(cats, 5000)), 500, column="purpose")
    cur = categorical_stats(list(rng.choice(cats, 950)) + ["education"] * 50, column="purpose")
    res = unseen_category(ref, cur, P("unseen_category"))
    assert res.status == "fail" and res.evidence["unseen"] == {"education": 50}
    assert "'education'" in res.explanation
    allowed = P("unseen_category", allowed=cats + ["education"])
    assert unseen_category(ref, cur, allowed).status == "ok"


def test_schema_changes():
    clean = TableStats("applications", B, 100, columns={"income": "DOUBLE"})
    assert schema(None, clean, P("schema")).status == "ok"
    renamed = TableStats("applications", B, 100, missing_columns=("income",), added_columns=("annual_income",),
                         renamed_columns={"income": "annual_income"})
    res = schema(None, renamed, P("schema"))
    assert res.status == "fail" and res.evidence["renamed"] == {"income": "annual_income"}
    assert res.evidence["missing"] == [] and res.evidence["added"] == []
    assert "renamed income -> annual_income" in res.explanation
    retyped = TableStats("bureau", B, 100, retyped_columns={"credit_score": "numeric->string"})
    assert schema(None, retyped, P("schema")).status == "fail"
    added = TableStats("bureau", B, 100, added_columns=("note",))
    assert schema(None, added, P("schema")).status == "warn"
    dropped = TableStats("bureau", B, 100, missing_columns=("utilisation",))
    assert "missing utilisation" in schema(None, dropped, P("schema")).explanation


def test_duplicate_ids():
    assert duplicate_ids(None, TableStats("bureau", B, 2000), P("duplicate_ids")).status == "ok"
    assert duplicate_ids(None, TableStats("bureau", B, 2000, duplicate_keys=1), P("duplicate_ids")).status == "warn"
    res = duplicate_ids(None, TableStats("bureau", B, 2000, duplicate_keys=100), P("duplicate_ids"))
    assert res.status == "fail" and res.value == pytest.approx(0.05)


def test_volume_against_expected_and_recent():
    recent = [2000, 2100, 1950, 2050, 1980]
    assert volume(None, TableStats("applications", B, 2010), P("volume", recent_rows=recent)).status == "ok"
    res = volume(None, TableStats("applications", B, 700), P("volume", recent_rows=recent))
    assert res.status == "fail" and res.evidence["ratio_to_recent"] < 0.5
    res = volume(None, TableStats("applications", B, 1300), P("volume", recent_rows=recent))
    assert res.status == "warn"
    res = volume(None, TableStats("applications", B, 900), P("volume", expected_rows=[1000, 3000]))
    assert res.status == "fail" and "expected 1000-3000" in res.explanation
    assert volume(None, TableStats("applications", B, 900), P("volume", recent_rows=[1000])).status == "skipped"


def test_freshness():
    fresh = TableStats("bureau", B, 10, freshness_lag_seconds=3600)
    assert freshness(None, fresh, P("freshness", expected_seconds=86400)).status == "ok"
    stale = TableStats("bureau", B, 10, freshness_lag_seconds=3 * 86400)
    res = freshness(None, stale, P("freshness", expected_seconds=86400))
    assert res.status == "fail" and "72.0 h" in res.explanation
    assert freshness(None, stale, P("freshness")).status == "skipped"


def _build(applications: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"id": applications["id"], "x": applications["x"] * 2.0})


def test_training_serving_skew_compares_served_and_rebuilt_values():
    apps = pd.DataFrame({"id": [str(i) for i in range(100)], "x": np.arange(100.0)})
    served = pd.DataFrame({"id": apps["id"], "x": apps["x"] * 2.0})
    rebuilt = _build(apps)
    stats = compare_features(served, rebuilt, "id", ["x"], batch=B, builder="tests:_build")
    assert stats.rows_compared == 100 and stats.mismatches == {"x": 0}
    assert training_serving_skew(None, stats, P("training_serving_skew")).status == "ok"
    served.loc[:9, "x"] += 1.0
    stats = compare_features(served, rebuilt, "id", ["x"], batch=B, builder="tests:_build")
    res = training_serving_skew(None, stats, P("training_serving_skew"))
    assert res.status == "fail" and res.evidence["mismatch_share"] == {"x": 0.1}


def test_skew_skipped_without_a_builder_and_builder_loading():
    res = training_serving_skew(None, SkewStats(batch=B, builder=None), P("training_serving_skew"))
    assert res.status == "skipped" and "feature_builder" in res.explanation
    assert load_builder("tests.checks.test_input_quality:_build") is _build
    with pytest.raises(ValueError, match="cannot import"):
        load_builder("no_such_module_xyz:f")
    with pytest.raises(ValueError, match="has no function"):
        load_builder("tests.checks.test_input_quality:nope")


def test_volume_does_not_warn_on_a_usual_quiet_day():
    week = [2240, 2160, 2080, 2080, 2200, 1700, 1540]  # weekly seasonality, Sunday last
    res = volume(None, TableStats("applications", B, 1500), P("volume", recent_rows=week))
    assert res.status == "ok", res.explanation
    assert volume(None, TableStats("applications", B, 900), P("volume", recent_rows=week)).status == "fail"
