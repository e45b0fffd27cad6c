"""Heartbeats: is the check cycle running, and is the model's scoring job healthy?

Wall-clock checks (the only ones in Vigil that are not about event time):
- ``cycle_heartbeat``: the last completed cycle (ops table ``cycles``) is older than
  ``STALE_FACTOR`` x ``cfg.schedule.interval`` (a little slack for the cycle's own run time).
- ``scoring_job_missed``: no scoring job started within ``STALE_FACTOR`` x
  ``cfg.schedule.scoring_interval`` (only when that is configured).
- ``scoring_job_failed``: the latest scoring job failed.
- ``scoring_job_slow``: the latest job ran (or is still running) far longer than usual:
  more than ``SLOW_FACTOR`` x the median of its recent successful runs of the same kind (the
  first job of a process, cold, against cold ones; the others against warm ones), after a
  warm-up of ``MIN_RUNS_FOR_SLOW`` such runs.

``heartbeat_results`` turns these into CheckResults (family ``heartbeat``) so they go through
the same alert lifecycle, silences and notifications as every other check; their batch is
the wall-clock interval they were evaluated in.
"""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta
from typing import Any

from checks.heartbeat.specs import HEARTBEATS
from checks.inputs import CycleHealth, HeartbeatStats, ScoringHealth
from checks.result import CheckResult
from checks.spec import Family, run_spec
from core import scoring_jobs
from core.clock import Clock, naive_utc, parse_iso
from core.config import VigilConfig
from core.stores import OpsStore

STALE_FACTOR = 1.5
MIN_RUNNING_LIMIT_S = 300.0  # a running cycle is hung, not merely slow, after this long (or the interval)
SLOW_FACTOR = 3.0
MIN_RUNS_FOR_SLOW = 5
MIN_SLOW_SECONDS = 1.0
FAMILY = Family.HEARTBEAT
# The heartbeat checks (specs in checks.registry.HEARTBEATS); each has runbooks/<name>.md.
HEARTBEAT_CHECKS: tuple[str, ...] = tuple(HEARTBEATS)


def cycle_health(cfg: VigilConfig, ops: OpsStore, clock: Clock) -> CycleHealth:
    """How stale the last completed cycle is, against the configured schedule interval."""
    interval = cfg.schedule.interval
    model = cfg.model.name
    rows = ops.query(
        "SELECT started_at, finished_at, status, error FROM cycles WHERE model = ? AND finished_at IS NOT NULL "
        "ORDER BY finished_at DESC LIMIT 1",
        (model,),
    )
    running = ops.query(
        "SELECT started_at FROM cycles WHERE model = ? AND status = 'running' ORDER BY started_at DESC LIMIT 1", (model,)
    )
    last = rows[0] if rows else None
    now = clock.now()
    limit = interval.total_seconds() * STALE_FACTOR
    age = (now - parse_iso(last["finished_at"])).total_seconds() if last else None
    stale = age is None or age > limit
    if stale and last is not None and running:
        # A cycle is running (the heartbeat is usually evaluated by it): the schedule is stale only
        # if that cycle started late, or has itself been running past the limit (hung). Its own run
        # time is not a gap in the schedule (a slow cycle on a 1 s interval is not "stale").
        started = parse_iso(running[0]["started_at"])
        gap = (started - parse_iso(last["finished_at"])).total_seconds()
        stale = gap > limit or (now - started).total_seconds() > max(limit, MIN_RUNNING_LIMIT_S)
    return CycleHealth(
        model=model,
        interval_s=interval.total_seconds(),
        last_finished_at=last["finished_at"] if last else None,
        last_status=last["status"] if last else None,
        last_error=last["error"] if last else None,
        running_since=running[0]["started_at"] if running else None,
        age_s=age,
        stale=stale,
    )


def _scoring_model(cfg: VigilConfig) -> str:
    return cfg.model.registry_name or cfg.model.name


