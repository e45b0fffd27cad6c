from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.ids import labels_fingerprint
from core.stores import OpsStore
from incidents.alerts import process_results
from incidents.incidents import IncidentError, add_note, open_incident, set_roles, set_status
from tests.incidents.conftest import base_config, result


def fp(check: str, subject: str) -> str:
    return labels_fingerprint({"check": check, "model": "loan_default", "subject": subject})


def alerts_by_fp(ops: OpsStore) -> dict[str, dict]:
    return {r["fingerprint"]: r for r in ops.query("SELECT * FROM alerts")}


def causes(ops: OpsStore, fingerprint: str) -> list[str]:
    """The ranked possible causes stored on an alert (fingerprints, best first)."""
    text = ops.query("SELECT possible_causes FROM alerts WHERE fingerprint = ?", (fingerprint,))[0]["possible_causes"]
    return [c["fingerprint"] for c in json.loads(text)] if text else []


def test_upstream_unit_change_inhibits_linked_downstream_alerts_only(cfg, ops, clock):
    day5 = [
        result("unit_change", "applications.income", 5),
        result("psi", "predictions.income", 5),
        result("score_psi", "predictions.score", 5, family="prediction"),
        result("psi", "predictions.credit_score", 5),  # fed by bureau: not explained by applications
    ]
    report = process_results(cfg, ops, day5, clock)
    root = fp("unit_change", "applications.income")
    # The score's drift is a symptom: never inhibited, the unit change is its possible cause.
    assert report.inhibited == {fp("psi", "predictions.income"): root}
    assert causes(ops, fp("score_psi", "predictions.score"))[0] == root
    rows = alerts_by_fp(ops)
    assert rows[fp("psi", "predictions.credit_score")]["inhibited_by"] is None
    assert rows[root]["inhibited_by"] is None


def test_whole_table_alert_inhibits_every_feature_of_that_table(cfg, ops, clock):
    rs = [
        result("freshness", "bureau", 3, family="etl"),
        result("psi", "predictions.credit_score", 3),
        result("psi", "predictions.income", 3),
    ]
    report = process_results(cfg, ops, rs, clock)
    assert report.inhibited == {fp("psi", "predictions.credit_score"): fp("freshness", "bureau")}


def test_kpi_alert_arriving_after_labels_mature_still_shows_the_root_cause(cfg, ops, clock):
    # Day 5: the upstream unit change fires; day 6 it is clean again and resolves.
    process_results(cfg, ops, [result("unit_change", "applications.income", 5)], clock)
    process_results(cfg, ops, [result("unit_change", "applications.income", 6, "ok")], clock)
    # Two weeks later the labels of day 5 mature and the KPI check on batch 5 fails.
    # The KPI notifies (a symptom is never inhibited, and the unit change resolved long ago),
    # with the unit change that failed on its batch as its possible cause.
    report = process_results(cfg, ops, [result("kpi_default_rate", "model", 5)], clock)
    assert report.inhibited == {}
    assert causes(ops, fp("kpi_default_rate", "model")) == [fp("unit_change", "applications.income")]
    # ...but the KPI of a clean later day is its own problem.
    report = process_results(cfg, ops, [result("kpi_default_rate", "model", 5, "ok"), result("kpi_default_rate", "model", 9)], clock)
    assert report.inhibited == {}
    assert causes(ops, fp("kpi_default_rate", "model")) == []


def test_labels_table_problem_inhibits_performance_but_not_drift(cfg, ops, clock):
    rs = [result("null_rate", "outcomes.defaulted", 2), result("kpi_default_rate", "model", 2), result("psi", "predictions.income", 2)]
    report = process_results(cfg, ops, rs, clock)
    assert report.inhibited == {}
    # The broken labels rank first (a root); the income drift of the same batch is listed after it.
    assert causes(ops, fp("kpi_default_rate", "model")) == [fp("null_rate", "outcomes.defaulted"), fp("psi", "predictions.income")]


def test_one_incident_per_root_cause_with_inhibited_alerts_attached(cfg, ops, clock):
    rs = [
        result("unit_change", "applications.income", 5),
        result("null_rate", "applications.income", 5),
        result("psi", "predictions.income", 5),
        result("score_psi", "predictions.score", 5, family="prediction", severity="warning"),
    ]
    report = process_results(cfg, ops, rs, clock)
    assert len(report.incidents_opened) == 1
    incident_id = report.incidents_opened[0]
    members = ops.query("SELECT fingerprint FROM incident_alerts WHERE incident_id = ?", (incident_id,))
    assert len(members) == 4
    inc = ops.query("SELECT * FROM incidents")[0]
    assert (inc["severity"], inc["status"], inc["group_key"]) == ("SEV2", "triage", "loan_default|2026-03-06T00:00:00")
    timeline = ops.query("SELECT kind, text FROM incident_timeline WHERE incident_id = ? ORDER BY entry_id", (incident_id,))
    assert timeline[0]["kind"] == "opened"
    assert any("inhibited by" in t["text"] for t in timeline)
    # Resolution of an alert lands on the timeline too.
    process_results(cfg, ops, [result("unit_change", "applications.income", 6, "ok")], clock)
    last = ops.query("SELECT text FROM incident_timeline ORDER BY entry_id DESC LIMIT 1")[0]["text"]
    assert "unit_change on applications.income is resolved" in last


