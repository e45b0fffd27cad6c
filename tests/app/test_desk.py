"""The on-call desk tells the truth at 3 a.m.: pickers keep the user's choice, Home says what is
wrong, numbers are readable, an alert shows why it fired, saves are confirmed, decisions are
not duplicated and actions that cannot apply say why."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from app.dashboard import common
from core.clock import ManualClock
from core.config import VigilConfig, load_config
from core.stores import stores_for
from tests.app import test_dashboard
from tests.app.test_dashboard import PAGES, an_incident, render, signed_in_as, texts

built_store = test_dashboard.built_store  # the same module-scoped store built by one real cycle


@pytest.fixture
def own_copy(built_store: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> VigilConfig:
    """A private copy of the module's built store, for tests that change it."""
    config_path, root = built_store
    copy = tmp_path / "var"
    shutil.copytree(root, copy)
    monkeypatch.setenv("VIGIL_CONFIG", str(config_path))
    monkeypatch.setenv("VIGIL_ROOT", str(copy))
    return load_config(config_path, root=copy)


# ---- numbers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (164.7273, "164.7273"),
        (2139.298, "2,139.3"),
        (138.97101999999998, "138.971"),
        (0.0444, "0.0444"),
        (12, "12"),
        (1_234_567.89, "1,234,568"),
        (1_234_567.0, "1,234,567"),
        (0.00001234, "1.23e-05"),
        (None, ""),
        (float("nan"), ""),
        ("text", "text"),
    ],
)
def test_readable_numbers_keep_every_integer_digit(value: object, shown: str) -> None:
    assert common.readable(value) == shown


def test_readable_never_drops_leading_digits() -> None:
    for value in (164.7273, 2139.298, 99999.5, 1000.0001, 31.4159265):
        text = common.readable(value).replace(",", "")
        assert text.split(".")[0] == str(int(value)), (value, text)


# ---- root causes on Home -------------------------------------------------------------------


def test_root_cause_groups_put_the_oldest_unacknowledged_first() -> None:
    firing = [
        {"fingerprint": "a", "fired_at": "2024-03-05", "acked_by": "sam"},
        {"fingerprint": "b", "fired_at": "2024-03-06"},
        {"fingerprint": "c", "fired_at": "2024-03-07", "inhibited_by": "b"},
        {"fingerprint": "d", "fired_at": "2024-03-04"},
        {"fingerprint": "e", "fired_at": "2024-03-03", "inhibited_by": "gone"},  # its cause no longer fires
    ]
    groups = common.root_cause_groups(firing)
    assert [g["root"]["fingerprint"] for g in groups] == ["e", "d", "b", "a"]
    assert [a["fingerprint"] for a in next(g for g in groups if g["root"]["fingerprint"] == "b")["explained"]] == ["c"]


def test_home_names_what_is_wrong(own_copy: VigilConfig) -> None:
    at = render(PAGES[0])
    assert "What is wrong right now" in [h.value for h in at.subheader]
    body = texts(at)
    assert "applications.income" in body, "the firing unit-change alert is named on Home"
    assert "All clear" not in body
    metrics = {m.label: m for m in at.metric}
    assert metrics["Last cycle"].value == "ok"


def test_home_says_all_clear_only_when_it_is(own_copy: VigilConfig) -> None:
    ops = stores_for(own_copy)[1]
    with ops.transaction() as conn:
        conn.execute("UPDATE alerts SET state = 'resolved'")
        conn.execute("UPDATE incidents SET status = 'closed'")
    warehouse = duckdb.connect(str(own_copy.warehouse_path))
    try:
        warehouse.execute("UPDATE check_results SET status = 'ok' WHERE status IN ('fail', 'error')")
    finally:
        warehouse.close()
    at = AppTest.from_file(str(PAGES[0]), default_timeout=60)
    signed_in_as(at)
    at.run()
    assert not at.exception
    body = texts(at)
    # The built store's cycle ran at a 2024 clock: it is stale, so Home must not claim all clear.
    assert "Cannot say all clear" in body
    assert "All clear" not in body


# ---- pickers keep the user's choice ---------------------------------------------------------


