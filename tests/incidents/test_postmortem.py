from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from core.stores import OpsStore, Warehouse
from incidents.alerts import process_results
from incidents.incidents import add_note, set_roles, set_status
from incidents.postmortem import (
    FIELDS,
    PostmortemError,
    action_items,
    add_action_item,
    create_postmortem,
    export_markdown,
    get_postmortem,
    revisions,
    save_revision,
    update_action_item,
)
from tests.incidents.conftest import T0, base_config, result


@pytest.fixture
def incident(tmp_path: Path, clock):
    cfg = base_config(tmp_path)
    ops = OpsStore(tmp_path / "ops.sqlite")
    rs = [result("unit_change", "applications.income", 5, value=0.001), result("psi", "predictions.income", 5)]
    incident_id = process_results(cfg, ops, rs, clock).incidents_opened[0]
    clock.advance(timedelta(minutes=5))
    set_roles(ops, clock, incident_id, "ana", commander="ana", scribe="bo")
    set_status(ops, clock, incident_id, "mitigated", "ana", "upstream fixed the extract")
    add_note(ops, clock, incident_id, "bo", "income arrived in thousands")
    return cfg, ops, incident_id


def test_prefilled_from_incident_alerts_and_prediction_log(incident, clock, tmp_path):
    cfg, ops, incident_id = incident
    wh = Warehouse(tmp_path / "warehouse.duckdb")
    frame = pd.DataFrame({"scored_at": [T0 + timedelta(days=d, hours=1) for d in (4, 5, 5, 5, 6)], "model_version": [1, 1, 2, 2, 2]})
    with wh.write() as conn:
        conn.register("f", frame)
        conn.execute("CREATE TABLE predictions AS SELECT * FROM f")
    cfg = cfg.model_copy(update={"predictions": cfg.predictions.model_copy(update={"model_version_column": "model_version"})})
    pm = create_postmortem(cfg, ops, clock, incident_id, "ana", wh=wh)
    assert pm.revision == 1 and set(pm.fields) == set(FIELDS)
    f = pm.fields
    assert f["affected_window"] == "2026-03-06T00:00:00 to 2026-03-07T00:00:00 (event time)"
    assert f["predictions_affected"] == "3"
    assert f["model_versions"] == "Versions that scored the affected window: v1, v2."
    assert "unit_change on applications.income" in f["root_causes"]
    assert "psi on predictions.income: inhibited by unit_change on applications.income" in f["root_causes"]
    assert "mitigated at" in f["resolution"]
    assert "runbooks/unit_change.md" in f["supporting_information"]
    # A second create returns the same postmortem, it does not overwrite.
    assert create_postmortem(cfg, ops, clock, incident_id, "bo").saved_at == pm.saved_at


def test_revisions_are_saved_and_old_ones_stay_readable(incident, clock):
    cfg, ops, incident_id = incident
    create_postmortem(cfg, ops, clock, incident_id, "ana")
    clock.advance(timedelta(hours=1))
    pm = save_revision(ops, clock, incident_id, {"went_well": "The unit-change check caught it on the first batch."}, "bo", "lessons")
    assert pm.revision == 2 and pm.revisions == 2
    assert get_postmortem(ops, incident_id, revision=1).fields["went_well"] == ""
    assert [r["revision"] for r in revisions(ops, incident_id)] == [1, 2]
    with pytest.raises(PostmortemError, match="unknown postmortem field\\(s\\) blame"):
        save_revision(ops, clock, incident_id, {"blame": "x"}, "bo")
    with pytest.raises(PostmortemError, match="nothing changed"):
        save_revision(ops, clock, incident_id, {"went_well": "The unit-change check caught it on the first batch."}, "bo")
    with pytest.raises(PostmortemError, match="no revision 9"):
        get_postmortem(ops, incident_id, revision=9)