def test_warning_alert_alone_opens_no_incident(cfg, ops, clock):
    report = process_results(cfg, ops, [result("psi", "predictions.credit_score", 1, severity="warning")], clock)
    assert report.incidents_opened == []


def test_incident_threshold_from_config(tmp_path: Path, clock):
    cfg = base_config(tmp_path, incident_severity="warning")
    ops = OpsStore(tmp_path / "ops.sqlite")
    report = process_results(cfg, ops, [result("psi", "predictions.credit_score", 1, severity="warning")], clock)
    assert len(report.incidents_opened) == 1
    assert ops.query("SELECT severity FROM incidents")[0]["severity"] == "SEV3"


def test_incidents_from_the_whole_history_open_even_if_resolved_later_in_the_same_call(cfg, ops, clock):
    rs = [result("unit_change", "applications.income", d, "fail" if d == 3 else "ok") for d in range(6)]
    report = process_results(cfg, ops, rs, clock)
    assert len(report.incidents_opened) == 1


def test_manual_incident_status_roles_and_notes(cfg, ops, clock):
    process_results(cfg, ops, [result("psi", "predictions.credit_score", 1, severity="warning")], clock)
    alert = fp("psi", "predictions.credit_score")
    incident_id = open_incident(ops, clock, opened_by="ana", alert_fingerprints=[alert], severity="sev1")
    set_roles(ops, clock, incident_id, "ana", commander="ana", scribe="bo")
    set_status(ops, clock, incident_id, "investigating", "ana")
    add_note(ops, clock, incident_id, "bo", "bureau extract late")
    set_status(ops, clock, incident_id, "resolved", "ana")  # skipping mitigated stamps it too
    inc = ops.query("SELECT * FROM incidents WHERE incident_id = ?", (incident_id,))[0]
    assert (inc["severity"], inc["commander"], inc["scribe"], inc["status"]) == ("SEV1", "ana", "bo", "resolved")
    assert inc["mitigated_at"] and inc["resolved_at"] and inc["investigating_at"]
    kinds = [r["kind"] for r in ops.query("SELECT kind FROM incident_timeline WHERE incident_id = ? ORDER BY entry_id", (incident_id,))]
    assert kinds == ["opened", "alert", "role", "role", "status", "note", "status"]
    with pytest.raises(IncidentError, match="can only move forward"):
        set_status(ops, clock, incident_id, "triage", "ana")
    with pytest.raises(IncidentError, match="severity 'SEV9' is not one of SEV1, SEV2, SEV3, SEV4"):
        open_incident(ops, clock, opened_by="ana", alert_fingerprints=[alert], severity="SEV9")
    with pytest.raises(IncidentError, match="no alert with fingerprint 'nope'"):
        open_incident(ops, clock, opened_by="ana", alert_fingerprints=["nope"])
    detail = json.loads(ops.query("SELECT detail FROM incident_timeline WHERE kind = 'status' ORDER BY entry_id DESC LIMIT 1")[0]["detail"])
    assert detail == {"from": "investigating", "to": "resolved"}


def test_broken_prediction_log_table_inhibits_every_drift_and_model_alert(cfg, ops, clock):
    rs = [
        result("volume", "predictions", 2, family="input_quality"),
        result("psi", "predictions.credit_score", 2),
        result("kpi", "model.default_rate", 2, family="performance"),
        result("null_rate", "predictions.income", 2),  # another root: never inhibited
    ]
    report = process_results(cfg, ops, rs, clock)
    root = fp("volume", "predictions")
    assert report.inhibited == {fp("psi", "predictions.credit_score"): root}
    assert causes(ops, fp("kpi", "model.default_rate"))[0] == root


