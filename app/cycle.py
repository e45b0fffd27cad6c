"""One check cycle: ingest -> reference -> profile -> checks -> alerts, incidents, notifications.

The cycle is the only writer of the warehouse. It holds ``cycle_lock`` so two cycles
(scheduler and a manual ``vigil run-once``) never interleave, and every step writes in its
own short DuckDB transaction (inside the packages' functions) so pages can read between
steps. The cycle is recorded in the ops table ``cycles`` when it starts and when it ends;
a failed cycle is recorded with its error and the exception is re-raised, never swallowed.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import duckdb

from app.cycle_record import last_cycles, mark_interrupted, record_finish, record_start
from app.cycle_report import CycleReport, alert_summary
from checks import queries as check_queries
from checks.result import CheckResult
from core import audit
from core.clock import Clock, SystemClock
from core.config import VigilConfig
from core.ids import new_id
from core.jsonable import jsonable
from core.stores import OpsStore, StoreMissing, Warehouse, cycle_lock, stores_for

# Re-exported: callers import these from app.cycle.
__all__ = [
    "CycleBusy",
    "CycleReport",
    "alert_summary",
    "jsonable",
    "last_cycles",
    "mark_interrupted",
    "record_finish",
    "record_start",
    "run_cycle",
]

log = logging.getLogger("vigil.cycle")


class CycleBusy(RuntimeError):
    """Another cycle holds the cycle lock (only raised when not waiting for it)."""


# ---- the steps --------------------------------------------------------------------------


def _sorted_batches(batches: Iterable[datetime] | None) -> list[datetime]:
    return sorted(set(batches or ()))


def step_ingest(cfg: VigilConfig, wh: Warehouse, report: CycleReport) -> tuple[set[datetime], set[datetime]]:
    """Load new landing files; returns (batches with new rows, batches whose labels arrived)."""
    from profilers.ingest import ingest_all

    ingested = ingest_all(cfg, wh, now=report.started_at)
    report.files_loaded = ingested.loaded
    report.files_skipped = ingested.skipped
    report.files_replaced = ingested.replaced
    report.quarantined = list(ingested.quarantined)
    report.quarantined_rows = list(ingested.quarantined_rows)
    return set(ingested.dirty_batches), set(ingested.label_batches)


def step_reference(cfg: VigilConfig, wh: Warehouse) -> None:
    from profilers.reference import ensure_reference

    ensure_reference(cfg, wh)


def step_profile(cfg: VigilConfig, wh: Warehouse, dirty: set[datetime]) -> list[datetime]:
    """Profile batches that received data, plus any batch still lacking stats (a crashed cycle)."""
    from profilers.profile import profile_batches

    profiled: set[datetime] = set()
    if dirty:
        profiled |= set(profile_batches(cfg, wh, set(dirty)))
    profiled |= set(profile_batches(cfg, wh, None))
    return _sorted_batches(profiled)


def step_profile_spark(cfg: VigilConfig, wh: Warehouse, report: CycleReport) -> tuple[list[datetime], set[datetime]]:
    """profile.engine: spark: new lake files' batches profiled by Spark where the files lie (no
    ingestion; a bounded sample of rows lands in the warehouse). Returns (profiled, label batches)."""
    from profilers.spark_profile import profile_with_spark

    spark_report = profile_with_spark(cfg, wh)
    report.files_loaded = len(spark_report.files_new)
    return spark_report.all_batches, set(spark_report.label_batches)


def unchecked_batches(wh: Warehouse) -> set[datetime]:
    """Profiled batches without any check result (a cycle killed between profile and checks)."""
    try:
        with wh.read() as conn:
            return check_queries.unchecked_batches(conn)
    except (StoreMissing, duckdb.CatalogException):
        return set()


def champion_evaluation(cfg: VigilConfig, ops: OpsStore) -> dict[str, float] | None:
    """The registered holdout metrics of the current champion (performance checks compare with them)."""
    from core.registries import registry_for

    if not cfg.model.registry_name:
        return None
    champion = registry_for(cfg, ops).champion(cfg.model.registry_name)
    if champion is None:
        return None
    metrics = (champion.evaluation or {}).get("metrics", {})
    return {
        k: float(v) for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)
    } or None


def step_checks(
    cfg: VigilConfig,
    wh: Warehouse,
    batches: list[datetime],
    performance_batches: list[datetime],
    model_evaluation: dict[str, float] | None,
    clock: Clock,
) -> list[CheckResult]:
    from checks.runner import run_checks

    if not batches and not performance_batches:
        return []
    return list(run_checks(cfg, wh, batches, performance_batches, model_evaluation=model_evaluation, clock=clock))


def step_quarantine(cfg: VigilConfig, wh: Warehouse, ops: OpsStore, report: CycleReport) -> list[CheckResult]:
    """The quarantine pages: open quarantined files and this cycle's quarantined rows, per source."""
    from checks.input_quality.quarantine import QUARANTINE_CHECK, quarantine_results
    from incidents.schema import ensure_schema
    from profilers.quarantine import list_quarantine
    from profilers.sources import all_specs

    ensure_schema(ops)
    active = {r["subject"] for r in ops.query(
        "SELECT subject FROM alerts WHERE check_name = ? AND model = ? AND state IN ('pending', 'firing')",
        (QUARANTINE_CHECK, cfg.model.name),
    )}
    sources = [(s.name, s.timestamp_column) for s in all_specs(cfg)]
    rows = [q.__dict__ for q in report.quarantined_rows]
    return quarantine_results(sources, list_quarantine(wh), rows, cfg.model.name, active)


