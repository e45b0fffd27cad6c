"""Reading statistics for the runner: whole batches at once, recent history, fallbacks."""

from __future__ import annotations

from datetime import datetime

import duckdb

from checks.subjects import PREDICTIONS
from core.config import VigilConfig
from core.sql import ident
from profilers import stats_store
from profilers.sources import bucket_sql, window_micros
from profilers.stats_types import ColumnStats


def table_exists(conn: duckdb.DuckDBPyConnection, name: str) -> bool:
    # fetchall: DuckDB 2 keeps a fetchone() result open, blocking the next statement.
    rows = conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]).fetchall()
    return bool(rows and rows[0][0])


# Same columns, same order as profilers.stats_store.column_stats_from_row unpacks.
_STAT_COLUMNS = ("kind, count, nulls, nan, inf, min, max, mean, std, quantiles_json, bin_edges_json, "
                 "bin_counts_json, categories_json, distinct_count")


class ColumnStatsCache:
    """Column statistics of whole batches, one query per batch instead of one per column.

    Statistics do not change during a run, so batches loaded for one batch's history are
    reused by the next batch.
    """

    def __init__(self) -> None:
        self._by_batch: dict[datetime, dict[tuple[str, str], ColumnStats]] = {}

    def get(self, conn: duckdb.DuckDBPyConnection, source: str, column: str, batch: datetime) -> ColumnStats | None:
        if batch not in self._by_batch:
            rows = conn.execute(
                f"SELECT source, column_name, {_STAT_COLUMNS} FROM column_stats WHERE batch = ?",  # noqa: S608
                [batch],
            ).fetchall()
            self._by_batch[batch] = {
                (r[0], r[1]): stats_store.column_stats_from_row(r[0], r[1], batch, r[2:]) for r in rows
            }
        return self._by_batch[batch].get((source, column))


def recent_batches(conn: duckdb.DuckDBPyConnection, batch: datetime, n: int) -> list[datetime]:
    """Up to n profiled batches before this one, newest last."""
    if n <= 0:
        return []
    earlier = [b for b in stats_store.list_batches(conn) if b < batch]
    return earlier[-n:]


def recent_rows(conn: duckdb.DuckDBPyConnection, source: str, history: list[datetime], n: int) -> list[int]:
    rows = []
    for b in history[-n:]:
        t = stats_store.load_table_stats(conn, source, b)
        if t is not None and t.row_count > 0:
            rows.append(t.row_count)
    return rows


def fallback_stats(conn: duckdb.DuckDBPyConnection, cfg: VigilConfig, column: str, batch: datetime) -> ColumnStats | None:
    """Counts of the fallback flag for a batch, when the profilers do not profile that column.

    One aggregate over the batch's rows (no rows leave DuckDB); stored as a boolean
    ColumnStats so the fallback_rate check reads it like any other statistics.
    """
    if not table_exists(conn, PREDICTIONS):
        return None
    ts = ident(cfg.predictions.timestamp_column)
    flag = f"CAST({ident(column)} AS BOOLEAN)"
    rows = conn.execute(
        f"SELECT count(*), count(*) FILTER (WHERE {flag} IS NULL), count(*) FILTER (WHERE {flag}), "  # noqa: S608
        f"count(*) FILTER (WHERE NOT {flag}) FROM predictions WHERE {bucket_sql(ts)} = ?",
        [window_micros(cfg), batch],
    ).fetchall()  # fetchall: DuckDB 2 keeps a fetchone() result open, blocking the next statement
    row = rows[0] if rows else None
    if not row or not row[0]:
        return None
    total, nulls, trues, falses = (int(x) for x in row)
    return ColumnStats(PREDICTIONS, column, "boolean", batch, total, nulls=nulls,
                       categories={"true": trues, "false": falses}, distinct=int(trues > 0) + int(falses > 0))
