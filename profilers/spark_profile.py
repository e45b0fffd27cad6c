"""``profile.engine: spark``: the statistics computed by Apache Spark over the Parquet files where they lie.

Each cycle:

1. lists the files of every source (prediction log, ETL tables, outcomes) through Hadoop's
   file system API, so ``file:``, ``s3a://``, ``abfss://`` and ``hdfs://`` paths all work with the
   user's own Spark configuration, and compares them with the ledger ``spark_files``: only new
   or changed files (size or modification time) make batches dirty;
2. registers each source as a Spark view over all its files, in place (columns renamed as the
   config says; INT64 nanosecond timestamps, as pandas/pyarrow write them, read as timestamps);
3. computes, for the dirty batches and any batch still lacking statistics, every statistic the
   checks read, by running the profilers' own DuckDB SQL on Spark (``profilers.spark_sql``):
   column statistics, table statistics and the live test set's statistics (score bins x labels,
   per-class counts, error moments);
4. writes the statistics into the warehouse with the DuckDB engine's own writers, and a bounded
   sample of rows per batch (``profile.spark.sample_rows``, chosen by a hash of the row's key, so
   the outcomes of sampled predictions are sampled too) into the warehouse's raw tables: that
   sample is what drill-down reports, the training-serving skew check, shadow evaluation, the
   regression error model and retraining read. Raw rows beyond it are never copied.

Segments (``segments:``) come from the same grouped queries as on DuckDB (GROUPING SETS): the
per-segment column statistics and live-test-set cells are written like the DuckDB engine's.

Not done on Spark (the DuckDB engine's ingestion does them): quarantine of unreadable files and
rows, and per-file schema-change evidence (a batch's evidence is the sources' merged schema
against the config).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from core.config import ConfigError, FileSource, VigilConfig
from core.sql import ident
from core.stores import Warehouse
from profilers.column_sql import stats_by_group_and_segment
from profilers.performance import performance_stats, segment_live_values, write_segment_live_cells
from profilers.profile import (
    GROUP_SIZE,
    batch_relation,
    column_plans,
    compute_table_stats,
    named_segments,
    newest_per_batch,
    stale_performance,
    table_exists,
    write_batches,
    write_column_stats,
    write_performance_stats,
    write_segment_column_stats,
    write_table_stats,
)
from profilers.segments import load_definitions, load_score_edges
from profilers.sources import PREDICTIONS, SourceSpec, all_specs, bucket_sql, file_format, window_micros
from profilers.spark_sql import SparkSQL

log = logging.getLogger("vigil.spark")

# Always set: naive timestamps are UTC in the warehouse; pandas/pyarrow write INT64 nanosecond
# timestamps, which Spark refuses unless read as INT64 (converted in the views below).
FIXED_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.legacy.parquet.nanosAsLong": "true",
}
# Defaults the config's profile.spark.conf can override.
DEFAULT_CONF = {
    "spark.ui.enabled": "false",
    "spark.sql.shuffle.partitions": "8",
}

# Spark type -> the DuckDB type name the schema checks compare with (table_stats.columns).
_DUCK_TYPES = {
    "double": "DOUBLE", "float": "FLOAT", "bigint": "BIGINT", "int": "INTEGER", "smallint": "SMALLINT",
    "tinyint": "TINYINT", "string": "VARCHAR", "boolean": "BOOLEAN", "timestamp": "TIMESTAMP",
    "timestamp_ntz": "TIMESTAMP", "date": "DATE",
}


@dataclass(frozen=True)
class LakeFile:
    path: str  # as the file system names it
    source: str
    size: int
    mtime: float


@dataclass
class SparkProfileReport:
    files_new: list[str] = field(default_factory=list)
    column_batches: list[datetime] = field(default_factory=list)
    performance_batches: list[datetime] = field(default_factory=list)
    label_batches: list[datetime] = field(default_factory=list)
    sampled_rows: int = 0

    @property
    def all_batches(self) -> list[datetime]:
        return sorted(set(self.column_batches) | set(self.performance_batches))


# ---- the session -------------------------------------------------------------------------------


def spark_session(cfg: VigilConfig) -> Any:
    """The SparkSession of ``profile.spark`` (an existing one is reused: spark-submit, tests)."""
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:  # spark-submit's or a test's session: keep its settings, add the fixed ones
        for key, value in FIXED_CONF.items():
            active.conf.set(key, value)
        return active
    settings = cfg.profile.spark
    builder = SparkSession.builder.appName(settings.app_name)
    if settings.master:
        builder = builder.master(settings.master)
    for key, value in {**DEFAULT_CONF, **{k: str(v) for k, v in settings.conf.items()}, **FIXED_CONF}.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    for key, value in FIXED_CONF.items():  # getOrCreate may return a session built elsewhere
        spark.conf.set(key, value)
    return spark


# ---- files and the ledger --------------------------------------------------------------------


def source_location(cfg: VigilConfig, source: FileSource) -> str:
    """A source's folder as a Hadoop path: a URI as given, a local path relative to the storage root."""
    if "://" in source.path:
        return source.path.rstrip("/")
    folder = Path(source.path) if Path(source.path).is_absolute() else cfg.root / source.path
    return Path(folder).absolute().as_posix()


