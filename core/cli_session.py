"""Who the CLI acts as: signed-in users and service tokens, never a bare name.

The trust model (README "Users, roles and the audit trail"):

- **Bootstrap**: while the storage root has no users (its users file, fixed per root at first
  use by ``core.auth.users_file``, lists nobody), the CLI acts with admin rights as
  ``--user`` / ``$VIGIL_USER`` / the OS account, so the quick start works.
- **Once users exist** the CLI acts only as a proven identity:
  - ``$VIGIL_TOKEN``: a service token (``vigil users token NAME --role ROLE``, for
    automation) or a session token; it names the identity, ``--user`` may only repeat it.
  - else a session from ``vigil login`` (password, rate-limited like the dashboard), kept
    under the user's home (``~/.config/vigil/credentials.json``, mode 0600; only its
    SHA-256 digest is in the ops store) and expiring after ``CLI_SESSION_TTL``.
    ``--user NAME`` / ``$VIGIL_USER`` choose among the identities signed in there; a name
    grants nothing by itself.
- Someone who can write the store files can bypass all of this; ``vigil audit verify``
  is how such edits are detected.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from core import audit, auth
from core.clock import Clock, SystemClock, iso, parse_iso
from core.identity import acting_username
from core.stores import OpsStore

TOKEN_ENV = "VIGIL_TOKEN"
CREDENTIALS_ENV = "VIGIL_CREDENTIALS_FILE"  # where `vigil login` keeps its tokens (tests; shared homes)
CLI_SESSION_TTL = timedelta(hours=12)
SERVICE_TOKEN_TTL = timedelta(days=90)
SERVICE_PREFIX = "vigil_svc_"


class NotSignedIn(auth.AuthError):
    """Users exist and the CLI has no valid identity to act as (the message says how to get one)."""


@dataclass(frozen=True)
class Identity:
    user: auth.User
    how: str  # bootstrap, session, service, token

    def to_dict(self) -> dict[str, Any]:
        return {"username": self.user.username, "role": self.user.role, "how": self.how}


# ---- the credentials file (per OS user) --------------------------------------------------


def credentials_file() -> Path:
    env = os.environ.get(CREDENTIALS_ENV)
    if env:
        return Path(env)
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "vigil" / "credentials.json"


def _root_key(root: str | Path) -> str:
    return str(Path(root).resolve())


def _load_credentials() -> dict[str, Any]:
    path = credentials_file()
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _save_credentials(data: dict[str, Any]) -> None:
    path = credentials_file()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".credentials-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=1, sort_keys=True)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _saved(root: str | Path) -> dict[str, Any]:
    entry = _load_credentials().get(_root_key(root)) or {}
    return entry if isinstance(entry, dict) else {}


def signed_in_names(root: str | Path) -> list[str]:
    return sorted((_saved(root).get("tokens") or {}).keys())


# ---- login / logout ----------------------------------------------------------------------


def login(root: str | Path, ops: OpsStore, username: str, password: str, *,
          ttl: timedelta = CLI_SESSION_TTL, clock: Clock | None = None) -> auth.User:
    """Verify the password (rate-limited, audited) and keep an expiring session for this root."""
    path = auth.users_file(root)
    user, token = auth.sign_in(path, ops, username, password, source="cli", ttl=ttl, clock=clock)
    expires = iso((clock or SystemClock()).now() + ttl)
    data = _load_credentials()
    entry = data.setdefault(_root_key(root), {})
    entry.setdefault("tokens", {})[user.username] = {"token": token, "expires_at": expires}
    entry["default"] = user.username
    _save_credentials(data)
    return user


def logout(root: str | Path, ops: OpsStore, username: str | None = None, *, clock: Clock | None = None) -> list[str]:
    """End the saved session(s) of this root (all of them without a name); returns who was signed out."""
    data = _load_credentials()
    entry = data.get(_root_key(root)) or {}
    tokens: dict[str, Any] = entry.get("tokens") or {}
    names = [username] if username else sorted(tokens)
    ended = []
    for name in names:
        saved = tokens.pop(name, None)
        if saved:
            auth.expire_session(ops, str(saved.get("token")), clock=clock)
            ended.append(name)
    if entry.get("default") in ended:
        entry["default"] = next(iter(sorted(tokens)), None)
    if entry:
        data[_root_key(root)] = entry
    _save_credentials(data)
    return ended


# ---- service tokens ----------------------------------------------------------------------


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_service_token(root: str | Path, ops: OpsStore, name: str, role: str, *, actor: str,
                         ttl: timedelta = SERVICE_TOKEN_TTL, clock: Clock | None = None) -> tuple[str, str]:
    """A new token for automation acting as `name` with `role`; returns (token, expires_at), the
    token ONCE (only its digest is stored). A person's name cannot be used for a service."""
    auth._check_username(name)
    auth._check_role(role)
    if auth.get_user(auth.users_file(root), name) is not None:
        raise auth.AuthError(f"{name!r} is a person in the users file; a service token needs a name of its own "
                             "(hint: e.g. ci-bot)")
    now = (clock or SystemClock()).now()
    token = SERVICE_PREFIX + secrets.token_urlsafe(32)
    expires = iso(now + ttl)
    with ops.transaction() as conn:
        conn.execute(
            "INSERT INTO service_tokens (token_sha256, name, role, created_by, created_at, expires_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (_digest(token), name, role, actor, iso(now), expires),
        )
        audit.record(conn, actor, "users.token", name, None, {"role": role, "expires_at": expires}, clock=clock)
    return token, expires


