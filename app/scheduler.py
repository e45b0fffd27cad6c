"""The scheduler process: runs the check cycle every ``schedule.interval`` (APScheduler).

One cycle at a time (``max_instances=1``, ``coalesce``: a missed run is run once, not
replayed). A failed cycle is recorded by ``run_cycle`` and logged; the scheduler keeps
going. The process beats in the ops table ``process_heartbeats`` so the dashboard and
``vigil status`` can tell a stopped scheduler from a quiet one. SIGINT / SIGTERM stop it
after the running cycle's current transaction (every write is a short transaction).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable
from datetime import date, timedelta
from types import FrameType
from typing import Any

from app.cycle import CycleBusy, run_cycle
from core import plugins
from core.clock import Clock, SystemClock, iso
from core.config import VigilConfig
from core.ids import new_id
from core.stores import OpsStore, stores_for

log = logging.getLogger("vigil.scheduler")

HEARTBEAT_SECONDS = 15.0
# After Ctrl-C, how long to let a running tick finish before exiting anyway. Safe by design:
# every store write is one transaction (rolled back when the process dies) and ingestion is
# exactly-once, so the next cycle redoes whatever was cut short.
STOP_GRACE_SECONDS = 10.0


# ---- heartbeats -------------------------------------------------------------------------


def register_process(ops: OpsStore, kind: str, model: str, clock: Clock, detail: dict[str, Any]) -> str:
    process_id = new_id(kind)
    now = iso(clock.now())
    with ops.transaction() as conn:
        conn.execute(
            "INSERT INTO process_heartbeats (process_id, kind, model, host, pid, started_at, beat_at, detail) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (process_id, kind, model, socket.gethostname(), os.getpid(), now, now, json.dumps(detail)),
        )
    return process_id


def beat(ops: OpsStore, process_id: str, clock: Clock) -> None:
    with ops.transaction() as conn:
        conn.execute("UPDATE process_heartbeats SET beat_at = ? WHERE process_id = ?", (iso(clock.now()), process_id))


def mark_stopped(ops: OpsStore, process_id: str, clock: Clock) -> None:
    now = iso(clock.now())
    with ops.transaction() as conn:
        conn.execute(
            "UPDATE process_heartbeats SET beat_at = ?, stopped_at = ? WHERE process_id = ?",
            (now, now, process_id),
        )


# ---- one tick ---------------------------------------------------------------------------


def tick(cfg: VigilConfig, simulate: bool, clock: Clock, idle: threading.Event | None = None) -> str:
    """One scheduled run: optionally simulate the next business day, then a cycle.

    Returns a one-line outcome for the log; never raises (the scheduler must keep going;
    failures are recorded in ``cycles`` by run_cycle and logged here). ``idle`` is cleared
    while the tick runs, so a stopping scheduler knows whether work is in flight.
    """
    if idle is not None:
        idle.clear()
    try:
        return _tick(cfg, simulate, clock)
    finally:
        if idle is not None:
            idle.set()


def simulate_next_day(cfg: VigilConfig) -> date | None:
    """One more business day from every installed simulator (entry point group ``vigil.simulators``:
    the example model contributes its own), so the scheduler never imports a model package."""
    found = plugins.simulators()
    if not found:
        log.warning("--simulate: no simulator installed (entry point group %s)", plugins.SIMULATORS_GROUP)
        return None
    day: date | None = None
    for _name, simulate in sorted(found.items()):
        day = simulate(cfg)
    return day


def _tick(cfg: VigilConfig, simulate: bool, clock: Clock) -> str:
    try:
        if simulate:
            day: date | None = simulate_next_day(cfg)
            log.info("simulated business day %s", day)
        report = run_cycle(cfg, clock=clock, wait_for_lock=False)
    except CycleBusy as busy:
        log.warning("skipped: %s", busy)
        return "skipped"
    except Exception:
        log.exception("cycle failed (recorded in the cycles table)")
        return "failed"
    profile_whylogs_after(cfg)
    line = (
        f"cycle {report.cycle_id} ok in {report.duration_seconds:.1f}s: "
        f"{report.files_loaded} files, {len(report.batches_profiled)} batches, "
        f"{len(report.results)} checks, {len(report.failed_checks)} failed"
    )
    log.info(line)
    return "ok"


def profile_whylogs_after(cfg: VigilConfig) -> int:
    """whylogs profiles of new or changed batches, off the cycle's critical path (short transactions)."""
    try:
        from profilers.whylogs_profiles import profile_whylogs

        done = profile_whylogs(cfg, stores_for(cfg)[0])
    except Exception:
        log.exception("whylogs profiling failed (the cycle's checks are unaffected)")
        return 0
    if done:
        log.info("whylogs profiles written for %d (source, batch) pairs", len(done))
    return len(done)


