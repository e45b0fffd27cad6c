"""A process killed (SIGKILL) mid-ingest leaves nothing partial; the next run completes the work."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from core.config import config_from_dict
from core.stores import Warehouse
from profilers.ingest import ingest_all
from tests.profilers.conftest import day_frame, toy_config_dict, write_apps, write_predictions

REPO = Path(__file__).resolve().parents[2]

CHILD = """
import json, sys, time
from pathlib import Path
sys.path.insert(0, {repo!r})
from core.config import config_from_dict
from core.stores import Warehouse
import profilers.ingest as ingest

root = Path({root!r})
cfg = config_from_dict(json.loads(Path({cfg!r}).read_text()), root=root)
stop_at = {stop_at!r}
calls = []
real = ingest._insert_rows

def insert_then_hang(conn, sql, params):
    n = real(conn, sql, params)
    calls.append(params[0])
    if stop_at is not None and len(calls) == stop_at:
        Path({marker!r}).write_text(params[0])  # rows inserted, transaction not committed
        time.sleep(600)
    return n

ingest._insert_rows = insert_then_hang
ingest.ingest_all(cfg, Warehouse(cfg.warehouse_path, memory_limit="512MB"))
"""


def _child(tmp_path: Path, stop_at: int | None) -> tuple[subprocess.Popen[bytes], Path]:
    cfg_file = tmp_path / "cfg.json"
    cfg_file.write_text(json.dumps(toy_config_dict()))
    marker = tmp_path / "marker"
    code = CHILD.format(
        repo=str(REPO), root=str(tmp_path), cfg=str(cfg_file), stop_at=stop_at, marker=str(marker)
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    return proc, marker


def _counts(wh: Warehouse) -> tuple[int, int, int, int]:
    with wh.read() as conn:
        preds = conn.execute("SELECT count(*), count(DISTINCT id) FROM predictions").fetchone()
        has_apps = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'etl_apps'"
        ).fetchone()
        apps = conn.execute("SELECT count(*) FROM etl_apps").fetchone() if has_apps == (1,) else (0,)
        files = conn.execute("SELECT count(*) FROM ingested_files WHERE status = 'loaded'").fetchone()
    assert preds and apps and files
    return int(preds[0]), int(preds[1]), int(apps[0]), int(files[0])


def _landing(root: Path) -> None:
    for d in range(4):
        write_predictions(root, d, day_frame(d, n=3000))
        write_apps(root, d)


def test_kill_mid_file_then_rerun(tmp_path: Path) -> None:
    _landing(tmp_path)
    proc, marker = _child(tmp_path, stop_at=3)
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert proc.poll() is None, "child exited before reaching the third file"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    cfg = config_from_dict(toy_config_dict(), root=tmp_path)
    wh = Warehouse(cfg.warehouse_path, memory_limit="512MB")
    # Two prediction files committed; the third's inserted rows were never committed.
    assert _counts(wh) == (6000, 6000, 0, 2)
    report = ingest_all(cfg, wh)
    assert report.loaded == 6 and report.skipped == 2
    assert _counts(wh) == (12000, 12000, 800, 8)


def test_kill_at_arbitrary_moments_then_rerun(tmp_path: Path) -> None:
    _landing(tmp_path)
    for delay in (0.4, 0.9, 1.5):
        proc, _ = _child(tmp_path, stop_at=None)
        time.sleep(delay)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    cfg = config_from_dict(toy_config_dict(), root=tmp_path)
    wh = Warehouse(cfg.warehouse_path, memory_limit="512MB")
    ingest_all(cfg, wh)
    assert _counts(wh) == (12000, 12000, 800, 8)
    assert not ingest_all(cfg, wh).loaded


def test_kill_mid_replacement_keeps_the_old_version(tmp_path: Path) -> None:
    _landing(tmp_path)
    cfg = config_from_dict(toy_config_dict(), root=tmp_path)
    wh = Warehouse(cfg.warehouse_path, memory_limit="512MB")
    ingest_all(cfg, wh)
    write_predictions(tmp_path, 1, day_frame(1, n=500, seed=8))
    proc, marker = _child(tmp_path, stop_at=1)
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert _counts(wh) == (12000, 12000, 800, 8)  # old rows of day 1 still there, not deleted
    report = ingest_all(cfg, wh)
    assert (report.loaded, report.replaced) == (1, 1)
    assert _counts(wh) == (9500, 9500, 800, 8)