def step_alerts(cfg: VigilConfig, ops: OpsStore, results: list[CheckResult], clock: Clock) -> Any:
    from incidents.alerts import process_results

    return process_results(cfg, ops, results, clock)


def step_heartbeats(cfg: VigilConfig, ops: OpsStore, clock: Clock) -> tuple[list[CheckResult], Any]:
    """Wall-clock health (previous cycle late, scoring job missed / failed / slow) through the alert lifecycle."""
    from incidents.alerts import process_results
    from incidents.heartbeat import heartbeat_results

    results = heartbeat_results(cfg, ops, clock)
    return results, process_results(cfg, ops, results, clock) if results else None


def step_notify(cfg: VigilConfig, ops: OpsStore, clock: Clock) -> Any:
    """Decide what to send (inhibit, silence, group, dedup) and write it to the outbox (incidents.notify)."""
    from incidents.notify import decide

    return decide(cfg, ops, clock)


def step_deliver(cfg: VigilConfig, ops: OpsStore, clock: Clock) -> Any:
    """Send the outbox, after the cycle lock is released: a slow receiver never holds the next cycle.

    Never raises: what is not delivered stays in the outbox for the next run.
    """
    import os

    from incidents.delivery import deliver_outbox

    if not cfg.alerts.receivers:
        return []
    try:
        return deliver_outbox(cfg, ops, clock, env=os.environ)
    except Exception:
        log.exception("notification delivery failed; pending messages stay in the outbox for the next run")
        return []


# ---- the cycle --------------------------------------------------------------------------


def run_cycle(
    cfg: VigilConfig,
    clock: Clock | None = None,
    notify: bool = True,
    wait_for_lock: bool = True,
    on_step: Callable[[str, float], None] | None = None,
    actor: str = audit.CYCLE_ACTOR,
) -> CycleReport:
    """Run one full cycle under the cycle lock and record it in ``cycles``.

    ``actor`` is who started it (the acting user for `vigil run-once`); the audit trail
    records the start and finish under that name, the cycle's own writes as system:cycle.

    Raises CycleBusy when ``wait_for_lock`` is False and another cycle is running; any
    step's exception is recorded on the cycle row (status 'failed') and re-raised.
    ``on_step(name, seconds)`` is called after each step (progress for long first cycles).
    """
    clock = clock or SystemClock()
    wh, ops = stores_for(cfg)
    cfg.root.mkdir(parents=True, exist_ok=True)
    try:
        report = _locked_cycle(cfg, wh, ops, clock, notify, wait_for_lock, on_step, actor)
    except CycleBusy:
        raise
    except Exception:
        if notify:  # what earlier cycles decided still goes out; the error is re-raised
            step_deliver(cfg, ops, clock)
        raise
    # Delivery runs after the cycle lock is released: a hanging receiver never holds the next cycle.
    if notify:
        t = time.perf_counter()
        report.notifications = step_deliver(cfg, ops, clock)
        report.step_seconds["deliver"] = round(time.perf_counter() - t, 4)
        if on_step is not None:
            on_step("deliver", report.step_seconds["deliver"])
    return report