BACKUP_INTERVAL_SECONDS = 24 * 3600


def scheduled_backup(cfg: VigilConfig) -> str | None:
    """The daily ops-store backup (online backup API) under <root>/backups, newest 14 kept."""
    from core import audit, auth
    from core.backup import backup_dir, backup_ops, prune

    try:
        made = backup_ops(cfg.ops_path, backup_dir(cfg.root), auth.users_file(cfg.root))
        prune(backup_dir(cfg.root))
        audit.record(OpsStore(cfg.ops_path), "system:scheduler", "stores.backup", str(made.path), None, made.to_dict())
    except Exception:
        log.exception("the scheduled ops-store backup failed (hint: `vigil doctor`)")
        return None
    log.info("ops store backed up to %s", made.path)
    return str(made.path)


# ---- the process ------------------------------------------------------------------------


def build_scheduler(
    cfg: VigilConfig,
    simulate: bool,
    clock: Clock,
    process_id: str | None,
    ops: OpsStore,
    idle: threading.Event | None = None,
) -> Any:
    """A BlockingScheduler with the cycle job (first run now) and the heartbeat job."""
    from apscheduler.schedulers.blocking import BlockingScheduler

    scheduler = BlockingScheduler(timezone="UTC")
    interval = cfg.schedule.interval
    scheduler.add_job(
        tick,
        "interval",
        args=(cfg, simulate, clock, idle),
        seconds=interval.total_seconds(),
        id="cycle",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=int(max(interval.total_seconds(), 1)),
        next_run_time=clock.now(),
    )
    scheduler.add_job(
        scheduled_backup, "interval", args=(cfg,), seconds=BACKUP_INTERVAL_SECONDS, id="backup", max_instances=1,
        coalesce=True,
    )
    if process_id is not None:
        scheduler.add_job(
            beat,
            "interval",
            args=(ops, process_id, clock),
            seconds=min(HEARTBEAT_SECONDS, interval.total_seconds()),
            id="heartbeat",
            max_instances=1,
            coalesce=True,
        )
    return scheduler


def install_stop_handlers(stop: Callable[[], None]) -> None:
    def handler(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s, stopping after the current step", signal.Signals(signum).name)
        stop()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def run_scheduler(cfg: VigilConfig, simulate: bool = False, clock: Clock | None = None) -> int:
    """Block running cycles until SIGINT / SIGTERM; returns the exit code (0)."""
    clock = clock or SystemClock()
    stop_requested = threading.Event()
    holder: dict[str, Any] = {}

    def stop() -> None:
        stop_requested.set()
        scheduler = holder.get("scheduler")
        if scheduler is not None and scheduler.running:
            # Do not wait here: we are inside a signal handler.
            scheduler.shutdown(wait=False)

    # Handlers first, so a stop that arrives while starting up is not lost.
    install_stop_handlers(stop)
    _, ops = stores_for(cfg)
    detail = {"interval_seconds": cfg.schedule.interval.total_seconds(), "simulate": simulate}
    process_id = register_process(ops, "scheduler", cfg.model.name, clock, detail)
    idle = threading.Event()
    idle.set()
    scheduler = build_scheduler(cfg, simulate, clock, process_id, ops, idle)
    holder["scheduler"] = scheduler

    def stop_if_requested() -> None:
        # Catches a stop that arrived before the scheduler was running.
        if stop_requested.is_set() and scheduler.running:
            scheduler.shutdown(wait=False)

    scheduler.add_job(stop_if_requested, "interval", seconds=1, id="stop-watch", max_instances=1, coalesce=True)
    log.info(
        "scheduler %s: cycle every %s for model %s (simulate=%s); Ctrl-C stops",
        process_id,
        timedelta(seconds=cfg.schedule.interval.total_seconds()),
        cfg.model.name,
        simulate,
    )
    try:
        scheduler.start()
    finally:
        finished = idle.wait(STOP_GRACE_SECONDS)
        mark_stopped(ops, process_id, clock)
        log.info("scheduler %s stopped", process_id)
    if not finished:
        log.warning("a cycle step was still running after %.0fs: exiting anyway (its open transaction "
                    "is rolled back; the next cycle redoes the work)", STOP_GRACE_SECONDS)
        logging.shutdown()
        os._exit(0)  # the worker thread cannot be interrupted; do not wait for it
    return 0
