"""Named reads of the profilers' warehouse tables for the app's pages (frames for charts and tables).

``profilers.stats_store`` reads statistics as typed objects for the checks; these read the
same tables (and the ingestion log) as frames for people.
"""

from __future__ import annotations

import duckdb
import pandas as pd


def batches(conn: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return conn.execute("SELECT batch, prediction_rows, profiled_at FROM batches ORDER BY batch DESC").df()


def ingested_files(conn: duckdb.DuckDBPyConnection, limit: int = 500) -> pd.DataFrame:
    return conn.execute(
        "SELECT path, source, status, rows, size, sha256, replaced_sha256, ingested_at FROM ingested_files "
        "ORDER BY ingested_at DESC, path LIMIT ?",
        [limit],
    ).df()


def ingestion_counts(conn: duckdb.DuckDBPyConnection) -> list[tuple[str, str, int]]:
    """(source, status, files) of the ingestion log."""
    rows = conn.execute(
        "SELECT source, status, count(*) FROM ingested_files GROUP BY source, status ORDER BY source, status"
    ).fetchall()
    return [(str(r[0]), str(r[1]), int(r[2])) for r in rows]


def quarantined_files(conn: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return conn.execute(
        "SELECT quarantine_id, path, source, reason, detail, status, quarantined_at, resolved_at "
        "FROM quarantine ORDER BY quarantined_at DESC"
    ).df()


def schema_changes(conn: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return conn.execute(
        "SELECT source, change, column_name, detail, path, detected_at FROM schema_changes ORDER BY detected_at DESC"
    ).df()


def profiled_columns(conn: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """source, column_name, kind of every profiled column."""
    return conn.execute("SELECT DISTINCT source, column_name, kind FROM column_stats ORDER BY source, column_name").df()


def column_stats_frame(conn: duckdb.DuckDBPyConnection, source: str, column: str) -> pd.DataFrame:
    """One column's statistics per batch (quantiles as their JSON text)."""
    return conn.execute(
        "SELECT batch, count, nulls, nan, inf, min, max, mean, std, quantiles_json, distinct_count "
        "FROM column_stats WHERE source = ? AND column_name = ? ORDER BY batch",
        [source, column],
    ).df()


def segment_labels(conn: duckdb.DuckDBPyConnection, source: str, column: str) -> list[str]:
    """'segmentation=label' of every segment with statistics for this column (for a trend's segment picker)."""
    rows = conn.execute(
        "SELECT DISTINCT segment, label FROM segment_column_stats WHERE source = ? AND column_name = ? ORDER BY 1, 2",
        [source, column],
    ).fetchall()
    return [f"{s}={lab}" for s, lab in rows]


def segment_column_stats_frame(
    conn: duckdb.DuckDBPyConnection, source: str, column: str, segment: str, label: str
) -> pd.DataFrame:
    """One segment's statistics of one column per batch (the same columns as column_stats_frame)."""
    return conn.execute(
        "SELECT batch, count, nulls, nan, inf, min, max, mean, std, quantiles_json, distinct_count "
        "FROM segment_column_stats WHERE source = ? AND column_name = ? AND segment = ? AND label = ? ORDER BY batch",
        [source, column, segment, label],
    ).df()


def table_stats_frame(conn: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return conn.execute(
        "SELECT source, batch, row_count, freshness_lag_seconds, duplicate_keys FROM table_stats ORDER BY batch, source"
    ).df()


def performance_frame(conn: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return conn.execute("SELECT * FROM performance_stats ORDER BY batch").df()
