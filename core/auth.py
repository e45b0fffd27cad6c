"""Users, roles, sign-in and sessions.

- Users and roles live in a YAML file (``<storage root>/users.yaml``, or ``$VIGIL_USERS_FILE``)
  holding argon2id hashes only; it is written atomically with mode 0600.
- Roles are ordered viewer < responder < approver < admin; ``PERMISSIONS`` maps each action
  to the lowest role allowed to do it, and ``require`` raises ``PermissionDenied`` naming it.
- Failed sign-ins, lockouts and sessions live in the ops store so every process (dashboard,
  CLI) sees the same state. Session tokens are kept as SHA-256 digests only.
- The CLI does not ask for passwords (the OS account is the credential there); it acts as
  ``cli_identity``: a user of the file once the file exists, the OS user as admin before.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import os
import re
import secrets
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from core import audit
from core.clock import Clock, SystemClock, iso, parse_iso
from core.identity import acting_username
from core.stores import OpsStore

USERS_FILE_ENV = "VIGIL_USERS_FILE"
USERS_FILE_NAME = "users.yaml"
ROLES = ("viewer", "responder", "approver", "admin")

# Lowest role allowed to do each action. Higher roles inherit everything below them.
PERMISSIONS: dict[str, str] = {
    "read": "viewer",
    "auth.sign_in": "viewer",  # core.commands.ANYONE: `vigil login` runs before any identity
    "alerts.acknowledge": "responder",
    "silences.write": "responder",
    "incidents.write": "responder",
    "postmortems.write": "responder",
    "decisions.recommend": "responder",
    "runs.note": "responder",
    "cycle.run": "responder",
    "registry.approve": "approver",
    "registry.promote": "approver",
    "models.train": "approver",
    "decisions.approve": "approver",
    "decisions.carry_out": "approver",
    "users.manage": "admin",
    "stores.backup": "responder",
    "stores.rebuild": "admin",
}

MAX_FAILURES = 5  # per user in FAILURE_WINDOW
MAX_SOURCE_FAILURES = 20  # per source (many user names tried from one place)
FAILURE_WINDOW = timedelta(minutes=5)
LOCKOUT = timedelta(minutes=15)
SESSION_TTL = timedelta(hours=8)
MIN_PASSWORD_LENGTH = 8
_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
_HASHER = PasswordHasher()  # argon2id with the library's recommended cost


class AuthError(Exception):
    """Base class: the message says what went wrong and how to fix it."""


class UsersFileError(AuthError):
    """The users file is malformed (message names the file, the user and the key)."""


class UnknownUser(AuthError):
    pass


class SignInFailed(AuthError):
    """Wrong user name or password (deliberately not saying which)."""


class SignInLocked(SignInFailed):
    def __init__(self, message: str, retry_after_seconds: int) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class PermissionDenied(AuthError):
    def __init__(self, message: str, needed_role: str) -> None:
        super().__init__(message)
        self.needed_role = needed_role


@dataclass(frozen=True)
class User:
    username: str
    role: str
    # True for the OS user the CLI acts as before any users file exists (quick start).
    implicit: bool = False

    def can(self, action: str) -> bool:
        return allowed(self.role, action)


# ---- roles and permissions ---------------------------------------------------------------


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise AuthError(f"unknown role {role!r} (hint: one of {', '.join(ROLES)})")
    return role


def role_needed(action: str) -> str:
    if action not in PERMISSIONS:
        raise AuthError(f"unknown action {action!r} (hint: one of {', '.join(sorted(PERMISSIONS))})")
    return PERMISSIONS[action]


def allowed(role: str, action: str) -> bool:
    return ROLES.index(_check_role(role)) >= ROLES.index(role_needed(action))


def require(user: User, action: str) -> None:
    """Raise PermissionDenied unless the user's role may do `action`."""
    if not allowed(user.role, action):
        needed = role_needed(action)
        raise PermissionDenied(
            f"{user.username} ({user.role}) may not {action}: it needs the {needed} role or higher "
            f"(hint: an admin can grant it with `vigil users role {user.username} {needed}`)",
            needed,
        )


# ---- the users file ----------------------------------------------------------------------


PIN_FILE_NAME = ".users-location"  # in the storage root: where its users file is, fixed at first use


def _pin_path(root: str | Path) -> Path:
    return Path(root) / PIN_FILE_NAME


