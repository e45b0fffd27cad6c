"""A signed, expiring, HttpOnly session cookie, so refreshing the browser keeps the user signed in.

Streamlit's own auth (``st.login``) needs an OpenID Connect provider; Vigil's users are local
(argon2 hashes in the users file), so the dashboard serves two small routes beside Streamlit
(``st.App``, see ``app/dashboard/server.py``):

- ``GET /vigil/session?code=...``: exchanges a one-time code (made by the sign-in form, valid
  for a minute, usable once, kept only in this server process's memory) for the cookie
  ``vigil_session`` = ``<session token>.<expiry>.<HMAC-SHA256>``, set ``HttpOnly``,
  ``SameSite=Strict``, ``Path=/`` and ``Max-Age`` of the session's lifetime. Page scripts
  cannot read it; the sign-in form embeds the route in a one-pixel same-origin frame.
- ``GET /vigil/signout``: deletes the cookie.

On each page run, a browser without a token in its Streamlit session presents the cookie;
its signature and expiry are checked here and the token is then checked like any session
token (``core.auth.check_session``: unknown, expired, ended or removed users are refused), so
signing out, expiring or removing a user ends a cookie too. The password check stays in
``core.auth.sign_in`` (rate-limited and audited); the cookie never carries a password.
The signing key is random, made once per storage root (``<root>/dashboard_cookie.key``, mode
0600) and never shown.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
import time
from pathlib import Path

COOKIE = "vigil_session"
SESSION_ROUTE = "/vigil/session"
SIGNOUT_ROUTE = "/vigil/signout"
HANDOFF_SECONDS = 60.0
KEY_FILE = "dashboard_cookie.key"

_handoffs: dict[str, tuple[str, float, int]] = {}  # code -> (session token, valid until, max_age)
_lock = threading.Lock()


def signing_key(root: Path) -> bytes:
    """The root's cookie-signing key, created on first use (0600, written atomically)."""
    path = Path(root) / KEY_FILE
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    tmp = path.with_name(f".{KEY_FILE}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key.hex())
    try:
        os.link(tmp, path)  # first writer wins; a racing second one reads the winner's key
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return bytes.fromhex(path.read_text().strip())


def _mac(key: bytes, token: str, expires: int) -> str:
    return hmac.new(key, f"{token}.{expires}".encode(), hashlib.sha256).hexdigest()


def sign(key: bytes, token: str, expires: int) -> str:
    """The cookie value for a session token valid until ``expires`` (Unix seconds)."""
    if "." in token:
        raise ValueError("session tokens are URL-safe base64 and never contain '.'")
    return f"{token}.{expires}.{_mac(key, token, expires)}"


def unsign(key: bytes, value: str | None, now: float | None = None) -> str | None:
    """The session token of a genuine, unexpired cookie; None for anything else."""
    if not value or value.count(".") != 2:
        return None
    token, expires_text, mac = value.split(".")
    if not expires_text.isdigit():
        return None
    expires = int(expires_text)
    if not hmac.compare_digest(mac, _mac(key, token, expires)):
        return None
    if expires <= (time.time() if now is None else now):
        return None
    return token


def new_handoff(token: str, max_age: int) -> str:
    """A one-time code the browser exchanges for the cookie (valid for a minute)."""
    code = secrets.token_urlsafe(24)
    with _lock:
        now = time.monotonic()
        for stale in [c for c, (_t, until, _a) in _handoffs.items() if until < now]:
            del _handoffs[stale]
        _handoffs[code] = (token, now + HANDOFF_SECONDS, max_age)
    return code


def take_handoff(code: str | None) -> tuple[str, int] | None:
    """The token and lifetime a code stands for, once; None when unknown, used or expired."""
    if not code:
        return None
    with _lock:
        entry = _handoffs.pop(code, None)
    if entry is None or entry[1] < time.monotonic():
        return None
    return entry[0], entry[2]
