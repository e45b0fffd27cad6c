"""Reference statistics: computed once per reference version and reused.

The reference is a file of the served features + score (Parquet, CSV or JSON Lines,
relative to the storage root) or a window of production batches. Whole-reference stats
carry the histogram bin edges (decile cut points) every batch is counted against;
per-chunk stats (batch windows if the reference has the timestamp column, else
``chunk_rows`` rows) let checks calibrate their thresholds. ETL columns get the
reference of the feature whose lineage names them, stored under their own name.

A new reference (file hash or window content changed) invalidates every batch's
column stats, so the next profile recomputes them against the new bin edges.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import duckdb
import pyarrow as pa

from core.config import VigilConfig
from core.decision_value import match_sql
from core.ids import sha256_file
from core.model_kinds import BINARY, MULTICLASS, REGRESSION, model_kind
from core.sql import ident
from core.stores import Warehouse
from profilers import column_sql
from profilers.column_sql import (
    COLUMN_BATCH,
    ColumnPlan,
    group_sizes,
    merge_groups,
    stats_by_group_and_segment,
)
from profilers.ingest import inspect_file, read_sql
from profilers.multiclass import reference_class_columns, top_class_inner
from profilers.profile import profiled_columns, table_exists
from profilers.segments import (
    LIVE_ARROW_TYPES,
    SegmentDef,
    define_segments,
    live_cells_sql,
    score_bin_edges,
    segment_projection,
    split_cells,
    store_definitions,
)
from profilers.sources import (
    PREDICTIONS,
    bucket_sql,
    fetch_one,
    file_format,
    prediction_spec,
    renamed_sql,
    window_micros,
)
from profilers.stats_store import STAT_ARROW_TYPES, column_stats_values, insert_stat_rows
from profilers.stats_types import CATEGORY_CAP, QUANTILES, ColumnStats

BINS = 10  # decile bins: 9 interior cut points
# Rows the decile cut points are taken from: a larger reference gives them from a uniform
# sample of about this many rows (rank error of a cut: standard deviation <= 0.16%); the
# reference's own bin counts are still counted over every row against those cut points.
EDGE_SAMPLE = 100_000
_CUTS = "[" + ", ".join(repr(i / BINS) for i in range(1, BINS)) + "]"  # constants of this module


class ReferenceError(ValueError):
    """The configured reference cannot be read."""


def reference_relation(
    cfg: VigilConfig, conn: duckdb.DuckDBPyConnection
) -> tuple[str, list[Any], str, str] | None:
    """(relation SQL, params, fingerprint, description) of the configured reference, its columns
    under Vigil's names (source columns mapped by ``features[].column`` renamed), in any format.

    None for a window reference whose window has no rows yet.
    """
    ref = cfg.reference
    assert ref is not None
    if ref.kind == "file":
        assert ref.path is not None
        path = cfg.resolve(ref.path)
        if not path.is_file():
            raise ReferenceError(
                f"{path}: reference file not found (hint: check reference.path in {cfg.source_file})"
            )
        fmt = file_format(path)
        try:
            source_columns, _ = inspect_file(path, fmt, cfg.storage.duckdb_memory_limit)
        except Exception as e:  # BadFile: a reference that does not load is a config error
            raise ReferenceError(f"{path}: reference file cannot be read: {e}") from None
        relation = f"(SELECT * FROM {renamed_sql(read_sql(fmt), cfg.column_map, source_columns)})"  # noqa: S608
        return relation, [str(path)], sha256_file(str(path)), str(path)
    assert ref.start is not None and ref.end is not None
    if not table_exists(conn, PREDICTIONS):
        return None  # nothing ingested yet: no reference until the window has rows
    ts = ident(cfg.predictions.timestamp_column)
    rel = f"(SELECT * FROM predictions WHERE {ts} >= ? AND {ts} < ?)"  # noqa: S608
    params: list[Any] = [ref.start.replace(tzinfo=None), ref.end.replace(tzinfo=None)]
    row = fetch_one(conn.execute(f"SELECT count(*), max({ts}) FROM {rel}", params))  # noqa: S608
    if not row or not row[0]:
        return None
    desc = f"window {ref.start.isoformat()} .. {ref.end.isoformat()}"
    return rel, params, f"{desc}: {row[0] if row else 0} rows, newest {row[1] if row else None}", desc


def _columns(conn: duckdb.DuckDBPyConnection, relation: str, params: list[Any]) -> dict[str, str]:
    sql = f"DESCRIBE SELECT * FROM {relation}"  # noqa: S608
    return {str(r[0]): str(r[1]) for r in conn.execute(sql, params).fetchall()}


def bin_edges(
    conn: duckdb.DuckDBPyConnection, relation: str, params: list[Any], columns: list[str], rows: int | None = None
) -> dict[str, tuple[float, ...]]:
    """Decile cut points of each column's finite values, deduplicated (discrete columns get fewer).

    ``rows`` (the relation's row count): above EDGE_SAMPLE rows the cut points are the exact
    deciles of a uniform sample of about EDGE_SAMPLE rows (an exact quantile sorts its whole
    column: at a million rows and 800 columns that is most of the reference's cost).
    """
    return edges_and_sample(conn, relation, params, columns, rows)[0]


def edges_and_sample(
    conn: duckdb.DuckDBPyConnection, relation: str, params: list[Any], columns: list[str], rows: int | None = None,
    whole: bool = False,
) -> tuple[dict[str, tuple[float, ...]], dict[str, dict[float, float]], dict[str, int]]:
    """bin_edges, and with ``whole`` (``rows`` known) from the same sampled rows what a whole
    reference merged from its chunks cannot add up: each column's quantiles (the reservoir of
    an about QUANTILE_SAMPLE-row subsample, as a batch's) and distinct count (of the edge
    sample: a lower bound above EDGE_SAMPLE rows, exact below; it only tells discrete columns).

    The rows are sampled before anything is computed on them (a WHERE on one random draw per
    row; the quantile subsample is the same draw below a smaller rate).
    """
    if not columns:
        return {}, {}, {}
    edges: dict[str, tuple[float, ...]] = {}
    quantiles: dict[str, dict[float, float]] = {}
    distinct: dict[str, int] = {}
    edge_rate = EDGE_SAMPLE / rows if rows is not None and rows > EDGE_SAMPLE else 1.0
    q_rate = column_sql.QUANTILE_SAMPLE / rows if rows is not None and rows > column_sql.QUANTILE_SAMPLE else 1.0
    source = f"(SELECT * FROM (SELECT random() AS _vigil_u, * FROM {relation}) WHERE _vigil_u < ?)"  # noqa: S608
    # Exact quantiles hold their column in memory: columns in batches keep that bounded.
    for start in range(0, len(columns), COLUMN_BATCH):
        batch = columns[start : start + COLUMN_BATCH]
        parts = []
        for c in batch:
            v = f"CAST({ident(c)} AS DOUBLE)"
            parts.append(f"quantile_cont(CASE WHEN isfinite({v}) THEN {v} END, {_CUTS})")
            if whole:
                parts.append(f"reservoir_quantile(CASE WHEN _vigil_u < {q_rate!r} AND isfinite({v}) THEN {v} END, "
                             f"{column_sql.QUANTILE_LIST}, {column_sql.RESERVOIR})")
                parts.append(f"approx_count_distinct({v})")
        row = fetch_one(conn.execute(f"SELECT {', '.join(parts)} FROM {source}", [*params, edge_rate]))  # noqa: S608
        values = list(row) if row else [None] * len(parts)
        step = 3 if whole else 1
        for j, c in enumerate(batch):
            cuts = values[j * step]
            edges[c] = tuple(sorted({float(x) for x in cuts})) if cuts else ()
            if whole:
                q = values[j * step + 1]
                quantiles[c] = dict(zip(QUANTILES, (float(x) for x in q), strict=True)) if q else {}
                distinct[c] = int(values[j * step + 2] or 0)
    return edges, quantiles, distinct


def _chunking(
    cfg: VigilConfig, conn: duckdb.DuckDBPyConnection, columns: dict[str, str], n_rows: int
) -> tuple[str, list[Any]]:
    """SQL for the chunk key and its parameters: batch windows if timestamped, else row blocks."""
    ts = cfg.predictions.timestamp_column
    if ts in columns:
        return bucket_sql(f"CAST({ident(ts)} AS TIMESTAMP)"), [window_micros(cfg)]
    size = cfg.reference.chunk_rows if cfg.reference and cfg.reference.chunk_rows else None
    if size is None:
        size = _typical_batch_rows(conn) or max(50, n_rows // 10)
    return "(_vigil_row - 1) // ?", [int(size)]


def _typical_batch_rows(conn: duckdb.DuckDBPyConnection) -> int | None:
    row = fetch_one(conn.execute("SELECT median(prediction_rows) FROM batches WHERE prediction_rows > 0"))
    return int(row[0]) if row and row[0] else None


def compute_reference(
    cfg: VigilConfig, conn: duckdb.DuckDBPyConnection, relation: str, params: list[Any]
) -> list[tuple[int, datetime | None, ColumnStats]]:
    """(chunk, chunk_start, stats) rows for the served features and the score; chunk -1 is the whole."""
    return compute_reference_segmented(cfg, conn, relation, params).overall


class SegmentReference:
    """The segment side of a reference computation (empty without configured segments)."""

    def __init__(self) -> None:
        self.overall: list[tuple[int, datetime | None, ColumnStats]] = []
        self.definitions: list[SegmentDef] = []
        self.score_edges: tuple[float, ...] = ()
        self.stats: list[tuple[int, datetime | None, str, str, ColumnStats]] = []  # chunk, start, segment, label
        self.live: list[list[Any]] = []  # chunk, segment, label, *cell


def numbered_parquet(cfg: VigilConfig) -> tuple[str, list[Any]] | None:
    """A Parquet file reference as a relation that numbers its rows itself (``_vigil_row``, from
    the reader's file_row_number), under Vigil's column names; None for any other reference."""
    ref = cfg.reference
    if ref is None or ref.kind != "file" or ref.path is None:
        return None
    path = cfg.resolve(ref.path)
    if file_format(path) != "parquet":
        return None
    source_columns, _ = inspect_file(path, "parquet", cfg.storage.duckdb_memory_limit)
    if {"file_row_number", "_vigil_row"} & set(source_columns):
        return None  # a column of that name: number the rows in a temporary table instead
    read = renamed_sql("read_parquet(?, file_row_number = true)", cfg.column_map, source_columns)
    return (f"(SELECT * EXCLUDE (file_row_number), file_row_number + 1 AS _vigil_row FROM {read})",  # noqa: S608
            [str(path)])


def compute_reference_segmented(
    cfg: VigilConfig, conn: duckdb.DuckDBPyConnection, relation: str, params: list[Any], numbered: bool = False
) -> SegmentReference:
    """compute_reference, plus every segment's statistics (whole and chunks) from the same
    grouped queries, and the reference's live-test-set cells per segment.

    ``numbered``: the relation already yields ``_vigil_row`` (numbered_parquet) and is read
    in place; else it is read once into a temporary table that numbers the rows.
    """
    out = SegmentReference()
    if not numbered:
        # Read the reference once into a temporary table: every statistic below scans it.
        # Row numbers are taken here, once: a window in the chunk query would materialise every
        # column of the reference again for each batch of columns. (A Parquet file needs
        # neither: its reader numbers the rows, and a wide reference of a million rows would
        # be gigabytes of temporary table.)
        conn.execute(
            f"CREATE OR REPLACE TEMP TABLE _vigil_reference AS SELECT *, row_number() OVER () AS _vigil_row FROM {relation}",  # noqa: S608
            params,
        )
        relation, params = "_vigil_reference", []
    columns = _columns(conn, relation, params)
    spec = prediction_spec(cfg)
    wanted = [(c, kind) for c, kind, _, _ in profiled_columns(cfg, spec) if c in columns]
    row = fetch_one(conn.execute(f"SELECT count(*) FROM {relation}", params))  # noqa: S608
    n_rows = int(row[0]) if row else 0
    defs = define_segments(cfg, conn, relation, params, list(columns)) if cfg.segments else []
    out.definitions = defs
    seg_sql, seg_params = segment_projection(defs)
    keys = [d.key for d in defs]
    key_sql, key_params = _chunking(cfg, conn, columns, n_rows)
    numeric = [c for c, kind in wanted if kind == "numeric"]
    sizes = group_sizes(conn, f"(SELECT {key_sql} AS _g FROM {relation})", key_params + params)  # noqa: S608
    # Several chunks and no segments: the whole is merged from the chunks' statistics (one pass
    # over the rows, not two), its quantiles and distinct counts taken with the cut points.
    merged = not defs and len(sizes) > 1
    edges, whole_quantiles, whole_distinct = edges_and_sample(conn, relation, params, numeric, n_rows, whole=merged)
    plans = [ColumnPlan(c, kind, edges.get(c, ())) for c, kind in wanted]
    cols = ", ".join(ident(p.column) for p in plans) + (f", {seg_sql}" if seg_sql else "")
    chunk_rel = f"(SELECT {key_sql} AS _g, {cols} FROM {relation})"  # noqa: S608
    chunk_params = key_params + seg_params + params
    whole: dict[Any, list[ColumnStats]] = {}
    whole_seg: dict[Any, list[ColumnStats]] = {}
    if not merged:
        whole_rel = f"(SELECT 0 AS _g, {cols} FROM {relation})"  # noqa: S608
        whole, whole_seg = stats_by_group_and_segment(
            conn, whole_rel, seg_params + params, plans, PREDICTIONS, {0: None}, keys, group_rows={0: n_rows}
        )
    if len(sizes) == 1 and sum(sizes.values()) == n_rows and 0 in whole:
        # One chunk of every row (a reference no bigger than a batch): its statistics are the
        # whole reference's, not a second pass over the same rows.
        [g] = sizes
        grouped = {g: whole[0]}
        grouped_seg = {(g, k, label): stats for (_, k, label), stats in whole_seg.items()}
    else:
        grouped, grouped_seg = stats_by_group_and_segment(
            conn, chunk_rel, chunk_params, plans, PREDICTIONS, None, keys, group_rows=sizes
        )
    if merged and grouped:
        whole = {0: []}
        for j, plan in enumerate(plans):
            parts = [stats[j] for stats in grouped.values()]
            # A numeric column's distinct count: of the edge sample, and never below a chunk's.
            distinct = (max([whole_distinct.get(plan.column, 0), *(p.distinct or 0 for p in parts)])
                        if plan.kind == "numeric" else None)
            whole[0].append(merge_groups(plan, parts, whole_quantiles.get(plan.column, {}), distinct))
    for s in whole.get(0, []):
        out.overall.append((-1, None, s))
    for (_, k, label), stats in whole_seg.items():
        out.stats += [(-1, None, defs[k].name, label, s) for s in stats]
    index = {g: i for i, g in enumerate(sorted(grouped))}
    for g, i in index.items():
        start = g if isinstance(g, datetime) else None
        for s in grouped[g]:
            out.overall.append((i, start, ColumnStats(**{**s.__dict__, "batch": start})))
    for (g, k, label), stats in grouped_seg.items():
        start = g if isinstance(g, datetime) else None
        out.stats += [(index[g], start, defs[k].name, label, ColumnStats(**{**s.__dict__, "batch": start})) for s in stats]
    if defs:
        _reference_live(cfg, conn, relation, params, columns, defs, (key_sql, key_params), out)
    if not numbered:
        conn.execute("DROP TABLE _vigil_reference")
    return out


def _reference_live(
    cfg: VigilConfig, conn: duckdb.DuckDBPyConnection, relation: str, params: list[Any], columns: dict[str, str],
    defs: list[SegmentDef], chunking: tuple[str, list[Any]], out: SegmentReference,
) -> None:
    """Live-test-set cells of the reference per segment (whole: chunk -1, and per chunk), when the
    reference has the score; labels and decisions when it has them."""
    p = cfg.predictions
    score = p.score_column
    if model_kind(cfg.model.task) in MULTICLASS:
        _reference_live_multiclass(cfg, conn, relation, params, columns, defs, chunking, out)
        return
    if model_kind(cfg.model.task) not in BINARY | REGRESSION or not score or score not in columns:
        return
    out.score_edges = score_bin_edges(conn, relation, params, score)
    label = cfg.labels.label_column if cfg.labels else None
    y = f"TRY_CAST({ident(label)} AS DOUBLE)" if label and label in columns else "CAST(NULL AS DOUBLE)"
    approved, a_params = "false", list[Any]()
    if p.decision_column and p.positive_decision is not None and p.decision_column in columns:
        approved, a_params = match_sql(ident(p.decision_column), p.positive_decision)
    seg_sql, seg_params = segment_projection(defs)
    keys = [d.key for d in defs]
    key_sql, key_params = chunking
    for whole in (True, False):
        g = "-1" if whole else key_sql
        inner = (f"(SELECT {g} AS _g, CAST({ident(score)} AS DOUBLE) AS score, {y} AS y, {approved} AS approved, "  # noqa: S608
                 f"{seg_sql} FROM {relation})")
        sql, bin_params = live_cells_sql(inner, "_g", keys, out.score_edges)
        inner_params = ([] if whole else list(key_params)) + a_params + seg_params + params
        rows = conn.execute(sql, bin_params + inner_params).fetchall()
        cells = split_cells(rows, defs)
        order = {g: i for i, g in enumerate(sorted({c[0] for c in cells}))}
        out.live += [[-1 if whole else order[grp], name, lab, *cell] for grp, name, lab, cell in cells]


def _reference_live_multiclass(
    cfg: VigilConfig, conn: duckdb.DuckDBPyConnection, relation: str, params: list[Any], columns: dict[str, str],
    defs: list[SegmentDef], chunking: tuple[str, list[Any]], out: SegmentReference,
) -> None:
    """A multiclass model's reference live cells per segment (whole and per chunk): over the
    predicted class, right or wrong (profilers.multiclass.top_class_inner), when the reference
    has every class probability column."""
    found = reference_class_columns(cfg, list(columns))
    if found is None:
        return
    cls_sql, cls_params = found
    seg_sql, seg_params = segment_projection(defs)
    keys = [d.key for d in defs]
    key_sql, key_params = chunking
    for whole in (True, False):
        g = "-1" if whole else key_sql
        source = f"(SELECT {g} AS _g, {cls_sql}, {seg_sql} FROM {relation})"  # noqa: S608
        inner, inner_params = top_class_inner(cfg, source, "_g", keys)
        sql, bin_params = live_cells_sql(inner, "_g", keys, (), bin_column="cls_bin")
        source_params = ([] if whole else list(key_params)) + cls_params + seg_params + params
        rows = conn.execute(sql, bin_params + inner_params + source_params).fetchall()  # in the SQL's order
        cells = split_cells(rows, defs)
        order = {g: i for i, g in enumerate(sorted({c[0] for c in cells}))}
        out.live += [[-1 if whole else order[grp], name, lab, *cell] for grp, name, lab, cell in cells]


def _renamed(s: ColumnStats, source: str, column: str) -> ColumnStats:
    return ColumnStats(**{**s.__dict__, "source": source, "column": column})


def ensure_reference(cfg: VigilConfig, wh: Warehouse) -> None:
    """Compute the reference statistics unless the stored ones are of the same reference."""
    if cfg.reference is None:
        return
    with wh.write() as conn:
        found = reference_relation(cfg, conn)
        if found is None:
            return
        relation, params, fingerprint, description = found
        # The profiled columns are part of the identity: a config change recomputes.
        fingerprint += "|" + ",".join(
            f"{c}:{k}" for c, k, _, _ in profiled_columns(cfg, prediction_spec(cfg))
        )
        # Category statistics: full counts up to the cap (older references kept the top 20 only).
        fingerprint += f"|bins={BINS}|categories<={CATEGORY_CAP}|lineage=" + ",".join(
            sorted(f"{f.name}={f.served_from}" for f in cfg.features if f.served_from)
        )
        if cfg.segments:  # the segment cut is part of the identity too
            fingerprint += "|segments=" + ";".join(s.model_dump_json() for s in cfg.segments)
        row = fetch_one(conn.execute("SELECT fingerprint FROM reference_meta"))
        if row and row[0] == fingerprint:
            return
        numbered = numbered_parquet(cfg)
        if numbered is not None:
            computed = compute_reference_segmented(cfg, conn, *numbered, numbered=True)
        else:
            computed = compute_reference_segmented(cfg, conn, relation, params)
        rows = computed.overall
        _store_segments(conn, computed)
        lineage = {f.name: f.served_from.split(".", 1) for f in cfg.features if f.served_from}
        conn.execute("DELETE FROM reference_stats")
        values: list[list[Any]] = []
        for chunk, start, s in rows:
            values.append(_values(chunk, start, s))
            if s.column in lineage:
                table, col = lineage[s.column]
                values.append(_values(chunk, start, _renamed(s, table, col)))
        types = [pa.string(), pa.string(), pa.int64(), pa.timestamp("us"), *STAT_ARROW_TYPES]
        insert_stat_rows(conn, "reference_stats", types, values)
        n_chunks = len({c for c, _, _ in rows if c >= 0})
        n_rows = max((s.count for c, _, s in rows if c == -1), default=0)
        conn.execute("DELETE FROM reference_meta")
        conn.execute(
            "INSERT INTO reference_meta VALUES (?, ?, ?, ?, now())",
            [fingerprint, description, n_rows, n_chunks],
        )
        # Stats of every batch were counted against the old bin edges: re-profile them all.
        conn.execute("DELETE FROM batches")


def _store_segments(conn: duckdb.DuckDBPyConnection, computed: SegmentReference) -> None:
    """Replace the stored segment cut, segment reference statistics and reference live cells."""
    conn.execute("DELETE FROM segment_reference_stats")
    conn.execute("DELETE FROM segment_reference_live")
    store_definitions(conn, computed.definitions, computed.score_edges)
    # Every batch's segment statistics were cut the old way: they go with the batches' stats.
    conn.execute("DELETE FROM segment_column_stats")
    conn.execute("DELETE FROM segment_live_stats")
    values = [[s.source, s.column, chunk, start, name, label, *column_stats_values(s)]
              for chunk, start, name, label, s in computed.stats]
    types = [pa.string(), pa.string(), pa.int64(), pa.timestamp("us"), pa.string(), pa.string(), *STAT_ARROW_TYPES]
    insert_stat_rows(conn, "segment_reference_stats", types, values)
    insert_stat_rows(conn, "segment_reference_live", [pa.int64(), *LIVE_ARROW_TYPES], computed.live)


def _values(chunk: int, start: datetime | None, s: ColumnStats) -> list[Any]:
    return [s.source, s.column, chunk, start, *column_stats_values(s)]