def test_checks_batch_picker_keeps_the_chosen_batch_when_a_cycle_adds_one(own_copy: VigilConfig) -> None:
    at = AppTest.from_file(str(PAGES[5]), default_timeout=60)
    signed_in_as(at)
    at.run()
    assert not at.exception
    picker = next(s for s in at.selectbox if s.label == "Batch")
    options = list(picker.options)
    assert len(options) >= 3
    older = options[2]  # not the newest
    picker.select_index(2).run()
    assert not at.exception
    assert next(s for s in at.selectbox if s.label == "Batch").format_func(
        next(s for s in at.selectbox if s.label == "Batch").value) == older

    # A cycle adds a newer batch (and re-checks the chosen one): the picker stays on the user's batch.
    chosen = datetime.strptime(older, "%Y-%m-%d %H:%M")
    newest = datetime.strptime(options[0], "%Y-%m-%d %H:%M") + timedelta(days=1)
    warehouse = duckdb.connect(str(own_copy.warehouse_path))
    try:
        warehouse.execute(
            "INSERT INTO check_results SELECT check_name, family, subject, ?, model, status, severity, value, lower, "
            "upper, explanation, evidence_json, checked_at FROM check_results WHERE batch = ?",
            [newest, chosen],
        )
        warehouse.execute("UPDATE check_results SET checked_at = checked_at + INTERVAL 1 HOUR WHERE batch = ?", [chosen])
    finally:
        warehouse.close()
    at.run()
    assert not at.exception
    picker = next(s for s in at.selectbox if s.label == "Batch")
    assert picker.options[0] == newest.strftime("%Y-%m-%d %H:%M"), "the new batch is listed"
    assert picker.format_func(picker.value) == older, "the user's batch is still selected"
    assert any("was re-checked" in i.value for i in at.info), "the re-check is announced"


def test_checks_values_are_shown_whole(own_copy: VigilConfig) -> None:
    at = render(PAGES[5])
    table = at.dataframe[0].value
    frame = table.data if hasattr(table, "data") else table  # a Styler or a frame
    assert isinstance(frame, pd.DataFrame)
    raw = [v for v in frame["value"] if v]
    assert raw and all(isinstance(v, str) for v in raw)
    assert not any("e-0" in v and float(v) > 1 for v in raw)


# ---- alerts show why they fired ---------------------------------------------------------------


def test_a_skipped_result_keeps_the_alert_evidence(own_copy: VigilConfig) -> None:
    from checks.result import CheckResult
    from incidents.alerts import process_results

    ops = stores_for(own_copy)[1]
    alert = ops.query("SELECT * FROM alerts WHERE state = 'firing' ORDER BY fingerprint")[0]
    before = alert["annotations"]
    batch = datetime.fromisoformat(str(alert["last_batch"])) + timedelta(days=1)
    skipped = CheckResult(
        check=alert["check_name"], family=alert["family"], subject=alert["subject"], batch=batch,
        status="skipped", severity=alert["severity"], value=None, lower=None, upper=None,
        evidence={}, explanation="Skipped: the labels of this batch have not matured yet.",
    )
    process_results(own_copy, ops, [skipped], ManualClock(datetime(2024, 3, 9, 6, 0)))
    after = ops.query("SELECT state, annotations FROM alerts WHERE fingerprint = ?", (alert["fingerprint"],))[0]
    assert after["state"] == "firing"
    assert after["annotations"] == before
    assert "Skipped" not in after["annotations"]


def test_alert_page_shows_the_evidence_from_when_it_fired(own_copy: VigilConfig) -> None:
    at = render(PAGES[1])
    assert any("when it fired" in m.value for m in at.markdown)
    states = {str(s) for s in at.multiselect[0].value}
    assert "resolved" in states or all(a != "resolved" for a in at.multiselect[0].options)


# ---- incidents and decisions ------------------------------------------------------------------


def test_incident_timeline_is_newest_first_with_both_clocks(own_copy: VigilConfig) -> None:
    an_incident(own_copy)
    at = render(PAGES[2])
    timeline = next(d.value for d in at.dataframe if "wall time" in d.value.columns)
    assert list(timeline.columns[:2]) == ["event time (batch)", "wall time"]
    stamps = list(timeline["wall time"])
    assert stamps == sorted(stamps, reverse=True)


def test_saving_a_note_is_confirmed(own_copy: VigilConfig) -> None:
    an_incident(own_copy)
    at = render(PAGES[2])
    at.text_area[0].input("Checked the extract with the data team.")
    next(b for b in at.button if b.label == "Add note").click().run()
    assert not at.exception
    assert any("Note added" in s.value for s in at.success)


def test_recommending_twice_returns_the_open_recommendation(own_copy: VigilConfig) -> None:
    from app import actions
    from incidents.decisions import decisions_for

    incident_id = an_incident(own_copy)
    first = actions.recommend_decision(own_copy, incident_id)
    second = actions.recommend_decision(own_copy, incident_id)
    assert getattr(second, "decision_id", second) == getattr(first, "decision_id", first)
    made = decisions_for(stores_for(own_copy)[1], incident_id)
    assert len([d for d in made if d.state == "recommended"]) == 1


def test_rollback_is_disabled_with_a_reason_when_there_is_no_earlier_version(
    config_file: Path, cfg: VigilConfig, tmp_path: Path
) -> None:
    from tests.app.test_dashboard import register_versions

    register_versions(cfg, tmp_path)
    at = render(PAGES[3])
    # v1 is the champion and nothing is older than it: roll back cannot apply, and says why.
    # (v2, the page's default selection, is not the champion, so it can still be rejected.)
    rollback = next(b for b in at.button if b.label == "Roll back champion")
    reject = next(b for b in at.button if b.label == "Reject")
    assert rollback.disabled
    assert not reject.disabled
    assert any("no earlier version to roll back to" in c.value for c in at.caption)