def scoring_health(cfg: VigilConfig, ops: OpsStore, clock: Clock, history: int = 20) -> ScoringHealth:
    """Health of the model's batch scoring job from the jobs any scorer records (``core.scoring_jobs``)."""
    model = _scoring_model(cfg)
    if not scoring_jobs.is_recorded(ops):
        return ScoringHealth(model, False, None, False, False, False, None, ["no scoring_jobs table: scoring job not monitored"])
    jobs = scoring_jobs.recent_jobs(ops, model, history + 1)
    now = clock.now()
    problems: list[str] = []
    last = jobs[0] if jobs else None
    interval = cfg.schedule.scoring_interval
    missed = False
    if interval is not None:
        limit = interval.total_seconds() * STALE_FACTOR
        if last is None or (now - parse_iso(last["started_at"])).total_seconds() > limit:
            missed = True
            since = f"since {last['started_at']}" if last else "ever"
            problems.append(f"no scoring job started {since}; expected one every {interval}")
    failed = bool(last and last["status"] == "failed")
    if failed and last is not None:
        problems.append(f"scoring job {last['job_id']} for {last['batch_date']} failed: {last.get('error') or 'no error text'}")
    # A job is judged against its own kind: a cold job (the first of its process: imports, model
    # load) against earlier cold jobs, a warm one against warm jobs. After a restart there is no
    # cold history yet, so the cold start is not judged (no false "slow" on every restart).
    last_cold = bool(last.get("cold")) if last is not None else False
    usual = [float(j["duration_s"]) for j in jobs[1:] if j["status"] == "ok" and j.get("duration_s") is not None
             and bool(j.get("cold")) == last_cold]
    usual_s = statistics.median(usual) if len(usual) >= MIN_RUNS_FOR_SLOW else None
    slow = False
    if last is not None and usual_s is not None:
        if last["status"] == "running":
            took = (now - parse_iso(last["started_at"])).total_seconds()
        else:
            took = float(last.get("duration_s") or 0.0)
        if took > max(SLOW_FACTOR * usual_s, MIN_SLOW_SECONDS):
            slow = True
            problems.append(f"scoring job {last['job_id']} took {took:.1f}s, usually {usual_s:.1f}s")
    return ScoringHealth(model, True, last, missed, failed, slow, usual_s, problems)


def _evaluation_batch(now: datetime, interval: timedelta) -> datetime:
    """The wall-clock interval this evaluation falls in, so repeats within it are re-checks."""
    step = max(int(interval.total_seconds()), 1)
    epoch = int((now if now.tzinfo else now.replace(tzinfo=UTC)).timestamp())
    return naive_utc(datetime.fromtimestamp(epoch - epoch % step, UTC))


def heartbeat_stats(cfg: VigilConfig, ops: OpsStore, clock: Clock) -> HeartbeatStats:
    """The cycle's and the scoring job's health, evaluated now."""
    return HeartbeatStats(
        batch=_evaluation_batch(clock.now(), cfg.schedule.interval),
        cycle=cycle_health(cfg, ops, clock),
        scoring=scoring_health(cfg, ops, clock),
        scoring_scheduled=cfg.schedule.scoring_interval is not None,
        stale_factor=STALE_FACTOR,
    )


def heartbeat_results(cfg: VigilConfig, ops: OpsStore, clock: Clock) -> list[CheckResult]:
    """CheckResults of the heartbeat checks, ready for process_results.

    A heartbeat that has nothing to judge (no cycle finished yet, no scoring job recorded,
    no scoring interval configured) is left out rather than reported as skipped.
    """
    stats = heartbeat_stats(cfg, ops, clock)
    out = []
    for spec in (s for s in HEARTBEATS.values() if s.applies("heartbeat", None, cfg.model.task)):
        res = run_spec(spec, "heartbeat", stats.batch, None, stats, spec.params, cfg.model.name)
        if res.status != "skipped":
            out.append(res)
    return out


def process_heartbeats(cfg: VigilConfig, ops: OpsStore, clock: Clock) -> Any:
    """Evaluate the heartbeats and run them through the alert lifecycle (returns an AlertReport)."""
    from incidents.alerts import process_results

    return process_results(cfg, ops, heartbeat_results(cfg, ops, clock), clock)