def list_lake_files(spark: Any, cfg: VigilConfig, spec: SourceSpec) -> list[LakeFile]:
    """The source's files matching its glob, through Hadoop's FileSystem (local, s3a, abfss, hdfs)."""
    fmt = spec.source.format or file_format(Path(spec.source.glob))
    if fmt != "parquet":
        key = "predictions.source" if spec.name == PREDICTIONS else f"etl_tables[{spec.name}].source"
        raise ConfigError(f"{key}: profile.engine 'spark' reads Parquet only, not {fmt!r} "
                          "(hint: land Parquet files, or use profile.engine: duckdb)")
    jvm = spark.sparkContext._jvm
    pattern = jvm.org.apache.hadoop.fs.Path(source_location(cfg, spec.source) + "/" + spec.source.glob)
    fs = pattern.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    statuses = fs.globStatus(pattern) or []
    out = []
    for st in statuses:
        name = st.getPath().getName()
        if st.isFile() and not name.startswith((".", "_")):
            out.append(LakeFile(st.getPath().toString(), spec.name, int(st.getLen()), st.getModificationTime() / 1000.0))
    return sorted(out, key=lambda f: f.path)


def ledger(conn: duckdb.DuckDBPyConnection) -> dict[str, tuple[int, float]]:
    return {r[0]: (int(r[1]), float(r[2])) for r in conn.execute("SELECT path, size, mtime FROM spark_files").fetchall()}


def record_files(conn: duckdb.DuckDBPyConnection, files: Iterable[LakeFile]) -> None:
    for f in files:
        conn.execute("DELETE FROM spark_files WHERE path = ?", [f.path])
        conn.execute("INSERT INTO spark_files VALUES (?, ?, ?, ?, now())", [f.path, f.source, f.size, f.mtime])


# ---- views -----------------------------------------------------------------------------------


def _quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def source_frame(spark: Any, spec: SourceSpec, paths: list[str]) -> Any:
    """All files of a source as one DataFrame, as the warehouse's raw table would hold them."""
    from pyspark.sql import functions as F  # noqa: N812 (pyspark's convention)
    from pyspark.sql.types import LongType, TimestampType

    frame = spark.read.option("mergeSchema", "true").parquet(*paths)
    for src, dst in spec.renames.items():
        if src in frame.columns:
            frame = frame.withColumnRenamed(src, dst)
    timestamps = {c for c, family in spec.expected.items() if family == "timestamp"} | {spec.timestamp_column}
    types = {f.name: f.dataType for f in frame.schema.fields}
    for col in sorted(timestamps & set(frame.columns)):
        if isinstance(types[col], LongType):  # INT64 nanoseconds (nanosAsLong)
            frame = frame.withColumn(col, F.expr(f"CAST(timestamp_micros({_quoted(col)} div 1000) AS TIMESTAMP_NTZ)"))
        elif isinstance(types[col], TimestampType):  # instants: as naive UTC (the session zone is UTC)
            frame = frame.withColumn(col, F.col(_quoted(col)).cast("timestamp_ntz"))
    return frame.withColumn("_file", F.input_file_name())


def _evidence(frame: Any, spec: SourceSpec, batches: list[datetime]) -> dict[datetime, dict[str, Any]]:
    """Schema evidence of a batch on Spark: the source's merged schema against the config."""
    columns = {f.name: _DUCK_TYPES.get(f.dataType.simpleString(), f.dataType.simpleString().upper())
               for f in frame.schema.fields if f.name != "_file"}
    missing = {c for c in spec.expected if c not in columns}
    return {b: {"columns": dict(columns), "missing": set(missing), "added": set(), "retyped": {}, "renamed": {}}
            for b in batches}


# ---- batches ---------------------------------------------------------------------------------


