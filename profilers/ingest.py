"""Ingest landing files into DuckDB exactly once, atomically, quarantining bad files.

Each file is keyed by its content sha256. A size + mtime pre-filter skips files already
seen without re-hashing them. Each file loads in ONE warehouse transaction (raw rows,
the ingested_files record and its schema evidence together), so a process killed at any
point leaves nothing partial and the next run loads the file again from scratch.

Raw tables: ``predictions`` and ``etl_<table>``, the config's expected columns (typed
from the config) plus the columns of the first file, plus ``_file`` (the relative path
of the file the row came from). Later files insert by name: missing columns are NULL,
new columns are added; both are recorded in ``schema_changes``.

Rows whose timestamp is null or outside the plausible window (``batch.max_future`` after
and ``batch.max_age`` before the ingest time) cannot be placed in a batch: they go to
``quarantined_rows`` with their reason and the whole row, in the same transaction, while
the file's other rows load.
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from core.config import VigilConfig, format_duration
from core.ids import new_id, sha256_file
from core.sql import ident
from core.stores import Warehouse, classify_store_error
from profilers.sources import (
    PREDICTIONS,
    WIDE_FLOAT,
    SourceSpec,
    all_specs,
    bucket_sql,
    expected_raw_type,
    fetch_one,
    file_format,
    list_files,
    relative_path,
    renamed_sql,
    storage_type,
    type_family,
    widens,
    window_micros,
)


class BadFile(Exception):
    """A file that cannot be loaded; goes to quarantine with ``reason`` and ``detail``."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class QuarantinedFile:
    quarantine_id: str
    path: str
    source: str
    reason: str
    detail: str


@dataclass(frozen=True)
class QuarantinedRows:
    """Rows of one loaded file set aside for one reason (null or implausible timestamp)."""

    path: str
    source: str
    reason: str  # null_timestamp, future_timestamp, old_timestamp
    rows: int
    detail: str


@dataclass(frozen=True)
class SchemaChange:
    path: str
    source: str
    change: str  # missing, added, renamed, retyped; widened (FLOAT->DOUBLE: the stored type grew, no value changed)
    column: str
    detail: str | None = None


@dataclass
class IngestReport:
    loaded: int = 0
    skipped: int = 0
    replaced: int = 0
    quarantined: list[QuarantinedFile] = field(default_factory=list)
    quarantined_rows: list[QuarantinedRows] = field(default_factory=list)
    dirty_batches: set[datetime] = field(default_factory=set)  # batches that received rows (any source)
    label_batches: set[datetime] = field(default_factory=set)  # prediction batches whose labels arrived
    rows: int = 0
    loaded_files: list[str] = field(default_factory=list)
    schema_changes: list[SchemaChange] = field(default_factory=list)

    @property
    def all_dirty(self) -> set[datetime]:
        return self.dirty_batches | self.label_batches

    def to_dict(self) -> dict[str, Any]:
        return {
            "loaded": self.loaded,
            "skipped": self.skipped,
            "replaced": self.replaced,
            "rows": self.rows,
            "loaded_files": self.loaded_files,
            "quarantined": [q.__dict__ for q in self.quarantined],
            "quarantined_rows": [q.__dict__ for q in self.quarantined_rows],
            "schema_changes": [c.__dict__ for c in self.schema_changes],
            "dirty_batches": sorted(b.isoformat() for b in self.dirty_batches),
            "label_batches": sorted(b.isoformat() for b in self.label_batches),
        }


@dataclass(frozen=True)
class SeenFile:
    size: int
    mtime: float
    sha256: str
    status: str
    ctime: float | None = None  # from file_stat; None: never recorded (re-hash once)
    inode: int | None = None

    def unchanged(self, st: os.stat_result) -> bool:
        """The pre-filter: size, mtime, ctime and inode all as last seen (else re-hash)."""
        return (self.size, self.mtime, self.ctime, self.inode) == (st.st_size, st.st_mtime, st.st_ctime, st.st_ino)


# ---- reading a file ----------------------------------------------------------------


def read_sql(fmt: str) -> str:
    """Table function reading one file; the path is a bound parameter."""
    if fmt == "parquet":
        return "read_parquet(?)"
    if fmt == "csv":
        # A fixed delimiter: else the sniffer reads a broken file as one text column.
        return "read_csv(?, header = true, delim = ',')"
    return "read_json(?, format = 'newline_delimited')"


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0][:400] if text else type(err).__name__


