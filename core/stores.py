"""The two stores, and the only place that opens them.

- Warehouse: DuckDB file for ingested data, statistics and check results. One writer
  at a time; every unit of work opens, commits and closes, so readers (pages, CLI),
  which open read-only per query, get in between. Both sides retry briefly on a lock.
- OpsStore: SQLite in WAL mode for operational state (alerts, incidents, registry,
  users, audit). Many processes read and write it with a busy timeout.

Schemas are SQL files under core/migrations/{warehouse,ops}/NNN_name.sql, applied in
order once per store and recorded in schema_migrations.
"""

from __future__ import annotations

import fcntl
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb

# Whole phrases, never single words: "Corrupt database file: ... in block at ..." contains
# "lock" but is corruption, not a lock held by another process.
_LOCK_PHRASES = ("Could not set lock on file", "Conflicting lock is held", "being used by another process",
                 "database is locked", "database table is locked")
_FULL_PHRASES = ("No space left on device", "database or disk is full", "disk is full", "Disk quota exceeded")
_CORRUPT_PHRASES = ("not a valid DuckDB database file", "Corrupt database file", "Could not read enough bytes",
                    "file is not a database", "database disk image is malformed", "does not match stored checksum",
                    "malformed database schema", "Failed to read database header")


class StoreUnavailable(RuntimeError):
    """A store cannot be used: locked past the wait, corrupt or out of disk (exit code 3).
    The message says which store, what happened and how to recover."""


class StoreBusy(StoreUnavailable):
    """The store stayed locked by another process for longer than the retry budget."""


class StoreCorrupt(StoreUnavailable):
    """The store file is damaged (bad header, failed checksum, cut short)."""


class StoreDiskFull(StoreUnavailable):
    """The disk holding the store is full."""


class StoreMissing(FileNotFoundError):
    """The store file does not exist yet (no cycle has run)."""


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0][:300]


def is_lock_error(err: BaseException) -> bool:
    text = str(err)
    return any(p in text for p in _LOCK_PHRASES)


def classify_store_error(err: BaseException, path: Path, kind: str) -> StoreUnavailable | None:
    """The StoreUnavailable an engine error stands for (None: not a store-level failure).

    `kind` is 'warehouse' or 'ops'; the message names the file, what happened and the recovery.
    """
    text = str(err)
    if any(p in text for p in _FULL_PHRASES) or getattr(err, "errno", None) == 28:
        return StoreDiskFull(
            f"{path}: the disk is full ({_first_line(err)}) (hint: free space on {path.parent} (`df -h {path.parent}`), "
            "then retry; nothing was half-written: the transaction rolled back)"
        )
    if any(p in text for p in _CORRUPT_PHRASES):
        recovery = (
            "`vigil warehouse rebuild` rebuilds it from the landing files and the kept quarantine"
            if kind == "warehouse"
            else "`vigil restore BACKUP` restores the newest backup (`vigil backup` makes one; the scheduler makes "
                 "one daily under <root>/backups)"
        )
        return StoreCorrupt(f"{path}: the {kind} store is corrupt ({_first_line(err)}) (hint: {recovery}; "
                            "`vigil doctor` checks both stores)")
    if is_lock_error(err):
        return StoreBusy(f"{path}: locked by another process ({_first_line(err)}) (hint: a cycle is writing; retry in "
                         "a moment)")
    return None


def _reraise_store_error(err: BaseException, path: Path, kind: str) -> None:
    found = classify_store_error(err, path, kind)
    if found is not None and not isinstance(found, StoreBusy):
        raise found from err


def _migration_files(kind: str) -> list[tuple[str, str]]:
    folder = resources.files("core") / "migrations" / kind
    out = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            out.append((entry.name, entry.read_text()))
    return sorted(out)