def test_a_long_running_root_does_not_steal_a_new_effect(cfg, ops, clock):
    # The prediction log's schema alert has been failing since day 0; a unit change starts on day 6
    # together with the drift it causes: the drift's root cause is the unit change.
    process_results(cfg, ops, [result("schema", "predictions", d) for d in range(6)], clock)
    day6 = [
        result("schema", "predictions", 6),
        result("unit_change", "applications.income", 6),
        result("psi", "predictions.income", 6),
    ]
    report = process_results(cfg, ops, day6, clock)
    assert report.inhibited[fp("psi", "predictions.income")] == fp("unit_change", "applications.income")
    incident = ops.query("SELECT incident_id FROM alerts WHERE fingerprint = ?", (fp("psi", "predictions.income"),))[0]
    root_incident = ops.query("SELECT incident_id FROM alerts WHERE fingerprint = ?", (fp("unit_change", "applications.income"),))[0]
    assert incident == root_incident


def test_a_derived_feature_with_several_parents_is_downstream_of_each(tmp_path: Path, clock):
    cfg = base_config(tmp_path)
    data = cfg.model_dump(exclude={"source_file", "root_dir"})
    data["features"].append({"name": "loan_to_income", "type": "numeric", "lineage": ["applications.loan_amount", "applications.income"]})
    from core.config import config_from_dict

    cfg = config_from_dict(data, file="test.yaml", root=tmp_path)
    assert cfg.feature("loan_to_income").parents == ("applications.loan_amount", "applications.income")
    assert cfg.feature("income").parents == ("applications.income",)  # the string form still works
    ops = OpsStore(tmp_path / "ops.sqlite")
    rs = [
        result("unit_change", "applications.income", 2),
        result("psi", "predictions.loan_to_income", 2),
        result("psi", "predictions.loan_amount", 2),  # a sibling column: not downstream of income
    ]
    report = process_results(cfg, ops, rs, clock)
    assert report.inhibited == {fp("psi", "predictions.loan_to_income"): fp("unit_change", "applications.income")}


def test_inhibited_by_lists_only_roots_firing_now_and_released_alerts_notify_at_once(cfg, ops, clock):
    root, drift = fp("unit_change", "applications.income"), fp("psi", "predictions.income")
    report = process_results(cfg, ops, [result("unit_change", "applications.income", 1), result("psi", "predictions.income", 1)], clock)
    assert report.inhibited == {drift: root}
    # The upstream column is fixed on day 2 but the feature still drifts: the drift is its own problem now.
    report = process_results(cfg, ops, [result("unit_change", "applications.income", 2, "ok"), result("psi", "predictions.income", 2)], clock)
    assert report.inhibited == {}
    row = alerts_by_fp(ops)[drift]
    assert (row["state"], row["inhibited_by"]) == ("firing", None)
    events = [json.loads(e["detail"]) for e in ops.query("SELECT detail FROM alert_events WHERE fingerprint = ? AND kind = 'inhibited' ORDER BY event_id", (drift,))]
    assert events == [{"inhibited_by": root}, {"inhibited_by": None}]


def test_a_data_alert_on_another_column_inhibits_nothing_and_roots_are_never_inhibited(cfg, ops, clock):
    rs = [
        result("null_rate", "bureau.credit_score", 1),
        result("psi", "predictions.income", 1),
        result("unit_change", "applications.income", 1),
        result("null_rate", "predictions.income", 1),  # a root on the served column: never inhibited
    ]
    report = process_results(cfg, ops, rs, clock)
    assert report.inhibited == {fp("psi", "predictions.income"): fp("unit_change", "applications.income")}


def test_possible_causes_carry_their_evidence_and_rank_roots_first(cfg, ops, clock):
    rs = [
        result("psi", "predictions.credit_score", 3, value=0.4),
        result("null_rate", "bureau.credit_score", 3, value=0.2),
        result("kpi_default_rate", "model", 3),
    ]
    process_results(cfg, ops, rs, clock)
    row = ops.query("SELECT possible_causes, inhibited_by, state FROM alerts WHERE fingerprint = ?", (fp("kpi_default_rate", "model"),))[0]
    assert (row["state"], row["inhibited_by"]) == ("firing", None)
    found = json.loads(row["possible_causes"])
    assert [(c["rank"], c["check"], c["subject"]) for c in found] == [(1, "null_rate", "bureau.credit_score"), (2, "psi", "predictions.credit_score")]
    assert found[0]["value"] == 0.2 and found[0]["overlap"] == ["2026-03-04T00:00:00"] and found[0]["explanation"]
    # The symptom joins its most likely cause's incident, and the timeline names the causes.
    incident = alerts_by_fp(ops)[fp("kpi_default_rate", "model")]["incident_id"]
    assert incident and incident == alerts_by_fp(ops)[fp("null_rate", "bureau.credit_score")]["incident_id"]
    texts = [t["text"] for t in ops.query("SELECT text FROM incident_timeline WHERE incident_id = ?", (incident,))]
    assert any("possible causes: #1 null_rate on bureau.credit_score" in t for t in texts), texts
