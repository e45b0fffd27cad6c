"""Vigil where on-call already lives: a real Alertmanager receives, silences and resolves
Vigil's alerts (receiver kind `alertmanager_api`); a real Prometheus scrapes `vigil
exporter`, loads deploy/prometheus/vigil-rules.yml and answers every query of
deploy/grafana/vigil-dashboard.json. Both are Debian's binaries on 127.0.0.1."""

from __future__ import annotations

import json
import subprocess
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.cycle import run_cycle
from core.clock import SystemClock
from core.config import VigilConfig, load_config
from core.stores import OpsStore
from incidents import outbox
from tests.app.builders import write_day, write_history
from tests.app.conftest import small_config, write_config
from tests.e2e.prometheus_stack import (
    PROMTOOL,
    alertmanager,
    binary,
    exporter,
    http_json,
    instant_query,
    prometheus,
    wait_for,
)

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "deploy" / "prometheus" / "vigil-rules.yml"
DASHBOARD = REPO / "deploy" / "grafana" / "vigil-dashboard.json"
PROVISIONING = REPO / "deploy" / "grafana" / "provisioning" / "dashboards" / "vigil.yml"
START = date(2024, 3, 1)
AM_ENV = "VIGIL_TEST_ALERTMANAGER_URL"
RUNBOOKS = "https://git.example/vigil/runbooks"


def test_the_rules_pass_promtool_and_their_unit_tests() -> None:
    check = subprocess.run([binary(PROMTOOL), "check", "rules", str(RULES)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "SUCCESS: 9 rules found" in check.stdout
    unit = subprocess.run([binary(PROMTOOL), "test", "rules", "vigil-rules.test.yml"], cwd=RULES.parent,
                          capture_output=True, text=True)
    assert unit.returncode == 0 and "SUCCESS" in unit.stdout, unit.stdout + unit.stderr


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL) of every target, with the dashboard's variables set to 'all models'."""
    board = json.loads(DASHBOARD.read_text())
    out = []
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            out.append((panel["title"], target["expr"].replace("$model", ".+")))
    return out


def test_the_dashboard_is_provisionable_and_well_formed() -> None:
    board = json.loads(DASHBOARD.read_text())
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids)) and board["uid"] == "vigil-overview"
    assert {v["name"] for v in board["templating"]["list"]} == {"datasource", "model"}
    assert len(dashboard_queries()) >= 15
    for panel in board["panels"]:
        if panel["type"] != "row":
            assert panel["targets"] and panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
    provider = yaml.safe_load(PROVISIONING.read_text())["providers"][0]
    assert provider["type"] == "file" and provider["options"]["path"]


def am_alerts(am: str, **filters: str) -> list[dict[str, Any]]:
    query = urllib.parse.urlencode([("filter", f'{k}="{v}"') for k, v in filters.items()])
    return list(http_json(f"{am}/api/v2/alerts" + (f"?{query}" if query else "")))


def vigil_alerts(cfg: VigilConfig) -> list[dict[str, Any]]:
    rows = OpsStore(cfg.ops_path).query("SELECT labels, state, inhibited_by FROM alerts WHERE state = 'firing'")
    return [{"labels": json.loads(r["labels"]), "inhibited_by": r["inhibited_by"]} for r in rows]


@pytest.fixture
def cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[VigilConfig]:
    data = small_config()
    data["schedule"] = {"interval": "1h"}  # cycles here are on time: no heartbeat alert
    data["alerts"] = {
        "receivers": [{"name": "alertmanager", "kind": "alertmanager_api", "url_env": AM_ENV}],
        "routes": [{"receiver": "alertmanager"}],
        "runbook_base_url": RUNBOOKS,
        "dashboard_url": "http://vigil.example:8501",
    }
    cfg = load_config(write_config(tmp_path, data), root=tmp_path / "var")
    write_history(cfg.root, START, days=7, unit_change_day=START + timedelta(days=6))  # the newest day breaks
    yield cfg