def inspect_file(
    path: Path, fmt: str, memory_limit: str = "1GB", conn: duckdb.DuckDBPyConnection | None = None
) -> tuple[dict[str, str], int]:
    """Columns (name -> DuckDB type) and row count of a landing file, or BadFile.

    ``conn``: read through this connection (the load's own; a failed read aborts its
    transaction, which the BadFile rolls back) instead of a new in-memory database.
    """
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(4096)
            fh.seek(max(0, size - 4))
            tail = fh.read(4)
    except OSError as e:
        raise BadFile(
            "unreadable", f"cannot read the file: {e.strerror or e} (hint: check permissions)"
        ) from None
    if size == 0:
        raise BadFile("empty", "the file has 0 bytes (hint: the producer wrote nothing; redeliver it)")
    if fmt == "parquet":
        if head[:4] != b"PAR1":
            raise BadFile(
                "wrong_format",
                "not a Parquet file: no PAR1 magic at the start (hint: is it CSV or JSON with a .parquet name?)",
            )
        if tail != b"PAR1":
            raise BadFile(
                "truncated",
                "Parquet footer missing: the file was cut short (hint: the producer should write a temp file and rename it)",
            )
    else:
        if head.startswith(b"PAR1") or b"\x00" in head:
            raise BadFile(
                "wrong_format", f"binary content in a {fmt} file (hint: is it Parquet with the wrong ending?)"
            )
        if fmt == "jsonl" and head.lstrip()[:1] != b"{":
            raise BadFile(
                "wrong_format",
                "not JSON Lines: the first line is not a JSON object (hint: one JSON object per line)",
            )
    own = conn is None
    db = duckdb.connect() if conn is None else conn
    try:
        if own:
            db.execute(f"SET memory_limit = '{memory_limit}'")  # validated by the config pattern
        rel = read_sql(fmt)
        described = db.execute(f"DESCRIBE SELECT * FROM {rel}", [str(path)]).fetchall()  # noqa: S608
        columns = {str(r[0]): str(r[1]) for r in described}
        # Parquet: answered from the footer's row counts, no scan.
        row = fetch_one(db.execute(f"SELECT count(*) FROM {rel}", [str(path)]))  # noqa: S608
        rows = int(row[0]) if row else 0
    except duckdb.Error as e:
        cut = fmt != "parquet" and not tail.endswith(b"\n")
        reason = "truncated" if cut else "malformed"
        hint = (
            "the last line is incomplete; redeliver the whole file"
            if cut
            else "fix the producer or redeliver"
        )
        raise BadFile(reason, f"cannot parse as {fmt}: {_first_line(e)} (hint: {hint})") from None
    finally:
        if own:
            db.close()
    if rows == 0:
        raise BadFile("empty", "the file has no rows (hint: the producer wrote only a header or nothing)")
    return columns, rows


# ---- schema of a source in the warehouse --------------------------------------------


@dataclass(frozen=True)
class RawColumn:
    raw_type: str
    family: str
    expected: bool


def load_source_schema(conn: duckdb.DuckDBPyConnection, source: str) -> dict[str, RawColumn]:
    rows = conn.execute(
        "SELECT column_name, raw_type, family, expected FROM source_schemas WHERE source = ?", [source]
    ).fetchall()
    return {str(r[0]): RawColumn(str(r[1]), str(r[2]), bool(r[3])) for r in rows}


def create_raw_table(
    conn: duckdb.DuckDBPyConnection, spec: SourceSpec, file_columns: dict[str, str], rel: str
) -> dict[str, RawColumn]:
    """First file of a source: the raw table = expected columns + the file's other columns."""
    schema: dict[str, RawColumn] = {}
    for col, fam in spec.expected.items():
        if fam is not None:
            schema[col] = RawColumn(expected_raw_type(fam, file_columns.get(col)), fam, True)
        else:
            t = storage_type(file_columns.get(col, "VARCHAR"))
            schema[col] = RawColumn(t, type_family(t), True)
    for col, t in file_columns.items():
        if col not in schema and col != "_file":
            st = storage_type(t)
            schema[col] = RawColumn(st, type_family(st), False)
    cols_sql = ", ".join(f"{ident(c)} {rc.raw_type}" for c, rc in schema.items())
    conn.execute(f"CREATE TABLE IF NOT EXISTS {spec.raw_ident} ({cols_sql}, _file VARCHAR NOT NULL)")
    # One statement for every column (a wide table has 1,000: one INSERT each is 1,000 round trips).
    conn.execute(
        "INSERT INTO source_schemas SELECT ?, unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), "
        "unnest(?::VARCHAR[]), unnest(?::BOOLEAN[]), ?",
        [
            spec.name,
            list(schema),
            [rc.raw_type for rc in schema.values()],
            [rc.family for rc in schema.values()],
            [rc.expected for rc in schema.values()],
            rel,
        ],
    )
    return schema


