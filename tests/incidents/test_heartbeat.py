from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from core.clock import iso
from core.stores import OpsStore
from incidents.heartbeat import cycle_health, heartbeat_results, process_heartbeats, scoring_health
from tests.incidents.conftest import base_config


def cfg_with_schedule(tmp_path: Path, **schedule: Any):
    return base_config(tmp_path, schedule=schedule)


def add_cycle(ops: OpsStore, finished, status="ok", model="loan_default"):
    with ops.transaction() as conn:
        n = conn.execute("SELECT count(*) FROM cycles").fetchone()[0]
        conn.execute(
            "INSERT INTO cycles (cycle_id, model, started_at, finished_at, status) VALUES (?, ?, ?, ?, ?)",
            (f"c{n}", model, iso(finished - timedelta(seconds=30)), iso(finished), status),
        )


def add_job(ops: OpsStore, started, duration, status="ok", n=[0]):  # noqa: B006 (counter for ids)
    n[0] += 1
    with ops.transaction() as conn:
        conn.execute(
            "INSERT INTO scoring_jobs (job_id, model_name, batch_date, started_at, finished_at, duration_s, status, error) "
            "VALUES (?, 'loan_default', ?, ?, ?, ?, ?, ?)",
            (
                f"job{n[0]}",
                started.date().isoformat(),
                iso(started),
                iso(started + timedelta(seconds=duration)) if status != "running" else None,
                duration if status != "running" else None,
                status,
                "boom" if status == "failed" else None,
            ),
        )


def test_cycle_staleness_against_interval(tmp_path, clock):
    cfg = cfg_with_schedule(tmp_path, interval="10m")
    ops = OpsStore(tmp_path / "ops.sqlite")
    assert cycle_health(cfg, ops, clock).level == "never"
    assert heartbeat_results(cfg, ops, clock) == [] or all(r.check != "cycle_heartbeat" for r in heartbeat_results(cfg, ops, clock))
    add_cycle(ops, clock.now() - timedelta(minutes=3))
    h = cycle_health(cfg, ops, clock)
    assert (h.level, round(h.age_s or 0)) == ("ok", 180)
    clock.advance(timedelta(minutes=20))
    h = cycle_health(cfg, ops, clock)
    assert h.stale and h.level == "stale"


def test_stale_cycle_fires_and_a_new_cycle_resolves_it(tmp_path, clock):
    cfg = cfg_with_schedule(tmp_path, interval="10m")
    ops = OpsStore(tmp_path / "ops.sqlite")
    add_cycle(ops, clock.now())
    clock.advance(timedelta(hours=1))
    report = process_heartbeats(cfg, ops, clock)
    assert [(t.check, t.to_state) for t in report.transitions] == [("cycle_heartbeat", "firing")]
    # Evaluating again within the same interval is a re-check: no new transition.
    clock.advance(timedelta(minutes=1))
    assert process_heartbeats(cfg, ops, clock).transitions == []
    clock.advance(timedelta(minutes=10))
    add_cycle(ops, clock.now())
    report = process_heartbeats(cfg, ops, clock)
    assert [(t.check, t.to_state) for t in report.transitions] == [("cycle_heartbeat", "resolved")]


def test_scoring_job_missed_failed_and_slow(tmp_path, clock):
    cfg = cfg_with_schedule(tmp_path, interval="10m", scoring_interval="1d")
    ops = OpsStore(tmp_path / "ops.sqlite")
    start = clock.now() - timedelta(days=10)
    for i in range(8):
        add_job(ops, start + timedelta(days=i), 10.0 + i % 3)
    h = scoring_health(cfg, ops, clock)
    assert h.monitored and h.missed and not h.failed and not h.slow and h.usual_duration_s == 11.0
    add_job(ops, clock.now() - timedelta(hours=1), 200.0)
    h = scoring_health(cfg, ops, clock)
    assert (h.missed, h.failed, h.slow) == (False, False, True)
    assert "took 200.0s, usually 11.0s" in h.problems[0]
    add_job(ops, clock.now() - timedelta(minutes=30), 1.0, status="failed")
    h = scoring_health(cfg, ops, clock)
    assert h.failed and "failed: boom" in h.problems[0]
    results = {r.check: r.status for r in heartbeat_results(cfg, ops, clock)}
    assert results == {"scoring_job_missed": "ok", "scoring_job_failed": "fail", "scoring_job_slow": "ok"}


