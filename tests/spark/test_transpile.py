"""The DuckDB -> Spark SQL translation itself (no Spark needed): parameters become literals in
the syntax tree, never pasted text, and each documented rewrite happens."""

from __future__ import annotations

from datetime import datetime

import pytest
import sqlglot
from hypothesis import given
from hypothesis import strategies as st

from profilers.spark_sql import SparkSQLError, bind, to_spark


@given(st.lists(st.one_of(st.text(max_size=20), st.floats(allow_nan=False, allow_infinity=False),
                          st.integers(-10**12, 10**12), st.booleans()), min_size=1, max_size=5))
def test_parameters_round_trip_as_literals(values: list[object]) -> None:
    sql = "SELECT " + ", ".join("?" for _ in values) + " FROM t WHERE note = 'a ? in text'"  # noqa: S608
    tree = sqlglot.parse_one(bind(sql, values), read="duckdb")
    literals = [e.this for e in tree.expressions]
    for got, want in zip(literals, values, strict=True):
        node = got if not isinstance(got, sqlglot.exp.Paren) else got.this
        if isinstance(want, bool):
            assert isinstance(node, sqlglot.exp.Boolean) and node.this is want
        elif isinstance(want, str):
            assert node.is_string and node.this == want
        else:
            assert float(node.to_py()) == pytest.approx(want)
    assert "'a ? in text'" in bind(sql, values)


def test_placeholder_count_must_match() -> None:
    with pytest.raises(SparkSQLError, match="2 placeholders but 1 parameters"):
        bind("SELECT ?, ?", [1])


def test_documented_rewrites() -> None:
    text = to_spark(
        "SELECT reservoir_quantile(x, [0.5, 0.9], 8192), histogram(x, ?::DOUBLE[]), approx_count_distinct(x), "
        "epoch(ts), isfinite(x), time_bucket(to_microseconds(?::BIGINT), ts, TIMESTAMP '1970-01-01') AS b, "
        "(?::VARCHAR[])[2], avg(CASE WHEN x > 0 THEN 1.0 ELSE 0.0 END) FROM t WHERE list_contains(?::TIMESTAMP[], ts) "
        "AND table_name IN (SELECT table_name FROM information_schema.tables)",
        [[1.0, 2.0], 86_400_000_000, ["a", "b"], [datetime(2026, 1, 1)]],
        views=["predictions"],
    ).upper()
    for expected in ("PERCENTILE_APPROX(X, ARRAY(", "MAP_FROM_ARRAYS(", "APPROX_COUNT_DISTINCT(X, 0.01)",
                     "UNIX_MICROS(", "ISNAN(", "TIMESTAMP_MICROS(", "ELEMENT_AT(", "ARRAY_CONTAINS(",
                     "VALUES ('PREDICTIONS')", "CAST(1.0 AS DOUBLE)"):
        assert expected in text, expected
    for duckdb_only in ("RESERVOIR_QUANTILE", "HISTOGRAM(", "TIME_BUCKET", "DATE_BIN", "ISFINITE", "INFORMATION_SCHEMA"):
        assert duckdb_only not in text, duckdb_only