def users_file(root: str | Path) -> Path:
    """The users file of a storage root: fixed (pinned) at first use.

    Before any users file exists it is ``$VIGIL_USERS_FILE``, else ``<root>/users.yaml``.
    Once that file exists its location is written to ``<root>/.users-location`` and from then
    on is the only one this root accepts: pointing ``$VIGIL_USERS_FILE`` elsewhere (say at a
    file that does not exist, to get bootstrap rights) is refused with UsersFileError.
    """
    root = Path(root)
    env = os.environ.get(USERS_FILE_ENV)
    default = root / USERS_FILE_NAME
    pin = _pin_path(root)
    if pin.exists():
        pinned = Path(pin.read_text().strip())
        if env and Path(env).resolve() != pinned.resolve():
            raise UsersFileError(
                f"${USERS_FILE_ENV}={env} is refused: the users file of storage root {root} is fixed at {pinned} "
                f"since its first use (hint: unset ${USERS_FILE_ENV})"
            )
        return pinned
    candidate = Path(env) if env else default
    if env and default.exists() and Path(env).resolve() != default.resolve():
        raise UsersFileError(
            f"${USERS_FILE_ENV}={env} is refused: storage root {root} already has its users in {default} "
            f"(hint: unset ${USERS_FILE_ENV})"
        )
    if candidate.exists():
        pin_users_file(root, candidate)
    return candidate


def pin_users_file(root: str | Path, path: Path) -> None:
    """Record where this root's users file is (idempotent; atomic write)."""
    pin = _pin_path(root)
    if pin.exists():
        return
    pin.parent.mkdir(parents=True, exist_ok=True)
    tmp = pin.with_name(pin.name + f".{os.getpid()}.tmp")
    tmp.write_text(str(path.resolve()) + "\n")
    os.replace(tmp, pin)


def has_users(path: Path) -> bool:
    """True once the users file lists anyone (bootstrap mode ends)."""
    return bool(_load_raw(path))


def _check_username(username: str) -> str:
    if not _USERNAME.match(username or ""):
        raise AuthError(
            f"user name {username!r} is not allowed (hint: letters, digits, '.', '_', '@', '-'; up to 64 characters)"
        )
    return username


def _check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AuthError(f"password too short: at least {MIN_PASSWORD_LENGTH} characters")
    return password


def _load_raw(path: Path) -> dict[str, dict[str, Any]]:
    """Parse and validate the file; {} if it does not exist."""
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise UsersFileError(f"{path}: not valid YAML ({err}) (hint: fix it or restore it from a backup)") from None
    if not isinstance(data, dict) or set(data) - {"users"}:
        raise UsersFileError(f"{path}: expected one top-level key 'users' (hint: see `vigil users add --help`)")
    users = data.get("users") or {}
    if not isinstance(users, dict):
        raise UsersFileError(f"{path}: 'users' must be a mapping of user name to settings")
    for name, entry in users.items():
        where = f"{path}: users.{name}"
        if not isinstance(entry, dict):
            raise UsersFileError(f"{where}: expected a mapping with role and password_hash")
        unknown = set(entry) - {"role", "password_hash", "created_at", "password_changed_at"}
        if unknown:
            raise UsersFileError(f"{where}: unknown key {sorted(unknown)[0]!r} (hint: role, password_hash, created_at)")
        if entry.get("role") not in ROLES:
            raise UsersFileError(f"{where}.role: {entry.get('role')!r} is not a role (hint: one of {', '.join(ROLES)})")
        if not str(entry.get("password_hash", "")).startswith("$argon2"):
            raise UsersFileError(
                f"{where}.password_hash: not an argon2 hash; plain-text passwords are refused "
                f"(hint: `vigil users passwd {name}` sets a hashed one)"
            )
    return {str(k): dict(v) for k, v in users.items()}