def _name_similarity(old: str, new: str) -> float:
    """1.0 when one name is the other plus a word ('x' -> 'x_value'), else difflib's ratio."""
    o, n = old.lower(), new.lower()
    if o == n:
        return 1.0
    for short, long in ((o, n), (n, o)):
        if long.startswith(short + "_") or long.endswith("_" + short):
            return 1.0
    return difflib.SequenceMatcher(None, o, n).ratio()


def diff_schema(
    spec: SourceSpec, schema: dict[str, RawColumn], file_columns: dict[str, str], text_format: bool = False
) -> tuple[list[tuple[str, str, str | None]], list[str]]:
    """Schema changes of a file: [(change, column, detail)] and the list of new columns.

    missing: an expected column the file lacks; added: a column not in the established
    schema; renamed: a missing column paired with an added column of the same type
    family and a similar name (best guess); retyped: a known column of another family.
    """
    missing = [c for c in spec.expected if c not in file_columns]
    added = [c for c in file_columns if c not in schema and c != "_file"]
    changes: list[tuple[str, str, str | None]] = []
    unpaired = list(added)
    for m in missing:
        fam = schema[m].family if m in schema else None
        candidates = [a for a in unpaired if fam is None or type_family(file_columns[a]) == fam]
        scored = sorted(((_name_similarity(m, a), a) for a in candidates), reverse=True)
        best = [scored[0][1]] if scored and scored[0][0] >= 0.6 else []
        if not best and len(missing) == 1 and len(candidates) == 1:
            best = candidates
        if best:
            changes.append(("renamed", m, best[0]))
            unpaired.remove(best[0])
        else:
            changes.append(("missing", m, None))
    changes.extend(("added", a, file_columns[a]) for a in added)
    for c, t in file_columns.items():
        fam = type_family(t)
        # CSV and JSON have no timestamp type: timestamps as text are not a change.
        text_timestamp = (
            text_format and fam == "string" and schema.get(c) is not None and schema[c].family == "timestamp"
        )
        if c in schema and fam != schema[c].family and not text_timestamp:
            changes.append(("retyped", c, f"{schema[c].raw_type}->{t}"))
    return changes, added


def _value_expr(col: str, file_type: str, target: RawColumn) -> str:
    """SQL for a file column's value as the raw table stores it."""
    q = ident(col)
    fam = type_family(file_type)
    if fam == "timestamp" and "TIME ZONE" in file_type.upper():
        value = f"timezone('UTC', {q})"  # aware -> naive UTC
    else:
        value = q
    if target.family == fam and target.raw_type == storage_type(file_type):
        return value
    cast = "CAST" if target.expected else "TRY_CAST"  # unexpected columns never fail a file
    return f"{cast}({value} AS {target.raw_type})"


def _select_expr(col: str, file_type: str, target: RawColumn) -> str:
    return f"{_value_expr(col, file_type, target)} AS {ident(col)}"


def check_castable(
    conn: duckdb.DuckDBPyConnection, rel_sql: str, path: Path, col: str, file_type: str, target: RawColumn
) -> None:
    """A config column of another type loads only if every value converts; else wrong_types."""
    if type_family(file_type) == target.family or target.raw_type == "VARCHAR":
        return
    q = ident(col)
    row = fetch_one(
        conn.execute(
            f"SELECT count(*), any_value(CAST({q} AS VARCHAR)) FROM {rel_sql} "  # noqa: S608
            f"WHERE {q} IS NOT NULL AND TRY_CAST({q} AS {target.raw_type}) IS NULL",
            [str(path)],
        )
    )
    if row and row[0]:
        raise BadFile(
            "wrong_types",
            f"column {col!r} is {file_type} but the config expects {target.family}; {row[0]} value(s) "
            f"cannot be read as {target.raw_type}, e.g. {row[1]!r} (hint: fix the producer or the feature type)",
        )


