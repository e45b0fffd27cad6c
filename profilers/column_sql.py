"""Column statistics of a relation, grouped, in DuckDB SQL (one pass for numeric columns).

Used for prediction-log and ETL batches (group = batch) and for the reference (group =
the whole reference or a calibration chunk). The relation is an SQL subquery that yields
``_g`` (the group key) and the profiled columns; its parameters are passed alongside.

Segments (``segment_keys``): the relation also yields one label column per segmentation
(never NULL: profilers.segments labels a missing value), and the same aggregate query
groups by ``GROUPING SETS ((_g), (_g, key_1), (_g, key_2), ...)``: the overall statistics
and every segment's come from one pass over the rows, in plain SQL that SQLGlot carries
to Spark. A row whose segment keys are all NULL is an overall row.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import duckdb

from core.sql import ident
from profilers.stats_types import CATEGORY_CAP, HIGH_CARDINALITY, QUANTILES, ColumnKind, ColumnStats

RESERVOIR = 16_384  # reservoir_quantile sample size per group and column
# Rows per group fed to the quantile aggregate when the caller gives group sizes: a group of
# more rows feeds it a uniform (Bernoulli) sample of about this many rows, drawn once per row
# for every column of the query; smaller groups stay exact. The sample's rank error has a
# standard deviation of at most 0.5 / sqrt(QUANTILE_SAMPLE) = 0.4% (less than the 8,192-row
# reservoir it replaces), inside the documented 1% (profilers.spark_sql.QUANTILE_RANK_ERROR).
QUANTILE_SAMPLE = 16_384
COLUMN_BATCH = 100  # columns per aggregate query (bounded SQL size and memory on wide tables)
QUANTILE_LIST = "[" + ", ".join(repr(q) for q in QUANTILES) + "]"  # constants of this module


@dataclass(frozen=True)
class ColumnPlan:
    column: str
    kind: ColumnKind
    edges: tuple[float, ...] = ()  # interior cut points from the reference
    top_k: bool = True  # category counts (up to CATEGORY_CAP values); False for keys: counts and distinct only
    epoch: bool = False  # a timestamp column, profiled as epoch seconds


def _value(plan: ColumnPlan) -> str:
    q = ident(plan.column)
    return f"epoch({q})" if plan.epoch else f"CAST({q} AS DOUBLE)"


def _finite_alias(i: int) -> str:
    return f"_fv{i}"


def _raw_alias(i: int) -> str:
    return f"_v{i}"


def _numeric_select(plan: ColumnPlan, i: int, quantiles: bool = True) -> tuple[list[str], list[Any]]:
    """Aggregates of one numeric column over the inner projection (_v raw, _fv finite or NULL).

    No FILTER clauses: they cost several times more than aggregating a CASE column.
    Quantiles: reservoir_quantile, exact up to RESERVOIR rows per group, a uniform-sample
    estimate above (rank error ~1%, like whylogs' KLL sketches) at a fraction of
    approx_quantile's cost on large batches. ``quantiles=False``: left out, because they come
    from a query over the group's quantile sample only (see _sampled_quantiles).
    """
    v, fv = _raw_alias(i), _finite_alias(i)
    parts = [
        f"count({v}) AS nn{i}",
        f"coalesce(sum(CAST(isnan({v}) AS INTEGER)), 0) AS nan{i}",
        f"count({fv}) AS fin{i}",
        f"min({fv}) AS min{i}",
        f"max({fv}) AS max{i}",
        f"avg({fv}) AS mean{i}",
        f"stddev_samp({fv}) AS std{i}",
        f"approx_count_distinct({v}) AS d{i}",
    ]
    if quantiles:
        parts.append(f"reservoir_quantile({fv}, {QUANTILE_LIST}, {RESERVOIR}) AS q{i}")
    params: list[Any] = []
    if plan.edges:
        parts.append(f"histogram({fv}, ?::DOUBLE[]) AS h{i}")
        params.append(list(plan.edges))
    return parts, params


def _group_by(keys: Sequence[str], inner: Sequence[str] = ()) -> str:
    """GROUP BY _g (and ``inner``), or the grouping sets of the overall and every segment key."""
    base = ", ".join(["_g", *inner])
    if not keys:
        return f"GROUP BY {base}"
    sets = [f"({base})"] + [f"(_g, {k}{''.join(', ' + c for c in inner)})" for k in keys]
    return f"GROUP BY GROUPING SETS ({', '.join(sets)})"


def _sample_sql(group_rows: Mapping[Any, int] | None, keys: Sequence[str]) -> tuple[str, list[Any]] | None:
    """The per-row quantile-sample condition (``_qs``) and its parameters, or None (no group needs one).

    Each group of more than QUANTILE_SAMPLE rows keeps a row with probability
    QUANTILE_SAMPLE / rows; the others keep every row. Not with segment keys: a segment is
    a part of its group, and its quantiles would see a fraction of the sample.
    """
    if group_rows is None or keys:
        return None
    big = {g: n for g, n in group_rows.items() if g is not None and n > QUANTILE_SAMPLE}
    if not big:
        return None
    whens: list[str] = []
    params: list[Any] = []
    for g, n in big.items():
        whens.append("WHEN _g = ? THEN ?")
        params += [g, QUANTILE_SAMPLE / n]
    return f"random() < CASE {' '.join(whens)} ELSE 1.0 END", params


def _sampled_quantiles(
    conn: duckdb.DuckDBPyConnection, relation: str, rel_params: list[Any], chunk: list[tuple[int, ColumnPlan]],
    sample: tuple[str, list[Any]],
) -> dict[Any, dict[str, Any]]:
    """Quantiles of the numeric columns of ``chunk`` per group, from the group's quantile sample
    only: a query whose WHERE keeps the sampled rows before anything is computed on them.

    Feeding the reservoir a CASE column in the main pass cost every row a reservoir update
    (about a third of a wide table's statistics); here the rows left out cost a random draw.
    """
    numeric = [(i, p) for i, p in chunk if p.kind == "numeric"]
    condition, params = sample
    inner = ", ".join(["_g"] + [_finite_projection(i, p) for i, p in numeric])
    select = ", ".join(["_g"] + [f"reservoir_quantile({_finite_alias(i)}, {QUANTILE_LIST}, {RESERVOIR}) AS q{i}"
                                 for i, _ in numeric])
    sql = (f"SELECT {select} FROM (SELECT {inner} FROM (SELECT * FROM {relation}) AS _qs "  # noqa: S608
           f"WHERE {condition}) GROUP BY _g")
    cur = conn.execute(sql, rel_params + params)
    names = [d[0] for d in cur.description or []]
    return {r[0]: dict(zip(names[1:], r[1:], strict=True)) for r in cur.fetchall()}


def _finite_projection(i: int, plan: ColumnPlan) -> str:
    """A numeric column's finite values (NaN and +-inf as NULL), named for the statistics."""
    v = _value(plan)
    return f"CASE WHEN isfinite({v}) THEN {v} END AS {_finite_alias(i)}"


def _inner_projection(chunk: list[tuple[int, ColumnPlan]], keys: Sequence[str] = ()) -> str:
    cols = ["_g", *keys]
    for i, plan in chunk:
        if plan.kind == "numeric":
            cols.append(f"{_value(plan)} AS {_raw_alias(i)}")
            cols.append(_finite_projection(i, plan))
        else:
            cols.append(f"{ident(plan.column)} AS {_raw_alias(i)}")
    return ", ".join(cols)


def _other_select(plan: ColumnPlan, i: int, lengths: bool = True) -> list[str]:
    q = _raw_alias(i)
    parts = [f"count({q}) AS nn{i}", f"approx_count_distinct({q}) AS d{i}"]
    if plan.kind == "boolean":
        parts.append(f"avg(CAST({q} AS DOUBLE)) AS mean{i}")
    elif plan.kind == "categorical" and plan.top_k and lengths:
        length = f"length(CAST({q} AS VARCHAR))"
        parts += [f"min({length}) AS lmin{i}", f"max({length}) AS lmax{i}", f"avg({length}) AS lmean{i}",
                  f"stddev_samp({length}) AS lstd{i}"]
    return parts


def _category_counts(
    conn: duckdb.DuckDBPyConnection, relation: str, rel_params: list[Any], plans: dict[int, ColumnPlan],
    keys: Sequence[str] = (),
) -> dict[int, dict[Any, dict[str, int]]]:
    """Every value's count per group of several columns in one query (UNPIVOT: one scan, not one
    per column), for groups with at most CATEGORY_CAP distinct values (a group above the cap is
    left out: the caller marks it high-cardinality).

    Keyed by plan index -> group -> {value: count}; with segment keys the group is
    (_g, segment index or -1, label or None). UNPIVOT leaves out NULLs.
    """
    if not plans:
        return {}
    cols = ", ".join(f"CAST({ident(p.column)} AS VARCHAR) AS {ident(str(i))}" for i, p in plans.items())
    head = ", ".join(["_g", *keys])
    names = ", ".join(ident(str(i)) for i in plans)
    # The SQL-standard UNPIVOT form (not DuckDB's ON COLUMNS(...)): Spark reads it too; the
    # columns not unpivoted (the group and segment keys) are kept on every row.
    rows = conn.execute(
        f"SELECT {head}, _c, _v, count(*) AS k FROM (SELECT {head}, {cols} FROM {relation}) "  # noqa: S608
        f"UNPIVOT (_v FOR _c IN ({names})) "
        f"{_group_by(keys, ('_c', '_v'))} QUALIFY count(*) OVER (PARTITION BY {head}, _c) <= {int(CATEGORY_CAP)}",
        rel_params,
    ).fetchall()
    out: dict[int, dict[Any, dict[str, int]]] = {}
    for r in rows:
        g = _group_key(r[0], r[1 : 1 + len(keys)]) if keys else r[0]
        c, v, k = r[1 + len(keys) :]
        out.setdefault(int(c), {}).setdefault(g, {})[str(v)] = int(k)
    return out


def _length_stats(counts: dict[str, int]) -> dict[str, Any]:
    """min, max, mean and sample standard deviation of the values' lengths (characters, as
    DuckDB's length()), each value weighted by its count: what the row pass computes."""
    n = sum(counts.values())
    lengths = {v: len(v) for v in counts}
    s = sum(k * lengths[v] for v, k in counts.items())
    ss = sum(k * lengths[v] ** 2 for v, k in counts.items())
    var = (n * ss - s * s) / (n * (n - 1)) if n > 1 else None  # exact integers up to the division
    return {"lmin": min(lengths.values()), "lmax": max(lengths.values()), "lmean": s / n,
            "lstd": math.sqrt(max(var, 0.0)) if var is not None else None}


def _group_key(g: Any, labels: Sequence[Any]) -> tuple[Any, int, str | None]:
    """(group, index of the segment key that is set or -1 for the overall row, its label)."""
    for i, label in enumerate(labels):
        if label is not None:
            return (g, i, str(label))
    return (g, -1, None)


def _aggregates(
    conn: duckdb.DuckDBPyConnection, relation: str, rel_params: list[Any], chunk: list[tuple[int, ColumnPlan]],
    keys: Sequence[str] = (), sample: tuple[str, list[Any]] | None = None, counted: Set[int] = frozenset(),
) -> dict[Any, dict[str, Any]]:
    """One grouped aggregate pass over the columns of ``chunk`` (aliases keep the plan index);
    ``counted``: categorical columns whose length statistics come from their category counts."""
    select: list[str] = ["_g", *keys, "count(*) AS n"]
    params: list[Any] = []
    numeric = False
    for i, plan in chunk:
        if plan.kind == "numeric":
            parts, p = _numeric_select(plan, i, quantiles=sample is None)
            select += parts
            params += p
            numeric = True
        else:
            select += _other_select(plan, i, i not in counted)
    sql = (f"SELECT {', '.join(select)} FROM (SELECT {_inner_projection(chunk, keys)} "  # noqa: S608
           f"FROM {relation}) {_group_by(keys)}")
    cur = conn.execute(sql, params + rel_params)
    names = [d[0] for d in cur.description or []]
    if not keys:
        out = {r[0]: dict(zip(names, r, strict=True)) for r in cur.fetchall()}
        if sample is not None and numeric:
            quantiles = _sampled_quantiles(conn, relation, rel_params, chunk, sample)
            empty = {f"q{i}": None for i, p in chunk if p.kind == "numeric"}
            for g, row in out.items():
                row.update(quantiles.get(g, empty))
        return out
    return {_group_key(r[0], r[1 : 1 + len(keys)]): dict(zip(names, r, strict=True)) for r in cur.fetchall()}


def group_sizes(conn: duckdb.DuckDBPyConnection, relation: str, rel_params: list[Any]) -> dict[Any, int]:
    """Rows per group ``_g`` of a relation (DuckDB reads only what ``_g`` needs)."""
    rows = conn.execute(f"SELECT _g, count(*) FROM {relation} GROUP BY _g", rel_params).fetchall()  # noqa: S608
    return {r[0]: int(r[1]) for r in rows}


def stats_by_group(
    conn: duckdb.DuckDBPyConnection,
    relation: str,
    rel_params: list[Any],
    plans: list[ColumnPlan],
    source: str,
    batch_of_group: dict[Any, datetime | None] | None = None,
    group_rows: Mapping[Any, int] | None = None,
) -> dict[Any, list[ColumnStats]]:
    """ColumnStats per group key for every planned column."""
    return stats_by_group_and_segment(
        conn, relation, rel_params, plans, source, batch_of_group, group_rows=group_rows
    )[0]


SegmentGroup = tuple[Any, int, str]  # (group, index of the segment key, segment label)


def stats_by_group_and_segment(
    conn: duckdb.DuckDBPyConnection,
    relation: str,
    rel_params: list[Any],
    plans: list[ColumnPlan],
    source: str,
    batch_of_group: dict[Any, datetime | None] | None = None,
    segment_keys: Sequence[str] = (),
    group_rows: Mapping[Any, int] | None = None,
) -> tuple[dict[Any, list[ColumnStats]], dict[SegmentGroup, list[ColumnStats]]]:
    """ColumnStats per group key, and per (group, segment key index, label) when the relation
    yields ``segment_keys``: both from the same grouped queries (GROUPING SETS).

    ``group_rows`` (rows per group, when the caller knows them): groups above QUANTILE_SAMPLE
    rows feed their quantiles a uniform sample of about that many rows (see _sample_sql);
    without it every row goes to the reservoir, as on Spark.
    """
    if not plans:
        return {}, {}
    keys = tuple(segment_keys)
    sample = _sample_sql(group_rows, keys)
    rows_by_group: dict[Any, dict[str, Any]] = {}
    categories: dict[int, dict[Any, dict[str, int]]] = {}
    # Columns in batches: one SELECT of every aggregate of 1,000 columns is more than
    # DuckDB's planner takes (it crashed here at 1,000 x 9), and memory stays flat in the
    # number of columns. Each batch is one aggregate query plus at most one top-K query.
    for start in range(0, len(plans), COLUMN_BATCH):
        chunk = list(enumerate(plans))[start : start + COLUMN_BATCH]
        categorical = {i: p for i, p in chunk if p.kind != "numeric" and p.top_k}
        counts_of = _category_counts(conn, relation, rel_params, categorical, keys)
        for i, counts in counts_of.items():
            categories.setdefault(i, {}).update(counts)
        # A categorical column with every value of every group counted (no group above the cap,
        # none all-NULL) gets its length statistics from the counts, not from the rows again.
        groups = {g for g, n in (group_rows or {}).items() if n > 0}
        counted = {
            i for i, p in categorical.items()
            if p.kind == "categorical" and group_rows is not None and not keys and groups <= set(counts_of.get(i, {}))
        }
        for g, row in _aggregates(conn, relation, rel_params, chunk, keys, sample, counted).items():
            for i in (c for c in counted if g in counts_of[c]):
                row.update({f"{k}{i}": v for k, v in _length_stats(counts_of[i][g]).items()})
            rows_by_group.setdefault(g, {"_key": g}).update(row)
    out: dict[Any, list[ColumnStats]] = {}
    segmented: dict[SegmentGroup, list[ColumnStats]] = {}
    for key, row in rows_by_group.items():
        g = key[0] if keys else key
        batch = batch_of_group[g] if batch_of_group is not None else g
        stats = [
            _column_stats(source, plan, i, row, batch, categories.get(i, {}).get(key) if i in categories else None)
            for i, plan in enumerate(plans)
        ]
        if keys and key[1] >= 0:
            segmented[(g, key[1], key[2])] = stats
        else:
            out[g] = stats
    return out, segmented


def _bin_counts(histogram: dict[float, int] | None, edges: tuple[float, ...], finite: int) -> tuple[int, ...]:
    """DuckDB's histogram(x, bounds) map (bound -> count of x <= bound, overflow under inf) as counts."""
    if not edges:
        return (finite,)
    if not histogram:
        return (0,) * (len(edges) + 1)
    # DuckDB leaves out the overflow bucket when no value is above the last edge.
    by_bound = {float(b): int(c) for b, c in histogram.items()}
    inner = [by_bound.get(float(e), 0) for e in edges]
    return (*inner, finite - sum(inner))


def _column_stats(
    source: str,
    plan: ColumnPlan,
    i: int,
    row: dict[str, Any],
    batch: datetime | None,
    top: dict[str, int] | None,
) -> ColumnStats:
    """One column of one group; ``top`` is its category counts (None: over the cap, or none)."""
    n = int(row["n"])
    nonnull = int(row[f"nn{i}"])
    if plan.kind == "numeric":
        nan = int(row[f"nan{i}"])
        inf = nonnull - int(row[f"fin{i}"]) - nan  # non-null, not finite, not NaN
        q = row[f"q{i}"]
        return ColumnStats(
            source=source,
            column=plan.column,
            kind=plan.kind,
            batch=batch,
            count=n,
            nulls=n - nonnull,
            nan=nan,
            inf=inf,
            min=row[f"min{i}"],
            max=row[f"max{i}"],
            mean=row[f"mean{i}"],
            std=row[f"std{i}"],
            quantiles=dict(zip(QUANTILES, (float(x) for x in q), strict=True)) if q else {},
            bin_edges=plan.edges,
            bin_counts=_bin_counts(row.get(f"h{i}"), plan.edges, int(row[f"fin{i}"])),
            distinct=int(row[f"d{i}"]),
        )
    categories: dict[str, int] = {}
    if plan.kind != "numeric" and plan.top_k and nonnull > 0:
        # No counts for a group with values: it had more than CATEGORY_CAP distinct ones.
        categories = dict(top) if top else {HIGH_CARDINALITY: nonnull}
    lengths = plan.kind == "categorical" and plan.top_k
    return ColumnStats(
        source=source,
        column=plan.column,
        kind=plan.kind,
        batch=batch,
        count=n,
        nulls=n - nonnull,
        min=row.get(f"lmin{i}") if lengths else None,
        max=row.get(f"lmax{i}") if lengths else None,
        mean=row.get(f"lmean{i}") if lengths else row.get(f"mean{i}"),
        std=row.get(f"lstd{i}") if lengths else None,
        categories=categories,
        distinct=int(row[f"d{i}"]),
    )


def _square(x: float | None) -> float:
    """x squared, inf past the float range (``**`` raises there); 0 for None."""
    return float(x) * float(x) if x is not None else 0.0


def merge_groups(
    plan: ColumnPlan, parts: Sequence[ColumnStats], quantiles: dict[float, float], distinct: int | None,
    batch: datetime | None = None,
) -> ColumnStats:
    """One column's statistics over the union of disjoint groups, from each group's statistics
    (a reference's whole from its chunks, without another pass over the rows).

    Counts, bins and categories add up; min and max are the extremes; mean and standard
    deviation are pooled (Chan et al.'s parallel formula). Quantiles and the numeric distinct
    count cannot be merged: the caller gives them (from a sample of the rows). A categorical
    column is high-cardinality when any group is, or when its merged values pass CATEGORY_CAP.
    """
    first = parts[0]
    if len(parts) == 1:  # nothing to merge
        return replace(first, batch=batch, quantiles=dict(quantiles) if first.kind == "numeric" else first.quantiles,
                       distinct=first.distinct if distinct is None else distinct)
    count, nulls = sum(p.count for p in parts), sum(p.nulls for p in parts)
    if plan.kind == "numeric":
        valued = [p for p in parts if p.valid > 0 and p.mean is not None]
        n = sum(p.valid for p in valued)
        # Weights, not sums of values: no overflow before the statistic itself overflows.
        mean = sum(p.valid / n * float(p.mean or 0.0) for p in valued) if n else None
        m2 = sum((p.valid - 1) * _square(p.std) + p.valid * _square(float(p.mean or 0.0) - (mean or 0.0))
                 for p in valued)
        return ColumnStats(
            source=first.source, column=first.column, kind=plan.kind, batch=batch, count=count, nulls=nulls,
            nan=sum(p.nan for p in parts), inf=sum(p.inf for p in parts),
            min=min((float(p.min) for p in valued if p.min is not None), default=None),
            max=max((float(p.max) for p in valued if p.max is not None), default=None),
            mean=mean, std=math.sqrt(max(m2, 0.0) / (n - 1)) if n > 1 else None, quantiles=dict(quantiles),
            bin_edges=plan.edges, bin_counts=tuple(sum(c) for c in zip(*(p.bin_counts for p in parts), strict=True)),
            distinct=distinct,
        )
    nonnull = count - nulls
    high = any(p.high_cardinality for p in parts)
    merged: dict[str, int] = {}
    if not high:
        for p in parts:
            for v, k in p.categories.items():
                merged[v] = merged.get(v, 0) + k
        high = len(merged) > CATEGORY_CAP
    categories = {HIGH_CARDINALITY: nonnull} if high and nonnull > 0 else ({} if high else merged)
    valued = [p for p in parts if p.count - p.nulls > 0 and p.mean is not None]
    stats: dict[str, Any] = {"mean": None, "min": None, "max": None, "std": None}
    if plan.kind == "categorical" and not high and merged:
        stats = {k[1:]: v for k, v in _length_stats(merged).items()}  # lmin -> min, ...
    elif valued:
        n = sum(p.count - p.nulls for p in valued)
        mean = sum((p.count - p.nulls) / n * float(p.mean or 0.0) for p in valued)
        stats["mean"] = mean
        if plan.kind == "categorical":  # length statistics of a high-cardinality column, pooled
            m2 = sum((p.count - p.nulls - 1) * _square(p.std) + (p.count - p.nulls) * _square(float(p.mean or 0.0) - mean)
                     for p in valued)
            stats.update(min=min(p.min for p in valued if p.min is not None),
                         max=max(p.max for p in valued if p.max is not None),
                         std=math.sqrt(max(m2, 0.0) / (n - 1)) if n > 1 else None)
    known = len(merged) if not high else max((p.distinct or 0 for p in parts), default=0)
    return ColumnStats(
        source=first.source, column=first.column, kind=plan.kind, batch=batch, count=count, nulls=nulls,
        categories=categories, distinct=known if distinct is None else distinct, **stats,
    )
