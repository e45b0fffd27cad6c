"""Streamlit pages under AppTest against stores built by the test (and with no stores at all)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app import settings
from app.cycle import run_cycle
from app.dashboard import common
from core import auth
from core.clock import ManualClock
from core.config import VigilConfig, load_config
from core.stores import stores_for
from tests.app.builders import write_history
from tests.app.conftest import small_config, write_config

DASHBOARD = Path(__file__).resolve().parents[2] / "app" / "dashboard"
PAGES = [
    DASHBOARD / "Home.py",
    DASHBOARD / "pages" / "1_Alerts.py",
    DASHBOARD / "pages" / "2_Incidents.py",
    DASHBOARD / "pages" / "3_Model.py",
    DASHBOARD / "pages" / "4_Data.py",
    DASHBOARD / "pages" / "5_Checks.py",
    DASHBOARD / "pages" / "6_Postmortems.py",
    DASHBOARD / "pages" / "7_Decisions.py",
]
START = date(2024, 3, 1)
UNIT_DAY = START + timedelta(days=6)


def signed_in_as(at: AppTest, username: str = "tester", role: str = "admin") -> None:
    """Give the page a live session of `username` (added to the users file with `role` if new),
    as the sign-in form would; tests/app/test_signin.py covers the form itself."""
    cfg = settings.load()
    users = auth.users_file(cfg.root)
    if auth.get_user(users, username) is None:
        auth.add_user(users, username, role, "tester-password-1")
    at.session_state[common.SESSION_KEY] = auth.create_session(stores_for(cfg)[1], auth.User(username, role))


def render(page: Path, sign_in: bool = True) -> AppTest:
    at = AppTest.from_file(str(page), default_timeout=60)
    if sign_in:
        signed_in_as(at)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [i.value for i in at.info] + [w.value for w in at.warning]
    parts += [e.value for e in at.error] + [s.value for s in at.success] + [c.value for c in at.caption]
    return "\n".join(str(p) for p in parts)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_pages_show_an_empty_state_with_a_hint(config_file: Path, cfg: VigilConfig, page: Path) -> None:
    # Before any user exists: only the sign-in form, with a hint how the first admin is made.
    at = render(page, sign_in=False)
    assert [t.value for t in at.title] == ["Vigil · sign in"]
    assert "No users yet" in texts(at)
    assert not cfg.ops_path.exists(), "rendering must not create the stores"


def test_bad_config_is_shown_not_raised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n")
    monkeypatch.setenv("VIGIL_CONFIG", str(bad))
    at = render(PAGES[0], sign_in=False)
    assert "YAML syntax error" in texts(at)


@pytest.fixture(scope="module")
def built_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """One real cycle over a small history, shared by the page tests of this module (it is slow-ish)."""
    pytest.importorskip("checks.runner")
    folder = tmp_path_factory.mktemp("built")
    config_path = write_config(folder, small_config())
    cfg = load_config(config_path, root=folder / "var")
    # The unit change is on the newest day, so its alert is still firing.
    write_history(cfg.root, START, days=7, unit_change_day=UNIT_DAY)
    run_cycle(cfg, clock=ManualClock(datetime(2024, 3, 8, 6, 0)), notify=False)
    return config_path, folder / "var"


@pytest.fixture
def built(built_store: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> VigilConfig:
    config_path, root = built_store
    monkeypatch.setenv("VIGIL_CONFIG", str(config_path))
    monkeypatch.setenv("VIGIL_ROOT", str(root))
    monkeypatch.setenv("VIGIL_USER", "tester")
    return load_config(config_path, root=root)


def test_overview_with_data(built: VigilConfig) -> None:
    at = render(PAGES[0])
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Last cycle"] == "ok"
    assert int(metrics["Firing alerts"]) >= 1
    assert "unit_change" in metrics  # latest batch status by family
    assert at.dataframe, "recent cycles table"
    # The cycle ran at a manual 2024 clock: it is stale against a 1s schedule, shown in red.
    assert any("Stale" in e.value for e in at.error)


def test_alerts_page_shows_runbook_and_acknowledges(built: VigilConfig) -> None:
    at = render(PAGES[1])
    assert at.dataframe
    labels = at.selectbox[0].options
    unit = next(i for i, label in enumerate(labels) if "unit_change" in label and "applications.income" in label)
    at.selectbox[0].select_index(unit).run()
    assert not at.exception
    assert "Runbook" in [h.value for h in at.subheader]
    ack = next(b for b in at.button if b.label == "Acknowledge")
    ack.click().run()
    assert not at.exception
    assert any("Acknowledged by tester" in s.value for s in at.success)
    rows = stores_for(built)[1].query("SELECT acked_by FROM alerts WHERE check_name LIKE 'unit_change%' AND subject = ?",
                                       ("applications.income",))
    assert rows and rows[0]["acked_by"] == "tester"


def an_incident(cfg: VigilConfig) -> str:
    """The incident the unit change opened (critical), or one opened by hand from its alert."""
    ops = stores_for(cfg)[1]
    rows = ops.query("SELECT incident_id FROM incidents ORDER BY opened_at")
    if rows:
        return str(rows[0]["incident_id"])
    from app.actions import open_incident_for_alert

    fp = ops.query("SELECT fingerprint FROM alerts WHERE state = 'firing' ORDER BY fingerprint")[0]["fingerprint"]
    return open_incident_for_alert(cfg, fp, "tester")


def test_incidents_page_lists_the_opened_incident(built: VigilConfig) -> None:
    an_incident(built)
    at = render(PAGES[2])
    assert at.dataframe
    assert at.metric and at.metric[0].label == "Status"


def test_data_and_checks_pages_with_data(built: VigilConfig) -> None:
    data = render(PAGES[4])
    metrics = {m.label: m.value for m in data.metric}
    assert int(metrics["Batches"]) == 7
    checks = render(PAGES[5])
    assert checks.selectbox, "batch picker"
    assert checks.dataframe, "results table"


def register_versions(cfg: VigilConfig, tmp_path: Path) -> None:
    from core.registry import Registry

    registry = Registry(stores_for(cfg)[1])
    for auc in (0.71, 0.74):
        artifact = tmp_path / f"model_{auc}.bin"
        artifact.write_bytes(b"not a real model: the page only displays the registry entry")
        registry.register(
            "loans",
            run_id=f"run-{auc}",
            data_version="sha-data",
            environment={"python": "3.11"},
            evaluation={"holdout": "h1", "metrics": {"roc_auc": auc, "brier": 0.1}},
            artifact_path=str(artifact),
            artifact_sha256="sha-artifact",
        )
    registry.approve("loans", 1, "alice", "first version")
    registry.set_alias("loans", "champion", 1, "alice", "first champion")


def test_model_page_shows_versions_and_approves(config_file: Path, cfg: VigilConfig, tmp_path: Path) -> None:
    register_versions(cfg, tmp_path)
    at = render(PAGES[3])
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Champion"] == "v1" and metrics["Versions"] == "2"
    assert at.dataframe[0].value["roc_auc"].tolist() == [0.74, 0.71]
    # Refused without a reason: every registry change says why.
    at.selectbox[0].select(2).run()
    next(b for b in at.button if b.label == "Approve").click().run()
    assert any("Give a reason" in e.value for e in at.error)
    at.text_input[0].input("beats v1 on the holdout").run()
    next(b for b in at.button if b.label == "Approve").click().run()
    assert not at.exception
    assert any("Approve: done" in s.value for s in at.success)
    # The page is drawn again after the write: v2 now shows as approved and cannot be approved twice.
    assert next(b for b in at.button if b.label == "Approve").disabled
    assert any("v2** · approved" in m.value for m in at.markdown)
    from core.registry import Registry

    assert Registry(stores_for(cfg)[1]).get("loans", 2).approval_state == "approved"
    events = render(PAGES[3]).dataframe[-1].value
    assert set(events["kind"]) >= {"register", "approve"}


def test_postmortem_is_drafted_edited_and_exported(built: VigilConfig) -> None:
    incident_id = an_incident(built)
    at = render(PAGES[6])
    if any(b.label == "Draft the postmortem" for b in at.button):
        next(b for b in at.button if b.label == "Draft the postmortem").click().run()
        assert not at.exception, [e.value for e in at.exception]
    summary = next(t for t in at.text_area if t.label == "Summary")
    assert summary.value, "prefilled from the incident"
    summary.input("Income arrived in thousands from the applications extract.")
    next(b for b in at.button if b.label == "Save revision").click().run()
    assert not at.exception, [e.value for e in at.exception]
    from incidents.postmortem import get_postmortem

    saved = get_postmortem(stores_for(built)[1], incident_id)
    assert saved is not None and saved.revision >= 2
    assert saved.fields["summary"] == "Income arrived in thousands from the applications extract."
    assert any(b.label == "Download Markdown" for b in at.get("download_button"))


def test_decision_is_recommended_and_approved(built: VigilConfig) -> None:
    incident_id = an_incident(built)
    at = render(PAGES[7])
    next(b for b in at.button if b.label.startswith("Recommend a decision")).click().run()
    assert not at.exception, [e.value for e in at.exception]
    from incidents.decisions import decisions_for

    made = decisions_for(stores_for(built)[1], incident_id)
    assert made and made[-1].state == "recommended"
    assert made[-1].action == "fix_upstream", "a unit change upstream is fixed upstream"
    decision_id = made[-1].decision_id
    # Inside a form: fill in and submit in one run, as a browser does.
    at.text_input(key=f"reason_{decision_id}").input("upstream team confirmed the extract bug")
    next(b for b in at.button if b.label == "Approve").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert decisions_for(stores_for(built)[1], incident_id)[-1].state == "approved"


def test_alerts_page_silences_the_selected_alert_with_a_comment(built: VigilConfig) -> None:
    at = render(PAGES[1])
    submit = next(b for b in at.button if b.label == "Silence")
    submit.click().run()  # no comment: refused with a hint
    assert any("needs a comment" in e.value for e in at.error)
    comment = next(t for t in at.text_input if t.label == "comment (required)")
    comment.input("known upstream backfill, ticket 123")
    next(b for b in at.button if b.label == "Silence").click().run()
    assert not at.exception, [e.value for e in at.exception]
    from incidents.silences import list_silences

    silences = list_silences(stores_for(built)[1])
    assert [(s.author, s.comment) for s in silences] == [("tester", "known upstream backfill, ticket 123")]
    assert {m.name for m in silences[0].matchers} == {"check", "model", "subject"}


HOLD_WAREHOUSE = """
import sys, time
from core.stores import Warehouse
with Warehouse(sys.argv[1]).write() as conn:
    print("held", flush=True)
    time.sleep(30)