def widen_column(
    conn: duckdb.DuckDBPyConnection, spec: SourceSpec, col: str, schema: dict[str, RawColumn]
) -> None:
    """FLOAT -> DOUBLE for a raw column a file brings in another type (in the load's transaction)."""
    conn.execute(f"ALTER TABLE {spec.raw_ident} ALTER COLUMN {ident(col)} SET DATA TYPE {WIDE_FLOAT}")
    conn.execute(
        "UPDATE source_schemas SET raw_type = ? WHERE source = ? AND column_name = ?", [WIDE_FLOAT, spec.name, col]
    )
    old = schema[col]
    schema[col] = RawColumn(WIDE_FLOAT, old.family, old.expected)


# ---- batches touched -----------------------------------------------------------------


def batches_of_file(
    conn: duckdb.DuckDBPyConnection, cfg: VigilConfig, spec: SourceSpec, rel: str
) -> set[datetime]:
    ts = ident(spec.timestamp_column)
    rows = conn.execute(
        f"SELECT DISTINCT {bucket_sql(ts)} FROM {spec.raw_ident} WHERE _file = ? AND {ts} IS NOT NULL",  # noqa: S608
        [window_micros(cfg), rel],
    ).fetchall()
    return {r[0] for r in rows}


@dataclass(frozen=True)
class TimestampCensus:
    """What a file's timestamp column alone says: the batches of its placeable rows, and how many are not."""

    batches: set[datetime]
    set_aside: int


def timestamp_census(
    conn: duckdb.DuckDBPyConnection, cfg: VigilConfig, ts_value: str, rel_sql: str, path: Path,
    earliest: datetime | None, latest: datetime | None,
) -> TimestampCensus:
    """One aggregate over the file's timestamp column (Parquet reads that column only).

    Cheaper than what it replaces: the load no longer filters every row of every column when
    no row needs setting aside, and the batches come from the file, not from a scan of the
    raw table (whose ``_file`` column grows with every file ever loaded).
    """
    valid, valid_params = _valid_sql("_ts", earliest, latest)
    rows = conn.execute(
        f"SELECT {bucket_sql('_ts')} AS _b, count(*) FILTER (WHERE {valid}), "  # noqa: S608
        f"count(*) FILTER (WHERE NOT ({valid})) FROM (SELECT {ts_value} AS _ts FROM {rel_sql}) GROUP BY _b",
        [window_micros(cfg), *valid_params, *valid_params, str(path)],
    ).fetchall()
    return TimestampCensus({r[0] for r in rows if r[1]}, sum(int(r[2]) for r in rows))


def _table_exists(conn: duckdb.DuckDBPyConnection, name: str) -> bool:
    row = fetch_one(
        conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name])
    )
    return bool(row and row[0])


def label_batches_of_file(
    conn: duckdb.DuckDBPyConnection, cfg: VigilConfig, spec: SourceSpec, rel: str
) -> set[datetime]:
    """Prediction batches whose labels are in this label-table file."""
    if cfg.labels is None or cfg.labels.table != spec.name or not _table_exists(conn, PREDICTIONS):
        return set()
    p = cfg.predictions
    ts = f"p.{ident(p.timestamp_column)}"
    rows = conn.execute(
        f"SELECT DISTINCT {bucket_sql(ts)} FROM predictions p JOIN {spec.raw_ident} l "  # noqa: S608
        f"ON CAST(p.{ident(p.id_column)} AS VARCHAR) = CAST(l.{ident(cfg.labels.join_key)} AS VARCHAR) "
        f"WHERE l._file = ? AND {ts} IS NOT NULL",
        [window_micros(cfg), rel],
    ).fetchall()
    return {r[0] for r in rows}


# ---- loading one file -----------------------------------------------------------------


@dataclass
class FileOutcome:
    rows: int
    replaced_sha256: str | None
    dirty: set[datetime]
    label_dirty: set[datetime]
    changes: list[tuple[str, str, str | None]]
    bad_rows: list[QuarantinedRows] = field(default_factory=list)


