"""Users, roles and the audit trail through the real `vigil` CLI (app.cli.main).

The registry versions and the alert are made with the packages' own functions on the
store the CLI opens; every write then goes through the CLI as different users.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher

from app.cli import main
from checks.result import CheckResult
from core import audit, auth
from core.clock import ManualClock
from core.config import VigilConfig
from core.registry import Registry
from core.stores import OpsStore
from incidents.alerts import process_results

CONFIG = "baseline_model/configs/monitor.yaml"


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("VIGIL_USER", "VIGIL_USERS_FILE", "VIGIL_ROOT", "VIGIL_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    # Real argon2id at a test-sized cost (the default costs ~0.5 s a hash on a busy 2-core box).
    monkeypatch.setattr(auth, "_HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


class Vigil:
    """`vigil --config ... --root ...` as one user; returns (exit code, stdout, stderr).

    Once users exist the CLI acts only as a signed-in user: `sign_in` runs `vigil login` with
    the password (the session is kept in this test's credentials file), after which `--user`
    selects that identity. A name that never signed in is refused.
    """

    def __init__(self, root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
        self.root, self.capsys, self.monkeypatch = root, capsys, monkeypatch

    def sign_in(self, user: str, password: str) -> None:
        code, _, err = self(None, "login", user, "--password-stdin", stdin=password + "\n")
        assert code == 0, err

    def __call__(self, user: str | None, *argv: str, stdin: str = "") -> tuple[int, str, str]:
        self.monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        who = ["--user", user] if user else []
        self.capsys.readouterr()
        code = main(["--config", CONFIG, "--root", str(self.root), *who, *argv])
        out, err = self.capsys.readouterr()
        return code, out, err

    def json(self, user: str, *argv: str) -> Any:
        code, out, err = self(user, "--json", *argv)
        assert code == 0, err
        return json.loads(out)


@pytest.fixture
def vigil(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Vigil:
    return Vigil(tmp_path, capsys, monkeypatch)


def _cfg(root: Path) -> VigilConfig:
    from app import settings

    return settings.load(CONFIG, str(root))


def _two_versions(ops: OpsStore, root: Path, model: str) -> None:
    reg = Registry(ops)
    for auc in (0.70, 0.75):
        artifact = root / f"model-{auc}.joblib"
        artifact.write_bytes(b"not a real model")
        reg.register(model, run_id=f"run-{auc}", data_version="d1", environment={}, artifact_path=str(artifact),
                     artifact_sha256="0" * 64, evaluation={"holdout_id": "h1", "metrics": {"roc_auc": auc}})
    reg.approve(model, 1, "system", "first model")
    reg.set_alias(model, "champion", 1, "system", "first champion")


def _alert(cfg: VigilConfig, ops: OpsStore) -> str:
    result = CheckResult(
        check="null_rate", family="input_quality", subject="predictions.income", batch=datetime(2026, 3, 1),
        status="fail", severity="critical", explanation="null rate 40% > 5%", value=0.4, lower=0.0, upper=0.05,
        evidence={"n": 100}, model=cfg.model.name,
    )
    process_results(cfg, ops, [result], ManualClock(datetime(2026, 3, 2, tzinfo=UTC)))
    return str(ops.query("SELECT fingerprint FROM alerts")[0]["fingerprint"])


def test_users_roles_and_audit_round_trip(vigil: Vigil, tmp_path: Path) -> None:
    # No users file yet: the CLI acts as the OS user with admin rights (the quick start).
    code, out, _ = vigil(None, "users", "list")
    assert code == 0 and "no users file yet" in out
    code, _, err = vigil("ada", "users", "add", "rita", "--role", "responder", "--password-stdin", stdin="rita-pass-1\n")
    assert code == 2 and "first user" in err and "must be an admin" in err
    assert vigil("ada", "users", "add", "ada", "--role", "admin", "--password-stdin", stdin="ada-pass-12\n")[0] == 0
    # Users exist now: the CLI acts only as a signed-in user (a name alone is refused).
    code, _, err = vigil("ada", "users", "list")
    assert code == 2 and "ada is not signed in" in err and "vigil login ada" in err
    vigil.sign_in("ada", "ada-pass-12")
    assert vigil("ada", "users", "add", "rita", "--role", "responder", "--password-stdin", stdin="rita-pass-1\n")[0] == 0
    added = vigil.json("ada", "users", "add", "vic", "--role", "viewer", "--generate")
    vigil.sign_in("rita", "rita-pass-1")
    vigil.sign_in("vic", added["password"])
    assert added["role"] == "viewer" and len(added["password"]) >= 16
    users_file = tmp_path / "users.yaml"
    assert "rita-pass-1" not in users_file.read_text() and added["password"] not in users_file.read_text()

    listed = vigil.json("ada", "users", "list")
    assert [(u["username"], u["role"]) for u in listed] == [("ada", "admin"), ("rita", "responder"), ("vic", "viewer")]
    assert "argon2" not in json.dumps(listed)
    code, _, err = vigil("rita", "users", "list")
    assert code == 2 and "needs the admin role" in err
    code, _, err = vigil("mallory", "audit")
    assert code == 2 and "mallory is not signed in" in err

    cfg = _cfg(tmp_path)
    ops = OpsStore(cfg.ops_path)
    model = cfg.model.registry_name or cfg.model.name
    ops_path = cfg.ops_path
    assert ops_path.parent == tmp_path
    _two_versions(ops, tmp_path, model)
    fingerprint = _alert(cfg, ops)

    # Role rules: a responder acknowledges but may not approve or promote; a viewer only reads.
    code, _, err = vigil("vic", "alerts", "ack", fingerprint)
    assert code == 2 and "vic (viewer) may not alerts.acknowledge: it needs the responder role" in err
    assert vigil("rita", "alerts", "ack", fingerprint)[0] == 0
    code, _, err = vigil("rita", "registry", "approve", "2", "--reason", "looks fine")
    assert code == 2 and "needs the approver role" in err
    assert Registry(ops).get(model, 2).approval_state == "pending"  # the refused command changed nothing
    assert vigil("ada", "registry", "approve", "2", "--reason", "holdout reviewed")[0] == 0
    code, _, err = vigil("ada", "registry", "promote", "2", "--reason", "better AUC", "--metric", "roc_auc", "--margin", "0")
    assert code == 0, err
    assert Registry(ops).champion(model).version == 2  # type: ignore[union-attr]

    # The trail, read by a viewer.
    entries = vigil.json("vic", "audit", "--limit", "100")
    by_action: dict[str, Any] = {}
    for e in entries:  # newest first: keep each action's latest entry
        by_action.setdefault(e["action"], e)
    ack = by_action["alerts.acknowledge"]
    assert (ack["actor"], ack["target"]) == ("rita", fingerprint)
    assert ack["before"]["acked_by"] is None and ack["after"]["acked_by"] == "rita"
    promote = by_action["registry.promote"]
    assert (promote["actor"], promote["target"]) == ("ada", f"{model}@champion")
    assert promote["before"] == {"version": 1} and promote["after"]["version"] == 2
    assert promote["after"]["reason"] == "better AUC"
    assert by_action["registry.approve"]["actor"] == "ada"
    assert by_action["users.add"]["actor"] == "ada"
    assert not any(e["actor"] == "rita" and e["action"].startswith("registry.") for e in entries)
    assert "rita-pass-1" not in json.dumps(entries)

    only_rita = vigil.json("vic", "audit", "--actor", "rita")
    assert [e["action"] for e in only_rita] == ["alerts.acknowledge", "auth.sign_in"]  # her CLI sign-in too
    registry_moves = vigil.json("vic", "audit", "--action", "registry.", "--since", "2000-01-01")
    assert {e["action"] for e in registry_moves} >= {"registry.promote", "registry.approve", "registry.alias_set"}
    code, out, _ = vigil("vic", "audit", "--action", "registry.promote")
    assert code == 0 and "registry.promote" in out and '{"version": 1} -> {"reason": "better AUC"' in out
    code, _, err = vigil("vic", "audit", "--since", "last tuesday")
    assert code == 2 and "not an ISO date" in err
    assert len(audit.list_entries(ops, limit=None)) == len(entries)


def test_first_run_admin_is_the_local_user_so_the_cli_keeps_working(vigil: Vigil, tmp_path: Path) -> None:
    from app.users_cli import first_run_admin

    message = first_run_admin(tmp_path, "operator")
    assert message is not None and "user operator  password " in message
    password = message.split("password ")[1].split()[0]
    assert password not in (tmp_path / "users.yaml").read_text()
    assert first_run_admin(tmp_path, "operator") is None  # printed once only
    # The local user who ran `make run` is the admin and its CLI is signed in as it (the session
    # is kept for this OS account only when the first run has the ops store to record it).
    assert vigil("operator", "users", "list")[0] == 2, "no ops store given: no CLI session was kept"
    vigil.sign_in("operator", password)
    assert vigil("operator", "users", "list")[0] == 0
    assert vigil("someone-else", "users", "list")[0] == 2
    ops = OpsStore(_cfg(tmp_path).ops_path)
    user, token = auth.sign_in(tmp_path / "users.yaml", ops, "operator", password)
    assert user.role == "admin" and auth.check_session(tmp_path / "users.yaml", ops, token) == user


# The action each command needed before the declarations carried it (app/users_cli.py's old
# COMMAND_ACTIONS table): the declarations must keep every one of them.
EXPECTED_ACTIONS: dict[str, str] = {
    "run-once": "cycle.run", "schedule": "cycle.run", "simulate": "cycle.run", "ingest": "cycle.run",
    "quarantine retry": "cycle.run", "demo": "models.train", "train": "models.train", "reproduce": "models.train",
    "retrain": "models.train", "drill": "cycle.run", "registry approve": "registry.approve",
    "registry reject": "registry.approve", "registry promote": "registry.promote",
    "registry rollback": "registry.promote", "registry revert": "registry.promote", "runs note": "runs.note",
    "alerts ack": "alerts.acknowledge", "silence add": "silences.write", "silence expire": "silences.write",
    "incidents open": "incidents.write", "incidents status": "incidents.write", "incidents note": "incidents.write",
    "incidents roles": "incidents.write", "postmortem create": "postmortems.write",
    "postmortem edit": "postmortems.write", "postmortem action": "postmortems.write",
    "postmortem action-set": "postmortems.write", "decisions recommend": "decisions.recommend",
    "decisions approve": "decisions.approve", "decisions reject": "decisions.approve",
    "decisions carry-out": "decisions.carry_out", "decisions reverse": "decisions.carry_out",
    "users add": "users.manage", "users passwd": "users.manage", "users role": "users.manage",
    "users remove": "users.manage", "users list": "users.manage",
}


def test_every_command_is_behind_the_role_check_and_the_table_names_real_commands() -> None:
    from app.cli import runnable

    commands = runnable()
    unguarded = [path for path, command in commands.items() if command.action is None]
    assert unguarded == []
    assert sorted(set(EXPECTED_ACTIONS) - set(commands)) == []
    for path, action in EXPECTED_ACTIONS.items():
        assert commands[path].action == action
    for command in commands.values():
        assert command.action is not None
        auth.role_needed(command.action)  # every action is in the permission table
