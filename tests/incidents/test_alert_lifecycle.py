from __future__ import annotations

from pathlib import Path

import pytest

from core.ids import labels_fingerprint
from core.stores import OpsStore
from incidents.alerts import next_state, process_results
from tests.incidents.conftest import base_config, result


def states_after_each(cfg, ops, clock, statuses, check="unit_change", subject="applications.income"):
    """Feed one status per batch; return the alert state after each batch."""
    out = []
    for i, status in enumerate(statuses):
        process_results(cfg, ops, [result(check, subject, i, status)], clock)
        rows = ops.query("SELECT state FROM alerts")
        out.append(rows[0]["state"] if rows else "none")
    return out


def test_for_one_fires_on_first_failing_batch_and_resolves_on_first_ok(cfg, ops, clock):
    assert states_after_each(cfg, ops, clock, ["ok", "fail", "ok", "ok"]) == ["none", "firing", "resolved", "resolved"]


def test_for_two_goes_pending_then_firing(tmp_path: Path, clock):
    cfg = base_config(tmp_path, for_batches=2, keep_firing_for_batches=1)
    ops = OpsStore(tmp_path / "ops.sqlite")
    assert states_after_each(cfg, ops, clock, ["fail", "fail", "fail", "ok"]) == ["pending", "firing", "firing", "resolved"]


def test_pending_that_clears_goes_inactive_without_firing(tmp_path: Path, clock):
    cfg = base_config(tmp_path, for_batches=3)
    ops = OpsStore(tmp_path / "ops.sqlite")
    assert states_after_each(cfg, ops, clock, ["fail", "fail", "ok", "fail"]) == ["pending", "pending", "inactive", "pending"]
    events = ops.query("SELECT from_state, to_state FROM alert_events WHERE kind = 'transition' ORDER BY event_id")
    assert [(e["from_state"], e["to_state"]) for e in events] == [
        ("inactive", "pending"),
        ("pending", "inactive"),
        ("inactive", "pending"),
    ]


def test_keep_firing_for_stops_a_flapping_check_from_resolving_and_refiring(tmp_path: Path, clock):
    cfg = base_config(tmp_path, for_batches=1, keep_firing_for_batches=2)
    ops = OpsStore(tmp_path / "ops.sqlite")
    seq = ["fail", "ok", "fail", "ok", "fail", "ok", "ok"]
    assert states_after_each(cfg, ops, clock, seq) == ["firing"] * 6 + ["resolved"]
    transitions = ops.query("SELECT from_state, to_state, batch FROM alert_events WHERE kind = 'transition' ORDER BY event_id")
    assert [(t["from_state"], t["to_state"]) for t in transitions] == [("inactive", "firing"), ("firing", "resolved")]
    assert transitions[1]["batch"] == "2026-03-07T00:00:00"


def test_without_keep_firing_for_the_same_flapping_check_resolves_and_refires(tmp_path: Path, clock):
    cfg = base_config(tmp_path, keep_firing_for_batches=1)
    ops = OpsStore(tmp_path / "ops.sqlite")
    assert states_after_each(cfg, ops, clock, ["fail", "ok", "fail"]) == ["firing", "resolved", "firing"]
    assert ops.query("SELECT episode FROM alerts")[0]["episode"] == 2


def test_warn_does_not_fire_and_skipped_or_error_leave_state(cfg, ops, clock):
    assert states_after_each(cfg, ops, clock, ["warn", "fail", "skipped", "error", "ok"]) == [
        "none",
        "firing",
        "firing",
        "firing",
        "resolved",
    ]


def test_identity_is_the_label_fingerprint_and_stable_across_batches(cfg, ops, clock):
    rs = [result("unit_change", "applications.income", i, "fail", value=1000.0 + i) for i in range(3)]
    process_results(cfg, ops, rs, clock)
    rows = ops.query("SELECT fingerprint, annotations, labels FROM alerts")
    assert len(rows) == 1
    expected = labels_fingerprint({"check": "unit_change", "model": "loan_default", "subject": "applications.income"})
    assert rows[0]["fingerprint"] == expected
    assert '"value": 1002.0' in rows[0]["annotations"]  # the latest batch's value is an annotation
    assert '"owner": "team-apps"' in rows[0]["labels"] and '"feature": "income"' in rows[0]["labels"]


def test_severity_change_does_not_split_the_alert(cfg, ops, clock):
    process_results(cfg, ops, [result("psi", "predictions.income", 0, severity="warning")], clock)
    process_results(cfg, ops, [result("psi", "predictions.income", 1, severity="critical")], clock)
    rows = ops.query("SELECT severity FROM alerts")
    assert [r["severity"] for r in rows] == ["critical"]


def test_batches_are_processed_in_event_time_order(cfg, ops, clock):
    # Given out of order in one call: ok(2), fail(0), fail(1) -> fires at 0, resolves at 2.
    rs = [result("unit_change", "applications.income", 2, "ok"), result("unit_change", "applications.income", 0), result("unit_change", "applications.income", 1)]
    report = process_results(cfg, ops, rs, clock)
    assert [(t.batch[:10], t.to_state) for t in report.transitions] == [("2026-03-01", "firing"), ("2026-03-03", "resolved")]


def test_late_recheck_updates_record_without_transition(cfg, ops, clock):
    process_results(cfg, ops, [result("unit_change", "applications.income", i) for i in range(3)], clock)
    report = process_results(cfg, ops, [result("unit_change", "applications.income", 1, "ok", value=7.0)], clock)
    assert report.transitions == [] and len(report.rechecked) == 1
    assert ops.query("SELECT state FROM alerts")[0]["state"] == "firing"
    row = ops.query("SELECT status, value, rechecks FROM alert_batches WHERE batch = '2026-03-02T00:00:00'")[0]
    assert (row["status"], row["value"], row["rechecks"]) == ("ok", 7.0, 1)
    kinds = [e["kind"] for e in ops.query("SELECT kind FROM alert_events ORDER BY event_id")]
    assert kinds[-1] == "recheck"


def test_alert_events_are_append_only(cfg, ops, clock):
    import sqlite3

    process_results(cfg, ops, [result("unit_change", "applications.income", 0)], clock)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        with ops.transaction() as conn:
            conn.execute("UPDATE alert_events SET to_state = 'x'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        with ops.transaction() as conn:
            conn.execute("DELETE FROM alert_events")


@pytest.mark.parametrize(
    ("state", "status", "expected"),
    [
        ("inactive", "fail", "pending"),
        ("pending", "fail", "firing"),
        ("pending", "ok", "inactive"),
        ("firing", "ok", "firing"),
        ("firing", "error", "firing"),
        ("resolved", "warn", "resolved"),
    ],
)
def test_next_state_table(state, status, expected):
    # for_batches=2 (the pending->firing row has fail_streak 1 already), keep_firing_for=2.
    assert next_state(state, 1 if state == "pending" else 0, 0, status, 2, 2).state == expected


def test_warn_fires_only_when_asked(cfg, ops, clock):
    process_results(cfg, ops, [result("psi", "predictions.income", 0, "warn")], clock)
    assert ops.query("SELECT count(*) AS n FROM alerts")[0]["n"] == 0
    process_results(cfg, ops, [result("psi", "predictions.income", 1, "warn")], clock, fire_on_warn=True)
    process_results(cfg, ops, [result("psi", "predictions.income", 2, "ok")], clock, fire_on_warn=True)
    events = ops.query("SELECT to_state FROM alert_events WHERE kind = 'transition' ORDER BY event_id")
    assert [e["to_state"] for e in events] == ["firing", "resolved"]
