"""A segment result is its own alert (segment in the subject and as a label), grouped under the
model-level incident; the decomposition reaches the incident timeline, the notification and the
postmortem."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from core.clock import ManualClock
from core.ids import labels_fingerprint
from core.stores import OpsStore
from incidents.alerts import process_results
from incidents.labels import derived_labels, parse_subject
from incidents.notify import decide
from incidents.postmortem import prefill
from tests.incidents.conftest import WALL0, base_config, result

DECOMPOSITION = [{
    "metric": "auc", "segmentation": "ownership", "reference": 0.78, "current": 0.759, "change": -0.021,
    "mix": 0.001, "interaction": 0.0, "method": "shapley",
    "parts": [{"segment": "ownership=RENT", "within": -0.017, "segment_reference": 0.75, "segment_current": 0.66,
               "rows": 600, "weight": 0.4, "reference_weight": 0.4}],
    "sentence": "AUC fell 0.021 (0.780 -> 0.759); -0.017 of it is within ownership=RENT, whose AUC fell 0.090; "
                "mix shift +0.001.",
}]


def test_segment_alert_has_its_own_fingerprint_and_label_and_joins_the_model_incident(tmp_path: Path):
    cfg = base_config(tmp_path, receivers=[{"name": "am", "kind": "alertmanager_webhook", "url_env": "VIGIL_SEG_HOOK"}],
                      routes=[{"receiver": "am"}])
    ops = OpsStore(tmp_path / "ops.sqlite")
    clock = ManualClock(WALL0)
    model_level = result("auc", "model", 5, family="performance")
    model_level = replace(model_level, evidence={"decomposition": DECOMPOSITION},
                          explanation="AUC fell. Where: " + DECOMPOSITION[0]["sentence"])
    seg = result("segment_auc", "model{ownership=RENT}", 5, family="performance")
    seg_data = result("segment_drift", "predictions.income{ownership=RENT}", 5, family="feature_drift", severity="warning")

    labels = derived_labels(cfg, seg_data)
    assert labels["segment"] == "ownership=RENT" and labels["column"] == "income" and labels["owner"] == "team-apps"
    assert parse_subject("predictions.income{ownership=RENT}").column == "income"

    process_results(cfg, ops, [model_level, seg, seg_data], clock)
    alerts = {r["subject"]: r for r in ops.query("SELECT * FROM alerts")}
    fp_seg = labels_fingerprint({"check": "segment_auc", "model": "loan_default", "subject": "model{ownership=RENT}"})
    assert alerts["model{ownership=RENT}"]["fingerprint"] == fp_seg != alerts["model"]["fingerprint"]
    assert json.loads(alerts["model{ownership=RENT}"]["labels"])["segment"] == "ownership=RENT"
    incidents = ops.query("SELECT incident_id FROM incidents")
    assert len(incidents) == 1  # the segment alert is grouped under the model-level incident
    assert alerts["model{ownership=RENT}"]["incident_id"] == alerts["model"]["incident_id"] == incidents[0]["incident_id"]
    timeline = " ".join(r["text"] for r in ops.query("SELECT text FROM incident_timeline"))
    assert "where: AUC fell 0.021" in timeline

    messages = decide(cfg, ops, clock)
    payload = json.dumps([m.payload for m in messages])
    assert "within ownership=RENT" in payload and '"segment": "ownership=RENT"' in payload

    fields = prefill(cfg, ops, incidents[0]["incident_id"])
    assert "Where it broke" in fields["root_causes"] and "within ownership=RENT" in fields["root_causes"]
    assert "segment_auc on model{ownership=RENT}" in fields["impact"]


def test_a_segment_alert_without_a_model_incident_opens_its_own(tmp_path: Path):
    cfg = base_config(tmp_path)
    ops = OpsStore(tmp_path / "ops.sqlite")
    process_results(cfg, ops, [result("segment_calibration", "model{ownership=RENT}", 5, family="prediction")],
                    ManualClock(WALL0))
    [inc] = ops.query("SELECT title FROM incidents")
    assert "model{ownership=RENT}" in inc["title"]


def test_the_exporter_keeps_quiet_segment_results_out_of_its_series():
    from app.exporter import check_metrics

    rows = [{"check_name": c, "subject": s, "model": "m", "status": st, "value": 1.0, "lower": None, "upper": None}
            for c, s, st in (("auc", "model", "ok"), ("segment_auc", "model{ownership=OWN}", "ok"),
                             ("segment_auc", "model{ownership=RENT}", "fail"))]
    [value, *_] = check_metrics("m", None, rows)
    assert sorted(s.labels["subject"] for s in value.samples) == ["model", "model{ownership=RENT}"]


def test_the_incident_a_segment_opens_is_the_models_and_a_later_model_alert_joins_it(tmp_path: Path):
    """The model-level alert on the segment's batch is only a warning: the segment alert opens the
    model's incident; the model's AUC alert that fires a batch later joins it (no second incident);
    an upstream table's alert is another root cause and opens its own."""
    cfg = base_config(tmp_path)
    ops = OpsStore(tmp_path / "ops.sqlite")
    clock = ManualClock(WALL0)
    seg = "model{ownership=RENT}"

    def cycle(batch: int, *extra) -> None:
        process_results(cfg, ops, [
            result("segment_auc", seg, batch, family="performance"),
            result("estimated_performance", "predictions.score", batch, family="performance", severity="warning"),
            *extra], clock)

    cycle(5)
    [incident] = ops.query("SELECT incident_id, model, group_key FROM incidents")
    alerts = {r["subject"]: r for r in ops.query("SELECT subject, incident_id, state FROM alerts")}
    assert alerts[seg]["incident_id"] == incident["incident_id"]
    assert incident["model"] == "loan_default" and incident["group_key"].startswith("loan_default|")
    assert alerts["predictions.score"]["incident_id"] is None  # a warning opens nothing and joins nothing

    cycle(6, result("auc", "model", 6, family="performance"))
    assert [r["incident_id"] for r in ops.query("SELECT incident_id FROM incidents")] == [incident["incident_id"]]
    [auc] = ops.query("SELECT incident_id FROM alerts WHERE check_name = 'auc'")
    assert auc["incident_id"] == incident["incident_id"]
    timeline = [r["text"] for r in ops.query("SELECT text FROM incident_timeline WHERE incident_id = ?",
                                             (incident["incident_id"],))]
    assert any(t.startswith("Alert auc on model is firing") for t in timeline), timeline

    cycle(7, result("auc", "model", 7, family="performance"),
          result("null_rate", "applications.income", 7, family="input_quality"))
    incidents = ops.query("SELECT incident_id FROM incidents ORDER BY opened_at")
    assert len(incidents) == 2
    [upstream] = ops.query("SELECT incident_id FROM alerts WHERE subject = 'applications.income'")
    assert upstream["incident_id"] not in (None, incident["incident_id"])