def _batches_of_files(sq: SparkSQL, cfg: VigilConfig, spec: SourceSpec, paths: list[str]) -> set[datetime]:
    ts = ident(spec.timestamp_column)
    rows = sq.execute(
        f"SELECT DISTINCT {bucket_sql(ts)} FROM {spec.raw_ident} "  # noqa: S608 - config identifiers
        f"WHERE {ts} IS NOT NULL AND list_contains(?::VARCHAR[], _file)",
        [window_micros(cfg), paths],
    ).fetchall()
    return {r[0] for r in rows}


def _label_batches(sq: SparkSQL, cfg: VigilConfig, label_spec: SourceSpec, paths: list[str]) -> set[datetime]:
    """Prediction batches whose outcomes are in the given label files."""
    if cfg.labels is None:
        return set()
    p = cfg.predictions
    ts = ident(p.timestamp_column)
    rows = sq.execute(
        f"SELECT DISTINCT {bucket_sql('p.' + ts)} FROM predictions p JOIN (SELECT DISTINCT "  # noqa: S608
        f"CAST({ident(cfg.labels.join_key)} AS VARCHAR) AS k FROM {label_spec.raw_ident} "
        "WHERE list_contains(?::VARCHAR[], _file)) l "
        f"ON CAST(p.{ident(p.id_column)} AS VARCHAR) = l.k WHERE p.{ts} IS NOT NULL",
        [window_micros(cfg), paths],
    ).fetchall()
    return {r[0] for r in rows}


# ---- the bounded sample ----------------------------------------------------------------------


def _sample_key(cfg: VigilConfig, spec: SourceSpec, columns: list[str]) -> str | None:
    """The column whose hash picks the sample: the prediction id, the outcome's join key, the key."""
    if spec.name == PREDICTIONS:
        return cfg.predictions.id_column
    if cfg.labels and cfg.labels.table == spec.name:
        return cfg.labels.join_key
    return spec.key_column if spec.key_column in columns else None


def write_sample(
    conn: duckdb.DuckDBPyConnection, sq: SparkSQL, cfg: VigilConfig, spec: SourceSpec, frame: Any,
    batches: list[datetime],
) -> int:
    """Replace the warehouse's sample rows of ``batches``: at most sample_rows per batch, chosen by
    the lowest hash of the row's key (the same keys in every source, so sampled predictions keep
    their outcomes and upstream rows)."""
    n = cfg.profile.spark.sample_rows
    ts = ident(spec.timestamp_column)
    if table_exists(conn, spec.raw_table):
        conn.execute(
            f"DELETE FROM {spec.raw_ident} WHERE list_contains(?::TIMESTAMP[], {bucket_sql(ts)})",  # noqa: S608
            [batches, window_micros(cfg)],
        )
    if n <= 0:
        return 0
    key = _sample_key(cfg, spec, list(frame.columns))
    order = f"xxhash64(CAST({ident(key)} AS VARCHAR))" if key else "_file"
    relation, params = batch_relation(cfg, spec, batches, [c for c in frame.columns])
    text = sq.translate(
        f"SELECT * EXCLUDE (_g, _r) FROM (SELECT *, row_number() OVER (PARTITION BY _g ORDER BY {order}) AS _r "  # noqa: S608
        f"FROM {relation}) WHERE _r <= ?",
        [*params, n],
    )
    table = sq.spark.sql(text).toArrow()
    if table.num_rows == 0:
        return 0
    conn.register("_vigil_sample", table)
    try:
        if not table_exists(conn, spec.raw_table):
            conn.execute(f"CREATE TABLE {spec.raw_ident} AS SELECT * FROM _vigil_sample LIMIT 0")  # noqa: S608
        have = {r[0] for r in conn.execute(f"DESCRIBE {spec.raw_ident}").fetchall()}
        for f in table.schema:
            if f.name not in have:
                conn.execute(f"ALTER TABLE {spec.raw_ident} ADD COLUMN {ident(f.name)} "  # noqa: S608
                             f"{_arrow_duck_type(conn, f.name)}")
        conn.execute(f"INSERT INTO {spec.raw_ident} BY NAME SELECT * FROM _vigil_sample")  # noqa: S608
    finally:
        conn.unregister("_vigil_sample")
    return int(table.num_rows)


def _arrow_duck_type(conn: duckdb.DuckDBPyConnection, column: str) -> str:
    rows = conn.execute(f"DESCRIBE SELECT {ident(column)} FROM _vigil_sample").fetchall()  # noqa: S608
    return str(rows[0][1])


# ---- the cycle's profile step ----------------------------------------------------------------