def _insert_rows(conn: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> int:
    """The INSERT of a file's rows (a seam the kill test uses to stop mid-file)."""
    row = fetch_one(conn.execute(sql, params))
    return int(row[0]) if row else 0


def plausible_window(cfg: VigilConfig, now: datetime) -> tuple[datetime | None, datetime | None]:
    """(earliest, latest) timestamp a row may carry when ingested at ``now`` (naive UTC); None: no bound."""
    now = now.astimezone(UTC).replace(tzinfo=None) if now.tzinfo else now
    earliest = now - cfg.batch.max_age if cfg.batch.max_age is not None else None
    latest = now + cfg.batch.max_future if cfg.batch.max_future is not None else None
    return earliest, latest


def _valid_sql(ts: str, earliest: datetime | None, latest: datetime | None) -> tuple[str, list[Any]]:
    conditions, params = [f"{ts} IS NOT NULL"], []
    if earliest is not None:
        conditions.append(f"{ts} >= ?::TIMESTAMP")
        params.append(earliest)
    if latest is not None:
        conditions.append(f"{ts} <= ?::TIMESTAMP")
        params.append(latest)
    return " AND ".join(conditions), params


def _quarantine_rows(
    conn: duckdb.DuckDBPyConnection, cfg: VigilConfig, spec: SourceSpec, rel: str, sha: str, rows_sql: str,
    rows_params: list[Any], earliest: datetime | None, latest: datetime | None,
) -> list[QuarantinedRows]:
    """Copy the rows with a null or implausible timestamp to quarantined_rows; their counts by reason."""
    ts = ident(spec.timestamp_column)
    valid, valid_params = _valid_sql(ts, earliest, latest)
    col = spec.timestamp_column
    max_future = format_duration(cfg.batch.max_future) if cfg.batch.max_future else "-"
    max_age = format_duration(cfg.batch.max_age) if cfg.batch.max_age else "-"
    late = latest.isoformat(sep=" ") if latest else ""
    early = earliest.isoformat(sep=" ") if earliest else ""
    reason_sql = (
        f"CASE WHEN {ts} IS NULL THEN 'null_timestamp' "
        + (f"WHEN {ts} > ?::TIMESTAMP THEN 'future_timestamp' " if latest is not None else "")
        + "ELSE 'old_timestamp' END"
    )
    reason_params: list[Any] = [latest] if latest is not None else []
    conn.execute(
        f"INSERT INTO quarantined_rows SELECT ?, ?, ?, _row, reason, "  # noqa: S608
        "CASE reason WHEN 'null_timestamp' THEN ? WHEN 'future_timestamp' THEN ? ELSE ? END, "
        f"CAST({ts} AS VARCHAR), to_json(t)::VARCHAR, now() FROM "
        f"(SELECT *, {reason_sql} AS reason FROM ({rows_sql}) WHERE NOT ({valid})) t",
        [
            rel, spec.name, sha,
            f"no value in {col!r}: the row cannot be placed in a batch (hint: fix the producer; the row is kept in quarantined_rows)",
            f"{col!r} is more than {max_future} after the ingest time (later than {late}) (hint: fix the producer's clock or "
            "raise batch.max_future)",
            f"{col!r} is more than {max_age} before the ingest time (earlier than {early}) (hint: fix the producer or raise "
            "batch.max_age)",
            *reason_params, *rows_params, *valid_params,
        ],
    )
    counts = conn.execute(
        "SELECT reason, count(*), any_value(detail) FROM quarantined_rows WHERE path = ? AND sha256 = ? GROUP BY reason ORDER BY reason",
        [rel, sha],
    ).fetchall()
    return [QuarantinedRows(rel, spec.name, str(r[0]), int(r[1]), str(r[2])) for r in counts]


def load_file(
    cfg: VigilConfig,
    wh: Warehouse,
    spec: SourceSpec,
    path: Path,
    rel: str,
    sha: str,
    size: int,
    mtime: float,
    now: datetime | None = None,
    stat: os.stat_result | None = None,
) -> FileOutcome:
    """Load one file in one transaction, or raise BadFile (nothing written).

    ``stat``: the file's stat, remembered for the pre-filter in the same transaction.
    """
    fmt = file_format(path, spec.source.format)
    with wh.write() as conn:
        source_columns, file_rows = inspect_file(path, fmt, cfg.storage.duckdb_memory_limit, conn)
        # Source columns named apart in the config (features[].column) load under Vigil's names.
        file_columns = {spec.renames.get(c, c): t for c, t in source_columns.items()}
        if spec.timestamp_column not in file_columns:
            raise BadFile(
                "missing_column",
                f"required timestamp column {spec.timestamp_column!r} is missing (columns: {', '.join(file_columns)}) "
                "(hint: rows cannot be placed in a batch without it)",
            )
        rel_sql = renamed_sql(read_sql(fmt), spec.renames, source_columns)
        row = fetch_one(
            conn.execute("SELECT sha256 FROM ingested_files WHERE path = ? AND status = 'loaded'", [rel])
        )
        replaced = str(row[0]) if row else None
        schema = load_source_schema(conn, spec.name)
        if not schema:
            schema = create_raw_table(conn, spec, file_columns, rel)
        changes, added = diff_schema(spec, schema, file_columns, text_format=fmt != "parquet")
        for col, t in file_columns.items():
            if col in schema and widens(schema[col].raw_type, t):
                changes.append(("widened", col, f"{schema[col].raw_type}->{WIDE_FLOAT}"))
                widen_column(conn, spec, col, schema)
        for col, t in file_columns.items():
            if col in schema:
                check_castable(conn, rel_sql, path, col, t, schema[col])
        known = {c.lower(): c for c in schema}
        for col in added:
            if col.lower() in known:  # DuckDB names are case-insensitive: `SCORE` is `score` there
                raise BadFile(
                    "column_name_clash",
                    f"column {col!r} differs only in letter case from the stored column {known[col.lower()]!r} "
                    "(hint: the producer must keep the column's exact name)",
                )
            st = storage_type(file_columns[col])
            conn.execute(f"ALTER TABLE {spec.raw_ident} ADD COLUMN {ident(col)} {st}")
            conn.execute(
                "INSERT INTO source_schemas VALUES (?, ?, ?, ?, false, ?)",
                [spec.name, col, st, type_family(st), rel],
            )
            schema[col] = RawColumn(st, type_family(st), False)
        dirty: set[datetime] = set()
        label_dirty: set[datetime] = set()
        if replaced is not None:
            # A new version of a path replaces the rows of the old one (same transaction).
            # Without a 'loaded' record no rows of the path were ever committed.
            dirty |= batches_of_file(conn, cfg, spec, rel)
            label_dirty |= label_batches_of_file(conn, cfg, spec, rel)
            conn.execute(f"DELETE FROM {spec.raw_ident} WHERE _file = ?", [rel])  # noqa: S608
        conn.execute("DELETE FROM quarantined_rows WHERE path = ?", [rel])  # the old version's set-aside rows go with it
        exprs = [_select_expr(c, t, schema[c]) for c, t in file_columns.items() if c != "_file"]
        rows_sql = f"SELECT {', '.join(exprs)}, ? AS _file, row_number() OVER () AS _row FROM {rel_sql}"  # noqa: S608
        rows_params: list[Any] = [rel, str(path)]
        earliest, latest = plausible_window(cfg, now or datetime.now(UTC))
        valid, valid_params = _valid_sql(ident(spec.timestamp_column), earliest, latest)
        # The load itself carries no row numbers (a window over the file serialises the scan);
        # only a file that has rows to set aside is read a second time, numbered, for them.
        load_sql = f"SELECT {', '.join(exprs)}, ? AS _file FROM {rel_sql}"  # noqa: S608
        census: TimestampCensus | None = None
        try:
            if fmt == "parquet":  # a text file has no column to read alone: its batches come from the table
                ts = spec.timestamp_column
                census = timestamp_census(
                    conn, cfg, _value_expr(ts, file_columns[ts], schema[ts]), rel_sql, path, earliest, latest
                )
            if census is not None and not census.set_aside:
                # Every row is placeable: the load is the bare copy, no filter over every column.
                sql, params = f"INSERT INTO {spec.raw_ident} BY NAME {load_sql}", rows_params  # noqa: S608
            else:
                sql = f"INSERT INTO {spec.raw_ident} BY NAME SELECT * FROM ({load_sql}) WHERE {valid}"  # noqa: S608
                params = rows_params + valid_params
            rows = _insert_rows(conn, sql, params)
            has_bad = census.set_aside > 0 if census is not None else rows != file_rows
            bad_rows = (
                _quarantine_rows(conn, cfg, spec, rel, sha, rows_sql, rows_params, earliest, latest)
                if has_bad
                else []
            )
        except duckdb.ConversionException as e:
            raise BadFile(
                "wrong_types", f"{_first_line(e)} (hint: fix the producer or the feature type)"
            ) from None
        except duckdb.Error as e:
            store_failure = classify_store_error(e, wh.path, "warehouse")
            if store_failure is not None:  # disk full, damaged warehouse: not the landing file's fault
                raise store_failure from e
            raise BadFile("load_error", f"{_first_line(e)} (hint: inspect the file with duckdb)") from None
        dirty |= census.batches if census is not None else batches_of_file(conn, cfg, spec, rel)
        label_dirty |= label_batches_of_file(conn, cfg, spec, rel)
        if replaced:
            conn.execute(
                "UPDATE ingested_files SET status = 'superseded' WHERE path = ? AND status = 'loaded'", [rel]
            )
        conn.execute(
            "INSERT INTO ingested_files VALUES (?, ?, ?, ?, ?, ?, 'loaded', ?, now(), ?)",
            [rel, spec.name, sha, size, mtime, rows, replaced, json.dumps(file_columns)],
        )
        for change, col, detail in changes:
            conn.execute(
                "INSERT INTO schema_changes VALUES (?, ?, ?, ?, ?, ?, now())",
                [rel, spec.name, sha, change, col, detail],
            )
        conn.execute(
            "UPDATE quarantine SET status = 'resolved', resolved_at = now() WHERE path = ? AND status = 'open'",
            [rel],
        )
        if stat is not None:
            _remember_stat(conn, rel, stat)
    return FileOutcome(rows, replaced, dirty, label_dirty, changes, bad_rows)


def record_quarantine(
    wh: Warehouse,
    spec: SourceSpec,
    rel: str,
    sha: str | None,
    size: int | None,
    mtime: float | None,
    bad: BadFile,
) -> QuarantinedFile | None:
    """Quarantine a file (None if an open entry already says the same about it)."""
    qid = new_id("q")
    with wh.write() as conn:
        if size is None:  # not even stat-able: report once while it stays that way
            row = fetch_one(
                conn.execute(
                    "SELECT count(*) FROM quarantine WHERE path = ? AND reason = ? AND status = 'open'",
                    [rel, bad.reason],
                )
            )
            if row and row[0]:
                return None
        conn.execute(
            "INSERT INTO quarantine VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'open', now(), NULL)",
            [qid, rel, spec.name, sha, size, mtime, bad.reason, bad.detail],
        )
        if size is not None and mtime is not None:
            # Remembered so an unchanged bad file is not re-read every cycle ('': could not hash).
            conn.execute(
                "INSERT INTO ingested_files VALUES (?, ?, ?, ?, ?, NULL, 'quarantined', NULL, now(), NULL)",
                [rel, spec.name, sha or "", size, mtime],
            )
    return QuarantinedFile(qid, rel, spec.name, bad.reason, bad.detail)


# ---- the scan ---------------------------------------------------------------------------


def seen_files(wh: Warehouse) -> tuple[dict[str, SeenFile], dict[tuple[str, str], str]]:
    """Latest record per path, and (source, sha256) -> path of loaded content."""
    with wh.write() as conn:
        latest = conn.execute(
            "SELECT f.path, f.size, f.mtime, f.sha256, f.status, s.ctime, s.inode FROM ingested_files f "
            "LEFT JOIN file_stat s ON s.path = f.path "
            "QUALIFY row_number() OVER (PARTITION BY f.path ORDER BY f.ingested_at DESC, "
            "CASE f.status WHEN 'loaded' THEN 0 ELSE 1 END) = 1"
        ).fetchall()
        loaded = conn.execute(
            "SELECT source, sha256, path FROM ingested_files WHERE status = 'loaded'"
        ).fetchall()
    return (
        {str(r[0]): SeenFile(int(r[1]), float(r[2]), str(r[3]), str(r[4]),
                             None if r[5] is None else float(r[5]), None if r[6] is None else int(r[6]))
         for r in latest},
        {(str(r[0]), str(r[1])): str(r[2]) for r in loaded},
    )


def _ordered_specs(cfg: VigilConfig) -> list[SourceSpec]:
    """Predictions first and the label table last, so label joins see the predictions."""
    specs = all_specs(cfg)
    label = cfg.labels.table if cfg.labels else None
    return sorted(specs, key=lambda s: (s.name != PREDICTIONS, s.name == label))


def ingest_all(
    cfg: VigilConfig, wh: Warehouse, only: Iterable[str] | None = None, now: datetime | None = None
) -> IngestReport:
    """Scan every configured source and load new or changed files (``only``: these relative paths).

    ``now`` (wall time, default the system clock) anchors the plausible timestamp window.
    """
    report = IngestReport()
    seen, loaded_content = seen_files(wh)
    wanted = set(only) if only is not None else None
    for spec in _ordered_specs(cfg):
        for path in list_files(cfg.root, spec.source):
            rel = relative_path(cfg.root, path)
            if wanted is not None and rel not in wanted:
                continue
            _ingest_one(cfg, wh, spec, path, rel, seen.get(rel), loaded_content, report, now)
    return report


def _note(report: IngestReport, entry: QuarantinedFile | None) -> None:
    if entry is not None:
        report.quarantined.append(entry)


def _remember_stat(conn: duckdb.DuckDBPyConnection, rel: str, st: os.stat_result) -> None:
    """What the pre-filter compares next time (written after the file's record)."""
    conn.execute("INSERT OR REPLACE INTO file_stat VALUES (?, ?, ?)", [rel, st.st_ctime, st.st_ino])


def _leaves_root(cfg: VigilConfig, path: Path) -> bool:
    """True when the path (a symlink, or under a symlinked folder) resolves outside the storage root."""
    try:
        return not path.resolve().is_relative_to(cfg.root.resolve())
    except OSError:  # a link loop: treat as leaving
        return True


def _ingest_one(
    cfg: VigilConfig,
    wh: Warehouse,
    spec: SourceSpec,
    path: Path,
    rel: str,
    previous: SeenFile | None,
    loaded_content: dict[tuple[str, str], str],
    report: IngestReport,
    now: datetime | None = None,
) -> None:
    if _leaves_root(cfg, path):
        # Never opened: reading it would copy another file's content (say /etc/passwd) into
        # the quarantine detail. The reason names the link, not its target or content.
        bad = BadFile("symlink_outside_root", "a symbolic link to a file outside the storage root; not read "
                                              "(hint: copy the file into the landing folder instead of linking it)")
        _note(report, record_quarantine(wh, spec, rel, None, None, None, bad))
        return
    try:
        st = os.stat(path)
    except OSError as e:
        _note(report, record_quarantine(wh, spec, rel, None, None, None, BadFile("unreadable", str(e))))
        return
    size, mtime = st.st_size, st.st_mtime
    if previous is not None and previous.unchanged(st):
        report.skipped += 1  # pre-filter: unchanged since last seen, not re-hashed
        return
    try:
        sha = sha256_file(str(path))
    except OSError as e:
        bad = BadFile("unreadable", f"cannot read the file: {e.strerror or e} (hint: check permissions)")
        _note(report, record_quarantine(wh, spec, rel, None, size, mtime, bad))
        return
    if previous is not None and previous.sha256 == sha:
        with wh.write() as conn:  # touched, same content: remember the new size/mtime
            conn.execute(
                "UPDATE ingested_files SET size = ?, mtime = ? WHERE path = ? AND sha256 = ?",
                [size, mtime, rel, sha],
            )
            _remember_stat(conn, rel, st)
        report.skipped += 1
        return
    other = loaded_content.get((spec.name, sha))
    if other is not None and other != rel:
        with wh.write() as conn:  # redelivered under another name: adds nothing
            conn.execute(
                "INSERT INTO ingested_files VALUES (?, ?, ?, ?, ?, 0, 'duplicate', NULL, now(), NULL)",
                [rel, spec.name, sha, size, mtime],
            )
            _remember_stat(conn, rel, st)
        report.skipped += 1
        return
    try:
        outcome = load_file(cfg, wh, spec, path, rel, sha, size, mtime, now, st)
    except BadFile as bad:
        _note(report, record_quarantine(wh, spec, rel, sha, size, mtime, bad))
        with wh.write() as conn:
            _remember_stat(conn, rel, st)
        return
    loaded_content[(spec.name, sha)] = rel
    report.loaded += 1
    report.rows += outcome.rows
    report.loaded_files.append(rel)
    if outcome.replaced_sha256:
        report.replaced += 1
    report.dirty_batches |= outcome.dirty
    report.label_batches |= outcome.label_dirty
    report.quarantined_rows.extend(outcome.bad_rows)
    report.schema_changes.extend(SchemaChange(rel, spec.name, c, col, d) for c, col, d in outcome.changes)
