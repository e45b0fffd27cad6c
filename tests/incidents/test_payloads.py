"""What each receiver kind is sent, from a decided group (pure functions, injected time)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from core.clock import iso
from core.config import VigilConfig
from incidents.payloads import (
    Group,
    NoticeAlert,
    alertmanager_api_payload,
    alertmanager_webhook_payload,
    slack_payload,
)
from tests.incidents.conftest import base_config

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)


def cfg_for(tmp_path: Path, **alerts: object) -> VigilConfig:
    data = {"receivers": [{"name": "am", "kind": "alertmanager_api", "url_env": "AM"}]} | alerts
    return base_config(tmp_path, schedule={"interval": "5m"}, **data)


def notice(state: str = "firing", severity: str = "critical", **labels: str) -> NoticeAlert:
    return NoticeAlert(
        fingerprint="fp1",
        labels={"check": "unit_change", "model": "loan_default", "subject": "applications.income", "family": "unit_change",
                "severity": severity, "table": "applications", "column": "income", "owner": "team-apps"} | labels,
        annotations={"explanation": "income is in thousands", "value": 0.001, "lower": 0.5, "upper": 2.0, "batch": "2026-03-02"},
        state=state,
        fired_at="2026-03-20T11:00:00+00:00",
        resolved_at=None if state == "firing" else "2026-03-20T12:00:00+00:00",
        incident_id="inc-1",
    )


def group(*alerts: NoticeAlert, posted: dict[str, dict[str, str]] | None = None) -> Group:
    firing = [a for a in alerts if a.state == "firing"]
    resolved = [a for a in alerts if a.state != "firing"]
    return Group("am", 0, {"model": "loan_default"}, "alertmanager_api", "vigil-key1", NOW, firing, resolved, posted or {})


def test_alertmanager_api_labels_annotations_and_a_few_intervals_of_life(tmp_path: Path) -> None:
    cfg = cfg_for(tmp_path, runbook_base_url="https://wiki.example/runbooks/", dashboard_url="http://vigil:8501")
    [alert] = alertmanager_api_payload(cfg, group(notice(segment="region=north")))
    assert alert["labels"] == {"alertname": "unit_change", "model": "loan_default", "subject": "applications.income",
                               "family": "unit_change", "severity": "critical", "segment": "region=north",
                               "owner": "team-apps"}
    assert alert["annotations"]["runbook_url"] == "https://wiki.example/runbooks/unit_change.md"
    assert alert["annotations"]["dashboard_url"] == "http://vigil:8501/Alerts?alert=fp1" == alert["generatorURL"]
    assert alert["annotations"]["summary"] == "income is in thousands"
    assert alert["annotations"]["idempotency_key"] == "vigil-key1" and alert["annotations"]["incident"] == "inc-1"
    assert alert["startsAt"] == "2026-03-20T11:00:00+00:00"
    assert alert["endsAt"] == iso(NOW + timedelta(minutes=20))  # four 5-minute cycles ahead


def test_alertmanager_api_resolves_with_endsat_now_under_the_labels_it_was_posted_with(tmp_path: Path) -> None:
    cfg = cfg_for(tmp_path)
    posted = {"alertname": "unit_change", "model": "loan_default", "subject": "applications.income",
              "family": "unit_change", "severity": "critical"}
    [alert] = alertmanager_api_payload(cfg, group(notice("resolved", severity="info"), posted={"fp1": posted}))
    assert alert["labels"] == posted and alert["endsAt"] == iso(NOW)
    assert "generatorURL" not in alert and alert["annotations"]["runbook_url"] == "runbooks/unit_change.md"


def test_alertmanager_api_ends_the_old_label_set_when_severity_escalates(tmp_path: Path) -> None:
    cfg = cfg_for(tmp_path)
    old = {"alertname": "unit_change", "model": "loan_default", "subject": "applications.income",
           "family": "unit_change", "severity": "warning", "owner": "team-apps"}
    new, ended = alertmanager_api_payload(cfg, group(notice(), posted={"fp1": old}))
    assert new["labels"]["severity"] == "critical" and new["endsAt"] > iso(NOW)
    assert ended["labels"] == old and ended["endsAt"] == iso(NOW)


def test_webhook_and_slack_payloads_carry_the_key(tmp_path: Path) -> None:
    cfg = cfg_for(tmp_path)
    g = group(notice())
    assert alertmanager_webhook_payload(cfg, g)["idempotencyKey"] == "vigil-key1"
    assert slack_payload(cfg, g)["attachments"][0]["footer"] == "Vigil notification vigil-key1"