def _locked_cycle(
    cfg: VigilConfig,
    wh: Warehouse,
    ops: OpsStore,
    clock: Clock,
    notify: bool,
    wait_for_lock: bool,
    on_step: Callable[[str, float], None] | None,
    actor: str,
) -> CycleReport:
    with cycle_lock(cfg.root / "cycle.lock", wait=wait_for_lock) as held:
        if not held:
            raise CycleBusy(f"{cfg.root / 'cycle.lock'}: another cycle is running (hint: wait for it to finish)")
        report = CycleReport(cycle_id=new_id("cycle"), model=cfg.model.name, started_at=clock.now())
        interrupted = mark_interrupted(ops, cfg.model.name)
        if interrupted:
            log.warning("%d earlier cycle(s) were interrupted; marked failed", interrupted)
        record_start(ops, report, actor)
        try:
            _run_steps(cfg, wh, ops, clock, notify, report, on_step)
        except BaseException as err:
            report.status = "failed"
            report.error = f"{type(err).__name__}: {err}"
            report.finished_at = clock.now()
            log.error("cycle %s failed:\n%s", report.cycle_id, traceback.format_exc())
            record_finish(ops, report, actor)
            raise
        report.status = "ok"
        report.finished_at = clock.now()
        record_finish(ops, report, actor)
        return report


def _run_steps(
    cfg: VigilConfig,
    wh: Warehouse,
    ops: OpsStore,
    clock: Clock,
    notify: bool,
    report: CycleReport,
    on_step: Callable[[str, float], None] | None,
) -> None:
    def timed(name: str, started: float) -> None:
        report.step_seconds[name] = round(time.perf_counter() - started, 4)
        if on_step is not None:
            on_step(name, report.step_seconds[name])

    spark = cfg.profile.engine == "spark"
    t = time.perf_counter()
    dirty, label_batches = (set(), set()) if spark else step_ingest(cfg, wh, report)
    timed("ingest", t)

    t = time.perf_counter()
    step_reference(cfg, wh)
    timed("reference", t)

    t = time.perf_counter()
    if spark:
        report.batches_profiled, label_batches = step_profile_spark(cfg, wh, report)
    else:
        report.batches_profiled = step_profile(cfg, wh, dirty)
    timed("profile", t)
    to_check = _sorted_batches(set(report.batches_profiled) | unchecked_batches(wh))

    # Performance checks run for batches whose labels arrived, and for re-profiled batches
    # (their live test set changed too).
    report.performance_batches = _sorted_batches(label_batches | set(to_check))
    t = time.perf_counter()
    evaluation = champion_evaluation(cfg, ops)
    report.results = step_checks(cfg, wh, to_check, report.performance_batches, evaluation, clock)
    report.results += step_quarantine(cfg, wh, ops, report)
    timed("checks", t)

    t = time.perf_counter()
    report.alerts = step_alerts(cfg, ops, report.results, clock)
    timed("alerts", t)

    t = time.perf_counter()
    report.heartbeats, report.heartbeat_alerts = step_heartbeats(cfg, ops, clock)
    timed("heartbeats", t)

    if notify:
        t = time.perf_counter()
        report.queued_notifications = step_notify(cfg, ops, clock)
        timed("notify", t)