def revoke_service_tokens(ops: OpsStore, name: str, *, actor: str, clock: Clock | None = None) -> int:
    now = iso((clock or SystemClock()).now())
    with ops.transaction() as conn:
        cur = conn.execute("UPDATE service_tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
                           (now, name))
        count = int(cur.rowcount or 0)
        if count:
            audit.record(conn, actor, "users.token_revoke", name, None, {"revoked": count}, clock=clock)
    return count


def _service_user(ops: OpsStore, token: str, clock: Clock) -> auth.User | None:
    rows = ops.query(
        "SELECT name, role FROM service_tokens WHERE token_sha256 = ? AND revoked_at IS NULL AND expires_at > ?",
        (_digest(token), iso(clock.now())),
    )
    return auth.User(rows[0]["name"], rows[0]["role"]) if rows else None


# ---- resolving the identity ----------------------------------------------------------------


def resolve(root: str | Path, ops: OpsStore | Callable[[], OpsStore], requested: str | None = None, *,
            clock: Clock | None = None) -> Identity:
    """The identity the CLI acts as for storage root `root` (see the module docstring).

    `requested` is the name from ``--user`` / ``$VIGIL_USER`` (None when neither is given).
    Raises NotSignedIn (or auth.UsersFileError) when there is no valid identity.
    """
    clock = clock or SystemClock()
    path = auth.users_file(root)  # pinned per root: a redirected users file is refused here
    if not auth.has_users(path):
        return Identity(auth.User(requested or acting_username(), "admin", implicit=True), "bootstrap")
    if not isinstance(ops, OpsStore):  # a factory: the store is opened only once users exist
        ops = ops()
    token = os.environ.get(TOKEN_ENV)
    if token:
        user = _service_user(ops, token, clock) if token.startswith(SERVICE_PREFIX) else None
        how = "service"
        if user is None and not token.startswith(SERVICE_PREFIX):
            user, how = auth.check_session(path, ops, token, clock=clock), "token"
        if user is None:
            raise NotSignedIn(f"${TOKEN_ENV} is not a valid token (expired, revoked or unknown) "
                              f"(hint: an admin issues one with `vigil users token NAME --role ROLE`)")
        if requested and requested != user.username:
            raise NotSignedIn(f"--user {requested} does not match ${TOKEN_ENV}, which is {user.username} "
                              "(hint: a name grants nothing by itself; drop --user or use that identity's token)")
        return Identity(user, how)
    saved = _saved(root)
    tokens: dict[str, Any] = saved.get("tokens") or {}
    name = requested or saved.get("default")
    if not name or name not in tokens:
        who = f"{requested} is not signed in" if requested else "nobody is signed in"
        listed = f" (signed in here: {', '.join(sorted(tokens))})" if tokens else ""
        raise NotSignedIn(
            f"{who} on this account for storage root {Path(root)}{listed}; users exist, so the CLI acts only as a "
            f"signed-in user (hint: `vigil login {requested or 'NAME'}`, or ${TOKEN_ENV} for automation)"
        )
    user = auth.check_session(path, ops, str(tokens[name].get("token")), clock=clock)
    if user is None:
        expires = tokens[name].get("expires_at")
        ended = " expired" if expires and parse_iso(str(expires)) <= clock.now() else " ended"
        raise NotSignedIn(f"the session of {name} has{ended} (hint: `vigil login {name}`)")
    return Identity(user, "session")
