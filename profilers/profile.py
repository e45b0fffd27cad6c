"""Per-batch statistics in DuckDB SQL: column stats, table stats, performance stats.

Incremental: only the batches asked for (the dirty ones) plus batches that have never
been profiled are computed; their rows replace earlier rows of the same batch. Work is
done in groups of batches, one short write transaction per group, so readers get in.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb
import pyarrow as pa

from core.config import VigilConfig
from core.sql import ident
from core.stores import Warehouse
from profilers.column_sql import ColumnPlan, SegmentGroup, group_sizes, stats_by_group_and_segment
from profilers.performance import maturity_cutoff, performance_stats, segment_live_cells
from profilers.segments import SegmentDef, load_definitions, segment_projection
from profilers.sources import (
    PREDICTIONS,
    SourceSpec,
    all_specs,
    bucket_sql,
    fetch_one,
    lineage_columns,
    prediction_spec,
    window_micros,
)
from profilers.stats_store import STAT_ARROW_TYPES, column_stats_values, insert_stat_rows
from profilers.stats_types import ColumnKind, ColumnStats, PerformanceStats, TableStats

GROUP_SIZE = 31  # batches per write transaction


@dataclass
class ProfileReport:
    column_batches: list[datetime] = field(default_factory=list)  # column + table stats recomputed
    performance_batches: list[datetime] = field(default_factory=list)  # performance stats recomputed

    @property
    def all_batches(self) -> list[datetime]:
        return sorted(set(self.column_batches) | set(self.performance_batches))


# ---- which columns ------------------------------------------------------------------------


def table_exists(conn: duckdb.DuckDBPyConnection, name: str) -> bool:
    row = fetch_one(
        conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name])
    )
    return bool(row and row[0])


def _kind_of_feature(cfg: VigilConfig, name: str) -> ColumnKind:
    t = cfg.feature(name).type
    return "numeric" if t == "numeric" else ("boolean" if t == "boolean" else "categorical")


def profiled_columns(cfg: VigilConfig, spec: SourceSpec) -> list[tuple[str, ColumnKind, bool, bool]]:
    """(column, kind, top_k, epoch) for each profiled column of a source."""
    cols: list[tuple[str, ColumnKind, bool, bool]] = []
    if spec.name == PREDICTIONS:
        cols += [(f.name, _kind_of_feature(cfg, f.name), True, False) for f in cfg.features]
        cols += [(col, "numeric", True, False) for col in cfg.score_columns.values()]
        if cfg.predictions.decision_column:
            cols.append((cfg.predictions.decision_column, "categorical", True, False))
        return cols
    for col, feature in lineage_columns(cfg, spec.name).items():
        cols.append((col, _kind_of_feature(cfg, feature), True, False))
    if cfg.labels and cfg.labels.table == spec.name and cfg.labels.label_column not in {c[0] for c in cols}:
        label_kind: ColumnKind = "categorical" if cfg.model.task == "multiclass" else "numeric"
        cols.append((cfg.labels.label_column, label_kind, True, False))
    cols.append((spec.timestamp_column, "numeric", False, True))
    if spec.key_column and spec.key_column not in {c[0] for c in cols}:
        cols.append((spec.key_column, "categorical", False, False))
    return cols


def reference_edges(conn: duckdb.DuckDBPyConnection, source: str) -> dict[str, tuple[float, ...]]:
    """Every column's histogram bin edges of the whole reference, in one query (not one per column)."""
    rows = conn.execute(
        "SELECT column_name, bin_edges_json FROM reference_stats WHERE source = ? AND chunk = -1", [source]
    ).fetchall()
    return {str(r[0]): tuple(float(e) for e in json.loads(r[1])) for r in rows if r[1]}


def column_plans(cfg: VigilConfig, conn: duckdb.DuckDBPyConnection, spec: SourceSpec) -> list[ColumnPlan]:
    edges = reference_edges(conn, spec.name)
    return [
        ColumnPlan(
            col,
            kind,
            edges.get(col, ()) if kind == "numeric" and not epoch else (),
            top_k,
            epoch,
        )
        for col, kind, top_k, epoch in profiled_columns(cfg, spec)
    ]


# ---- batch relation ------------------------------------------------------------------------


