"""Sign-in rate limiting holds under a burst (finding 4): 40 wrong passwords sent at once were
all checked, and among 29 wrong and 1 right sent at once the right one signed in.

Real threads (argon2 releases the GIL, so the checks overlap), one OpsStore each (a
connection of its own, as separate dashboard processes would have), released together.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from core import audit, auth
from core.stores import OpsStore

ATTEMPTS = 40


@pytest.fixture
def users(tmp_path: Path) -> Path:
    path = tmp_path / "users.yaml"
    auth.add_user(path, "ada", "admin", "correct horse battery")
    auth.add_user(path, "rita", "responder", "rita-password-1")
    return path


def _burst(users: Path, ops_path: Path, passwords: list[str], source_of: list[str]) -> list[str]:
    """Each attempt on its own connection, released together. Never hangs: the barrier has
    a timeout, and an attempt that raises anything else comes back as 'error: ...'."""
    gate = threading.Barrier(len(passwords), timeout=120)
    stores = [OpsStore(ops_path) for _ in passwords]
    for store in stores:  # each connection opens (and finds the schema) before the burst
        store.migrate()

    def attempt(i: int) -> str:
        try:
            gate.wait()
        except threading.BrokenBarrierError:
            return "error: the burst never started"
        try:
            auth.verify(users, stores[i], "rita", passwords[i], source=source_of[i])
            return "signed_in"
        except auth.SignInLocked:
            return "locked"
        except auth.SignInFailed:
            return "failed"
        except Exception as err:  # a store error under contention is a finding, not a hang
            return f"error: {type(err).__name__}: {err}"

    with ThreadPoolExecutor(max_workers=len(passwords)) as pool:
        outcomes = [f.result(timeout=300) for f in [pool.submit(attempt, i) for i in range(len(passwords))]]
    assert not [o for o in outcomes if o.startswith("error")], outcomes
    return outcomes


def _verified(ops: OpsStore) -> int:
    """Attempts whose password was checked: each leaves sign_in or sign_in_failed in the audit."""
    return sum(e.action in ("auth.sign_in", "auth.sign_in_failed") for e in audit.list_entries(ops, limit=None))


def test_forty_wrong_passwords_at_once_at_most_the_limit_are_verified(users: Path, tmp_path: Path) -> None:
    ops_path = tmp_path / "ops.sqlite"
    outcomes = _burst(users, ops_path, [f"guess-{i}" for i in range(ATTEMPTS)],
                      [f"10.0.0.{i}" for i in range(ATTEMPTS)])
    ops = OpsStore(ops_path)
    assert _verified(ops) <= auth.MAX_FAILURES
    assert outcomes.count("failed") <= auth.MAX_FAILURES
    assert outcomes.count("locked") >= ATTEMPTS - auth.MAX_FAILURES
    locked = [e for e in audit.list_entries(ops, limit=None) if e.action == "auth.sign_in_locked"]
    assert len(locked) == outcomes.count("locked"), "each refusal is audited"
    with pytest.raises(auth.SignInLocked):  # and the lock holds afterwards, right password or not
        auth.verify(users, ops, "rita", "rita-password-1")


def test_one_right_among_wrong_ones_from_one_source_is_still_limited(users: Path, tmp_path: Path) -> None:
    passwords = [f"guess-{i}" for i in range(ATTEMPTS - 1)] + ["rita-password-1"]
    outcomes = _burst(users, tmp_path / "ops.sqlite", passwords, ["203.0.113.5"] * ATTEMPTS)
    assert _verified(OpsStore(tmp_path / "ops.sqlite")) <= auth.MAX_FAILURES
    assert outcomes.count("signed_in") + outcomes.count("failed") <= auth.MAX_FAILURES
    # Other users are not locked by rita's burst from another source.
    assert auth.verify(users, OpsStore(tmp_path / "ops.sqlite"), "ada", "correct horse battery",
                       source="10.9.9.9").role == "admin"
