"""Issue 6's end-to-end test: from failed checks to a resolved incident, a decision carried
out on the registry and an exported postmortem, on a small simulated business (~300
applications a day, labels 14 days later), with a real webhook receiver on 127.0.0.1.

1. Day 12: the applications extract reports income in thousands. The input-quality and
   unit-change alerts fire; the drift alerts downstream are inhibited with the root cause
   shown; the decision-rate alert (the model's behaviour) notifies, with the unit change as
   its possible cause; an incident opens and the decision is "fix upstream".
2. Day 15: v2 is promoted. It passes the registry's holdout gate honestly (better ROC AUC on
   the same holdout) because it uses home ownership, and the training snapshot comes from a
   time when renters rarely defaulted (a rent-guarantee scheme). That relation no longer
   holds in production, so v2 ranks worse there; v1 never used the feature. Once v2's
   first labels mature, performance on the live test set fails, the decision is "roll
   back" (v1 is better on the live test set), a person approves it and carries it out.
3. The next batch is scored by v1; its alerts resolve (the score drift at once, the AUC
   alert when that batch's labels mature). The postmortem exports with the full timeline.
Throughout: one notification per alert group, counted at the receiver.
"""

from __future__ import annotations

import os
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from app.cycle import CycleReport, run_cycle
from baseline_model.demo import DEFAULT_TRAIN_CONFIG, ensure_example, register_run
from baseline_model.layout import predictions_path, snapshot_dir, write_parquet_atomic
from baseline_model.simulator import Incident, generate_day, simulate_history
from baseline_model.train import train
from core.clock import ManualClock
from core.config import VigilConfig, config_from_dict
from core.registry import Registry
from core.stores import OpsStore, stores_for
from incidents.decisions import approve, carry_out, excluded_windows, recommend
from incidents.postmortem import create_postmortem, export_markdown
from incidents.queries import alerts_with_incidents, list_incidents
from tests.incidents.webhook_server import WebhookServer

REPO = Path(__file__).resolve().parents[2]
START = date(2026, 3, 2)
VOLUME = 300
SNAPSHOT_DAYS = 20
UNIT_DAY = 12  # income reported in thousands
PROMOTION_DAY = 15  # v2 becomes champion; it scores this day onwards
LABEL_DELAY = 14
V1_DAYS = 5  # days scored by v1 after the rollback whose labels the test waits for
HOOK_ENV = "VIGIL_E2E_HOOK"
MODEL = "loan_default"
DRIFT_CHECKS = {"psi", "ks", "wasserstein", "jensen_shannon", "multivariate_drift"}
DOWNSTREAM_FAMILIES = {"feature_drift", "prediction", "performance"}


def batch_of(day: int) -> str:
    return datetime.combine(START + timedelta(days=day), datetime.min.time()).isoformat()


def write_old_regime_snapshot(root: Path, seed: int) -> None:
    """The training snapshot: the 20 days before the history, when renters rarely defaulted.

    A rent-guarantee scheme then covered renters (-3 log-odds) and owners carried the
    overall default rate (+0.8), so a model ignoring tenure stays calibrated in production.
    """
    first = START - timedelta(days=SNAPSHOT_DAYS)
    regime = [
        Incident("concept_drift", day=first, column="home_ownership", value="RENT", size=-3.0),
        Incident("concept_drift", day=first, column="home_ownership", value="MORTGAGE", size=0.8),
        Incident("concept_drift", day=first, column="home_ownership", value="OWN", size=0.8),
    ]
    days = [generate_day(first + timedelta(days=i), seed + 1000, VOLUME, regime, first) for i in range(SNAPSHOT_DAYS)]
    folder = snapshot_dir(root)
    write_parquet_atomic(pd.concat([d.applications for d in days], ignore_index=True), folder / "applications.parquet")
    write_parquet_atomic(pd.concat([d.bureau for d in days], ignore_index=True), folder / "bureau.parquet")
    labels = pd.concat([d.truth[["application_id", "submitted_at", "defaulted"]] for d in days], ignore_index=True)
    write_parquet_atomic(labels, folder / "labels.parquet")