def test_action_items_validation_and_updates(incident, clock):
    cfg, ops, incident_id = incident
    item = add_action_item(ops, clock, incident_id, title="Schema contract on income unit", owner="team-apps", kind="prevent", due="2026-04-01", author="ana")
    with pytest.raises(PostmortemError, match="action item type 'blame' is not one of prevent, mitigate, detect, repair, process"):
        add_action_item(ops, clock, incident_id, title="x", owner="y", kind="blame", due="2026-04-01", author="ana")
    with pytest.raises(PostmortemError, match="due date 'soon' is not YYYY-MM-DD"):
        add_action_item(ops, clock, incident_id, title="x", owner="y", kind="detect", due="soon", author="ana")
    with pytest.raises(PostmortemError, match="needs an owner"):
        add_action_item(ops, clock, incident_id, title="x", owner=" ", kind="detect", due="2026-04-01", author="ana")
    row = update_action_item(ops, clock, item, "bo", status="done")
    assert row["status"] == "done"
    assert [i["item_id"] for i in action_items(ops, incident_id)] == [item]


def test_markdown_export_has_template_lessons_items_and_full_timeline(incident, clock):
    cfg, ops, incident_id = incident
    create_postmortem(cfg, ops, clock, incident_id, "ana")
    add_action_item(ops, clock, incident_id, title="Alert on | in names", owner="team-apps", kind="detect", due="2026-04-01", author="ana")
    md = export_markdown(ops, incident_id)
    for heading in ("## Summary", "## Impact", "## Root causes", "## Trigger", "## Resolution", "## Detection",
                    "## Lessons learned", "### What went well", "### What went wrong", "### Where we got lucky",
                    "## Supporting information", "## Model versions live", "## Affected data window",
                    "## Predictions affected", "## Decisions taken", "## Action items", "## Timeline"):
        assert heading in md
    assert "Gaps in the system, not mistakes of individuals" in md  # blameless prompt for an empty field
    assert "| Alert on \\| in names | detect | team-apps | 2026-04-01 | open |" in md
    timeline_rows = [line for line in md.splitlines() if line.startswith("| 2026-")]
    n_entries = ops.query("SELECT count(*) AS n FROM incident_timeline WHERE incident_id = ?", (incident_id,))[0]["n"]
    assert len(timeline_rows) == n_entries
    assert "income arrived in thousands" in md and "Status triage -> mitigated" in md
    with pytest.raises(PostmortemError, match="has no postmortem yet"):
        export_markdown(ops, "inc-other")


def test_revisions_are_append_only(incident, clock):
    import sqlite3

    cfg, ops, incident_id = incident
    create_postmortem(cfg, ops, clock, incident_id, "ana")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        with ops.transaction() as conn:
            conn.execute("UPDATE postmortem_revisions SET fields = '{}'")


def test_prefill_uses_what_the_check_said_on_the_failing_batch_and_only_this_incidents_episode(tmp_path, clock):
    cfg = base_config(tmp_path)
    ops = OpsStore(tmp_path / "ops.sqlite")
    first = process_results(cfg, ops, [result("unit_change", "applications.income", 5)], clock).incidents_opened[0]
    process_results(cfg, ops, [result("unit_change", "applications.income", 6, "ok")], clock)
    second = process_results(cfg, ops, [result("unit_change", "applications.income", 9)], clock).incidents_opened[0]
    assert first != second
    f = create_postmortem(cfg, ops, clock, first, "ana").fields
    assert "unit_change on applications.income is fail" in f["root_causes"]  # not the later 'is ok'
    assert f["trigger"].startswith("unit_change on applications.income, first failing batch 2026-03-06T00:00:00")
    assert f["affected_window"] == "2026-03-06T00:00:00 to 2026-03-07T00:00:00 (event time)"
    f2 = create_postmortem(cfg, ops, clock, second, "ana").fields
    assert f2["affected_window"] == "2026-03-10T00:00:00 to 2026-03-11T00:00:00 (event time)"


def test_prefill_lists_a_model_alert_with_its_ranked_possible_causes(tmp_path, clock):
    cfg = base_config(tmp_path)
    ops = OpsStore(tmp_path / "ops.sqlite")
    rs = [result("unit_change", "applications.income", 5, value=0.001), result("kpi_default_rate", "model", 5, value=0.31)]
    incident_id = process_results(cfg, ops, rs, clock).incidents_opened[0]
    f = create_postmortem(cfg, ops, clock, incident_id, "ana").fields
    assert "Model alerts (notified) and their possible causes, most likely first:" in f["root_causes"]
    assert "- kpi_default_rate on model: #1 unit_change on applications.income (" in f["root_causes"]
    assert "value 0.001" in f["root_causes"]
    assert f["trigger"].startswith("unit_change on applications.income")