class Warehouse:
    """DuckDB analytical store. ``write()`` for one unit of work, ``read()`` per query."""

    def __init__(self, path: str | Path, memory_limit: str = "2GB", retry_seconds: float = 30.0) -> None:
        self.path = Path(path)
        self.memory_limit = memory_limit
        self.retry_seconds = retry_seconds
        self._migrated = False

    def _open(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        deadline = time.monotonic() + self.retry_seconds
        delay = 0.02
        while True:
            try:
                conn = duckdb.connect(str(self.path), read_only=read_only)
                conn.execute(f"SET memory_limit = '{self.memory_limit}'")  # validated by config pattern
                if read_only:
                    self._check_length(conn)
                return conn
            except duckdb.Error as err:  # another process holds the file
                if not is_lock_error(err) or time.monotonic() > deadline:
                    if is_lock_error(err):
                        raise StoreBusy(f"{self.path}: locked by another process for {self.retry_seconds:.0f}s "
                                        "(hint: a cycle is writing; retry in a moment)") from err
                    _reraise_store_error(err, self.path, "warehouse")
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.5)

    def _check_length(self, conn: duckdb.DuckDBPyConnection) -> None:
        """A file cut short opens fine until a read reaches a missing block: catch it at open.

        The file holds 3 header blocks of 4 KiB and at least `used_blocks` blocks of `block_size`.
        """
        try:
            size = self.path.stat().st_size
        except OSError:
            return
        row = conn.execute("SELECT block_size, used_blocks FROM pragma_database_size()").fetchall()
        if not row or not row[0][0]:
            return
        expected = 3 * 4096 + int(row[0][0]) * int(row[0][1])
        if size < expected:
            conn.close()
            raise StoreCorrupt(
                f"{self.path}: the warehouse store is corrupt (the file was cut short: {size:,} bytes of {expected:,}) "
                "(hint: `vigil warehouse rebuild` rebuilds it from the landing files and the kept quarantine; "
                "`vigil doctor` checks both stores)"
            )

    def migrate(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = self._open(read_only=False)
        try:
            _apply_migrations_duckdb(conn)
        finally:
            conn.close()
        self._migrated = True

    @contextmanager
    def write(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One unit of work in one transaction; the file is released on exit."""
        if not self._migrated:
            self.migrate()
        conn = self._open(read_only=False)
        try:
            conn.execute("BEGIN TRANSACTION")
            try:
                yield conn
            except BaseException as err:
                try:
                    conn.execute("ROLLBACK")
                except duckdb.Error:
                    pass  # a failed disk or a damaged file may refuse the rollback too
                if isinstance(err, duckdb.Error | OSError):
                    _reraise_store_error(err, self.path, "warehouse")
                raise
            try:
                conn.execute("COMMIT")
            except duckdb.Error as err:
                _reraise_store_error(err, self.path, "warehouse")
                raise
        finally:
            conn.close()

    @contextmanager
    def read(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection for one query or page render."""
        if not self.path.exists():
            raise StoreMissing(f"{self.path}: no warehouse yet (hint: run `vigil run-once` first)")
        conn = self._open(read_only=True)
        try:
            yield conn
        except duckdb.Error as err:
            _reraise_store_error(err, self.path, "warehouse")
            raise
        finally:
            conn.close()


def _apply_migrations_duckdb(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (name VARCHAR PRIMARY KEY, applied_at TIMESTAMP)")
    done = {r[0] for r in conn.execute("SELECT name FROM schema_migrations").fetchall()}
    for name, sql in _migration_files("warehouse"):
        if name in done:
            continue
        conn.execute("BEGIN TRANSACTION")
        try:
            conn.execute(sql)
            conn.execute("INSERT INTO schema_migrations VALUES (?, now())", [name])
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


class OpsStore:
    """SQLite (WAL) operational store, safe for several processes."""

    def __init__(self, path: str | Path, busy_timeout_ms: int = 15000) -> None:
        self.path = Path(path)
        self.busy_timeout_ms = busy_timeout_ms
        self._migrated = False
        # Seconds each write transaction waited for SQLite's write lock, when a caller
        # (the contention bench) sets this to a list; None records nothing.
        self.lock_waits: list[float] | None = None

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(self.path), timeout=self.busy_timeout_ms / 1000, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
            self._ensure_wal(conn)
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.DatabaseError as err:
            conn.close()
            self._raise_classified(err)
            raise
        return conn

    def _ensure_wal(self, conn: sqlite3.Connection) -> None:
        """Switch a new file to WAL. SQLite answers SQLITE_BUSY at once, without its busy
        handler, when several connections open a brand-new file together and one of them is
        switching the journal mode; so retry that one statement until the busy timeout."""
        deadline = time.monotonic() + self.busy_timeout_ms / 1000
        pause = 0.005
        while True:
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as err:
                if "locked" not in str(err) and "busy" not in str(err):
                    raise
                if time.monotonic() >= deadline:
                    raise
                time.sleep(pause)
                pause = min(pause * 2, 0.2)

    def _raise_classified(self, err: BaseException) -> None:
        found = classify_store_error(err, self.path, "ops")
        if found is not None:
            raise found from err

    def migrate(self) -> None:
        conn = self._open()
        try:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.DatabaseError as err:
                self._raise_classified(err)
                raise
            try:
                conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT)")
                done = {r[0] for r in conn.execute("SELECT name FROM schema_migrations")}
                for name, sql in _migration_files("ops"):
                    if name in done:
                        continue
                    for statement in _split_sql(sql):
                        conn.execute(statement)
                    conn.execute("INSERT INTO schema_migrations VALUES (?, datetime('now'))", (name,))
                _install_triggers(conn)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        finally:
            conn.close()
        self._migrated = True

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (BEGIN IMMEDIATE): committed on success, rolled back on error."""
        if not self._migrated:
            self.migrate()
        conn = self._open()
        try:
            began = time.perf_counter()
            try:
                conn.execute("BEGIN IMMEDIATE")  # where a writer waits for another
            except sqlite3.OperationalError as err:
                self._raise_classified(err)
                raise
            if self.lock_waits is not None:
                self.lock_waits.append(time.perf_counter() - began)
            try:
                yield conn
            except BaseException as err:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
                if isinstance(err, sqlite3.DatabaseError) and not is_lock_error(err):
                    self._raise_classified(err)
                raise
            try:
                conn.execute("COMMIT")
            except sqlite3.DatabaseError as err:
                self._raise_classified(err)
                raise
        finally:
            conn.close()

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        if not self._migrated:
            self.migrate()
        conn = self._open()
        try:
            yield conn
        except sqlite3.DatabaseError as err:
            if not is_lock_error(err):
                self._raise_classified(err)
            raise
        finally:
            conn.close()

    def query(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        with self.read() as conn:
            return [dict(r) for r in conn.execute(sql, params).fetchall()]


# Append-only guards of the audit trail, created in the same transaction as the table (so
# even a store with no entry yet refuses rewrites). SQLite fires no DELETE trigger when
# INSERT OR REPLACE / REPLACE removes a row (unless recursive_triggers is on), so the insert
# guard refuses any explicit id that is not past the newest entry: a REPLACE can only ever
# hit an existing id, and such an insert is refused before anything is removed.
OPS_TRIGGERS = (
    "CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: entries cannot be changed'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: entries cannot be deleted'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_log_no_replace BEFORE INSERT ON audit_log "
    "WHEN NEW.entry_id IS NOT NULL AND NEW.entry_id <= (SELECT COALESCE(MAX(entry_id), 0) FROM audit_log) "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: an entry id cannot be reused or replaced'); END",
)


def _install_triggers(conn: sqlite3.Connection) -> None:
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "audit_log" in tables:
        for statement in OPS_TRIGGERS:
            conn.execute(statement)


def _split_sql(script: str) -> list[str]:
    """Split a migration script into statements (no semicolons inside literals in our files)."""
    return [s.strip() for s in script.split(";") if s.strip()]


@contextmanager
def cycle_lock(path: str | Path, wait: bool = True) -> Iterator[bool]:
    """A cross-process lock so only one check cycle writes at a time.

    Yields True when held; with wait=False yields False if another cycle holds it.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with open(p, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def stores_for(config: Any) -> tuple[Warehouse, OpsStore]:
    """Both stores for a VigilConfig."""
    return (
        Warehouse(config.warehouse_path, memory_limit=config.storage.duckdb_memory_limit),
        OpsStore(config.ops_path),
    )
