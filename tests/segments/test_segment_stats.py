"""Segments: config errors name the key; per-segment statistics come from the same grouped pass
and equal the statistics of the segment's rows computed alone."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.config import ConfigError, config_from_dict
from profilers.column_sql import ColumnPlan, stats_by_group, stats_by_group_and_segment
from profilers.segments import MISSING, OTHER, SegmentDef, segment_projection
from tests.checks.warehouse_fixture import build_history, config_dict


def _config(**segments_override):
    return config_dict(**segments_override)


@pytest.mark.parametrize(
    ("segments", "message"),
    [
        ([{"name": "a", "column": "cat"}, {"name": "a", "column": "income", "bins": [1.0]}],
         "segments[1].name: 'a' is used twice"),
        ([{"name": "inc", "column": "income", "bins": [5.0, 1.0]}], "segments[0]: bins must be finite and strictly increasing"),
        ([{"name": "inc", "column": "income", "bins": [1.0], "top": 3}], "segments[0]: give either top"),
        ([{"name": "c", "column": "cat", "bins": [1.0]}], "segments[0].bins: column 'cat' is categorical, not numeric"),
        ([{"name": "c", "column": "cat", "top": 0}], "segments[0].top: Input should be greater than or equal to 1"),
        ([{"name": "c", "column": "cat", "minrows": 5}], "segments[0].minrows: Extra inputs are not permitted"),
        ([{"name": "c d", "column": "cat"}], "segments[0].name: String should match pattern"),
    ],
)
def test_config_errors_name_the_key(segments, message):
    with pytest.raises(ConfigError) as err:
        config_from_dict(_config(segments=segments), file="toy.yaml")
    assert message in str(err.value)
    assert str(err.value).startswith("toy.yaml: ")
    assert "hint" in str(err.value)


def test_a_segment_column_missing_from_the_reference_is_a_config_error(tmp_path: Path):
    with pytest.raises(ConfigError, match=r"segments\[0\]\.column: 'channel' is not a column of the reference"):
        build_history(tmp_path, 1, segments=[{"name": "channel", "column": "channel"}])


def test_segments_are_fixed_from_the_reference_and_stored_per_batch(tmp_path: Path):
    cfg, wh, batches = build_history(
        tmp_path, 3, segments=[{"name": "cat", "column": "cat", "top": 2},
                               {"name": "inc", "column": "income", "bins": [40000, 60000]}])
    with wh.read() as conn:
        defs = conn.execute("SELECT segment, values_json, edges_json FROM segment_definitions ORDER BY position").fetchall()
        assert defs == [("cat", '["a", "b"]', "[]"), ("inc", "[]", "[40000.0, 60000.0]")]
        per_label = dict(conn.execute(
            "SELECT label, sum(count) FROM segment_column_stats WHERE column_name = 'rate' AND segment = 'cat' "
            "GROUP BY label").fetchall())
        overall = conn.execute("SELECT sum(count) FROM column_stats WHERE column_name = 'rate' AND source = 'predictions'").fetchall()[0][0]
        assert set(per_label) == {"a", "b", OTHER} and sum(per_label.values()) == overall
        bins = {r[0] for r in conn.execute("SELECT DISTINCT label FROM segment_column_stats WHERE segment = 'inc'").fetchall()}
        assert bins == {"<40000", "[40000, 60000)", ">=60000"}
        chunks = conn.execute("SELECT count(DISTINCT chunk) FROM segment_reference_stats WHERE chunk >= 0").fetchall()[0][0]
        assert chunks == 20
        live = conn.execute("SELECT segment, sum(n) FROM segment_live_stats GROUP BY segment ORDER BY segment").fetchall()
        assert live == [("", overall), ("cat", overall), ("inc", overall)]


def _frame(values: list[float], cats: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"_g": [0] * len(values), "x": values, "c": cats})


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.one_of(st.none(), st.floats(-1e6, 1e6)), st.sampled_from(["a", "b", "c", None])),
                min_size=1, max_size=60))
def test_a_segments_statistics_equal_the_statistics_of_its_rows_alone(rows):
    """Property: the grouping set of a segment gives exactly what the rows of that label give alone."""
    frame = pd.DataFrame({"_g": 0, "x": [r[0] for r in rows], "c": [r[1] for r in rows]})
    seg = SegmentDef("c", 0, "c", values=("a", "b"))
    proj, params = segment_projection([seg])
    plans = [ColumnPlan("x", "numeric", (0.0, 10.0)), ColumnPlan("c", "categorical")]
    with duckdb.connect() as conn:
        conn.register("f", frame)
        rel = f"(SELECT _g, x, c, {proj} FROM f)"  # noqa: S608
        overall, segmented = stats_by_group_and_segment(conn, rel, params, plans, "predictions", None, [seg.key])
        assert overall[0] == stats_by_group(conn, "(SELECT _g, x, c FROM f)", [], plans, "predictions")[0]
        for (g, k, label), stats in segmented.items():
            assert (g, k) == (0, 0)
            where, wp = {MISSING: ("c IS NULL", []), OTHER: ("c IS NOT NULL AND c NOT IN ('a', 'b')", [])}.get(
                label, ("c = ?", [label]))
            alone = stats_by_group(conn, f"(SELECT _g, x, c FROM f WHERE {where})", wp, plans, "predictions")[0]  # noqa: S608
            for s, a in zip(stats, alone, strict=True):
                assert (s.count, s.nulls, s.bin_counts, s.categories, s.min, s.max) == (
                    a.count, a.nulls, a.bin_counts, a.categories, a.min, a.max)
                assert s.mean == pytest.approx(a.mean) if a.mean is not None else s.mean is None
        assert sum(stats[0].count for stats in segmented.values()) == len(frame)
        np.testing.assert_equal(sorted(lab for _, _, lab in segmented), sorted({
            MISSING if c is None else (c if c in ("a", "b") else OTHER) for c in frame["c"]}))