def test_alerts_reach_a_real_alertmanager_and_dashboards_a_real_prometheus(
    cfg: VigilConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = SystemClock()  # Alertmanager judges startsAt / endsAt against its own clock
    config_file = tmp_path / "monitor.yaml"
    with (
        exporter(config_file, cfg.root, tmp_path / "exporter.log") as exporter_port,
        alertmanager(tmp_path / "am") as am,
        prometheus(tmp_path / "prom", RULES, exporter_port) as prom,
    ):
        monkeypatch.setenv(AM_ENV, am)
        report = run_cycle(cfg, clock=clock)
        assert [d.status for d in report.notifications] == ["sent"]

        # ---- Alertmanager: every firing, uninhibited Vigil alert arrived with its labels and runbook.
        firing = vigil_alerts(cfg)
        notified = {(a["labels"]["check"], a["labels"]["subject"]) for a in firing if not a["inhibited_by"]}
        inhibited = {(a["labels"]["check"], a["labels"]["subject"]) for a in firing if a["inhibited_by"]}
        assert ("unit_change", "applications.income") in notified
        assert inhibited, "the drift the unit change explains is inhibited in Vigil"
        received = am_alerts(am)
        assert {(a["labels"]["alertname"], a["labels"]["subject"]) for a in received} == notified
        unit = next(a for a in received if a["labels"]["subject"] == "applications.income")
        assert unit["labels"] == {"alertname": "unit_change", "model": "loans", "subject": "applications.income",
                                  "family": "unit_change", "severity": "critical"}
        assert unit["annotations"]["runbook_url"] == f"{RUNBOOKS}/unit_change.md"
        assert unit["annotations"]["dashboard_url"].startswith("http://vigil.example:8501/Alerts?alert=")
        assert unit["annotations"]["summary"] and unit["annotations"]["idempotency_key"].startswith("vigil-")
        assert unit["status"]["state"] == "active"
        ends = datetime.fromisoformat(unit["endsAt"].replace("Z", "+00:00"))
        assert ends > datetime.now(UTC) + timedelta(hours=3)  # a few cycle intervals ahead

        # ---- Prometheus: the rules load and evaluate, every dashboard query returns data.
        wait_for("the exporter scraped", lambda: instant_query(prom, 'up{job="vigil"} == 1'))
        rule_names = {r["alert"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]}

        def evaluated_rules() -> list[dict[str, Any]] | None:
            groups = http_json(f"{prom}/api/v1/rules")["data"]["groups"]
            rules = [r for g in groups for r in g["rules"]]
            return rules if rules and all(r["health"] == "ok" for r in rules) else None

        rules = wait_for("every rule evaluated", evaluated_rules)
        assert {r["name"] for r in rules} == rule_names
        assert all(not r.get("lastError") for r in rules)
        for title, expr in dashboard_queries():
            wait_for(f"data for dashboard panel {title!r}: {expr}", lambda expr=expr: instant_query(prom, expr))
        failing = wait_for("VigilChecksFailing to fire", lambda: [
            a for a in http_json(f"{prom}/api/v1/alerts")["data"]["alerts"]
            if a["labels"]["alertname"] == "VigilChecksFailing" and a["state"] == "firing"
        ])
        assert "unit_change" in {a["labels"]["family"] for a in failing}

        # ---- An Alertmanager silence mutes the alert Vigil keeps re-posting every cycle.
        now = datetime.now(UTC)
        silence = http_json(f"{am}/api/v2/silences", "POST", {
            "matchers": [{"name": "alertname", "value": "unit_change", "isRegex": False, "isEqual": True}],
            "startsAt": now.isoformat(), "endsAt": (now + timedelta(hours=1)).isoformat(),
            "createdBy": "vigil-test", "comment": "known unit change upstream",
        })
        again = run_cycle(cfg, clock=clock)
        assert [d.status for d in again.notifications] == ["sent"]  # re-posted while firing
        muted = am_alerts(am, alertname="unit_change")
        assert muted and all(a["status"]["state"] == "suppressed" for a in muted)
        assert all(a["status"]["silencedBy"] == [silence["silenceID"]] for a in muted)
        http_json(f"{am}/api/v2/silence/{silence['silenceID']}", "DELETE")
        assert {a["status"]["state"] for a in am_alerts(am, alertname="unit_change")} == {"active"}

        # ---- The incident clears: Vigil resolves the alert and so does Alertmanager.
        write_day(cfg.root, START + timedelta(days=7))
        resolved = run_cycle(cfg, clock=clock)
        assert [d.status for d in resolved.notifications] == ["sent"]
        assert ("unit_change", "applications.income") not in {
            (a["labels"]["check"], a["labels"]["subject"]) for a in vigil_alerts(cfg)
        }
        last = outbox.messages(OpsStore(cfg.ops_path))[-1]
        sent = {a["labels"]["subject"]: a for a in last.payload if a["labels"]["alertname"] == "unit_change"}
        assert datetime.fromisoformat(sent["applications.income"]["endsAt"]) <= datetime.now(UTC)
        assert am_alerts(am, alertname="unit_change", subject="applications.income") == []