"""


def test_a_long_write_does_not_block_user_actions(built: VigilConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    """While a cycle holds the warehouse, clicks (ops store) work at once and pages say 'busy'."""
    import subprocess
    import sys
    import time

    import app.queries
    from app.actions import acknowledge_alert

    monkeypatch.setattr(app.queries, "READ_RETRY_SECONDS", 1.0)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_WAREHOUSE, str(built.warehouse_path)],
                              stdout=subprocess.PIPE, cwd=Path(__file__).resolve().parents[2])
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"held"
        fp = stores_for(built)[1].query("SELECT fingerprint FROM alerts ORDER BY fingerprint")[0]["fingerprint"]
        started = time.monotonic()
        acknowledge_alert(built, fp, "tester")
        assert time.monotonic() - started < 2.0
        alerts_page = render(PAGES[1])  # reads the ops store only
        assert alerts_page.dataframe
        overview = render(PAGES[0])
        assert any("A check cycle is writing to the warehouse" in w.value for w in overview.warning)
    finally:
        holder.kill()
        holder.wait(timeout=10)


def test_a_notifications_dashboard_link_opens_its_alert(built: VigilConfig) -> None:
    """alerts.dashboard_url links are <url>/Alerts?alert=FINGERPRINT: the page opens on that alert."""
    ops = stores_for(built)[1]
    rows = ops.query("SELECT fingerprint, check_name, subject FROM alerts ORDER BY fingerprint")
    target = next(r for r in rows if r["check_name"] == "unit_change" and r["subject"] == "applications.income")
    at = AppTest.from_file(str(PAGES[1]), default_timeout=60)
    signed_in_as(at)
    at.query_params["alert"] = target["fingerprint"]
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    picker = next(s for s in at.selectbox if s.label == "Alert")
    assert picker.value == target["fingerprint"]
