"""Property tests of the column-statistics SQL on an in-memory DuckDB (no warehouse)."""

from __future__ import annotations

import math

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from profilers.column_sql import ColumnPlan, stats_by_group
from profilers.stats_types import HIGH_CARDINALITY, OTHER, ColumnStats

values = st.lists(
    st.one_of(
        st.none(),
        st.floats(allow_nan=True, allow_infinity=True, width=64),
        st.floats(min_value=-100, max_value=100),
    ),
    min_size=0,
    max_size=300,
)
edges = st.lists(st.floats(min_value=-50, max_value=50), min_size=0, max_size=6, unique=True).map(
    lambda e: tuple(sorted(e))
)


def _stats(xs: list[float | None], cut: tuple[float, ...], reverse: bool = False) -> ColumnStats | None:
    data = list(reversed(xs)) if reverse else xs
    conn = duckdb.connect()
    conn.register("t", pa.table({"x": pa.array(data, type=pa.float64(), from_pandas=False)}))
    got = stats_by_group(
        conn, "(SELECT 0 AS _g, x FROM t)", [], [ColumnPlan("x", "numeric", cut)], "s", {0: None}
    )
    conn.close()
    return got[0][0] if got else None


@settings(max_examples=40, deadline=None)
@given(values, edges)
def test_numeric_counts_and_bins_match_numpy(xs: list[float | None], cut: tuple[float, ...]) -> None:
    s = _stats(xs, cut)
    if not xs:
        assert s is None
        return
    present = np.array([x for x in xs if x is not None], dtype=float)
    finite = present[np.isfinite(present)]
    assert s is not None
    assert s.count == len(xs)
    assert s.nulls == sum(x is None for x in xs)
    assert s.nan == int(np.isnan(present).sum())
    assert s.inf == int(np.isinf(present).sum())
    if len(finite):
        assert s.min == finite.min() and s.max == finite.max()
        assert math.isclose(s.mean, finite.mean(), rel_tol=1e-9, abs_tol=1e-6 * (1 + np.abs(finite).max()))
    expected = np.bincount(np.searchsorted(np.array(cut), finite, side="left"), minlength=len(cut) + 1)
    assert list(s.bin_counts) == expected.tolist()


@settings(max_examples=20, deadline=None)
@given(values, edges)
def test_row_order_changes_nothing_but_sampled_quantiles(
    xs: list[float | None], cut: tuple[float, ...]
) -> None:
    a, b = _stats(xs, cut), _stats(xs, cut, reverse=True)
    if a is None:
        assert b is None
        return
    for field in ("count", "nulls", "nan", "inf", "min", "max", "bin_counts", "quantiles"):
        assert getattr(a, field) == getattr(b, field), field  # exact below the reservoir size


def test_categories_are_counted_in_full_and_their_lengths_kept() -> None:
    conn = duckdb.connect()
    rng = np.random.default_rng(0)
    cats = rng.choice([f"k{i}" for i in range(40)], 5000).tolist() + [None] * 7
    conn.register("t", pa.table({"c": pa.array(cats)}))
    [s] = stats_by_group(
        conn, "(SELECT 0 AS _g, c FROM t)", [], [ColumnPlan("c", "categorical")], "s", {0: None}
    )[0]
    assert s.nulls == 7 and s.count == 5007
    counts = {k: cats.count(k) for k in set(cats) if k is not None}
    assert s.categories == counts and OTHER not in s.categories and not s.high_cardinality
    lengths = [len(k) for k in cats if k is not None]
    assert (s.min, s.max) == (min(lengths), max(lengths))
    assert s.mean == pytest.approx(np.mean(lengths)) and s.std == pytest.approx(np.std(lengths, ddof=1))


def test_a_group_above_the_category_cap_is_high_cardinality(monkeypatch: pytest.MonkeyPatch) -> None:
    import profilers.column_sql as column_sql

    monkeypatch.setattr(column_sql, "CATEGORY_CAP", 50)
    conn = duckdb.connect()
    few = [f"k{i % 10}" for i in range(300)]
    many = [f"id-{i:05d}" for i in range(300)]
    conn.register("t", pa.table({"g": [0] * 300 + [1] * 300, "c": few + many}))
    out = stats_by_group(conn, "(SELECT g AS _g, c FROM t)", [], [ColumnPlan("c", "categorical")], "s", None)
    [low], [high] = out[0], out[1]
    assert low.categories == {f"k{i}": 30 for i in range(10)} and not low.high_cardinality
    assert high.high_cardinality and high.categories == {HIGH_CARDINALITY: 300}
    assert high.mean == pytest.approx(8.0) and high.distinct is not None and high.distinct > 250
