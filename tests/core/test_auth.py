"""Users file, argon2 hashes, roles, rate-limited sign-in and sessions (core.auth)."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from core import audit, auth
from core.clock import ManualClock
from core.stores import OpsStore

WALL0 = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Real argon2id, at a test-sized cost (the default costs ~0.5 s per hash on a busy 2-core box)."""
    monkeypatch.setattr(auth, "_HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def users(tmp_path: Path) -> Path:
    path = tmp_path / "users.yaml"
    auth.add_user(path, "ada", "admin", "correct horse battery")
    auth.add_user(path, "rita", "responder", "rita-password-1")
    return path


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(WALL0)


def test_hashes_never_plain_text_and_list_hides_them(users: Path) -> None:
    text = users.read_text()
    assert "correct horse battery" not in text and "rita-password-1" not in text
    assert text.count("$argon2id$") == 2
    assert stat.S_IMODE(users.stat().st_mode) == 0o600
    listed = auth.list_users(users)
    assert [(u["username"], u["role"]) for u in listed] == [("ada", "admin"), ("rita", "responder")]
    assert not any("hash" in key for u in listed for key in u)
    assert "$argon2" not in repr(listed)


def test_plain_text_or_unknown_role_in_the_file_is_refused_with_file_user_and_key(tmp_path: Path) -> None:
    path = tmp_path / "users.yaml"
    path.write_text("users:\n  bob:\n    role: viewer\n    password_hash: hunter2\n")
    with pytest.raises(auth.UsersFileError, match=r"users\.yaml: users\.bob\.password_hash: not an argon2 hash.*hint"):
        auth.list_users(path)
    path.write_text("users:\n  bob:\n    role: boss\n    password_hash: $argon2id$x\n")
    with pytest.raises(auth.UsersFileError, match=r"users\.bob\.role: 'boss' is not a role \(hint: one of viewer"):
        auth.get_user(path, "bob")
    path.write_text("users:\n  bob:\n    role: viewer\n    password_hash: $argon2id$x\n    pasword: x\n")
    with pytest.raises(auth.UsersFileError, match="unknown key 'pasword'"):
        auth.get_user(path, "bob")


def test_bad_input_to_add_user(tmp_path: Path, users: Path) -> None:
    with pytest.raises(auth.AuthError, match="first user .* must be an admin"):
        auth.add_user(tmp_path / "other.yaml", "vic", "viewer", "long enough pw")
    with pytest.raises(auth.AuthError, match="already exists"):
        auth.add_user(users, "rita", "viewer", "long enough pw")
    with pytest.raises(auth.AuthError, match="too short"):
        auth.add_user(users, "vic", "viewer", "short")
    with pytest.raises(auth.AuthError, match="unknown role 'boss'"):
        auth.add_user(users, "vic", "boss", "long enough pw")
    with pytest.raises(auth.AuthError, match="not allowed"):
        auth.add_user(users, "<script>", "viewer", "long enough pw")


def test_wrong_password_refused_right_one_accepted(users: Path, tmp_path: Path, clock: ManualClock) -> None:
    ops = OpsStore(tmp_path / "ops.sqlite")
    with pytest.raises(auth.SignInFailed, match="wrong user name or password"):
        auth.verify(users, ops, "rita", "rita-password-2", clock=clock)
    with pytest.raises(auth.SignInFailed, match="wrong user name or password"):
        auth.verify(users, ops, "nobody", "rita-password-1", clock=clock)
    assert auth.verify(users, ops, "rita", "rita-password-1", clock=clock) == auth.User("rita", "responder")
    actions = [e.action for e in audit.list_entries(ops)]
    assert actions == ["auth.sign_in", "auth.sign_in_failed", "auth.sign_in_failed"]
    assert all("rita-password" not in str(e.to_dict()) for e in audit.list_entries(ops))


def test_failed_sign_ins_lock_the_user_across_processes(users: Path, tmp_path: Path, clock: ManualClock) -> None:
    # Two OpsStore objects on one file stand for the dashboard and a second dashboard process.
    first, second = OpsStore(tmp_path / "ops.sqlite"), OpsStore(tmp_path / "ops.sqlite")
    for _ in range(auth.MAX_FAILURES):
        with pytest.raises(auth.SignInFailed):
            auth.verify(users, first, "rita", "guess", source="10.0.0.9", clock=clock)
        clock.advance(timedelta(seconds=10))
    with pytest.raises(auth.SignInLocked, match="too many failed sign-ins") as locked:
        auth.verify(users, second, "rita", "rita-password-1", source="10.0.0.7", clock=clock)
    assert 0 < locked.value.retry_after_seconds <= auth.LOCKOUT.total_seconds()
    # Other users are not locked by rita's failures.
    assert auth.verify(users, second, "ada", "correct horse battery", clock=clock).role == "admin"
    clock.advance(auth.LOCKOUT + timedelta(seconds=1))
    assert auth.verify(users, second, "rita", "rita-password-1", clock=clock).username == "rita"


def test_failures_spread_over_more_than_the_window_do_not_lock(users: Path, tmp_path: Path, clock: ManualClock) -> None:
    ops = OpsStore(tmp_path / "ops.sqlite")
    for _ in range(auth.MAX_FAILURES * 2):
        with pytest.raises(auth.SignInFailed) as err:
            auth.verify(users, ops, "rita", "guess", clock=clock)
        assert not isinstance(err.value, auth.SignInLocked)
        clock.advance(auth.FAILURE_WINDOW / (auth.MAX_FAILURES - 1) + timedelta(seconds=1))
    assert auth.verify(users, ops, "rita", "rita-password-1", clock=clock).username == "rita"


def test_one_source_trying_many_names_is_locked(users: Path, tmp_path: Path, clock: ManualClock) -> None:
    ops = OpsStore(tmp_path / "ops.sqlite")
    for i in range(auth.MAX_SOURCE_FAILURES):
        with pytest.raises(auth.SignInFailed):
            auth.verify(users, ops, f"name{i}", "guess", source="203.0.113.5", clock=clock)
    with pytest.raises(auth.SignInLocked):
        auth.verify(users, ops, "ada", "correct horse battery", source="203.0.113.5", clock=clock)
    assert auth.verify(users, ops, "ada", "correct horse battery", source="10.0.0.1", clock=clock).username == "ada"


def test_sessions_expire_end_on_sign_out_and_on_password_change(users: Path, tmp_path: Path, clock: ManualClock) -> None:
    ops = OpsStore(tmp_path / "ops.sqlite")
    rita = auth.verify(users, ops, "rita", "rita-password-1", clock=clock)
    token = auth.create_session(ops, rita, ttl=timedelta(hours=1), clock=clock)
    assert token not in str(ops.query("SELECT * FROM auth_sessions"))  # only the digest is kept
    assert auth.check_session(users, ops, token, clock=clock) == rita
    assert auth.check_session(users, ops, token + "x", clock=clock) is None
    assert auth.check_session(users, ops, None, clock=clock) is None
    clock.advance(timedelta(minutes=59))
    assert auth.check_session(users, ops, token, clock=clock) == rita
    clock.advance(timedelta(minutes=2))
    assert auth.check_session(users, ops, token, clock=clock) is None

    token = auth.create_session(ops, rita, clock=clock)
    auth.expire_session(ops, token, clock=clock)
    assert auth.check_session(users, ops, token, clock=clock) is None

    token = auth.create_session(ops, rita, clock=clock)
    auth.set_role(users, "rita", "approver", ops=ops, actor="ada", clock=clock)
    assert auth.check_session(users, ops, token, clock=clock) == auth.User("rita", "approver")  # role read live
    auth.set_password(users, "rita", "a new password", ops=ops, actor="ada", clock=clock)
    assert auth.check_session(users, ops, token, clock=clock) is None
    with pytest.raises(auth.SignInFailed):
        auth.verify(users, ops, "rita", "rita-password-1", clock=clock)
    assert auth.verify(users, ops, "rita", "a new password", clock=clock).role == "approver"


EXPECTED = {
    # action: (viewer, responder, approver, admin)
    "read": (True, True, True, True),
    "alerts.acknowledge": (False, True, True, True),
    "silences.write": (False, True, True, True),
    "incidents.write": (False, True, True, True),
    "postmortems.write": (False, True, True, True),
    "registry.promote": (False, False, True, True),
    "registry.approve": (False, False, True, True),
    "decisions.approve": (False, False, True, True),
    "decisions.carry_out": (False, False, True, True),
    "users.manage": (False, False, False, True),
}


@pytest.mark.parametrize("action", sorted(EXPECTED))
def test_permission_table(action: str) -> None:
    assert tuple(auth.allowed(role, action) for role in auth.ROLES) == EXPECTED[action]


def test_require_names_the_role_needed() -> None:
    with pytest.raises(auth.PermissionDenied, match=r"rita \(responder\) may not registry.promote: it needs the approver role") as err:
        auth.require(auth.User("rita", "responder"), "registry.promote")
    assert err.value.needed_role == "approver"
    auth.require(auth.User("ada", "admin"), "users.manage")
    with pytest.raises(auth.AuthError, match="unknown action"):
        auth.require(auth.User("ada", "admin"), "launch.missiles")


def test_ensure_admin_once_with_a_generated_password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(auth.USERS_FILE_ENV, raising=False)
    monkeypatch.setenv("VIGIL_USER", "operator")
    password = auth.ensure_admin(tmp_path)
    assert password is not None and len(password) >= 16
    path = tmp_path / "users.yaml"
    assert password not in path.read_text()
    assert auth.list_users(path)[0]["username"] == "operator" and auth.list_users(path)[0]["role"] == "admin"
    assert auth.ensure_admin(tmp_path) is None  # shown once: a second run creates nothing
    ops = OpsStore(tmp_path / "ops.sqlite")
    assert auth.verify(path, ops, "operator", password).role == "admin"


def test_users_file_env_override_and_cli_identity(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = tmp_path / "elsewhere" / "people.yaml"
    monkeypatch.setenv(auth.USERS_FILE_ENV, str(other))
    assert auth.users_file(tmp_path / "var") == other
    # No users file yet: the CLI acts as the OS user with admin rights (quick start).
    assert auth.cli_identity(other, "someone") == auth.User("someone", "admin", implicit=True)
    auth.add_user(other, "ada", "admin", "correct horse battery")
    assert auth.cli_identity(other, "ada") == auth.User("ada", "admin")
    with pytest.raises(auth.UnknownUser, match="'someone' is not in .*people.yaml.*hint"):
        auth.cli_identity(other, "someone")


def test_the_last_admin_stays_and_removed_users_lose_their_sessions(users: Path, tmp_path: Path, clock: ManualClock) -> None:
    ops = OpsStore(tmp_path / "ops.sqlite")
    with pytest.raises(auth.AuthError, match="ada is the last admin"):
        auth.set_role(users, "ada", "viewer")
    with pytest.raises(auth.AuthError, match="ada is the last admin"):
        auth.remove_user(users, "ada")
    rita, token = auth.sign_in(users, ops, "rita", "rita-password-1", clock=clock)
    assert auth.check_session(users, ops, token, clock=clock) == rita
    auth.remove_user(users, "rita", ops=ops, actor="ada", clock=clock)
    assert auth.check_session(users, ops, token, clock=clock) is None
    assert [u["username"] for u in auth.list_users(users)] == ["ada"]
    (entry,) = audit.list_entries(ops, action="users.remove")
    assert (entry.actor, entry.target, entry.before, entry.after) == ("ada", "rita", {"role": "responder"}, None)
    with pytest.raises(auth.UnknownUser, match="no user 'rita'"):
        auth.remove_user(users, "rita")
