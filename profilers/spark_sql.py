"""The statistics' DuckDB SQL, run by Spark: one definition, two engines.

The profilers write every statistic once, as DuckDB SQL (``column_sql``, ``profile``,
``performance``, ``multiclass``). ``SparkSQL`` runs that same SQL on a SparkSession: each
statement is parsed by SQLGlot (dialect ``duckdb``), its ``?`` parameters become typed
literals in the syntax tree (values are never pasted into SQL text), a few DuckDB
functions that SQLGlot does not map are rewritten (``spark_transforms``, each documented
below), and the tree is written back as Spark SQL (dialect ``spark``).

``SparkSQL`` answers the small part of the DuckDB connection API the generators use
(``execute(sql, params).fetchall()`` and ``.description``), so a generator called with it
runs on Spark unchanged. Tables are Spark temporary views over the Parquet files in place
(``register``); ``information_schema.tables`` lists them.

Where the two engines' answers differ by definition, the difference is documented here and
bounded by the conformance test (tests/spark/test_conformance.py):

- quantiles: DuckDB ``reservoir_quantile`` (exact up to 16,384 rows per batch, a uniform
  sample above; on DuckDB a batch of more rows feeds it a Bernoulli sample of about
  ``column_sql.QUANTILE_SAMPLE`` rows, rank error standard deviation <= 0.4%) vs Spark
  ``percentile_approx`` with accuracy ``QUANTILE_ACCURACY`` (rank error at most
  1/accuracy); both return a value whose rank is within ``QUANTILE_RANK_ERROR`` of the
  requested one (plus one row, 1/n).
- distinct counts: both HyperLogLog (DuckDB's about 3% standard error, Spark's HLL++ with
  relative standard deviation ``DISTINCT_RSD``); documented bound ``DISTINCT_RELATIVE_ERROR``
  between the two (plus 2).
- everything else (counts, sums, means, standard deviations, histograms over the
  reference's edges, category counts, table counts, score-bin x label counts, AUC by rank
  sum, error moments) is exact in both: counts equal, moments within a relative 1e-9.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from contextvars import ContextVar
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.tokens import TokenType

QUANTILE_ACCURACY = 10_000  # percentile_approx accuracy: rank error <= 1 / accuracy
QUANTILE_RANK_ERROR = 0.01  # documented bound on the rank error of either engine's quantiles (+ 1/n)
DISTINCT_RSD = 0.01  # Spark approx_count_distinct relative standard deviation
# Documented bound between the engines' distinct counts (+ 2): DuckDB's HyperLogLog has a standard
# error of about 3% at a thousand values (measured: -5%..+2.5%), Spark's HLL++ 1% (DISTINCT_RSD).
DISTINCT_RELATIVE_ERROR = 0.12

log = logging.getLogger("vigil.spark")
_DUCKDB = sqlglot.Dialect.get_or_raise("duckdb")


class SparkSQLError(RuntimeError):
    """A statement could not be written as Spark SQL, or Spark refused it (the SQL is in the message)."""


# ---- parameters ----------------------------------------------------------------------------


def _literal_sql(value: Any) -> str:
    """A Python value as a DuckDB SQL literal, built by SQLGlot (quoted and escaped by it)."""
    if isinstance(value, tuple):
        value = list(value)
    if isinstance(value, float) and value != value:
        return "CAST('NaN' AS DOUBLE)"
    return exp.convert(value).sql(dialect="duckdb")


def bind(sql: str, params: Sequence[Any] | None) -> str:
    """DuckDB SQL with each ``?`` replaced by its parameter as a literal, in order.

    The placeholders are found by SQLGlot's tokenizer (a ``?`` inside a string literal is
    not one); each value becomes a literal built by SQLGlot, so quoting is SQLGlot's.
    """
    params = list(params or [])
    marks = [
        t.start
        for t in _DUCKDB.tokenize(sql)
        if t.token_type in (TokenType.PLACEHOLDER, TokenType.QDCOLON) and t.text.startswith("?")
    ]
    if len(marks) != len(params):
        raise SparkSQLError(f"{len(marks)} placeholders but {len(params)} parameters in: {sql[:200]}")
    out = sql
    for pos, value in reversed(list(zip(marks, params, strict=True))):
        out = out[:pos] + "(" + _literal_sql(value) + ")" + out[pos + 1 :]
    return out


# ---- transforms: DuckDB functions SQLGlot does not map to Spark ----------------------------


def _fn(node: exp.Expression) -> tuple[str, list[exp.Expression]]:
    """(lower-case name, arguments) of a function call, typed or anonymous."""
    if isinstance(node, exp.Anonymous):
        return str(node.this).lower(), list(node.expressions)
    if isinstance(node, exp.Func):
        args = [a for a in node.args.values() if isinstance(a, exp.Expression)]
        flat = []
        for key in node.arg_types:
            v = node.args.get(key)
            if isinstance(v, list):
                flat += v
            elif isinstance(v, exp.Expression):
                flat.append(v)
        return node.sql_name().lower(), flat or args
    return "", []


def _array_items(node: exp.Expression) -> list[exp.Expression]:
    """The elements of an array literal (possibly cast: ``[..]::DOUBLE[]``)."""
    while isinstance(node, exp.Cast | exp.Paren):
        node = node.this
    if isinstance(node, exp.Array):
        return list(node.expressions)
    raise SparkSQLError(f"expected a literal list, got {node.sql('duckdb')}")


def _double(node: exp.Expression) -> exp.Expression:
    return exp.cast(node, exp.DataType.build("DOUBLE"))


def _micros(ts: exp.Expression) -> exp.Expression:
    """Microseconds since the epoch of a timestamp (naive UTC; the session's time zone is UTC)."""
    return exp.Anonymous(this="unix_micros", expressions=[exp.cast(ts, exp.DataType.build("TIMESTAMP"))])


def _t(node: exp.Expression) -> exp.Expression:
    return node.copy().transform(_spark_node)


def _spark_node(node: exp.Expression) -> exp.Expression:
    """One node, rewritten for Spark where DuckDB's function has no Spark translation."""
    # Non-integral numeric literals: Spark reads ``1.0`` as DECIMAL (avg of a decimal keeps
    # only 4 more digits); DuckDB computes in DOUBLE. Make them DOUBLE.
    if isinstance(node, exp.Literal) and not node.is_string:
        text = str(node.this)
        if any(c in text for c in ".eE") and not isinstance(node.parent, exp.Cast):
            return _double(node.copy())
        return node
    # information_schema.tables (table_exists): the registered views, as a VALUES relation.
    if isinstance(node, exp.Table) and node.name.lower() == "tables" and node.db.lower() == "information_schema":
        views = sorted(_VIEWS.get()) or [""]
        return exp.values([(v,) for v in views], alias="t", columns=["table_name"])
    if isinstance(node, exp.Bracket) and not node.args.get("safe") and len(node.expressions) == 1:
        # list[i] (DuckDB, 1-based) -> element_at(list, i) (Spark, 1-based).
        index = exp.cast(_t(node.expressions[0]), exp.DataType.build("INT"))  # array_position is BIGINT
        return exp.Anonymous(this="element_at", expressions=[_t(node.this), index])
    name, raw = _fn(node)
    if not name:
        return node
    args = [_t(a) for a in raw]  # the children, rewritten too (transform does not revisit them)
    if name == "reservoir_quantile":
        # reservoir_quantile(x, [q...], n) -> percentile_approx(x, array(q...), accuracy)
        qs = [_double(q.copy()) for q in _array_items(args[1])]
        return exp.Anonymous(
            this="percentile_approx",
            expressions=[args[0].copy(), exp.Array(expressions=qs), exp.Literal.number(QUANTILE_ACCURACY)],
        )
    if (isinstance(node, exp.ApproxDistinct) or name == "approx_count_distinct") and len(args) == 1:
        return exp.Anonymous(
            this="approx_count_distinct", expressions=[args[0].copy(), exp.Literal.number(DISTINCT_RSD)]
        )
    if name == "histogram" and len(args) == 2:
        # histogram(x, [e1..ek]) (DuckDB: bound -> count of x in (previous bound, bound];
        # values above ek under an overflow key) -> map(bound -> that count). The overflow is
        # left out; column_sql._bin_counts derives it from the finite count, as for DuckDB.
        x, edges = args[0], _array_items(args[1])
        counts: list[exp.Expression] = []
        for j, e in enumerate(edges):
            cond: Any = exp.LTE(this=x.copy(), expression=_double(e.copy()))
            if j:
                cond = exp.and_(exp.GT(this=x.copy(), expression=_double(edges[j - 1].copy())), cond)
            counts.append(exp.Count(this=exp.Case(ifs=[exp.If(this=cond, true=exp.Literal.number(1))])))
        return exp.Anonymous(
            this="map_from_arrays",
            expressions=[exp.Array(expressions=[_double(e.copy()) for e in edges]), exp.Array(expressions=counts)],
        )
    if name == "isfinite" and len(args) == 1:
        x = args[0]
        return exp.Paren(
            this=exp.and_(
                exp.Not(this=exp.Anonymous(this="isnan", expressions=[x.copy()])),
                exp.NEQ(this=exp.Abs(this=x.copy()), expression=_double(exp.Literal.string("Infinity"))),
            )
        )
    if (isinstance(node, exp.TimeToUnix) or name == "epoch") and len(args) == 1:
        # epoch(ts): seconds since the epoch with their fraction (Spark's unix_timestamp drops it).
        return exp.Div(this=_micros(args[0].copy()), expression=_double(exp.Literal.number(1_000_000)))
    if isinstance(node, exp.DateBin) or name in ("time_bucket", "date_bin"):
        # time_bucket(to_microseconds(w), ts, TIMESTAMP '1970-01-01') (profilers.sources.bucket_sql):
        # the start of ts's window, windows aligned to the epoch, as a naive UTC timestamp.
        width, ts = args[0], args[1]
        while isinstance(width, exp.Paren | exp.Cast):
            width = width.this
        wname, wargs = _fn(width)
        if wname == "to_microseconds" and wargs:
            width = wargs[0]
        w = exp.cast(width.copy(), exp.DataType.build("BIGINT"))
        start = exp.Mul(
            this=exp.Floor(this=exp.Div(this=_micros(ts.copy()), expression=w.copy())), expression=w
        )
        return exp.cast(
            exp.Anonymous(this="timestamp_micros", expressions=[exp.cast(start, exp.DataType.build("BIGINT"))]),
            exp.DataType.build("TIMESTAMP_NTZ"),
        )
    if name in ("list_position", "array_position") and len(args) == 2:
        return exp.Anonymous(this="array_position", expressions=[args[0].copy(), args[1].copy()])
    return node


_VIEWS: ContextVar[frozenset[str]] = ContextVar("spark_views", default=frozenset())


def to_spark(sql: str, params: Sequence[Any] | None = None, views: Iterable[str] = ()) -> str:
    """One DuckDB statement with its parameters -> one Spark SQL statement."""
    bound = bind(sql, params)
    try:
        tree = sqlglot.parse_one(bound, read="duckdb")
    except sqlglot.errors.ParseError as err:
        raise SparkSQLError(f"SQLGlot could not read the statement: {err}\n{bound[:500]}") from err
    token = _VIEWS.set(frozenset(views))
    try:
        out = tree.transform(_spark_node)
    finally:
        _VIEWS.reset(token)
    return out.sql(dialect="spark")


# ---- a DuckDB-connection-shaped runner -------------------------------------------------------


def _plain(value: Any) -> Any:
    """Spark's Python values as DuckDB's: Decimal -> float, Row -> tuple, maps and lists kept."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, datetime | date | str | int | float | bool) or value is None:
        return value
    return value


class SparkResult:
    def __init__(self, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
        self.description = [(c, None, None, None, None, None, None) for c in columns]
        self._rows = rows

    def fetchall(self) -> list[tuple[Any, ...]]:
        rows, self._rows = self._rows, []
        return rows

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._rows.pop(0) if self._rows else None


class SparkSQL:
    """Runs the profilers' DuckDB SQL on a SparkSession (see the module docstring)."""

    def __init__(self, spark: Any) -> None:
        self.spark = spark
        self.views: set[str] = set()
        self.statements: list[str] = []  # the Spark SQL run, for logs and tests

    def register(self, name: str, frame: Any) -> None:
        """A Spark DataFrame as the table ``name`` of the statements."""
        frame.createOrReplaceTempView(name)
        self.views.add(name)

    def translate(self, sql: str, params: Sequence[Any] | None = None) -> str:
        return to_spark(sql, params, self.views)

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> SparkResult:
        text = self.translate(sql, params)
        self.statements.append(text)
        started = time.perf_counter()
        try:
            frame = self.spark.sql(text)
            rows = frame.collect()
            log.debug("spark sql %.2fs: %s", time.perf_counter() - started, text[:300])
        except Exception as err:  # Spark's AnalysisException and friends: name the statement
            raise SparkSQLError(f"Spark refused a statistics query: {str(err).splitlines()[0]}\n{text[:1000]}") from err
        return SparkResult(list(frame.columns), [tuple(_plain(v) for v in r) for r in rows])