def batch_relation(
    cfg: VigilConfig, spec: SourceSpec, batches: list[datetime], columns: list[str],
    segments: list[SegmentDef] | None = None,
) -> tuple[str, list[Any]]:
    """Rows of the given batches with ``_g`` = batch (and each segment's label ``_s<i>``);
    parameters alongside."""
    ts = ident(spec.timestamp_column)
    cols = ", ".join(ident(c) for c in dict.fromkeys(columns))
    seg_sql, seg_params = segment_projection(segments or [])
    if seg_sql:
        cols += ", " + seg_sql
    lo, hi = min(batches), max(batches) + cfg.batch.window
    sql = (
        f"(SELECT * FROM (SELECT {bucket_sql(ts)} AS _g, {cols} FROM {spec.raw_ident} "  # noqa: S608
        f"WHERE {ts} >= ? AND {ts} < ?) WHERE list_contains(?::TIMESTAMP[], _g))"
    )
    return sql, [window_micros(cfg), *seg_params, lo, hi, batches]


# ---- column stats ----------------------------------------------------------------------------


def compute_column_stats(
    cfg: VigilConfig, conn: duckdb.DuckDBPyConnection, spec: SourceSpec, batches: list[datetime]
) -> list[ColumnStats]:
    return compute_column_stats_segmented(cfg, conn, spec, batches, [])[0]


SegmentColumnStats = tuple[str, str, ColumnStats]  # (segment name, label, stats)


def compute_column_stats_segmented(
    cfg: VigilConfig, conn: duckdb.DuckDBPyConnection, spec: SourceSpec, batches: list[datetime],
    segments: list[SegmentDef],
) -> tuple[list[ColumnStats], list[SegmentColumnStats]]:
    """Overall and per-segment column statistics of the batches, from the same grouped queries."""
    plans = column_plans(cfg, conn, spec)
    relation, params = batch_relation(cfg, spec, batches, [p.column for p in plans], segments)
    # Rows per batch (a scan of the timestamp only): large batches sample their quantiles.
    sizes = None if segments else group_sizes(conn, relation, params)
    grouped, segmented = stats_by_group_and_segment(
        conn, relation, params, plans, spec.name, segment_keys=[d.key for d in segments], group_rows=sizes
    )
    return [s for stats in grouped.values() for s in stats], named_segments(segmented, segments)


def named_segments(segmented: dict[SegmentGroup, list[ColumnStats]], segments: list[SegmentDef]) -> list[SegmentColumnStats]:
    by_index = dict(enumerate(segments))
    return [(by_index[i].name, label, s) for (_, i, label), stats in segmented.items() for s in stats]


def write_segment_column_stats(
    conn: duckdb.DuckDBPyConnection, source: str, batches: list[datetime], stats: list[SegmentColumnStats]
) -> None:
    conn.execute(
        "DELETE FROM segment_column_stats WHERE source = ? AND list_contains(?::TIMESTAMP[], batch)",
        [source, batches],
    )
    rows = []
    for name, label, s in stats:
        values = column_stats_values(s)
        rows.append([s.source, s.column, values[0], s.batch, name, label, *values[1:]])
    types = [pa.string(), pa.string(), STAT_ARROW_TYPES[0], pa.timestamp("us"), pa.string(), pa.string(),
             *STAT_ARROW_TYPES[1:]]
    insert_stat_rows(conn, "segment_column_stats", types, rows, stamp=True)


def write_column_stats(
    conn: duckdb.DuckDBPyConnection, source: str, batches: list[datetime], stats: list[ColumnStats]
) -> None:
    conn.execute(
        "DELETE FROM column_stats WHERE source = ? AND list_contains(?::TIMESTAMP[], batch)",
        [source, batches],
    )
    rows = []
    for s in stats:
        values = column_stats_values(s)
        rows.append([s.source, s.column, values[0], s.batch, *values[1:]])
    types = [pa.string(), pa.string(), STAT_ARROW_TYPES[0], pa.timestamp("us"), *STAT_ARROW_TYPES[1:]]
    insert_stat_rows(conn, "column_stats", types, rows, stamp=True)


# ---- table stats -----------------------------------------------------------------------------


def newest_per_batch(
    conn: duckdb.DuckDBPyConnection, cfg: VigilConfig, spec: SourceSpec
) -> dict[datetime, datetime]:
    ts = ident(spec.timestamp_column)
    rows = conn.execute(
        f"SELECT {bucket_sql(ts)} AS b, max({ts}) FROM {spec.raw_ident} WHERE {ts} IS NOT NULL GROUP BY b",  # noqa: S608
        [window_micros(cfg)],
    ).fetchall()
    return {r[0]: r[1] for r in rows}


def newest_up_to(per_batch: dict[datetime, datetime], batch: datetime) -> datetime | None:
    """Newest timestamp in this batch or any earlier one."""
    found = [v for b, v in per_batch.items() if b <= batch]
    return max(found) if found else None