def test_running_job_far_past_usual_is_slow(tmp_path, clock):
    cfg = cfg_with_schedule(tmp_path)
    ops = OpsStore(tmp_path / "ops.sqlite")
    for i in range(6):
        add_job(ops, clock.now() - timedelta(days=7 - i), 5.0)
    add_job(ops, clock.now() - timedelta(minutes=5), 0, status="running")
    assert scoring_health(cfg, ops, clock).slow


def test_without_scoring_jobs_table_nothing_breaks(tmp_path, clock):
    cfg = cfg_with_schedule(tmp_path)
    ops = OpsStore(tmp_path / "ops.sqlite")
    with ops.transaction() as conn:
        conn.execute("DROP TABLE scoring_jobs")
    h = scoring_health(cfg, ops, clock)
    assert not h.monitored and h.problems
    assert heartbeat_results(cfg, ops, clock) == []


def add_cold_job(ops: OpsStore, started, duration) -> None:
    add_job(ops, started, duration)
    with ops.transaction() as conn:
        conn.execute("UPDATE scoring_jobs SET cold = 1 WHERE job_id = (SELECT job_id FROM scoring_jobs "
                     "ORDER BY started_at DESC LIMIT 1)")


def test_a_cold_start_is_not_slow_but_a_slow_warm_job_is(tmp_path, clock):
    # The demo's first job after a restart took 1.4s where warm jobs take 0.2s: not a page.
    cfg = cfg_with_schedule(tmp_path, interval="10m", scoring_interval="1d")
    ops = OpsStore(tmp_path / "ops.sqlite")
    for i in range(8):
        add_job(ops, clock.now() - timedelta(days=9 - i), 0.2)
    add_cold_job(ops, clock.now() - timedelta(hours=2), 14.0)
    h = scoring_health(cfg, ops, clock)
    assert not h.slow, h.problems
    results = {r.check: r.status for r in heartbeat_results(cfg, ops, clock)}
    assert results["scoring_job_slow"] == "ok"
    # The same duration from a warm job is slow.
    add_job(ops, clock.now() - timedelta(hours=1), 14.0)
    assert scoring_health(cfg, ops, clock).slow
    # Once there are enough cold starts, a cold start far beyond them is slow too.
    for i in range(6):
        add_cold_job(ops, clock.now() - timedelta(minutes=50 - i), 1.4)
    add_cold_job(ops, clock.now() - timedelta(minutes=10), 60.0)
    h = scoring_health(cfg, ops, clock)
    assert h.slow and "usually 1.4s" in h.problems[0]



def test_a_slow_running_cycle_is_not_a_stale_schedule(tmp_path, clock):
    # On a 1 s schedule, the cycle that evaluates the heartbeat took 2 s: no gap in the schedule.
    cfg = cfg_with_schedule(tmp_path, interval="1s")
    ops = OpsStore(tmp_path / "ops.sqlite")
    add_cycle(ops, clock.now())
    clock.advance(timedelta(seconds=1))
    with ops.transaction() as conn:
        conn.execute("INSERT INTO cycles (cycle_id, model, started_at, status) VALUES ('run', 'loan_default', ?, "
                     "'running')", (iso(clock.now()),))
    clock.advance(timedelta(seconds=2))
    assert not cycle_health(cfg, ops, clock).stale
    # A cycle that started long after the last one finished: the schedule had a gap.
    with ops.transaction() as conn:
        conn.execute("DELETE FROM cycles WHERE cycle_id = 'run'")
        conn.execute("INSERT INTO cycles (cycle_id, model, started_at, status) VALUES ('late', 'loan_default', ?, "
                     "'running')", (iso(clock.now()),))
    clock.advance(timedelta(seconds=1))
    assert cycle_health(cfg, ops, clock).stale
    # A cycle hung for an hour is stale too.
    with ops.transaction() as conn:
        conn.execute("DELETE FROM cycles WHERE cycle_id = 'late'")
        conn.execute("INSERT INTO cycles (cycle_id, model, started_at, status) VALUES ('hung', 'loan_default', ?, "
                     "'running')", (iso(clock.now() - timedelta(hours=1)),))
    assert cycle_health(cfg, ops, clock).stale