def _write_raw(path: Path, users: dict[str, dict[str, Any]]) -> None:
    """Atomic replace (temp file + rename), readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "# Vigil users: argon2id hashes only. Edit with `vigil users add | passwd`.\n" + yaml.safe_dump(
        {"users": users}, sort_keys=True
    )
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".users-", suffix=".yaml")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Serialise read-modify-write of the users file across processes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def get_user(path: Path, username: str) -> User | None:
    entry = _load_raw(path).get(username)
    return None if entry is None else User(username, entry["role"])


def list_users(path: Path) -> list[dict[str, Any]]:
    """User names, roles and dates; never the hashes."""
    return [
        {"username": name, "role": e["role"], "created_at": e.get("created_at"),
         "password_changed_at": e.get("password_changed_at")}
        for name, e in sorted(_load_raw(path).items())
    ]


def add_user(
    path: Path, username: str, role: str, password: str, *,
    ops: OpsStore | None = None, actor: str = audit.SYSTEM_ACTOR, clock: Clock | None = None,
) -> User:
    """Add a user with an argon2id hash of `password`; audited when `ops` is given."""
    _check_username(username)
    _check_role(role)
    _check_password(password)
    now = iso((clock or SystemClock()).now())
    with _file_lock(path):
        users = _load_raw(path)
        if username in users:
            raise AuthError(f"user {username!r} already exists in {path} (hint: `vigil users passwd {username}`)")
        if not users and role != "admin":  # else nobody could manage users any more
            raise AuthError(
                f"the first user in {path} must be an admin (hint: `vigil users add {local_username()} --role admin` "
                "first; until a users file exists the CLI acts as the OS user with admin rights)"
            )
        users[username] = {"role": role, "password_hash": _HASHER.hash(password), "created_at": now,
                           "password_changed_at": now}
        _write_raw(path, users)
    if ops is not None:
        audit.record(ops, actor, "users.add", username, None, {"role": role}, clock=clock)
    return User(username, role)


def set_password(
    path: Path, username: str, password: str, *,
    ops: OpsStore | None = None, actor: str = audit.SYSTEM_ACTOR, clock: Clock | None = None,
) -> None:
    """Replace a user's hash; with `ops`, their sessions end and the change is audited."""
    _check_password(password)
    now = iso((clock or SystemClock()).now())
    with _file_lock(path):
        users = _load_raw(path)
        if username not in users:
            raise UnknownUser(f"no user {username!r} in {path} (hint: `vigil users list`)")
        users[username]["password_hash"] = _HASHER.hash(password)
        users[username]["password_changed_at"] = now
        _write_raw(path, users)
    if ops is not None:
        with ops.transaction() as conn:
            conn.execute(
                "UPDATE auth_sessions SET ended_at = ? WHERE username = ? AND ended_at IS NULL", (now, username)
            )
            audit.record(conn, actor, "users.passwd", username, None, {"password_changed_at": now}, clock=clock)


def set_role(
    path: Path, username: str, role: str, *,
    ops: OpsStore | None = None, actor: str = audit.SYSTEM_ACTOR, clock: Clock | None = None,
) -> User:
    _check_role(role)
    with _file_lock(path):
        users = _load_raw(path)
        if username not in users:
            raise UnknownUser(f"no user {username!r} in {path} (hint: `vigil users list`)")
        before = users[username]["role"]
        if before == "admin" and role != "admin":
            _keep_an_admin(path, users, username)
        users[username]["role"] = role
        _write_raw(path, users)
    if ops is not None:
        audit.record(ops, actor, "users.role", username, {"role": before}, {"role": role}, clock=clock)
    return User(username, role)


def _keep_an_admin(path: Path, users: dict[str, dict[str, Any]], leaving: str) -> None:
    admins = [name for name, e in users.items() if e["role"] == "admin" and name != leaving]
    if not admins:
        raise AuthError(f"{leaving} is the last admin in {path}: make another user admin first (nobody could manage users)")


def remove_user(
    path: Path, username: str, *,
    ops: OpsStore | None = None, actor: str = audit.SYSTEM_ACTOR, clock: Clock | None = None,
) -> None:
    """Remove a user (never the last admin); with `ops`, their sessions end and it is audited."""
    with _file_lock(path):
        users = _load_raw(path)
        if username not in users:
            raise UnknownUser(f"no user {username!r} in {path} (hint: `vigil users list`)")
        if users[username]["role"] == "admin":
            _keep_an_admin(path, users, username)
        role = users.pop(username)["role"]
        _write_raw(path, users)
    if ops is not None:
        now = iso((clock or SystemClock()).now())
        with ops.transaction() as conn:
            conn.execute(
                "UPDATE auth_sessions SET ended_at = ? WHERE username = ? AND ended_at IS NULL", (now, username)
            )
            audit.record(conn, actor, "users.remove", username, {"role": role}, None, clock=clock)


def local_username() -> str:
    """What the CLI acts as by default (core.identity: $VIGIL_USER, else the OS account)."""
    return acting_username()