def profile_with_spark(
    cfg: VigilConfig, wh: Warehouse, spark: Any | None = None, batches: Iterable[datetime] | None = None
) -> SparkProfileReport:
    """Profile new lake files' batches (and batches lacking statistics) with Spark; see the module doc."""
    spark = spark if spark is not None else spark_session(cfg)
    report = SparkProfileReport()
    specs = all_specs(cfg)
    files = {spec.name: list_lake_files(spark, cfg, spec) for spec in specs}
    with wh.write() as conn:
        seen = ledger(conn)
        done = {r[0] for r in conn.execute("SELECT batch FROM batches").fetchall()}
    new = {name: [f for f in fs if seen.get(f.path) != (f.size, f.mtime)] for name, fs in files.items()}
    report.files_new = [f.path for fs in new.values() for f in fs]
    if not report.files_new and not batches:
        # Nothing new: the ledger is written only after every statistic of its files, so a cycle
        # that died half-way left its files out of it and they count as new here.
        return report

    sq = SparkSQL(spark)
    frames: dict[str, Any] = {}
    for spec in specs:
        if files[spec.name]:
            frames[spec.name] = source_frame(spark, spec, [f.path for f in files[spec.name]])
            sq.register(spec.raw_table, frames[spec.name])
    if PREDICTIONS not in frames:
        return report

    pred_spec = specs[0]
    pred_newest = newest_per_batch(sq, cfg, pred_spec)  # type: ignore[arg-type]
    now = max(pred_newest.values()) if pred_newest else None
    dirty: set[datetime] = set(batches or ())
    labels_dirty: set[datetime] = set()
    for spec in specs:
        paths = [f.path for f in new[spec.name]]
        if not paths:
            continue
        dirty |= _batches_of_files(sq, cfg, spec, paths)
        if cfg.labels and cfg.labels.table == spec.name:
            labels_dirty |= _label_batches(sq, cfg, spec, paths)
    with wh.write() as conn:
        stale = stale_performance(conn, cfg, now)
    targets = sorted(dirty | (set(pred_newest) - done))
    perf_targets = sorted(((set(targets) | labels_dirty) & set(pred_newest)) | stale)
    report.column_batches, report.performance_batches = targets, perf_targets
    report.label_batches = sorted(labels_dirty)

    with wh.read() as rconn:
        segments = load_definitions(rconn, cfg) if cfg.segments else []
        score_edges = load_score_edges(rconn) if segments else ()
    for i in range(0, len(targets), GROUP_SIZE):
        group = targets[i : i + GROUP_SIZE]
        with wh.read() as rconn:
            plans = {spec.name: column_plans(cfg, rconn, spec) for spec in specs}
        column_stats, segment_stats, table_stats = {}, {}, []
        for spec in specs:
            if spec.name in frames:
                segs = segments if spec.name == PREDICTIONS else []
                relation, params = batch_relation(cfg, spec, group, [p.column for p in plans[spec.name]], segs)
                grouped, segmented = stats_by_group_and_segment(
                    sq, relation, params, plans[spec.name], spec.name, segment_keys=[d.key for d in segs]  # type: ignore[arg-type]
                )
                column_stats[spec.name] = [s for stats in grouped.values() for s in stats]
                if segs:
                    segment_stats[spec.name] = named_segments(segmented, segs)
                evidence = _evidence(frames[spec.name], spec, group)
            else:
                evidence = None
            table_stats += compute_table_stats(sq, cfg, spec, group, pred_newest, evidence)  # type: ignore[arg-type]
        with wh.write() as conn:
            for spec in specs:
                if spec.name in column_stats:
                    write_column_stats(conn, spec.name, group, column_stats[spec.name])
                if spec.name in segment_stats:
                    write_segment_column_stats(conn, spec.name, group, segment_stats[spec.name])
                if spec.name in frames:
                    report.sampled_rows += write_sample(conn, sq, cfg, spec, frames[spec.name], group)
            write_table_stats(conn, table_stats)
            write_batches(conn, group)
    for i in range(0, len(perf_targets), GROUP_SIZE):
        group = perf_targets[i : i + GROUP_SIZE]
        with wh.read() as rconn:
            stats = performance_stats(sq, cfg, group, now, rows_conn=rconn)  # type: ignore[arg-type]
        cells = segment_live_values(sq, cfg, group, now, segments, score_edges) if segments else None  # type: ignore[arg-type]
        with wh.write() as conn:
            write_performance_stats(conn, group, stats)
            if cells is not None:
                write_segment_live_cells(conn, group, cells)
    with wh.write() as conn:
        record_files(conn, [f for fs in new.values() for f in fs])
    log.info("spark profile: %d new files, %d batches, %d performance batches, %d sample rows",
             len(report.files_new), len(targets), len(perf_targets), report.sampled_rows)
    return report
