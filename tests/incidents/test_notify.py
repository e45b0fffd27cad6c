from __future__ import annotations

import json
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from core.config import VigilConfig
from core.ids import labels_fingerprint
from core.stores import OpsStore
from incidents.alerts import process_results
from incidents.notify import describe_receivers, notify_pending
from incidents.silences import add_silence
from tests.incidents.conftest import base_config, result
from tests.incidents.webhook_server import WebhookServer

SECRET_PATH = "hooks/T000-very-secret-path"
TOKEN = "tok-abc-123-secret"
FAST = (0.01, 0.01, 0.01)


def fp(check: str, subject: str) -> str:
    return labels_fingerprint({"check": check, "model": "loan_default", "subject": subject})


def cfg_with(tmp_path: Path, **alerts: Any) -> VigilConfig:
    alerts.setdefault(
        "receivers", [{"name": "oncall", "kind": "alertmanager", "url_env": "VIGIL_TEST_HOOK", "token_env": "VIGIL_TEST_TOKEN"}]
    )
    alerts.setdefault("routes", [{"receiver": "oncall", "group_by": ["model"]}])
    return base_config(tmp_path, **alerts)


def env_for(server: WebhookServer) -> dict[str, str]:
    return {"VIGIL_TEST_HOOK": f"{server.url}/{SECRET_PATH}", "VIGIL_TEST_TOKEN": TOKEN}


def send(cfg, ops, clock, server, **kw):
    return notify_pending(cfg, ops, clock, env=env_for(server), retry_delays=FAST, **kw)


def upstream_day(n: int, status: str = "fail"):
    return [
        result("unit_change", "applications.income", n, status),
        result("null_rate", "applications.income", n, status),
        result("psi", "predictions.income", n, status),  # inhibited
    ]


