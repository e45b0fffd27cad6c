from __future__ import annotations

from datetime import timedelta

from core.clock import iso
from incidents import queries
from incidents.alerts import process_results
from incidents.silences import add_silence
from tests.incidents.conftest import result


def seed(cfg, ops, clock):
    rs = [
        result("unit_change", "applications.income", 1),
        result("psi", "predictions.income", 1, severity="warning"),
        result("psi", "predictions.credit_score", 1, severity="warning"),
    ]
    return process_results(cfg, ops, rs, clock)


def test_alert_filters_and_root_cause_text(cfg, ops, clock):
    seed(cfg, ops, clock)
    rows = queries.alerts_with_incidents(ops, model="loan_default", state="firing")
    assert len(rows) == 3
    assert [r["check_name"] for r in queries.alerts_with_incidents(ops, severity="warning", subject="predictions.income")] == ["psi"]
    psi = queries.alerts_with_incidents(ops, check="psi", subject="predictions.income")[0]
    assert psi["inhibited_by_text"] == "inhibited by unit_change on applications.income"
    assert psi["incident_id"] and psi["incident_title"].startswith("unit_change on applications.income")
    assert psi["runbook"] == "runbooks/psi.md" and psi["labels"]["feature"] == "income"
    lone = queries.alerts_with_incidents(ops, check="psi", subject="predictions.credit_score")[0]
    assert lone["incident_id"] is None and lone["inhibited_by_text"] is None
    assert queries.alerts_with_incidents(ops, state=["resolved"]) == []


def test_alert_detail_by_prefix_and_incident_detail(cfg, ops, clock):
    report = seed(cfg, ops, clock)
    fp = queries.alerts_with_incidents(ops, check="unit_change")[0]["fingerprint"]
    detail = queries.alert_detail(ops, fp[:5])
    assert detail is not None and detail["fingerprint"] == fp
    assert [e["kind"] for e in detail["events"]] == ["transition"] and detail["batches"][0]["status"] == "fail"
    assert queries.alert_detail(ops, "%") is None  # LIKE wildcards are escaped
    incident = queries.incident_detail(ops, report.incidents_opened[0])
    assert incident is not None
    assert sorted(a["check_name"] for a in incident["alerts"]) == ["psi", "unit_change"]
    assert sorted(incident["runbooks"]) == ["runbooks/psi.md", "runbooks/unit_change.md"]
    assert incident["timeline"][0]["kind"] == "opened"
    assert queries.incident_detail(ops, "inc-nope") is None


def test_status_summary_and_silences(cfg, ops, clock):
    seed(cfg, ops, clock)
    with ops.transaction() as conn:
        conn.execute(
            "INSERT INTO cycles (cycle_id, model, started_at, finished_at, status) VALUES ('c1', 'loan_default', ?, ?, 'ok')",
            (iso(clock.now() - timedelta(hours=2)), iso(clock.now() - timedelta(hours=1))),
        )
    add_silence(ops, clock, matchers=["check=psi"], ends_at=clock.now() + timedelta(hours=1), author="ana", comment="known")
    status = queries.status_summary(cfg, ops, clock)
    assert status["cycle"]["level"] == "stale" and round(status["cycle"]["age_s"]) == 3600
    assert len(status["firing_alerts"]) == 3 and len(status["open_incidents"]) == 1
    assert [s["state"] for s in queries.silences(ops, clock)] == ["active"]
    assert queries.notification_log(ops) == []
