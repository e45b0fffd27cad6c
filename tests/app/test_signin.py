"""Dashboard sign-in and roles under Streamlit's AppTest, against real stores and a real users file."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.cycle import run_cycle
from app.dashboard import common
from core import audit, auth
from core.clock import ManualClock
from core.config import VigilConfig, load_config
from core.stores import stores_for
from tests.app.builders import write_history
from tests.app.conftest import small_config, write_config

START = date(2024, 3, 1)
UNIT_DAY = START + timedelta(days=6)  # the newest day, so its alert is still firing
DASHBOARD = Path(__file__).resolve().parents[2] / "app" / "dashboard"
ALERTS = DASHBOARD / "pages" / "1_Alerts.py"
AUDIT = DASHBOARD / "pages" / "8_Audit.py"
PASSWORDS = {"ada": "admin-pass-1", "vic": "viewer-pass-1", "rita": "responder-pass-1"}
ROLES = {"ada": "admin", "vic": "viewer", "rita": "responder"}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """One real cycle over a week with a unit change (a firing alert), and three users."""
    folder = tmp_path_factory.mktemp("signin")
    config_path = write_config(folder, small_config())
    cfg = load_config(config_path, root=folder / "var")
    write_history(cfg.root, START, days=7, unit_change_day=UNIT_DAY)
    run_cycle(cfg, clock=ManualClock(datetime(2024, 3, 8, 6, 0)), notify=False)
    users = auth.users_file(cfg.root)
    for name in ("ada", "vic", "rita"):  # the first user must be the admin
        auth.add_user(users, name, ROLES[name], PASSWORDS[name], ops=stores_for(cfg)[1])
    return config_path, folder / "var"


@pytest.fixture
def cfg(store: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> VigilConfig:
    config_path, root = store
    monkeypatch.setenv("VIGIL_CONFIG", str(config_path))
    monkeypatch.setenv("VIGIL_ROOT", str(root))
    monkeypatch.delenv("VIGIL_USER", raising=False)  # the acting user must come from the sign-in
    monkeypatch.delenv(auth.USERS_FILE_ENV, raising=False)
    return load_config(config_path, root=root)


def open_page(page: Path) -> AppTest:
    at = AppTest.from_file(str(page), default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def sign_in(at: AppTest, username: str, password: str) -> AppTest:
    by_label = {t.label: t for t in at.text_input}
    by_label["Username"].input(username)
    by_label["Password"].input(password)
    next(b for b in at.button if b.label == "Sign in").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def messages(at: AppTest) -> str:
    parts = [e.value for e in at.error] + [i.value for i in at.info] + [s.value for s in at.success]
    return "\n".join(str(p) for p in parts)


def unit_alert_index(at: AppTest) -> int:
    labels = at.selectbox[0].options
    return next(i for i, label in enumerate(labels) if "unit_change" in label and "applications.income" in label)


def acked_by(cfg: VigilConfig) -> str | None:
    rows = stores_for(cfg)[1].query(
        "SELECT acked_by FROM alerts WHERE check_name LIKE 'unit_change%' AND subject = ?", ("applications.income",)
    )
    return rows[0]["acked_by"] if rows else None


def test_a_page_without_sign_in_shows_the_form_and_nothing_else(cfg: VigilConfig) -> None:
    at = open_page(ALERTS)
    assert [t.label for t in at.text_input] == ["Username", "Password"]
    assert [b.label for b in at.button] == ["Sign in"]
    assert [t.value for t in at.title] == ["Vigil · sign in"]
    assert not at.dataframe and not at.selectbox and not at.metric, "no data before sign-in"
    assert common.SESSION_KEY not in at.session_state


def test_a_wrong_password_is_refused_and_recorded(cfg: VigilConfig) -> None:
    at = sign_in(open_page(ALERTS), "vic", "not-the-password")
    assert any("wrong user name or password" in e.value for e in at.error)
    assert [b.label for b in at.button] == ["Sign in"] and not at.dataframe
    failed = audit.list_entries(stores_for(cfg)[1], action="auth.sign_in_failed", target="vic")
    assert failed and failed[0].actor == "anonymous"


def test_the_right_password_shows_the_page_and_sign_out_ends_the_session(cfg: VigilConfig) -> None:
    at = sign_in(open_page(ALERTS), "vic", PASSWORDS["vic"])
    assert "Alerts" in [t.value for t in at.title]
    assert at.dataframe, "the alerts table is shown once signed in"
    assert any(t.value == "Signed in as vic (viewer)" for t in at.sidebar.text)
    token = at.session_state[common.SESSION_KEY]
    users = auth.users_file(cfg.root)
    assert auth.check_session(users, stores_for(cfg)[1], token) == auth.User("vic", "viewer")
    next(b for b in at.sidebar.button if b.label == "Sign out").click().run()
    assert [b.label for b in at.button] == ["Sign in"]
    assert auth.check_session(users, stores_for(cfg)[1], token) is None


def test_an_expired_session_goes_back_to_the_form(cfg: VigilConfig) -> None:
    at = sign_in(open_page(ALERTS), "vic", PASSWORDS["vic"])
    auth.expire_session(stores_for(cfg)[1], at.session_state[common.SESSION_KEY])
    at.run()
    assert [b.label for b in at.button] == ["Sign in"]
    assert any("expired" in w.value for w in at.warning)


def test_a_locked_user_sees_when_to_retry(cfg: VigilConfig) -> None:
    users = auth.users_file(cfg.root)
    auth.add_user(users, "lou", "viewer", "lou-pass-123", ops=stores_for(cfg)[1])
    at = open_page(ALERTS)
    for _ in range(auth.MAX_FAILURES):
        sign_in(at, "lou", "wrong-password")
    sign_in(at, "lou", "lou-pass-123")  # right password, but locked now
    assert any("too many failed sign-ins" in e.value and "Retry after" in e.value for e in at.error)
    assert [b.label for b in at.button] == ["Sign in"]


def test_a_viewer_cannot_acknowledge(cfg: VigilConfig) -> None:
    at = sign_in(open_page(ALERTS), "vic", PASSWORDS["vic"])
    at.selectbox[0].select_index(unit_alert_index(at)).run()
    ack = next(b for b in at.button if b.label == "Acknowledge")
    assert ack.disabled, "a viewer sees the action disabled"
    assert any("viewer role" in i.value and "alerts.acknowledge" in i.value for i in at.info)
    assert next(b for b in at.button if b.label == "Silence").disabled
    assert acked_by(cfg) is None


def test_a_role_taken_away_mid_session_refuses_the_click_with_a_message(cfg: VigilConfig) -> None:
    """The button was enabled when the page was drawn; the click after the role change does nothing
    but say why (the role is read again on every rerun)."""
    users, ops = auth.users_file(cfg.root), stores_for(cfg)[1]
    auth.add_user(users, "rex", "responder", "rex-pass-123", ops=ops)
    at = sign_in(open_page(ALERTS), "rex", "rex-pass-123")
    at.selectbox[0].select_index(unit_alert_index(at)).run()
    ack = next(b for b in at.button if b.label == "Acknowledge")
    assert not ack.disabled
    before = len(audit.list_entries(ops, action="alerts.", limit=None))
    auth.set_role(users, "rex", "viewer", ops=ops, actor="ada")
    ack.click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("rex with the viewer role" in i.value and "alerts.acknowledge" in i.value for i in at.info)
    assert not any("Acknowledged" in s.value for s in at.success)
    assert acked_by(cfg) is None, "nothing written"
    assert len(audit.list_entries(ops, action="alerts.", limit=None)) == before


def test_a_responder_acknowledges_as_the_signed_in_user(cfg: VigilConfig) -> None:
    at = sign_in(open_page(ALERTS), "rita", PASSWORDS["rita"])
    at.selectbox[0].select_index(unit_alert_index(at)).run()
    ack = next(b for b in at.button if b.label == "Acknowledge")
    assert not ack.disabled
    ack.click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Acknowledged by rita" in s.value for s in at.success)
    assert acked_by(cfg) == "rita"
    entry = audit.list_entries(stores_for(cfg)[1], action="alerts.", limit=1)[0]
    assert entry.actor == "rita" and entry.action.startswith("alerts.ack")


def test_the_audit_page_lists_entries_newest_first_with_filters(cfg: VigilConfig) -> None:
    at = sign_in(open_page(AUDIT), "ada", PASSWORDS["ada"])
    table = at.dataframe[0].value
    assert list(table["id"]) == sorted(table["id"], reverse=True), "newest first"
    assert {"users.add", "auth.sign_in"} <= set(table["action"])
    actor, prefix = (next(t for t in at.text_input if t.label == label) for label in ("Actor", "Action starts with"))
    prefix.input("users").run()
    table = at.dataframe[0].value
    assert all(a.startswith("users.") for a in table["action"]) and "users.add" in set(table["action"])
    assert set(table["target"]) >= {"ada", "vic", "rita"}
    assert all('"role"' in text for text in table["after"]), "after state as JSON text"
    actor.input("nobody-at-all").run()
    assert not at.dataframe and any("No audit entries match" in i.value for i in at.info)


def test_the_audit_page_since_filter(cfg: VigilConfig) -> None:
    from app import queries

    everything = queries.audit_entries(cfg)
    assert everything and queries.audit_entries(cfg, since="2999-01-01") == []
    assert len(queries.audit_entries(cfg, since="2000-01-01")) == len(everything)
    with pytest.raises(audit.AuditError, match="not an ISO date"):
        queries.audit_entries(cfg, since="yesterday")


def test_the_first_run_prints_the_admin_password_once_and_never_logs_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import logging
    import re

    from app.demo import announce_first_admin

    monkeypatch.delenv(auth.USERS_FILE_ENV, raising=False)
    fresh = load_config(write_config(tmp_path, small_config()), root=tmp_path / "var")
    caplog.set_level(logging.DEBUG)
    assert announce_first_admin(fresh, "operator") is not None
    printed = capsys.readouterr().out
    found = re.search(r"user (\S+)\s+password (\S+)", printed)
    assert found and found.group(1) == "operator", printed
    password = found.group(2)
    users = auth.users_file(fresh.root)
    assert password not in users.read_text(), "only the hash is stored"
    assert auth.verify(users, stores_for(fresh)[1], "operator", password) == auth.User("operator", "admin")
    assert password not in caplog.text, "never logged"
    assert announce_first_admin(fresh, "operator") is None
    assert capsys.readouterr().out == "", "printed once: later runs print nothing"