def ensure_admin(root: str | Path, username: str | None = None, *, ops: OpsStore | None = None) -> str | None:
    """First run: create an admin with a generated password and return the password ONCE.

    Returns None when the users file already exists (nothing is created). The admin is
    named after the local user (so the CLI, which acts as that user, keeps its rights)
    unless `username` is given. The caller prints the password to its terminal; it is
    never logged and only its hash is stored.
    """
    path = users_file(root)
    name = username or local_username()
    if not _USERNAME.match(name):
        name = "admin"
    with _file_lock(path):
        if path.exists():
            return None
        password = secrets.token_urlsafe(15)
        now = iso(SystemClock().now())
        _write_raw(path, {name: {"role": "admin", "password_hash": _HASHER.hash(password), "created_at": now,
                                 "password_changed_at": now}})
    pin_users_file(root, path)
    if ops is not None:
        audit.record(ops, audit.SYSTEM_ACTOR, "users.add", name, None, {"role": "admin", "first_admin": True})
    return password


def cli_identity(path: Path, username: str) -> User:
    """Who the CLI acts as: a user of the file, or (no file yet) the OS user as admin."""
    if not path.exists():
        return User(username, "admin", implicit=True)
    user = get_user(path, username)
    if user is None:
        raise UnknownUser(
            f"user {username!r} is not in {path} (hint: act as a listed user with --user NAME or $VIGIL_USER, "
            f"or ask an admin: `vigil users add {username} --role viewer`)"
        )
    return user


# ---- sign-in with rate limiting ------------------------------------------------------------


@functools.cache
def _dummy_hash() -> str:
    return _HASHER.hash(secrets.token_hex(16))


