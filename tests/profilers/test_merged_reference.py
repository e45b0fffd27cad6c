"""A reference's whole statistics merged from its chunks' (one pass over the rows, not two) equal
the statistics of one pass over every row: a property over random data split into random chunks,
and the reference computation itself, merged against direct."""

from __future__ import annotations

import math
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.config import config_from_dict
from profilers.column_sql import ColumnPlan, merge_groups, stats_by_group
from profilers.reference import compute_reference_segmented, numbered_parquet
from profilers.stats_types import ColumnStats
from tests.profilers.conftest import toy_config_dict, write_reference

_numbers = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True, width=64, min_value=None, max_value=None),
    st.integers(-5, 5).map(float),
    st.floats(-1e6, 1e6),
)
_texts = st.one_of(st.none(), st.sampled_from(["a", "bb", "", "d\u00e9j\u00e0", "\U0001f986", "longer value"]))


def _by_group(conn: duckdb.DuckDBPyConnection, plan: ColumnPlan, grouped: bool) -> dict[int, ColumnStats]:
    rel = "(SELECT g AS _g, v FROM t)" if grouped else "(SELECT 0 AS _g, v FROM t)"
    found = stats_by_group(conn, rel, [], [ColumnPlan("v", plan.kind, plan.edges)], "s")
    return {g: found[g][0] for g in sorted(found)}


def _close(a: float | None, b: float | None, scale: float) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9 * (1 + scale))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), _numbers), min_size=1, max_size=60),
       st.lists(st.floats(-10, 10), max_size=4).map(lambda e: tuple(sorted(set(e)))))
def test_merged_numeric_statistics_equal_one_pass(rows: list[tuple[int, float | None]], edges: tuple[float, ...]) -> None:
    conn = duckdb.connect()
    conn.register("t", pa.table({"g": [g for g, _ in rows], "v": pa.array([v for _, v in rows], type=pa.float64())}))
    plan = ColumnPlan("v", "numeric", edges)
    whole = _by_group(conn, plan, grouped=False)[0]
    parts = list(_by_group(conn, plan, grouped=True).values())
    merged = merge_groups(plan, parts, whole.quantiles, whole.distinct)
    for f in ("count", "nulls", "nan", "inf", "min", "max", "bin_counts", "quantiles", "distinct", "bin_edges"):
        assert getattr(merged, f) == getattr(whole, f), f
    finite = [abs(v) for _, v in rows if v is not None and math.isfinite(v)]
    scale = max(finite, default=0.0)
    assert _close(merged.mean, whole.mean, scale)
    assert _close(merged.std, whole.std, scale), (merged.std, whole.std)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), _texts), min_size=1, max_size=60), st.booleans())
def test_merged_categories_and_lengths_equal_one_pass(rows: list[tuple[int, str | None]], boolean: bool) -> None:
    conn = duckdb.connect()
    values = [(None if v is None else len(v) % 2 == 0) for _, v in rows] if boolean else [v for _, v in rows]
    conn.register("t", pa.table({"g": [g for g, _ in rows], "v": pa.array(values)}))
    plan = ColumnPlan("v", "boolean" if boolean else "categorical")
    whole = _by_group(conn, plan, grouped=False)[0]
    merged = merge_groups(plan, list(_by_group(conn, plan, grouped=True).values()), {}, None)
    for f in ("count", "nulls", "categories", "min", "max", "distinct"):
        assert getattr(merged, f) == getattr(whole, f), f
    assert _close(merged.mean, whole.mean, 20) and _close(merged.std, whole.std, 20)


def test_a_high_cardinality_chunk_makes_the_whole_high_cardinality(monkeypatch: pytest.MonkeyPatch) -> None:
    from profilers import column_sql

    monkeypatch.setattr(column_sql, "CATEGORY_CAP", 20)
    conn = duckdb.connect()
    g = [0] * 30 + [1] * 30 + [2] * 30
    v = [f"k{i % 5}" for i in range(30)] + [f"id{i}" for i in range(30)] + [f"m{i % 16}" for i in range(30)]
    conn.register("t", pa.table({"g": g, "v": v}))
    plan = ColumnPlan("v", "categorical")
    parts = list(_by_group(conn, plan, grouped=True).values())
    assert [p.high_cardinality for p in parts] == [False, True, False]
    merged = merge_groups(plan, parts, {}, None)
    assert merged.high_cardinality and merged.categories == {column_sql.HIGH_CARDINALITY: 90}
    # Two counted chunks whose union passes the cap: high-cardinality too.
    both = merge_groups(plan, [parts[0], parts[2]], {}, None)
    assert both.high_cardinality and both.count == 60
    whole = _by_group(conn, plan, grouped=False)[0]
    assert (merged.min, merged.max) == (whole.min, whole.max)
    assert merged.mean == pytest.approx(whole.mean) and merged.std == pytest.approx(whole.std)


@pytest.mark.parametrize("seed", [0, 1])
def test_a_chunked_reference_merges_its_whole_from_the_chunks(tmp_path: Path, seed: int) -> None:
    """The reference's whole from its 10 chunks (one pass) against the whole of a one-chunk
    reference of the same file (a direct pass over every row): equal."""
    write_reference(tmp_path, n=3000, seed=seed)
    conn = duckdb.connect()
    wholes = []
    for chunk_rows in (300, 5000):
        d = toy_config_dict()
        d["reference"] = {"kind": "file", "path": "ref.parquet", "chunk_rows": chunk_rows}
        cfg = config_from_dict(d, file="toy.yaml", root=tmp_path)
        numbered = numbered_parquet(cfg)
        assert numbered is not None
        out = compute_reference_segmented(cfg, conn, *numbered, numbered=True)
        assert len({c for c, _, _ in out.overall}) == (11 if chunk_rows == 300 else 2)
        wholes.append({s.column: s for c, _, s in out.overall if c == -1})
    merged, direct = wholes
    assert set(merged) == set(direct) and len(merged) == 4
    for col, m in merged.items():
        d = direct[col]
        for f in ("count", "nulls", "nan", "inf", "min", "max", "bin_edges", "bin_counts", "categories", "quantiles"):
            assert getattr(m, f) == getattr(d, f), (col, f)
        assert _close(m.mean, d.mean, 100) and _close(m.std, d.std, 100), col
        assert m.distinct == pytest.approx(d.distinct, rel=0.03)
        assert m.mean is not None and np.isfinite(m.mean)
