"""The CLI acts only as a proven identity once users exist (finding 3).

Attacks from the report, each refused now: a users file redirected to nowhere for bootstrap
rights, a viewer writing, and `--user NAME` (or $VIGIL_USER) taken at its word.
"""

from __future__ import annotations

import io
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from app.cli import main
from checks.result import CheckResult
from core import audit, auth, cli_session
from core.clock import ManualClock
from core.config import VigilConfig
from core.stores import OpsStore
from incidents.alerts import process_results

PASSWORDS = {"ada": "ada-admin-pw-1", "rita": "rita-responder-1", "vic": "vic-viewer-pw-1"}


@pytest.fixture(autouse=True)
def _fast_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "_HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def people(cfg: VigilConfig, monkeypatch: pytest.MonkeyPatch) -> OpsStore:
    monkeypatch.delenv("VIGIL_USER", raising=False)
    ops = OpsStore(cfg.ops_path)
    path = auth.users_file(cfg.root)
    auth.add_user(path, "ada", "admin", PASSWORDS["ada"], ops=ops)
    auth.add_user(path, "rita", "responder", PASSWORDS["rita"], ops=ops, actor="ada")
    auth.add_user(path, "vic", "viewer", PASSWORDS["vic"], ops=ops, actor="ada")
    return ops


def _alert(cfg: VigilConfig, ops: OpsStore) -> str:
    result = CheckResult(check="null_rate", family="input_quality", subject="predictions.income",
                         batch=datetime(2026, 3, 1), status="fail", severity="critical", explanation="null rate 40%",
                         value=0.4, lower=0.0, upper=0.05, evidence={"n": 100}, model=cfg.model.name)
    process_results(cfg, ops, [result], ManualClock(datetime(2026, 3, 2, tzinfo=UTC)))
    return str(ops.query("SELECT fingerprint FROM alerts")[0]["fingerprint"])