def _password_matches(stored_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _active_lock(conn: sqlite3.Connection, keys: list[str], now: str) -> str | None:
    marks = ", ".join("?" for _ in keys)
    row = conn.execute(
        f"SELECT MAX(until) FROM auth_locks WHERE lock_key IN ({marks}) AND until > ?",  # noqa: S608 - placeholders only
        (*keys, now),
    ).fetchone()
    return None if row is None or row[0] is None else str(row[0])


def _lock_message(until: str, clock: Clock) -> SignInLocked:
    wait = max(1, int((parse_iso(until) - clock.now()).total_seconds()))
    return SignInLocked(
        f"too many failed sign-ins: locked for {wait // 60 + 1} more minute(s) (hint: wait, or ask an admin)", wait
    )


def _counts(conn: sqlite3.Connection, username: str, source: str, since: str) -> tuple[int, int]:
    by_user = conn.execute(
        "SELECT COUNT(*) FROM auth_failures WHERE username = ? AND at > ?", (username, since)
    ).fetchone()[0]
    by_source = conn.execute(
        "SELECT COUNT(*) FROM auth_failures WHERE source = ? AND at > ?", (source, since)
    ).fetchone()[0]
    return int(by_user), int(by_source)


def _set_locks(conn: sqlite3.Connection, username: str, source: str, by_user: int, by_source: int,
               now: str, until: str) -> bool:
    locked = False
    for key, count, limit in ((f"user:{username}", by_user, MAX_FAILURES),
                              (f"source:{source}", by_source, MAX_SOURCE_FAILURES)):
        if count >= limit:
            locked = True
            conn.execute(
                "INSERT INTO auth_locks (lock_key, locked_at, until) VALUES (?, ?, ?) "
                "ON CONFLICT (lock_key) DO UPDATE SET locked_at = excluded.locked_at, until = excluded.until",
                (key, now, until),
            )
    return locked


def _reserve_attempt(ops: OpsStore, username: str, source: str, clock: Clock) -> int:
    """Check the limits and count this attempt as a failure, in ONE write transaction.

    The attempt is recorded before the password is verified (and forgiven on success), so
    concurrent attempts see each other: at most MAX_FAILURES of one user name (and
    MAX_SOURCE_FAILURES from one source) reach the password check within the window, however
    many arrive at once. Raises SignInLocked when over a limit (audited, nothing verified).
    """
    now_dt = clock.now()
    now, since, until = iso(now_dt), iso(now_dt - FAILURE_WINDOW), iso(now_dt + LOCKOUT)
    with ops.transaction() as conn:  # BEGIN IMMEDIATE: one writer at a time across processes
        locked_until = _active_lock(conn, [f"user:{username}", f"source:{source}"], now)
        if locked_until is None:
            by_user, by_source = _counts(conn, username, source, since)
            if _set_locks(conn, username, source, by_user, by_source, now, until):
                locked_until = until
        if locked_until is not None:
            audit.record(conn, "anonymous", "auth.sign_in_locked", username, None, {"source": source}, clock=clock)
            refused = _lock_message(locked_until, clock)
        else:
            # Old failures only matter inside the window; keep the table small.
            conn.execute("DELETE FROM auth_failures WHERE at < ?", (iso(now_dt - timedelta(days=1)),))
            cur = conn.execute("INSERT INTO auth_failures (username, source, at) VALUES (?, ?, ?)",
                               (username, source, now))
            return int(cur.lastrowid or 0)
    raise refused  # after the commit: the refusal's audit entry stays


def _record_failure(conn: sqlite3.Connection, username: str, source: str, clock: Clock) -> None:
    """The attempt (already counted) failed: lock when the limits are reached, and audit it."""
    now_dt = clock.now()
    now, since, until = iso(now_dt), iso(now_dt - FAILURE_WINDOW), iso(now_dt + LOCKOUT)
    by_user, by_source = _counts(conn, username, source, since)
    _set_locks(conn, username, source, by_user, by_source, now, until)
    # The attempted name is the target, not the actor: nobody proved who they are.
    audit.record(conn, "anonymous", "auth.sign_in_failed", username, None, {"source": source}, clock=clock)


def verify(
    path: Path, ops: OpsStore, username: str, password: str, *,
    source: str = "local", clock: Clock | None = None,
) -> User:
    """Check a password; returns the User or raises SignInFailed / SignInLocked.

    After MAX_FAILURES failures of one user name within FAILURE_WINDOW (or
    MAX_SOURCE_FAILURES from one source), sign-in is refused for LOCKOUT, even with the
    right password. The limit is checked and the attempt counted atomically BEFORE the
    password is verified (``_reserve_attempt``), so a burst of concurrent attempts cannot
    slip past it. The state is in the ops store, so it holds across processes.
    """
    clock = clock or SystemClock()
    attempt = _reserve_attempt(ops, username, source, clock)
    entry = _load_raw(path).get(username)
    # Hash even for unknown names so timing does not reveal which names exist.
    ok = _password_matches(entry["password_hash"] if entry else _dummy_hash(), password) and entry is not None
    with ops.transaction() as conn:
        if not ok:
            _record_failure(conn, username, source, clock)
        else:
            conn.execute("DELETE FROM auth_failures WHERE failure_id = ? OR username = ?", (attempt, username))
            conn.execute("DELETE FROM auth_locks WHERE lock_key = ?", (f"user:{username}",))
            audit.record(conn, username, "auth.sign_in", username, None, {"source": source}, clock=clock)
    if not ok or entry is None:  # (entry is never None when ok; the check is for mypy)
        raise SignInFailed("wrong user name or password")
    return User(username, entry["role"])


# ---- sessions ------------------------------------------------------------------------------


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_session(
    ops: OpsStore, user: User, *, ttl: timedelta = SESSION_TTL, source: str = "local", clock: Clock | None = None
) -> str:
    """A new random session token (returned once; only its digest is stored)."""
    clock = clock or SystemClock()
    token = secrets.token_urlsafe(32)
    now = clock.now()
    with ops.transaction() as conn:
        conn.execute(
            "INSERT INTO auth_sessions (token_sha256, username, source, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
            (_digest(token), user.username, source, iso(now), iso(now + ttl)),
        )
    return token


def sign_in(
    path: Path, ops: OpsStore, username: str, password: str, *,
    source: str = "dashboard", ttl: timedelta = SESSION_TTL, clock: Clock | None = None,
) -> tuple[User, str]:
    """verify + create_session: (the user, a new session token) or SignInFailed / SignInLocked."""
    user = verify(path, ops, username, password, source=source, clock=clock)
    return user, create_session(ops, user, ttl=ttl, source=source, clock=clock)


def check_session(path: Path, ops: OpsStore, token: str | None, *, clock: Clock | None = None) -> User | None:
    """The signed-in user of a live session, else None (unknown, expired, ended, user removed).

    The role is read from the users file each time, so a role change applies at once.
    """
    if not token:
        return None
    now = iso((clock or SystemClock()).now())
    rows = ops.query(
        "SELECT username FROM auth_sessions WHERE token_sha256 = ? AND ended_at IS NULL AND expires_at > ?",
        (_digest(token), now),
    )
    return get_user(path, rows[0]["username"]) if rows else None


def expire_session(ops: OpsStore, token: str, *, clock: Clock | None = None) -> None:
    """Sign out: the token stops working at once."""
    now = iso((clock or SystemClock()).now())
    with ops.transaction() as conn:
        row = conn.execute(
            "UPDATE auth_sessions SET ended_at = ? WHERE token_sha256 = ? AND ended_at IS NULL RETURNING username",
            (now, _digest(token)),
        ).fetchone()
        if row is not None:
            audit.record(conn, row[0], "auth.sign_out", row[0], None, None, clock=clock)
