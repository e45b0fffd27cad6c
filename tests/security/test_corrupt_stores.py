"""Corrupt stores say what happened and how to recover (finding 7), tested on corrupted copies.

Before: an overwritten DuckDB header gave a raw IOException traceback; corrupted middle
blocks read as "locked by another process" after 10-30 s of retries (the word "block"
matched the lock words); a truncated file made `quarantine list` say "quarantine is empty";
there was no backup of the ops store.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from datetime import date, datetime
from pathlib import Path

import duckdb
import pytest

from app.cli import main
from app.cycle import run_cycle
from core import audit, exit_codes
from core.backup import backup_dir, integrity, list_backups
from core.clock import ManualClock
from core.config import VigilConfig
from core.doctor import diagnose
from core.stores import (
    OpsStore,
    StoreBusy,
    StoreCorrupt,
    StoreDiskFull,
    Warehouse,
    classify_store_error,
)
from tests.app.builders import write_history


@pytest.fixture
def built(cfg: VigilConfig) -> VigilConfig:
    write_history(cfg.root, date(2024, 3, 1), days=3)
    run_cycle(cfg, clock=ManualClock(datetime(2024, 3, 4, 6)), notify=False)
    return cfg


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _overwrite(path: Path, offset: int, length: int) -> None:
    with open(path, "r+b") as fh:
        fh.seek(offset)
        fh.write(b"\xff" * length)


def _corrupt(path: Path, how: str) -> None:
    size = path.stat().st_size
    if how == "header":
        _overwrite(path, 0, 4096)
    elif how == "blocks":  # header intact, every data block after it damaged
        _overwrite(path, 12288, size - 12288)
    elif how == "truncated":
        os.truncate(path, size // 3)


@pytest.mark.parametrize("how", ["header", "blocks", "truncated"])
@pytest.mark.parametrize("argv", [["status"], ["quarantine", "list"], ["checks", "show", "2024-03-02"], ["run-once"]])
def test_a_corrupt_warehouse_is_named_with_its_recovery(built: VigilConfig, capsys: pytest.CaptureFixture[str],
                                                       how: str, argv: list[str]) -> None:
    _corrupt(built.warehouse_path, how)
    started = time.monotonic()
    code, out, err = _run(capsys, *argv)
    assert code == exit_codes.STORE_UNAVAILABLE, (out, err)
    assert "warehouse store is corrupt" in err and "vigil warehouse rebuild" in err
    assert "Traceback" not in err and "locked" not in err and "quarantine is empty" not in out
    assert time.monotonic() - started < 10, "corruption is not retried as if it were a lock"


def test_classification_by_phrase_not_word(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    corrupt = duckdb.Error("Corrupt database file: computed checksum 1 does not match stored checksum 2 in block at 12288")
    assert isinstance(classify_store_error(corrupt, path, "warehouse"), StoreCorrupt)
    full = duckdb.IOException('IO Error: Could not write file "x.wal": No space left on device')
    found = classify_store_error(full, path, "warehouse")
    assert isinstance(found, StoreDiskFull) and "the disk is full" in str(found) and "df -h" in str(found)
    assert isinstance(classify_store_error(sqlite3.OperationalError("database or disk is full"), path, "ops"),
                      StoreDiskFull)
    lock = duckdb.IOException('IO Error: Could not set lock on file "x": Conflicting lock is held in python')
    assert isinstance(classify_store_error(lock, path, "warehouse"), StoreBusy)
    malformed = sqlite3.DatabaseError("database disk image is malformed")
    assert "vigil restore" in str(classify_store_error(malformed, path, "ops"))
    assert classify_store_error(duckdb.CatalogException("Table with name x does not exist"), path, "warehouse") is None


def test_a_damaged_ops_store_is_corrupt_not_a_traceback(built: VigilConfig, capsys: pytest.CaptureFixture[str]) -> None:
    path = built.ops_path
    OpsStore(path).query("PRAGMA wal_checkpoint(TRUNCATE)")
    _overwrite(path, 0, 100)  # the SQLite header
    code, _, err = _run(capsys, "alerts", "list")
    assert code == exit_codes.STORE_UNAVAILABLE
    assert "ops store is corrupt" in err and "vigil restore" in err and "Traceback" not in err


def test_backup_then_restore_a_corrupted_ops_store(built: VigilConfig, capsys: pytest.CaptureFixture[str]) -> None:
    ops = OpsStore(built.ops_path)
    before = len(audit.list_entries(ops, limit=None))
    code, out, err = _run(capsys, "backup")
    assert code == 0 and "integrity ok" in out, err
    [made] = list_backups(backup_dir(built.root))
    assert integrity(made) == "ok"
    ops.query("PRAGMA wal_checkpoint(TRUNCATE)")
    _overwrite(built.ops_path, 4096, built.ops_path.stat().st_size - 4096)
    assert integrity(built.ops_path) != "ok"
    doctor = {f.check: f for f in diagnose(built)}
    assert not doctor["ops store"].ok and f"vigil restore {made}" in doctor["ops store"].detail
    code, out, err = _run(capsys, "restore")
    assert code == 0 and f"restored from {made}" in out, err
    assert "moved aside" in out or "kept as" in out
    assert integrity(built.ops_path) == "ok"
    entries = audit.list_entries(OpsStore(built.ops_path), limit=None)
    assert len(entries) == before + 1  # what the backup held, then the restore (the backup's own entry came after)
    assert entries[0].action == "stores.restore" and entries[0].actor.startswith("os:")
    assert audit.verify(OpsStore(built.ops_path)).ok


def test_warehouse_rebuild_from_the_landing_files(built: VigilConfig, capsys: pytest.CaptureFixture[str]) -> None:
    wh = Warehouse(built.warehouse_path)
    with wh.read() as conn:
        rows_before = conn.execute("SELECT count(*) FROM predictions").fetchall()[0][0]
    _corrupt(built.warehouse_path, "blocks")
    assert not {f.check: f for f in diagnose(built)}["warehouse"].ok
    code, out, err = _run(capsys, "warehouse", "rebuild")
    assert code == 0 and "warehouse rebuilt: 6 files loaded" in out, err
    assert list(built.root.glob("warehouse.duckdb.damaged-*")), "the damaged file is kept aside"
    with Warehouse(built.warehouse_path).read() as conn:
        assert conn.execute("SELECT count(*) FROM predictions").fetchall()[0][0] == rows_before
        assert conn.execute("SELECT count(*) FROM check_results").fetchall()[0][0] > 0
    assert _run(capsys, "status")[0] == 0
    doctor = {f.check: f for f in diagnose(built)}
    assert doctor["warehouse"].ok and doctor["ops store"].ok and doctor["audit chain"].ok


def test_doctor_reports_every_part(built: VigilConfig, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "doctor")
    assert code == 0, out
    for check in ("ops store", "warehouse", "audit chain", "landing predictions", "landing applications", "free disk"):
        assert check in out
    outside = built.root.parent / "outside.parquet"
    shutil.copy(next((built.root / "landing" / "predictions").glob("*.parquet")), outside)
    (built.root / "landing" / "predictions" / "link.parquet").symlink_to(outside)
    code, out, _ = _run(capsys, "doctor")
    assert code == 1 and "symlink(s) leave the storage root" in out
