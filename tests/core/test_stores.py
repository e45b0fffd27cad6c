"""The two stores: migrations apply once, transactions are atomic, WAL is on."""

from __future__ import annotations

import multiprocessing as mp
import sqlite3
from pathlib import Path

import pytest

from core.stores import OpsStore, StoreMissing, Warehouse, cycle_lock


def test_ops_store_is_wal_and_migrated(tmp_path: Path) -> None:
    ops = OpsStore(tmp_path / "ops.sqlite")
    with ops.read() as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        names = {r[0] for r in conn.execute("SELECT name FROM schema_migrations")}
    assert "001_core.sql" in names


def test_ops_transaction_rolls_back_on_error(tmp_path: Path) -> None:
    ops = OpsStore(tmp_path / "ops.sqlite")
    with pytest.raises(RuntimeError):
        with ops.transaction() as conn:
            conn.execute("INSERT INTO cycles (cycle_id, model, started_at) VALUES ('c1', 'm', 'now')")
            raise RuntimeError("boom")
    assert ops.query("SELECT count(*) AS n FROM cycles")[0]["n"] == 0


def test_warehouse_write_is_atomic_and_read_only_reader(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path / "w.duckdb")
    with wh.write() as conn:
        conn.execute("CREATE TABLE t (x INTEGER)")
        conn.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(ValueError):
        with wh.write() as conn:
            conn.execute("INSERT INTO t VALUES (2)")
            raise ValueError("half way")
    with wh.read() as conn:
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (1,)
        with pytest.raises(Exception, match="read-only"):
            conn.execute("INSERT INTO t VALUES (3)")


def test_reading_a_missing_warehouse_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(StoreMissing, match="run `vigil run-once` first"):
        with Warehouse(tmp_path / "none.duckdb").read():
            pass


def _hold_write(path: str, ready: mp.synchronize.Event, release: mp.synchronize.Event) -> None:  # type: ignore[name-defined]
    wh = Warehouse(path)
    with wh.write() as conn:
        conn.execute("INSERT INTO t VALUES (42)")
        ready.set()
        release.wait(10)


def test_reader_waits_for_writer_in_another_process(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    wh = Warehouse(path)
    with wh.write() as conn:
        conn.execute("CREATE TABLE t (x INTEGER)")
    ctx = mp.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    proc = ctx.Process(target=_hold_write, args=(str(path), ready, release))
    proc.start()
    assert ready.wait(30)
    release.set()  # the reader below retries until the writer commits and closes
    reader = Warehouse(path, retry_seconds=30)
    with reader.read() as conn:
        rows = conn.execute("SELECT x FROM t").fetchall()
    proc.join(30)
    assert proc.exitcode == 0
    assert rows in ([], [(42,)])
    with reader.read() as conn:
        assert conn.execute("SELECT x FROM t").fetchall() == [(42,)]


def test_cycle_lock_excludes_a_second_holder(tmp_path: Path) -> None:
    lock = tmp_path / "cycle.lock"
    with cycle_lock(lock) as held:
        assert held
        ctx = mp.get_context("spawn")
        q = ctx.Queue()
        p = ctx.Process(target=_try_lock, args=(str(lock), q))
        p.start()
        p.join(30)
        assert q.get(timeout=5) is False
    with cycle_lock(lock, wait=False) as held_again:
        assert held_again


def _try_lock(path: str, q: mp.Queue) -> None:  # type: ignore[type-arg]
    with cycle_lock(path, wait=False) as held:
        q.put(held)


def test_ops_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "ops.sqlite"
    OpsStore(path).migrate()
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_insert_many, args=(str(path), i)) for i in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT count(*) FROM cycles").fetchone()[0] == 150


def _insert_many(path: str, worker: int) -> None:
    ops = OpsStore(path)
    for i in range(50):
        with ops.transaction() as conn:
            conn.execute(
                "INSERT INTO cycles (cycle_id, model, started_at) VALUES (?, 'm', 'x')", (f"w{worker}-{i}",)
            )