def _schema_evidence(
    conn: duckdb.DuckDBPyConnection, cfg: VigilConfig, spec: SourceSpec, batches: list[datetime]
) -> dict[datetime, dict[str, Any]]:
    """Columns and schema changes of the files that contributed rows to each batch."""
    relation, params = batch_relation(cfg, spec, batches, ["_file"])
    rows = conn.execute(
        f"SELECT DISTINCT r._g, f.columns_json, c.change, c.column_name, c.detail "  # noqa: S608
        f"FROM (SELECT DISTINCT _g, _file FROM {relation}) r "
        "JOIN ingested_files f ON f.path = r._file AND f.status = 'loaded' "
        "LEFT JOIN schema_changes c ON c.path = f.path AND c.sha256 = f.sha256",
        params,
    ).fetchall()
    out: dict[datetime, dict[str, Any]] = {}
    for g, columns_json, change, column, detail in rows:
        ev = out.setdefault(
            g, {"columns": {}, "missing": set(), "added": set(), "retyped": {}, "renamed": {}}
        )
        ev["columns"].update(json.loads(columns_json or "{}"))
        if change in ("missing", "added"):
            ev[change].add(column)
        elif change == "retyped":
            ev["retyped"][column] = detail
        elif change == "renamed":
            ev["renamed"][column] = detail
    return out


def compute_table_stats(
    conn: duckdb.DuckDBPyConnection,
    cfg: VigilConfig,
    spec: SourceSpec,
    batches: list[datetime],
    prediction_newest: dict[datetime, datetime],
    evidence: dict[datetime, dict[str, Any]] | None = None,
) -> list[TableStats]:
    """Row count, newest timestamp, freshness lag, duplicate keys and schema evidence per batch.

    Freshness lag of a batch = the newest prediction timestamp up to the batch's end minus
    the newest table timestamp up to the batch's end (event time, never wall time).
    ``evidence``: the schema evidence per batch when the caller has it (the Spark engine has
    no ingestion records); else read from ingestion's records in ``conn``.
    """
    if not table_exists(conn, spec.raw_table):
        return [TableStats(spec.name, b, 0) for b in batches]
    key = spec.key_column
    relation, params = batch_relation(cfg, spec, batches, [spec.timestamp_column] + ([key] if key else []))
    dup = f"count({ident(key)}) - count(DISTINCT {ident(key)})" if key else "0"
    sql = f"SELECT _g, count(*), {dup} FROM {relation} GROUP BY _g"  # noqa: S608
    rows = conn.execute(sql, params).fetchall()
    counts = {r[0]: (int(r[1]), int(r[2])) for r in rows}
    newest = newest_per_batch(conn, cfg, spec) if spec.name != PREDICTIONS else prediction_newest
    if evidence is None:
        evidence = _schema_evidence(conn, cfg, spec, batches)
    out = []
    for b in batches:
        n, dups = counts.get(b, (0, 0))
        as_of = newest_up_to(prediction_newest, b)
        table_newest = newest_up_to(newest, b)
        lag = max(0.0, (as_of - table_newest).total_seconds()) if as_of and table_newest else None
        ev = evidence.get(b, {})
        out.append(
            TableStats(
                source=spec.name,
                batch=b,
                row_count=n,
                newest=newest.get(b),
                freshness_lag_seconds=lag,
                duplicate_keys=dups,
                columns=ev.get("columns", {}),
                missing_columns=tuple(sorted(ev.get("missing", ()))),
                added_columns=tuple(sorted(ev.get("added", ()))),
                retyped_columns=ev.get("retyped", {}),
                renamed_columns=ev.get("renamed", {}),
            )
        )
    return out


def write_table_stats(conn: duckdb.DuckDBPyConnection, stats: list[TableStats]) -> None:
    for t in stats:
        conn.execute("DELETE FROM table_stats WHERE source = ? AND batch = ?", [t.source, t.batch])
        conn.execute(
            "INSERT INTO table_stats VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, now())",
            [
                t.source,
                t.batch,
                t.row_count,
                t.newest,
                t.freshness_lag_seconds,
                t.duplicate_keys,
                json.dumps(t.columns),
                json.dumps(list(t.missing_columns)),
                json.dumps(list(t.added_columns)),
                json.dumps(t.retyped_columns),
                json.dumps(t.renamed_columns),
            ],
        )


# ---- orchestration ---------------------------------------------------------------------------


