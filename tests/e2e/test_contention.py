"""Issue 7's contention bench in its short form: cycles back to back in one process, a steady
stream of user actions (acknowledge, silence, note, postmortem save) in another, through the
same functions the app calls. A correctness test: no action fails and none is lost. Times are
printed by the bench, never asserted here."""

from __future__ import annotations

from pathlib import Path

from bench.contention_bench import run_contention


def test_actions_during_back_to_back_cycles_neither_fail_nor_get_lost(tmp_path: Path) -> None:
    report = run_contention(tmp_path, seconds=15, volume=150, seed=7, interval=0.05, initial_days=10)
    print("\n".join(report.lines()))
    assert report.cycles_ok >= 1, f"no cycle completed during the run: {report.cycle_errors}"
    assert report.cycles_failed == 0, report.cycle_errors
    assert report.attempted >= 40, "the action stream did not run steadily"
    assert set(report.by_kind) == {"ack", "silence", "note", "postmortem"}
    assert report.failed == 0, report.failures[:5]
    assert report.lost == 0, report.lost_actions[:5]
    assert report.succeeded == report.attempted
    assert report.worst_wait_seconds > 0, "no write transaction of an action was timed"
