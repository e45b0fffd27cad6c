"""The scheduler and the Streamlit server as real processes, and the scheduler's job settings."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import date, datetime
from pathlib import Path

import pytest

from app.scheduler import build_scheduler, register_process, tick
from app.settings import child_env
from core.clock import ManualClock
from core.config import VigilConfig
from core.stores import cycle_lock, stores_for
from tests.app.builders import write_history

REPO = Path(__file__).resolve().parents[2]


def wait_for(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_cycle_job_runs_one_at_a_time_and_coalesces(cfg: VigilConfig) -> None:
    clock = ManualClock(datetime(2024, 3, 9, 6, 0))
    ops = stores_for(cfg)[1]
    process_id = register_process(ops, "scheduler", cfg.model.name, clock, {"simulate": False})
    scheduler = build_scheduler(cfg, simulate=False, clock=clock, process_id=process_id, ops=ops)
    cycle = scheduler.get_job("cycle")
    assert cycle.max_instances == 1 and cycle.coalesce is True
    assert cycle.trigger.interval.total_seconds() == cfg.schedule.interval.total_seconds() == 1.0
    assert scheduler.get_job("heartbeat") is not None


def test_tick_records_failures_and_skips_when_a_cycle_holds_the_lock(cfg: VigilConfig) -> None:
    clock = ManualClock(datetime(2024, 3, 9, 6, 0))
    # No reference file: the cycle fails, is recorded, and the tick does not raise.
    assert tick(cfg, simulate=False, clock=clock) == "failed"
    rows = stores_for(cfg)[1].query("SELECT status, error FROM cycles")
    assert [r["status"] for r in rows] == ["failed"]
    with cycle_lock(cfg.root / "cycle.lock"):
        assert tick(cfg, simulate=False, clock=clock) == "skipped"
    assert len(stores_for(cfg)[1].query("SELECT cycle_id FROM cycles")) == 1


def test_schedule_process_runs_cycles_beats_and_stops_on_sigterm(config_file: Path, cfg: VigilConfig) -> None:
    write_history(cfg.root, date(2024, 3, 1), days=2)
    env = child_env(cfg, "tester")
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "schedule"], env=env, cwd=REPO,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        ops = stores_for(cfg)[1]

        def finished_cycles() -> int:
            if not cfg.ops_path.exists():
                return 0
            return len(ops.query("SELECT cycle_id FROM cycles WHERE finished_at IS NOT NULL"))

        wait_for(lambda: finished_cycles() >= 2, 60, "two finished cycles (1s interval)")
        beats = ops.query("SELECT pid, stopped_at FROM process_heartbeats WHERE kind = 'scheduler'")
        assert beats == [{"pid": proc.pid, "stopped_at": None}]
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out.decode()[-2000:]
    stopped = stores_for(cfg)[1].query("SELECT stopped_at FROM process_heartbeats")
    assert stopped[0]["stopped_at"] is not None
    assert b"stopped" in out


def test_vigil_app_serves_health_and_stops_its_server_on_sigterm(config_file: Path, cfg: VigilConfig) -> None:
    port = free_port()
    env = child_env(cfg, "tester") | {"STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "app", "--port", str(port), "--address", "127.0.0.1"],
                            env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def healthy() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as resp:
                return resp.status == 200 and resp.read().decode().strip() == "ok"
        except OSError:
            return False

    try:
        wait_for(healthy, 60, "Streamlit /_stcore/health")
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=40)
    assert proc.returncode == 0, out.decode()[-2000:]
    assert f"http://localhost:{port}" in out.decode()
    assert not healthy(), "the Streamlit child stopped with its parent"


SERVE = """
import sys
from app.demo import serve
from app.settings import load
sys.exit(serve(load(), "tester", int(sys.argv[1]), simulate=False))
"""


def test_serve_starts_scheduler_and_dashboard_and_stops_both(config_file: Path, cfg: VigilConfig) -> None:
    port = free_port()
    parent = subprocess.Popen([sys.executable, "-c", SERVE, str(port)], env=child_env(cfg, "tester"), cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        def healthy() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as resp:
                    return resp.status == 200
            except OSError:
                return False

        wait_for(healthy, 60, "the dashboard child")
        ops = stores_for(cfg)[1]
        wait_for(lambda: cfg.ops_path.exists() and bool(ops.query("SELECT pid FROM process_heartbeats")), 60,
                 "the scheduler child's heartbeat")
        scheduler_pid = ops.query("SELECT pid FROM process_heartbeats")[0]["pid"]
    finally:
        parent.send_signal(signal.SIGTERM)  # what Ctrl-C does to `make run`
        out, _ = parent.communicate(timeout=60)
    text = out.decode()
    assert parent.returncode == 0, text[-2000:]
    assert f"http://localhost:{port}" in text
    assert not healthy()
    with pytest.raises(ProcessLookupError):
        os.kill(scheduler_pid, 0)  # the scheduler child is gone too
    assert stores_for(cfg)[1].query("SELECT stopped_at FROM process_heartbeats")[0]["stopped_at"] is not None


def test_the_served_dashboard_never_reloads_itself_from_source_files() -> None:
    """An upgrade or an edit of the checkout must not rerun every open page mid-click: the
    server runs without Streamlit's file watcher and without rerun-on-save."""
    from streamlit.web.cli import main as streamlit_cli

    from app.processes import streamlit_command

    cmd = streamlit_command(8765, "127.0.0.1")
    options = dict(zip(cmd, cmd[1:], strict=False))
    assert options["--server.fileWatcherType"] == "none"
    assert options["--server.runOnSave"] == "false"
    # Options Streamlit itself knows (a misspelt one would stop the server at start).
    run = streamlit_cli.commands["run"]
    known = {opt for param in run.params for opt in getattr(param, "opts", [])}
    assert {"--server.fileWatcherType", "--server.runOnSave", "--server.headless"} <= known
