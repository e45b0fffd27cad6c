"""The two stores: migrations apply once, transactions are atomic, WAL is on."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
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


HOLD_WRITE = """
import sys, time
from core.stores import Warehouse
wh = Warehouse(sys.argv[1])
with wh.write() as conn:
    conn.execute("INSERT INTO t VALUES (42)")
    print("HOLDING", flush=True)
    time.sleep(1.0)
"""


def test_reader_waits_for_writer_in_another_process(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    wh = Warehouse(path)
    with wh.write() as conn:
        conn.execute("CREATE TABLE t (x INTEGER)")
    proc = subprocess.Popen([sys.executable, "-c", HOLD_WRITE, str(path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "HOLDING"
    # The writer holds the file; the reader retries until it commits and closes.
    reader = Warehouse(path, retry_seconds=30)
    with reader.read() as conn:
        rows = conn.execute("SELECT x FROM t").fetchall()
    assert proc.wait(30) == 0
    assert rows == [(42,)]


TRY_LOCK = """
import sys
from core.stores import cycle_lock
with cycle_lock(sys.argv[1], wait=False) as held:
    print(held)
"""

INSERT_MANY = """
import sys
from core.stores import OpsStore
ops = OpsStore(sys.argv[1])
for i in range(50):
    with ops.transaction() as conn:
        conn.execute("INSERT INTO cycles (cycle_id, model, started_at) VALUES (?, 'm', 'x')", (f"{sys.argv[2]}-{i}",))
"""


def test_cycle_lock_excludes_a_second_holder(tmp_path: Path) -> None:
    lock = tmp_path / "cycle.lock"
    with cycle_lock(lock) as held:
        assert held
        out = subprocess.run([sys.executable, "-c", TRY_LOCK, str(lock)], capture_output=True, text=True, timeout=60)
        assert out.stdout.strip() == "False"
    out = subprocess.run([sys.executable, "-c", TRY_LOCK, str(lock)], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "True"


def test_ops_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "ops.sqlite"
    OpsStore(path).migrate()
    procs = [subprocess.Popen([sys.executable, "-c", INSERT_MANY, str(path), f"w{i}"]) for i in range(3)]
    assert [p.wait(120) for p in procs] == [0, 0, 0]
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT count(*) FROM cycles").fetchone()[0] == 150


def test_many_connections_opening_a_new_ops_store_at_once_all_succeed(tmp_path: Path) -> None:
    """SQLite answers 'database is locked' at once, without waiting, to a connection that
    switches a brand-new file to WAL while another does: seen as a failed sign-in in a
    burst. Each of 40 simultaneous first opens must succeed (five fresh files)."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    for rep in range(5):
        path = tmp_path / f"ops{rep}.sqlite"
        gate = threading.Barrier(40, timeout=60)

        def first_open(_: int, path: Path = path, gate: threading.Barrier = gate) -> str:
            gate.wait()
            try:
                store = OpsStore(path)
                store.migrate()
                with store.transaction() as conn:
                    conn.execute("SELECT 1")
                return "ok"
            except Exception as err:  # noqa: BLE001 - reported below
                return f"{type(err).__name__}: {err}"

        with ThreadPoolExecutor(max_workers=40) as pool:
            outcomes = [f.result(timeout=120) for f in [pool.submit(first_open, i) for i in range(40)]]
        assert outcomes == ["ok"] * 40, [o for o in outcomes if o != "ok"]
