"""The session cookie: signed, expiring, one-time handoff codes, a key per storage root."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from app.dashboard import session_cookie as sc

KEY = bytes(range(32))


def test_a_signed_token_round_trips_until_it_expires() -> None:
    value = sc.sign(KEY, "tok_en-1", expires=2_000_000_000)
    assert sc.unsign(KEY, value, now=1_999_999_999) == "tok_en-1"
    assert sc.unsign(KEY, value, now=2_000_000_000) is None, "expired at its expiry"


@given(st.text(min_size=1, max_size=80))
def test_any_forgery_is_refused(junk: str) -> None:
    genuine = sc.sign(KEY, "token", expires=2_000_000_000)
    if junk != genuine:
        assert sc.unsign(KEY, junk, now=0) is None


def test_tampering_with_token_expiry_or_key_is_refused() -> None:
    token, expires, mac = sc.sign(KEY, "token", expires=2_000_000_000).split(".")
    assert sc.unsign(KEY, f"other.{expires}.{mac}", now=0) is None
    assert sc.unsign(KEY, f"{token}.{int(expires) + 1}.{mac}", now=0) is None
    assert sc.unsign(bytes(32), f"{token}.{expires}.{mac}", now=0) is None


def test_a_handoff_code_works_once() -> None:
    code = sc.new_handoff("token", max_age=3600)
    assert sc.take_handoff(code) == ("token", 3600)
    assert sc.take_handoff(code) is None
    assert sc.take_handoff("never-issued") is None
    assert sc.take_handoff(None) is None


def test_an_old_handoff_code_is_refused(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    code = sc.new_handoff("token", max_age=3600)
    later = time.monotonic() + sc.HANDOFF_SECONDS + 1
    monkeypatch.setattr(sc.time, "monotonic", lambda: later)
    assert sc.take_handoff(code) is None


def test_the_signing_key_is_private_and_stable(tmp_path: Path) -> None:
    first = sc.signing_key(tmp_path)
    assert sc.signing_key(tmp_path) == first and len(first) == 32
    mode = stat.S_IMODE(os.stat(tmp_path / sc.KEY_FILE).st_mode)
    assert mode == 0o600
    assert sc.signing_key(tmp_path / "other") != first
