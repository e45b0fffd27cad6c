"""Readers over the statistics tables (a DuckDB connection in, typed stats out).

Also the row <-> type conversions the profilers use when writing, so the stored form
lives in one place, and a few named queries for the app's pages.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any, cast

import duckdb
import pyarrow as pa

from core.sql import ident
from profilers.sources import PREDICTIONS, fetch_one
from profilers.stats_types import ColumnKind, ColumnStats, PerformanceStats, ReferenceStats, TableStats

# Column order of column_stats / reference_stats shared by the readers below.
_STAT_COLUMNS = (
    "kind, count, nulls, nan, inf, min, max, mean, std, quantiles_json, bin_edges_json, "
    "bin_counts_json, categories_json, distinct_count"
)


def _finite(v: Any) -> float | None:
    if v is None:
        return None
    f = float(v)
    return f if math.isfinite(f) else None


def column_stats_values(s: ColumnStats) -> list[Any]:
    """The stat columns of a ColumnStats, in _STAT_COLUMNS order."""
    return [
        s.kind,
        s.count,
        s.nulls,
        s.nan,
        s.inf,
        _finite(s.min),
        _finite(s.max),
        _finite(s.mean),
        _finite(s.std),
        json.dumps({repr(q): v for q, v in s.quantiles.items()}),
        json.dumps(list(s.bin_edges)),
        json.dumps(list(s.bin_counts)),
        json.dumps(s.categories),
        s.distinct,
    ]


# Arrow types of column_stats_values(), in order.
STAT_ARROW_TYPES = (
    [pa.string()] + [pa.int64()] * 4 + [pa.float64()] * 4 + [pa.string()] * 4 + [pa.int64()]
)


def insert_stat_rows(
    conn: duckdb.DuckDBPyConnection, table: str, types: list[pa.DataType], rows: list[list[Any]],
    stamp: bool = False,
) -> None:
    """INSERT many stats rows (values in the table's column order, of ``types``) in one statement.

    One set-based insert through Arrow: a row-at-a-time INSERT costs a round trip per
    column and chunk, which dominates at 1,000 columns. ``stamp`` appends now().
    """
    if not rows:
        return
    columns = list(zip(*rows, strict=True))
    frame = pa.table(
        [pa.array(list(col), type=t) for col, t in zip(columns, types, strict=True)],
        names=[f"c{i}" for i in range(len(types))],
    )
    conn.register("_vigil_new_stats", frame)
    try:
        conn.execute(f"INSERT INTO {ident(table)} SELECT *{', now()' if stamp else ''} FROM _vigil_new_stats")  # noqa: S608
    finally:
        conn.unregister("_vigil_new_stats")


def column_stats_from_row(
    source: str, column: str, batch: datetime | None, row: tuple[Any, ...]
) -> ColumnStats:
    (kind, count, nulls, nan, inf, mn, mx, mean, std, q_json, e_json, b_json, c_json, distinct) = row
    return ColumnStats(
        source=source,
        column=column,
        kind=cast(ColumnKind, kind),
        batch=batch,
        count=int(count),
        nulls=int(nulls),
        nan=int(nan),
        inf=int(inf),
        min=mn,
        max=mx,
        mean=mean,
        std=std,
        quantiles={float(k): float(v) for k, v in json.loads(q_json or "{}").items()},
        bin_edges=tuple(float(e) for e in json.loads(e_json or "[]")),
        bin_counts=tuple(int(c) for c in json.loads(b_json or "[]")),
        categories={str(k): int(v) for k, v in json.loads(c_json or "{}").items()},
        distinct=None if distinct is None else int(distinct),
    )


# ---- contract readers ---------------------------------------------------------------------


def list_batches(conn: duckdb.DuckDBPyConnection) -> list[datetime]:
    """Prediction-log batches that have been profiled, oldest first."""
    rows = conn.execute("SELECT batch FROM batches WHERE prediction_rows > 0 ORDER BY batch").fetchall()
    return [r[0] for r in rows]


def event_now(conn: duckdb.DuckDBPyConnection) -> datetime | None:
    """Event-time 'now': the newest prediction timestamp ingested."""
    row = fetch_one(conn.execute("SELECT max(newest) FROM table_stats WHERE source = ?", [PREDICTIONS]))
    return row[0] if row else None


def load_column_stats(
    conn: duckdb.DuckDBPyConnection, source: str, column: str, batch: datetime
) -> ColumnStats | None:
    row = fetch_one(
        conn.execute(
            f"SELECT {_STAT_COLUMNS} FROM column_stats WHERE source = ? AND column_name = ? AND batch = ?",  # noqa: S608
            [source, column, batch],
        )
    )
    return column_stats_from_row(source, column, batch, row) if row else None


def load_reference(conn: duckdb.DuckDBPyConnection, source: str, column: str) -> ReferenceStats | None:
    """Whole-reference stats and calibration chunks. ETL columns were stored under their own
    name by ensure_reference, from the feature whose lineage names them."""
    rows = conn.execute(
        f"SELECT chunk, chunk_start, {_STAT_COLUMNS} FROM reference_stats "  # noqa: S608
        "WHERE source = ? AND column_name = ? ORDER BY chunk",
        [source, column],
    ).fetchall()
    if not rows or rows[0][0] != -1:
        return None
    whole = column_stats_from_row(source, column, None, rows[0][2:])
    chunks = tuple(column_stats_from_row(source, column, r[1], r[2:]) for r in rows[1:])
    return ReferenceStats(whole=whole, chunks=chunks)


def load_all_references(conn: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], ReferenceStats]:
    """load_reference of every stored (source, column), in one query (not one per column)."""
    rows = conn.execute(
        f"SELECT source, column_name, chunk, chunk_start, {_STAT_COLUMNS} FROM reference_stats "  # noqa: S608
        "ORDER BY source, column_name, chunk"
    ).fetchall()
    grouped: dict[tuple[str, str], list[tuple[Any, ...]]] = {}
    for r in rows:
        grouped.setdefault((str(r[0]), str(r[1])), []).append(r)
    out: dict[tuple[str, str], ReferenceStats] = {}
    for (source, column), rs in grouped.items():
        if rs[0][2] != -1:
            continue
        whole = column_stats_from_row(source, column, None, rs[0][4:])
        chunks = tuple(column_stats_from_row(source, column, r[3], r[4:]) for r in rs[1:])
        out[(source, column)] = ReferenceStats(whole=whole, chunks=chunks)
    return out


def load_table_stats(conn: duckdb.DuckDBPyConnection, source: str, batch: datetime) -> TableStats | None:
    row = fetch_one(
        conn.execute(
            "SELECT row_count, newest, freshness_lag_seconds, duplicate_keys, columns_json, missing_json, added_json, "
            "retyped_json, renamed_json FROM table_stats WHERE source = ? AND batch = ?",
            [source, batch],
        )
    )
    if row is None:
        return None
    return TableStats(
        source=source,
        batch=batch,
        row_count=int(row[0]),
        newest=row[1],
        freshness_lag_seconds=row[2],
        duplicate_keys=int(row[3]),
        columns=json.loads(row[4] or "{}"),
        missing_columns=tuple(json.loads(row[5] or "[]")),
        added_columns=tuple(json.loads(row[6] or "[]")),
        retyped_columns=json.loads(row[7] or "{}"),
        renamed_columns=json.loads(row[8] or "{}"),
    )


_PERF_COLUMNS = (
    "predictions, labeled, matured, positives, approved, approved_labeled, approved_positives, mean_score, "
    "mean_label, auc, brier, precision, recall, mae, rmse, estimated_json, metrics_json, classes_json"
)


def load_performance(conn: duckdb.DuckDBPyConnection, batch: datetime) -> PerformanceStats | None:
    row = fetch_one(conn.execute(f"SELECT {_PERF_COLUMNS} FROM performance_stats WHERE batch = ?", [batch]))  # noqa: S608
    if row is None:
        return None
    return PerformanceStats(
        batch=batch,
        predictions=int(row[0]),
        labeled=int(row[1]),
        matured=bool(row[2]),
        positives=int(row[3]),
        approved=int(row[4]),
        approved_labeled=int(row[5]),
        approved_positives=int(row[6]),
        mean_score=row[7],
        mean_label=row[8],
        auc=row[9],
        brier=row[10],
        precision=row[11],
        recall=row[12],
        mae=row[13],
        rmse=row[14],
        estimated={str(k): float(v) for k, v in json.loads(row[15] or "{}").items()},
        metrics={str(k): float(v) for k, v in json.loads(row[16] or "{}").items()},
        classes={str(c): {str(k): float(v) for k, v in d.items()} for c, d in json.loads(row[17] or "{}").items()},
    )


def label_coverage(conn: duckdb.DuckDBPyConnection) -> tuple[float, float] | None:
    """Share of rows that got a label, among rows with the positive decision and among the
    others, over every matured batch; None before any batch matured."""
    row = fetch_one(
        conn.execute(
            "SELECT sum(approved), sum(approved_labeled), sum(predictions - approved), "
            "sum(labeled - approved_labeled) FROM performance_stats WHERE matured"
        )
    )
    if row is None or row[0] is None:
        return None
    approved, approved_labeled, others, others_labeled = (int(x or 0) for x in row)
    if approved_labeled + others_labeled <= 0:
        return None
    return (approved_labeled / approved if approved else 0.0, others_labeled / others if others else 0.0)


# ---- named queries for pages and the CLI ---------------------------------------------------


def _dicts(cur: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    names = [d[0] for d in cur.description or []]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def files_ingested(conn: duckdb.DuckDBPyConnection, limit: int = 500) -> list[dict[str, Any]]:
    """Every file version seen, newest first: path, source, status, rows, sha256, replaced_sha256."""
    return _dicts(
        conn.execute(
            "SELECT path, source, status, rows, size, sha256, replaced_sha256, ingested_at FROM ingested_files "
            "ORDER BY ingested_at DESC, path LIMIT ?",
            [limit],
        )
    )


def quarantine_entries(conn: duckdb.DuckDBPyConnection, only_open: bool = True) -> list[dict[str, Any]]:
    where = "WHERE status = 'open'" if only_open else ""
    return _dicts(
        conn.execute(
            "SELECT quarantine_id, path, source, reason, detail, status, quarantined_at, resolved_at "  # noqa: S608
            f"FROM quarantine {where} ORDER BY quarantined_at DESC"
        )
    )


def batch_overview(conn: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Per batch: prediction rows, labeled rows, matured, when profiled."""
    return _dicts(
        conn.execute(
            "SELECT b.batch, b.prediction_rows, p.labeled, p.matured, b.profiled_at FROM batches b "
            "LEFT JOIN performance_stats p USING (batch) ORDER BY b.batch"
        )
    )


def profiled_columns(conn: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    return _dicts(
        conn.execute(
            "SELECT DISTINCT source, column_name, kind FROM column_stats ORDER BY source, column_name"
        )
    )


def column_over_time(conn: duckdb.DuckDBPyConnection, source: str, column: str) -> list[dict[str, Any]]:
    """One row per batch: count, null/NaN/inf counts and rates, min, max, mean, std, median, p05, p95, distinct."""
    rows = conn.execute(
        "SELECT batch, count, nulls, nan, inf, min, max, mean, std, quantiles_json, distinct_count "
        "FROM column_stats WHERE source = ? AND column_name = ? ORDER BY batch",
        [source, column],
    ).fetchall()
    out = []
    for batch, count, nulls, nan, inf, mn, mx, mean, std, q_json, distinct in rows:
        q = {float(k): v for k, v in json.loads(q_json or "{}").items()}
        out.append(
            {
                "batch": batch,
                "count": count,
                "null_rate": nulls / count if count else None,
                "nulls": nulls,
                "nan": nan,
                "inf": inf,
                "min": mn,
                "max": mx,
                "mean": mean,
                "std": std,
                "p05": q.get(0.05),
                "median": q.get(0.5),
                "p95": q.get(0.95),
                "distinct": distinct,
            }
        )
    return out


def table_over_time(conn: duckdb.DuckDBPyConnection, source: str) -> list[dict[str, Any]]:
    return _dicts(
        conn.execute(
            "SELECT batch, row_count, newest, freshness_lag_seconds, duplicate_keys, missing_json, added_json, "
            "retyped_json, renamed_json FROM table_stats WHERE source = ? ORDER BY batch",
            [source],
        )
    )


def schema_changes(conn: duckdb.DuckDBPyConnection, source: str | None = None) -> list[dict[str, Any]]:
    where = "WHERE source = ?" if source else ""
    return _dicts(
        conn.execute(
            f"SELECT path, source, change, column_name, detail, detected_at FROM schema_changes {where} "  # noqa: S608
            "ORDER BY detected_at DESC",
            [source] if source else [],
        )
    )


def raw_rows(conn: duckdb.DuckDBPyConnection, raw_table: str, limit: int = 100) -> list[dict[str, Any]]:
    """A sample of raw rows of one raw table (drill-down)."""
    return _dicts(conn.execute(f"SELECT * FROM {ident(raw_table)} LIMIT ?", [limit]))  # noqa: S608


# ---- segments (tables of migration 230) -----------------------------------------------------

SegmentKey = tuple[str, str]  # (segment name, label)


def load_segment_column_stats(
    conn: duckdb.DuckDBPyConnection, batch: datetime, source: str = PREDICTIONS
) -> dict[SegmentKey, dict[str, ColumnStats]]:
    """Every segment's column statistics of one batch: (segment, label) -> column -> stats."""
    rows = conn.execute(
        f"SELECT segment, label, column_name, {_STAT_COLUMNS} FROM segment_column_stats "  # noqa: S608
        "WHERE batch = ? AND source = ?",
        [batch, source],
    ).fetchall()
    out: dict[SegmentKey, dict[str, ColumnStats]] = {}
    for r in rows:
        out.setdefault((str(r[0]), str(r[1])), {})[str(r[2])] = column_stats_from_row(source, str(r[2]), batch, r[3:])
    return out


def load_segment_references(
    conn: duckdb.DuckDBPyConnection, source: str = PREDICTIONS
) -> dict[SegmentKey, dict[str, ReferenceStats]]:
    """Every segment's reference statistics (whole and calibration chunks), in one query."""
    rows = conn.execute(
        f"SELECT segment, label, column_name, chunk, chunk_start, {_STAT_COLUMNS} FROM segment_reference_stats "  # noqa: S608
        "WHERE source = ? ORDER BY segment, label, column_name, chunk",
        [source],
    ).fetchall()
    grouped: dict[tuple[str, str, str], list[tuple[Any, ...]]] = {}
    for r in rows:
        grouped.setdefault((str(r[0]), str(r[1]), str(r[2])), []).append(r)
    out: dict[SegmentKey, dict[str, ReferenceStats]] = {}
    for (segment, label, column), rs in grouped.items():
        if rs[0][3] != -1:
            continue  # a segment the reference's whole never had: no reference
        whole = column_stats_from_row(source, column, None, rs[0][5:])
        chunks = tuple(column_stats_from_row(source, column, r[4], r[5:]) for r in rs[1:])
        out.setdefault((segment, label), {})[column] = ReferenceStats(whole=whole, chunks=chunks)
    return out


_LIVE_CELLS = "bin, labeled, positive, approved, n, sum_score, sum_y, sum_abs_err, sum_sq_err"


def load_segment_live(
    conn: duckdb.DuckDBPyConnection, batch: datetime
) -> tuple[dict[SegmentKey, list[tuple[Any, ...]]], bool]:
    """The live-test-set cells of one batch per (segment, label) (('', '') is the whole batch),
    and whether the batch's labels have matured."""
    rows = conn.execute(
        f"SELECT segment, label, matured, {_LIVE_CELLS} FROM segment_live_stats WHERE batch = ?",  # noqa: S608
        [batch],
    ).fetchall()
    out: dict[SegmentKey, list[tuple[Any, ...]]] = {}
    for r in rows:
        out.setdefault((str(r[0]), str(r[1])), []).append(tuple(r[3:]))
    return out, bool(rows and rows[0][2])


def load_segment_reference_live(conn: duckdb.DuckDBPyConnection) -> dict[SegmentKey, dict[int, list[tuple[Any, ...]]]]:
    """The reference's live-test-set cells per (segment, label) and chunk (-1: the whole)."""
    rows = conn.execute(f"SELECT segment, label, chunk, {_LIVE_CELLS} FROM segment_reference_live").fetchall()  # noqa: S608
    out: dict[SegmentKey, dict[int, list[tuple[Any, ...]]]] = {}
    for r in rows:
        out.setdefault((str(r[0]), str(r[1])), {}).setdefault(int(r[2]), []).append(tuple(r[3:]))
    return out