def test_one_notification_per_group_without_inhibited_alerts(tmp_path, clock):
    cfg = cfg_with(tmp_path)
    ops = OpsStore(tmp_path / "ops.sqlite")
    process_results(cfg, ops, upstream_day(1), clock)
    with WebhookServer() as server:
        deliveries = send(cfg, ops, clock, server)
    assert len(server.requests) == 1 and len(deliveries) == 1
    body = server.requests[0]["json"]
    assert body["version"] == "4" and body["status"] == "firing" and body["groupLabels"] == {"model": "loan_default"}
    assert sorted(a["fingerprint"] for a in body["alerts"]) == sorted([fp("unit_change", "applications.income"), fp("null_rate", "applications.income")])
    assert body["commonLabels"]["subject"] == "applications.income"
    assert body["alerts"][0]["annotations"]["runbook"].startswith("runbooks/")
    assert server.requests[0]["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert server.requests[0]["path"] == f"/{SECRET_PATH}"


def test_dedup_against_the_log_recheck_new_alert_repeat_and_resolved(tmp_path, clock):
    cfg = cfg_with(tmp_path, routes=[{"receiver": "oncall", "group_by": ["model"], "repeat_interval": "4h"}])
    ops = OpsStore(tmp_path / "ops.sqlite")
    with WebhookServer() as server:
        process_results(cfg, ops, [result("unit_change", "applications.income", 1)], clock)
        assert len(send(cfg, ops, clock, server)) == 1
        # Same state: nothing new to say.
        clock.advance(timedelta(minutes=5))
        assert send(cfg, ops, clock, server) == []
        # Late data re-checks batch 1: the record changes, nobody is paged again.
        process_results(cfg, ops, [result("unit_change", "applications.income", 1, value=9.0)], clock)
        assert send(cfg, ops, clock, server) == []
        # A new alert joins the group: one notification with both.
        process_results(cfg, ops, [result("unit_change", "applications.income", 2), result("null_rate", "bureau.credit_score", 2)], clock)
        assert len(send(cfg, ops, clock, server)) == 1
        assert len(server.requests[-1]["json"]["alerts"]) == 2
        # Repeat interval.
        clock.advance(timedelta(hours=3))
        assert send(cfg, ops, clock, server) == []
        clock.advance(timedelta(hours=1, minutes=1))
        assert len(send(cfg, ops, clock, server)) == 1
        # One resolves: a notification lists it as resolved, once.
        process_results(cfg, ops, [result("unit_change", "applications.income", 3, "ok"), result("null_rate", "bureau.credit_score", 3)], clock)
        assert len(send(cfg, ops, clock, server)) == 1
        alerts = server.requests[-1]["json"]["alerts"]
        assert {(a["labels"]["check"], a["status"]) for a in alerts} == {("unit_change", "resolved"), ("null_rate", "firing")}
        assert send(cfg, ops, clock, server) == []
        # The last one resolves: a resolved notification for the group.
        process_results(cfg, ops, [result("null_rate", "bureau.credit_score", 4, "ok")], clock)
        assert len(send(cfg, ops, clock, server)) == 1
        assert server.requests[-1]["json"]["status"] == "resolved"
        assert send(cfg, ops, clock, server) == []
    assert len(server.requests) == 5


def test_retries_on_500_then_succeeds(tmp_path, clock):
    cfg = cfg_with(tmp_path)
    ops = OpsStore(tmp_path / "ops.sqlite")
    process_results(cfg, ops, upstream_day(1), clock)
    sleeps: list[float] = []
    with WebhookServer(responses=[500, 503]) as server:
        deliveries = send(cfg, ops, clock, server, sleep=sleeps.append)
    assert [d.status for d in deliveries] == ["sent"] and deliveries[0].attempts == 3
    assert sleeps == [0.01, 0.01] and len(server.requests) == 3
    log = ops.query("SELECT status, attempts, http_status FROM notifications")
    assert log == [{"status": "sent", "attempts": 3, "http_status": 200}]


def test_backoff_grows_by_default(tmp_path, clock):
    cfg = cfg_with(tmp_path)
    ops = OpsStore(tmp_path / "ops.sqlite")
    process_results(cfg, ops, upstream_day(1), clock)
    sleeps: list[float] = []
    with WebhookServer(responses=[500, 500, 500, 500]) as server:
        deliveries = notify_pending(cfg, ops, clock, env=env_for(server), sleep=sleeps.append)
    assert sleeps == [0.5, 2.0, 8.0] and deliveries[0].status == "failed"


def test_failures_are_recorded_clearly_and_retried_next_cycle_without_leaking_secrets(tmp_path, clock, caplog):
    cfg = cfg_with(tmp_path)
    ops = OpsStore(tmp_path / "ops.sqlite")
    process_results(cfg, ops, upstream_day(1), clock)
    caplog.set_level(logging.DEBUG, logger="vigil.notify")
    with WebhookServer(responses=[500, 500, 500, 500]) as server:
        failed = send(cfg, ops, clock, server)
        assert failed[0].status == "failed" and failed[0].attempts == 4 and failed[0].error == "HTTP 500 Internal Server Error"
        ok = send(cfg, ops, clock, server)  # the log has no sent entry: the next cycle tries again
        assert ok[0].status == "sent"
    rows = ops.query("SELECT status, error FROM notifications ORDER BY notification_id")
    assert [r["status"] for r in rows] == ["failed", "sent"]
    dump = json.dumps(ops.query("SELECT * FROM notifications")) + json.dumps(ops.query("SELECT * FROM incident_timeline"))
    dump += caplog.text + json.dumps([d.to_dict() for d in failed + ok]) + json.dumps(describe_receivers(cfg))
    for secret in (SECRET_PATH, TOKEN, server.url):
        assert secret not in dump
    assert "<secret>" in caplog.text
    assert "FAILED for receiver oncall: HTTP 500" in dump


def test_network_error_redacts_url(tmp_path, clock):
    cfg = cfg_with(tmp_path)
    ops = OpsStore(tmp_path / "ops.sqlite")
    process_results(cfg, ops, upstream_day(1), clock)
    env = {"VIGIL_TEST_HOOK": f"http://127.0.0.1:9/{SECRET_PATH}", "VIGIL_TEST_TOKEN": TOKEN}  # port 9: nothing listens
    d = notify_pending(cfg, ops, clock, env=env, retry_delays=(0.0,))[0]
    assert d.status == "failed" and d.error is not None and d.error.startswith("network error")
    assert SECRET_PATH not in d.error


def test_missing_environment_variable_is_a_clear_failure(tmp_path, clock):
    cfg = cfg_with(tmp_path)
    ops = OpsStore(tmp_path / "ops.sqlite")
    process_results(cfg, ops, upstream_day(1), clock)
    d = notify_pending(cfg, ops, clock, env={}, retry_delays=FAST)[0]
    assert (d.status, d.attempts) == ("failed", 0)
    assert d.error == "environment variable VIGIL_TEST_HOOK is not set (hint: export it where vigil runs)"


def test_routes_by_owner_and_severity_with_slack_payload(tmp_path, clock):
    cfg = cfg_with(
        tmp_path,
        receivers=[
            {"name": "oncall", "kind": "alertmanager", "url_env": "VIGIL_TEST_HOOK"},
            {"name": "bureau_team", "kind": "slack", "url_env": "VIGIL_TEST_SLACK"},
        ],
        routes=[
            {"receiver": "bureau_team", "match": {"owner": "team-bureau"}, "group_by": ["owner"], "continue": True},
            {"receiver": "oncall", "match": {"severity": "critical"}},
        ],
    )
    ops = OpsStore(tmp_path / "ops.sqlite")
    process_results(
        cfg,
        ops,
        [result("null_rate", "bureau.credit_score", 1), result("unit_change", "applications.income", 1, severity="warning")],
        clock,
    )
    with WebhookServer() as oncall, WebhookServer() as slack:
        env = {"VIGIL_TEST_HOOK": oncall.url, "VIGIL_TEST_SLACK": slack.url}
        deliveries = notify_pending(cfg, ops, clock, env=env, retry_delays=FAST)
    # Two oncall groups: the critical route and the catch-all for what matched no route.
    assert sorted(d.group.receiver for d in deliveries) == ["bureau_team", "oncall", "oncall"]
    assert slack.requests[0]["json"]["text"] == "[FIRING:1] owner=team-bureau"
    assert slack.requests[0]["json"]["attachments"][0]["color"] == "danger"
    # The warning on applications matched neither route: it goes to the first receiver.
    checks = sorted(a["labels"]["check"] for r in oncall.requests for a in r["json"]["alerts"])
    assert checks == ["null_rate", "unit_change"]


def test_silenced_alerts_are_not_notified_but_stay_visible(tmp_path, clock):
    cfg = cfg_with(tmp_path)
    ops = OpsStore(tmp_path / "ops.sqlite")
    process_results(cfg, ops, [result("null_rate", "bureau.credit_score", 1), result("unit_change", "applications.income", 1)], clock)
    s = add_silence(ops, clock, matchers=[r"subject=~bureau\..*"], ends_at=clock.now() + timedelta(hours=1), author="ana", comment="backfill")
    with WebhookServer() as server:
        send(cfg, ops, clock, server)
        assert [a["labels"]["check"] for a in server.requests[0]["json"]["alerts"]] == ["unit_change"]
        rows = {r["check_name"]: r for r in ops.query("SELECT check_name, state, silenced_by FROM alerts")}
        assert rows["null_rate"]["silenced_by"] == s.silence_id and rows["null_rate"]["state"] == "firing"
        # When the silence ends, the alert is notified.
        clock.advance(timedelta(hours=2))
        send(cfg, ops, clock, server)
        assert len(server.requests) == 2


def test_no_receivers_no_notifications(cfg, ops, clock):
    process_results(cfg, ops, upstream_day(1), clock)
    assert notify_pending(cfg, ops, clock, env={}) == []


@pytest.mark.parametrize("seed_batch", [1, 7])
def test_notification_on_incident_timeline(tmp_path, clock, seed_batch):
    cfg = cfg_with(tmp_path)
    ops = OpsStore(tmp_path / "ops.sqlite")
    process_results(cfg, ops, upstream_day(seed_batch), clock)
    with WebhookServer() as server:
        send(cfg, ops, clock, server)
    kinds = [r["kind"] for r in ops.query("SELECT kind FROM incident_timeline ORDER BY entry_id")]
    assert kinds.count("notification") == 1


def day_results(d: int, incident_day: int) -> list:
    """A served feature drifts because the upstream column broke on the incident day; the rest is clean."""
    bad = d == incident_day
    status = "fail" if bad else "ok"
    return [
        result("unit_change", "applications.income", d, status),
        result("null_rate", "applications.income", d, "ok"),
        result("psi", "predictions.income", d, status),
        result("score_psi", "predictions.score", d, status, family="prediction"),
        result("psi", "predictions.credit_score", d, "ok"),
    ]


@pytest.mark.parametrize("incident_day", [3, 8])
def test_one_notification_per_group_throughout_a_history(tmp_path, clock, incident_day):
    cfg = cfg_with(tmp_path, routes=[{"receiver": "oncall", "group_by": ["model", "check"], "repeat_interval": "4h"}])
    ops = OpsStore(tmp_path / "ops.sqlite")
    with WebhookServer() as server:
        for d in range(12):
            process_results(cfg, ops, day_results(d, incident_day), clock)
            send(cfg, ops, clock, server)
            clock.advance(timedelta(minutes=5))  # a cycle every five minutes, well inside the repeat interval
    statuses = [(r["json"]["groupLabels"]["check"], r["json"]["status"]) for r in server.requests]
    # The root cause is paged once and resolved once; the drift it explains is never paged; the
    # score's drift (the model's behaviour) pages too, once, with the root cause as possible cause.
    assert sorted(statuses) == [
        ("score_psi", "firing"), ("score_psi", "resolved"), ("unit_change", "firing"), ("unit_change", "resolved")]
    assert {s for _, s in statuses[:2]} == {"firing"}
    assert len(ops.query("SELECT * FROM incidents")) == 1


def test_a_symptom_notifies_with_its_possible_cause_in_the_payload(tmp_path, clock):
    cfg = cfg_with(tmp_path, routes=[{"receiver": "oncall", "group_by": ["check"]}])
    ops = OpsStore(tmp_path / "ops.sqlite")
    rs = upstream_day(1) + [result("kpi_default_rate", "model", 1), result("score_psi", "predictions.score", 1)]
    process_results(cfg, ops, rs, clock)
    with WebhookServer() as server:
        send(cfg, ops, clock, server)
    by_check = {r["json"]["groupLabels"]["check"]: r["json"]["alerts"][0] for r in server.requests}
    # The model's behaviour always pages; the drift on the broken column is held.
    assert set(by_check) == {"unit_change", "null_rate", "kpi_default_rate", "score_psi"}
    for check in ("kpi_default_rate", "score_psi"):
        causes = by_check[check]["annotations"]["possible_causes"]
        assert causes.startswith("#1 null_rate on applications.income") or causes.startswith("#1 unit_change on applications.income")
        assert "unit_change on applications.income" in causes and "[value 1.0" in causes
    assert "possible_causes" not in by_check["unit_change"]["annotations"]


def test_an_inhibited_alert_that_still_fails_notifies_as_soon_as_its_root_resolves(tmp_path, clock):
    cfg = cfg_with(tmp_path, routes=[{"receiver": "oncall", "group_by": ["check"]}])
    ops = OpsStore(tmp_path / "ops.sqlite")
    with WebhookServer() as server:
        process_results(cfg, ops, upstream_day(1), clock)
        send(cfg, ops, clock, server)
        assert {r["json"]["groupLabels"]["check"] for r in server.requests} == {"unit_change", "null_rate"}
        fixed = [result("unit_change", "applications.income", 2, "ok"), result("null_rate", "applications.income", 2, "ok"),
                 result("psi", "predictions.income", 2)]
        report = process_results(cfg, ops, fixed, clock)
        assert report.inhibited == {}
        send(cfg, ops, clock, server)
        firing = [(r["json"]["groupLabels"]["check"], r["json"]["status"]) for r in server.requests[2:]]
        assert sorted(firing) == [("null_rate", "resolved"), ("psi", "firing"), ("unit_change", "resolved")]