def vigil(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *argv: str,
          stdin: str = "") -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def login(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    code, out, err = vigil(capsys, monkeypatch, "login", name, "--password-stdin", stdin=PASSWORDS[name] + "\n")
    assert code == 0 and f"signed in as {name}" in out, err


def _acked_by(ops: OpsStore) -> str | None:
    return ops.query("SELECT acked_by FROM alerts")[0]["acked_by"]


def test_a_redirected_users_file_grants_no_bootstrap(cfg: VigilConfig, people: OpsStore, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    fingerprint = _alert(cfg, people)
    monkeypatch.setenv("VIGIL_USERS_FILE", str(tmp_path / "nowhere.yaml"))
    monkeypatch.setenv("VIGIL_USER", "mallory")
    code, _, err = vigil(capsys, monkeypatch, "alerts", "ack", fingerprint)
    assert code == 2
    assert "$VIGIL_USERS_FILE=" in err and "is refused" in err and "unset $VIGIL_USERS_FILE" in err
    assert _acked_by(people) is None
    assert not [e for e in audit.list_entries(people, limit=None) if e.actor == "mallory"]


def test_a_name_alone_grants_nothing(cfg: VigilConfig, people: OpsStore, capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    fingerprint = _alert(cfg, people)
    for argv in (["--user", "ada"], ["--user", "mallory"]):
        code, _, err = vigil(capsys, monkeypatch, *argv, "alerts", "ack", fingerprint)
        assert code == 2 and "is not signed in" in err and "vigil login" in err
    monkeypatch.setenv("VIGIL_USER", "ada")
    code, _, err = vigil(capsys, monkeypatch, "alerts", "ack", fingerprint)
    assert code == 2 and "ada is not signed in" in err
    assert _acked_by(people) is None


def test_user_selects_only_among_signed_in_identities(cfg: VigilConfig, people: OpsStore,
                                                      capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    fingerprint = _alert(cfg, people)
    login(capsys, monkeypatch, "vic")
    code, _, err = vigil(capsys, monkeypatch, "alerts", "ack", fingerprint)  # vic, the default: a viewer
    assert code == 2 and "vic (viewer) may not alerts.acknowledge" in err
    code, _, err = vigil(capsys, monkeypatch, "--user", "rita", "alerts", "ack", fingerprint)
    assert code == 2 and "rita is not signed in" in err and "signed in here: vic" in err
    login(capsys, monkeypatch, "rita")
    assert vigil(capsys, monkeypatch, "--user", "rita", "alerts", "ack", fingerprint)[0] == 0
    assert _acked_by(people) == "rita"
    ack = next(e for e in audit.list_entries(people) if e.action == "alerts.acknowledge")
    assert ack.actor == "rita"
    code, out, _ = vigil(capsys, monkeypatch, "--json", "--user", "vic", "whoami")
    assert code == 0 and '"how": "session"' in out and '"role": "viewer"' in out


def test_login_is_rate_limited_and_the_session_file_is_private(cfg: VigilConfig, people: OpsStore,
                                                              capsys: pytest.CaptureFixture[str],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    for _ in range(auth.MAX_FAILURES):
        code, _, err = vigil(capsys, monkeypatch, "login", "rita", "--password-stdin", stdin="wrong-guess\n")
        assert code == 2 and "wrong user name or password" in err
    code, _, err = vigil(capsys, monkeypatch, "login", "rita", "--password-stdin", stdin=PASSWORDS["rita"] + "\n")
    assert code == 2 and "too many failed sign-ins" in err
    login(capsys, monkeypatch, "ada")
    path = cli_session.credentials_file()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert PASSWORDS["ada"] not in path.read_text()
    assert vigil(capsys, monkeypatch, "logout")[0] == 0
    code, _, err = vigil(capsys, monkeypatch, "users", "list")
    assert code == 2 and "nobody is signed in" in err


def test_cli_sessions_expire(cfg: VigilConfig, people: OpsStore) -> None:
    clock = ManualClock(datetime(2026, 3, 2, 8, tzinfo=UTC))
    cli_session.login(cfg.root, people, "rita", PASSWORDS["rita"], clock=clock)
    assert cli_session.resolve(cfg.root, people, clock=clock).user == auth.User("rita", "responder")
    clock.advance(cli_session.CLI_SESSION_TTL + timedelta(seconds=1))
    with pytest.raises(cli_session.NotSignedIn, match="the session of rita has expired .*vigil login rita"):
        cli_session.resolve(cfg.root, people, clock=clock)


def test_service_token_from_the_environment(cfg: VigilConfig, people: OpsStore, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    fingerprint = _alert(cfg, people)
    login(capsys, monkeypatch, "ada")
    code, out, err = vigil(capsys, monkeypatch, "--json", "users", "token", "ci-bot", "--role", "responder")
    assert code == 0, err
    import json

    token = json.loads(out)["token"]
    assert token.startswith(cli_session.SERVICE_PREFIX)
    assert token not in json.dumps([e.to_dict() for e in audit.list_entries(people, limit=None)])
    code, _, err = vigil(capsys, monkeypatch, "--json", "users", "token", "rita", "--role", "admin")
    assert code == 2 and "is a person" in err
    cli_session.logout(cfg.root, people)
    monkeypatch.setenv("VIGIL_TOKEN", token)
    code, _, err = vigil(capsys, monkeypatch, "--user", "ada", "alerts", "ack", fingerprint)
    assert code == 2 and "does not match $VIGIL_TOKEN, which is ci-bot" in err
    code, _, err = vigil(capsys, monkeypatch, "users", "list")
    assert code == 2 and "ci-bot (responder) may not users.manage" in err
    assert vigil(capsys, monkeypatch, "alerts", "ack", fingerprint)[0] == 0
    assert _acked_by(people) == "ci-bot"
    cli_session.revoke_service_tokens(people, "ci-bot", actor="ada")
    code, _, err = vigil(capsys, monkeypatch, "alerts", "list")
    assert code == 2 and "VIGIL_TOKEN is not a valid token" in err
    monkeypatch.setenv("VIGIL_TOKEN", cli_session.SERVICE_PREFIX + "forged")
    assert vigil(capsys, monkeypatch, "alerts", "list")[0] == 2


def test_bootstrap_only_while_the_root_has_no_users(cfg: VigilConfig, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_USER", "first")
    code, out, _ = vigil(capsys, monkeypatch, "--json", "whoami")
    assert code == 0 and '"how": "bootstrap"' in out and '"role": "admin"' in out
    code, _, err = vigil(capsys, monkeypatch, "users", "add", "first", "--role", "admin", "--password-stdin",
                         stdin="first-admin-pw\n")
    assert code == 0, err
    assert (cfg.root / auth.PIN_FILE_NAME).read_text().strip() == str((cfg.root / "users.yaml").resolve())
    assert vigil(capsys, monkeypatch, "whoami")[0] == 2  # users exist: sign in first
    monkeypatch.setenv("VIGIL_USERS_FILE", str(tmp_path / "elsewhere.yaml"))
    code, _, err = vigil(capsys, monkeypatch, "whoami")
    assert code == 2 and "is fixed at" in err


def test_an_unpinned_root_with_users_refuses_a_redirected_file(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "var"
    auth.add_user(root / "users.yaml", "ada", "admin", PASSWORDS["ada"])  # written directly: no pin yet
    monkeypatch.setenv("VIGIL_USERS_FILE", str(tmp_path / "nowhere.yaml"))
    with pytest.raises(auth.UsersFileError, match="already has its users in"):
        auth.users_file(root)