def _prediction_batches(conn: duckdb.DuckDBPyConnection, cfg: VigilConfig) -> dict[datetime, datetime]:
    """Every prediction batch -> its newest timestamp."""
    if not table_exists(conn, PREDICTIONS):
        return {}
    return newest_per_batch(conn, cfg, prediction_spec(cfg))


def stale_performance(
    conn: duckdb.DuckDBPyConnection, cfg: VigilConfig, now: datetime | None
) -> set[datetime]:
    """Batches stored as not matured whose maturity has passed by event-time now."""
    if now is None or cfg.labels is None:
        return set()
    cutoff = maturity_cutoff(now, cfg.batch.window, cfg.labels.maturity)
    rows = conn.execute(
        "SELECT batch FROM performance_stats WHERE NOT matured AND batch <= ?", [cutoff]
    ).fetchall()
    return {r[0] for r in rows}


def profile_batches_detailed(
    cfg: VigilConfig, wh: Warehouse, batches: Iterable[datetime] | None = None
) -> ProfileReport:
    with wh.write() as conn:
        pred_newest = _prediction_batches(conn, cfg)
        done = {r[0] for r in conn.execute("SELECT batch FROM batches").fetchall()}
        now = max(pred_newest.values()) if pred_newest else None
        stale_perf = stale_performance(conn, cfg, now)
    lacking = set(pred_newest) - done
    targets = sorted(set(batches or ()) | lacking)
    report = ProfileReport(column_batches=targets)
    perf_targets = sorted((set(targets) & set(pred_newest)) | stale_perf)
    report.performance_batches = perf_targets
    specs = all_specs(cfg)
    for i in range(0, len(targets), GROUP_SIZE):
        group = targets[i : i + GROUP_SIZE]
        with wh.write() as conn:
            for spec in specs:
                if table_exists(conn, spec.raw_table):
                    segments = load_definitions(conn, cfg) if spec.name == PREDICTIONS and cfg.segments else []
                    overall, by_segment = compute_column_stats_segmented(cfg, conn, spec, group, segments)
                    write_column_stats(conn, spec.name, group, overall)
                    if segments:
                        write_segment_column_stats(conn, spec.name, group, by_segment)
                write_table_stats(conn, compute_table_stats(conn, cfg, spec, group, pred_newest))
            write_batches(conn, group)
    for i in range(0, len(perf_targets), GROUP_SIZE):
        group = perf_targets[i : i + GROUP_SIZE]
        with wh.write() as conn:
            stats = performance_stats(conn, cfg, group, now)
            if cfg.segments:
                segment_live_cells(conn, cfg, group, now, load_definitions(conn, cfg))
            write_performance_stats(conn, group, stats)
    return report


def write_batches(conn: duckdb.DuckDBPyConnection, group: list[datetime]) -> None:
    """The prediction batches of ``group`` as profiled (their row counts from table_stats)."""
    for b in group:
        conn.execute("DELETE FROM batches WHERE batch = ?", [b])
    conn.execute(
        "INSERT INTO batches SELECT batch, row_count, now() FROM table_stats "
        "WHERE source = ? AND list_contains(?::TIMESTAMP[], batch)",
        [PREDICTIONS, group],
    )


def write_performance_stats(conn: duckdb.DuckDBPyConnection, group: list[datetime], stats: list[PerformanceStats]) -> None:
    """Replace the performance statistics of the batches in ``group``."""
    conn.execute("DELETE FROM performance_stats WHERE list_contains(?::TIMESTAMP[], batch)", [group])
    for p in stats:
        conn.execute(
            "INSERT INTO performance_stats (batch, predictions, labeled, matured, positives, approved, "
            "approved_labeled, approved_positives, mean_score, mean_label, auc, brier, precision, recall, "
            "mae, rmse, estimated_json, computed_at, metrics_json, classes_json) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, now(), ?, ?)",
            [
                p.batch,
                p.predictions,
                p.labeled,
                p.matured,
                p.positives,
                p.approved,
                p.approved_labeled,
                p.approved_positives,
                p.mean_score,
                p.mean_label,
                p.auc,
                p.brier,
                p.precision,
                p.recall,
                p.mae,
                p.rmse,
                json.dumps(p.estimated),
                json.dumps(p.metrics),
                json.dumps(p.classes),
            ],
        )


def profile_batches(
    cfg: VigilConfig, wh: Warehouse, batches: Iterable[datetime] | None = None
) -> list[datetime]:
    """Profile the given batches (and any never profiled); returns every batch recomputed.

    None: only batches lacking stats. See profile_batches_detailed for column vs performance.
    """
    return profile_batches_detailed(cfg, wh, batches).all_batches