def v1_train_config(root: Path) -> Path:
    """v1: the example's gradient boosting without home ownership."""
    data = yaml.safe_load(DEFAULT_TRAIN_CONFIG.read_text())
    data["name"] = "gbm_without_tenure"
    data["features"] = [f for f in data["features"] if f != "home_ownership"]
    path = root / "train_v1.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def monitor_config(root: Path) -> VigilConfig:
    """The example's monitoring config: volume scaled to this business, a webhook receiver."""
    data = yaml.safe_load((REPO / "baseline_model" / "configs" / "monitor.yaml").read_text())
    for table in data["etl_tables"]:
        if "expected_rows" in table:
            table["expected_rows"] = [VOLUME // 2, VOLUME * 2]
    # ~250 labelled rows a day (about 23 positives): v2's 0.18 AUC drop is only 2.9 sigma on some
    # days, under the tail the model's performance family gives the AUC (z 2.94, README config
    # reference). This test is about the incident flow, not calibration: the AUC keeps its own
    # budget here (the documented opt-out), as every check had before the family.
    data.setdefault("checks", {}).setdefault("params", {}).setdefault("auc", {})["false_alarm_budget"] = 0.01
    data["alerts"] = {
        "receivers": [{"name": "oncall", "kind": "alertmanager", "url_env": HOOK_ENV}],
        "routes": [{"receiver": "oncall", "group_by": ["model", "check"]}],
    }
    (root / "monitor.yaml").write_text(yaml.safe_dump(data))
    return config_from_dict(data, file=str(root / "monitor.yaml"), root=root)


class Business:
    """The simulated lender and its monitoring: simulate days, run cycles, read alerts."""

    def __init__(self, root: Path, seed: int, server: WebhookServer) -> None:
        self.root, self.seed, self.server = root, seed, server
        self.ops = OpsStore(root / "ops.sqlite")
        # Wall time near the real time: scoring jobs record real timestamps for the heartbeats.
        self.clock = ManualClock(datetime.now(UTC))
        self.registry = Registry(self.ops, self.clock)
        write_old_regime_snapshot(root, seed)
        self.v1 = ensure_example(root, self.ops, config_path=v1_train_config(root), clock=self.clock, progress=False).version
        self.cfg = monitor_config(root)
        self.wh, _ = stores_for(self.cfg)
        self.simulated = 0

    def simulate_until(self, day: int) -> None:
        """Simulate the days up to `day` (exclusive), scoring each with the champion of the time."""
        unit_change = Incident("unit_change", day=START + timedelta(days=UNIT_DAY), column="income", size=0.001)
        simulate_history(self.root, START + timedelta(days=self.simulated), day - self.simulated, self.seed,
                         volume=VOLUME, ops=self.ops, incidents=[unit_change], label_delay_days=LABEL_DELAY)
        self.simulated = day

    def cycle(self) -> CycleReport:
        self.clock.advance(timedelta(minutes=5))  # the scheduler's interval
        report = run_cycle(self.cfg, clock=self.clock)
        assert report.status == "ok"
        return report

    def alerts(self, **filters: Any) -> list[dict[str, Any]]:
        return alerts_with_incidents(self.ops, **filters)

    def alert(self, check: str, subject: str) -> dict[str, Any]:
        found = self.alerts(check=check, subject=subject)
        assert len(found) == 1, f"{check} on {subject}: {found}"
        return found[0]

    def posts(self) -> list[tuple[str, str]]:
        return [(r["json"]["groupLabels"]["check"], r["json"]["status"]) for r in self.server.requests]

    def served_versions(self, day: int) -> set[int]:
        frame = pd.read_parquet(predictions_path(self.root, START + timedelta(days=day)), columns=["model_version"])
        return set(frame["model_version"].astype(int))


def assert_one_notification_per_group(posts: list[tuple[str, str]]) -> None:
    """Each group is paged once per episode: firing, then resolved, never the same state twice in a row.

    (The score's drift has two episodes: the unit change of phase 1, and v2's scores in phase 2;
    a model-behaviour alert is never inhibited, so both page.)
    """
    by_group: dict[str, list[str]] = {}
    for check, status in posts:
        by_group.setdefault(check, []).append(status)
    for check, statuses in by_group.items():
        assert statuses[0] == "firing", f"{check}: resolved before it fired: {statuses}"
        assert all(a != b for a, b in zip(statuses, statuses[1:], strict=False)), f"{check} notified twice: {statuses}"


# One seed keeps the suite fast; VIGIL_E2E_SEEDS=21,5,8 runs more (each holds).
SEEDS = [int(s) for s in os.environ.get("VIGIL_E2E_SEEDS", "21").split(",")]


@pytest.mark.parametrize("seed", SEEDS)
def test_incident_response(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    with WebhookServer() as server:
        monkeypatch.setenv(HOOK_ENV, server.url)
        biz = Business(tmp_path, seed, server)
        upstream_fix = phase_upstream_unit_change(biz)
        rollback_incident = phase_bad_promotion_rolled_back(biz)
        phase_previous_version_serves_and_alerts_resolve(biz, rollback_incident)
        phase_postmortem(biz, rollback_incident)
        assert_one_notification_per_group(biz.posts())
        assert upstream_fix != rollback_incident


def phase_upstream_unit_change(biz: Business) -> str:
    biz.simulate_until(UNIT_DAY + 1)
    biz.cycle()
    broken = batch_of(UNIT_DAY)

    unit = biz.alert("unit_change", "applications.income")
    quality = biz.alert("out_of_range", "applications.income")
    for root in (unit, quality):
        assert root["state"] == "firing" and root["severity"] == "critical" and root["started_batch"] == broken
        assert root["inhibited_by"] is None

    # Downstream drift alerts of that batch fire, but are held with their root cause.
    downstream = [a for a in biz.alerts() if a["started_batch"] == broken and a["family"] == "feature_drift"]
    roots = [a for a in biz.alerts() if a["started_batch"] == broken and a["family"] not in DOWNSTREAM_FAMILIES]
    assert all(a["inhibited_by"] is None and a["family"] in ("input_quality", "unit_change") for a in roots), roots
    held = {(a["check_name"], a["subject"]): (a["inhibited_by_check"], a["inhibited_by_subject"]) for a in downstream}
    assert held, "no downstream alert at all: the unit change should move drift"
    assert all(cause[0] in ("unit_change", "out_of_range") for cause in held.values()), sorted(held.items())
    assert held.get(("psi", "predictions.income")) == ("unit_change", "applications.income")
    assert {check for check, _ in held} & DRIFT_CHECKS
    # The model's behaviour is never held: the approval rate fell, it notifies with its possible cause.
    symptoms = [a for a in biz.alerts() if a["started_batch"] == broken and a["family"] in ("prediction", "performance")]
    assert symptoms and all(a["inhibited_by"] is None for a in symptoms), symptoms
    decisions = biz.alert("decision_rate_shift", "predictions.decision")
    assert decisions["possible_causes"][0]["check"] in ("unit_change", "out_of_range")
    assert decisions["possible_causes"][0]["subject"] == "applications.income"

    # The root causes and the model's behaviour page, once per group; the drift does not.
    paged = {check for check, _ in biz.posts()}
    assert {"out_of_range", "unit_change", "decision_rate_shift"} <= paged
    assert not paged & DRIFT_CHECKS
    assert {check for check, status in biz.posts()} == {a["check_name"] for a in roots + symptoms}

    incidents = list_incidents(biz.ops)
    assert len(incidents) == 1 and incidents[0]["title"].startswith("unit_change on applications.income")
    incident_id = str(incidents[0]["incident_id"])
    decision = recommend(biz.cfg, biz.ops, biz.clock, incident_id, wh=biz.wh)
    assert decision.action == "fix_upstream"
    assert "inhibited" in decision.history[0]["reason"]
    assert excluded_windows(biz.ops) == [(broken, batch_of(UNIT_DAY + 1))]

    # The corrected days that follow resolve the root alerts (one resolved notification each).
    biz.simulate_until(PROMOTION_DAY)
    biz.cycle()
    assert biz.alert("unit_change", "applications.income")["state"] == "resolved"
    paged = sorted({check for check, _ in biz.posts()})
    assert Counter(biz.posts()) == Counter({(check, status): 1 for check in paged for status in ("firing", "resolved")})
    assert not biz.alerts(state="firing", severity="critical"), "v1 on clean days: nothing critical"
    return incident_id


def phase_bad_promotion_rolled_back(biz: Business) -> str:
    # v2: the example's full feature set, trained on the same snapshot, so the same holdout.
    run = train(DEFAULT_TRAIN_CONFIG, biz.root, biz.ops, progress=False, update_reference=False, clock=biz.clock)
    v2 = register_run(biz.registry, run, user="bo").version
    biz.registry.approve(MODEL, v2, "bo", "better ROC AUC on the holdout")
    event = biz.registry.promote(MODEL, v2, "bo", "home ownership adds lift on the holdout")
    assert "(better)" in event.details["evaluation"], event.details  # the holdout gate, passed honestly

    biz.simulate_until(PROMOTION_DAY + LABEL_DELAY + 2)  # v2's first two days of labels mature
    assert biz.served_versions(PROMOTION_DAY) == {v2}
    biz.cycle()

    auc = biz.alert("auc", "model")
    assert auc["state"] == "firing" and auc["started_batch"] == batch_of(PROMOTION_DAY) and auc["inhibited_by"] is None
    incident_id = str(auc["incident_id"])
    assert incident_id and incident_id != "None"

    decision = recommend(biz.cfg, biz.ops, biz.clock, incident_id, wh=biz.wh)
    evidence = decision.history[0]["evidence"]
    assert decision.action == "roll_back" and decision.target_version == biz.v1
    assert evidence["promotion"]["from_version"] == biz.v1 and evidence["promotion"]["to_version"] == v2
    shadow = {s["version"]: s for s in evidence["shadow"]}
    assert shadow[biz.v1]["n"] == shadow[v2]["n"] > 100
    assert shadow[biz.v1]["roc_auc"] > shadow[v2]["roc_auc"] + 0.05, shadow

    approve(biz.ops, biz.clock, decision.decision_id, "ana", "v1 ranks better on the live test set")
    done = carry_out(biz.cfg, biz.ops, biz.clock, decision.decision_id, "ana", "roll back to v1", wh=biz.wh)
    assert done.state == "carried_out"
    assert biz.registry.event(done.registry_event_id).kind == "rollback"
    champion = biz.registry.champion(MODEL)
    assert champion is not None and champion.version == biz.v1
    return incident_id


def phase_previous_version_serves_and_alerts_resolve(biz: Business, incident_id: str) -> None:
    next_day = PROMOTION_DAY + LABEL_DELAY + 2
    biz.simulate_until(next_day + 1)
    assert biz.served_versions(next_day) == {biz.v1}, "the next batch is scored by the previous version"
    biz.cycle()
    assert biz.alert("score_drift", "predictions.score")["state"] == "resolved"
    assert biz.alert("auc", "model")["state"] == "firing", "v2's batches keep failing as their labels arrive"

    # The AUC alert resolves once labels of batches v1 scored have matured. One day's AUC on
    # ~250 labelled rows is noisy ("warn" does not resolve), so v1 serves a few days.
    biz.simulate_until(next_day + V1_DAYS + LABEL_DELAY + 1)
    assert all(biz.served_versions(day) == {biz.v1} for day in range(next_day, next_day + V1_DAYS))
    biz.cycle()
    auc = biz.alert("auc", "model")
    assert auc["state"] == "resolved", auc
    assert batch_of(next_day) <= auc["resolved_batch"] < batch_of(next_day + V1_DAYS)
    assert not [a for a in biz.alerts(state="firing", severity="critical") if a["incident_id"] == incident_id]


def phase_postmortem(biz: Business, incident_id: str) -> None:
    create_postmortem(biz.cfg, biz.ops, biz.clock, incident_id, "ana", wh=biz.wh)
    markdown = export_markdown(biz.ops, incident_id)
    timeline = markdown.split("## Timeline", 1)[1]
    for expected in (
        "Incident opened",
        "Alert auc on model is firing",
        "Alert auc on model is resolved",
        "Alert score_drift on predictions.score is resolved",
        "Decision roll back recommended by vigil",
        "Decision roll back approved by ana",
        "Decision roll back carried out by ana",
        "Notification (firing",
        "Notification (resolved",
    ):
        assert expected in timeline, f"{expected!r} missing from the postmortem timeline:\n{timeline}"
    assert "v2" in markdown.split("## Model versions live", 1)[1].split("##", 1)[0]
    assert "roll_back" in markdown.split("## Decisions taken", 1)[1].split("##", 1)[0]
