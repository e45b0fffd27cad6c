"""The audit trail refuses rewrites from the first moment and detects edits made around that.

Finding 2: INSERT OR REPLACE / REPLACE ... SELECT rewrote entries, and a store with no entry
yet had no triggers at all (DELETE succeeded).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from core import audit
from core.stores import OpsStore


@pytest.fixture
def ops(tmp_path: Path) -> OpsStore:
    return OpsStore(tmp_path / "ops.sqlite")


def _raw(ops: OpsStore) -> sqlite3.Connection:
    """A plain sqlite3 connection, as someone with the file (not Vigil) would use."""
    ops.migrate()
    return sqlite3.connect(ops.path, isolation_level=None)


REWRITES = [
    "INSERT OR REPLACE INTO audit_log (entry_id, at, actor, action, target) VALUES (1, 'x', 'nobody', 'a', 't')",
    "REPLACE INTO audit_log (entry_id, at, actor, action, target) SELECT entry_id, at, 'nobody', action, target "
    "FROM audit_log",
    "UPDATE audit_log SET actor = 'nobody'",
    "DELETE FROM audit_log",
    "INSERT INTO audit_log (entry_id, at, actor, action, target) VALUES (1, 'x', 'nobody', 'a', 't')",
]


@pytest.mark.parametrize("statement", REWRITES)
def test_every_rewrite_is_refused(ops: OpsStore, statement: str) -> None:
    for i in range(3):
        audit.record(ops, "root", "registry.promote", f"m@{i}", None, {"v": i})
    conn = _raw(ops)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute(statement)
    assert [e.actor for e in audit.list_entries(ops)] == ["root"] * 3
    assert audit.verify(ops).ok


@pytest.mark.parametrize("statement", ["DELETE FROM audit_log", "UPDATE audit_log SET actor = 'x'",
                                       "INSERT OR REPLACE INTO audit_log (entry_id, at, actor, action, target) "
                                       "VALUES (0, 'x', 'nobody', 'a', 't')"])
def test_guards_exist_on_a_fresh_store_with_no_entries(ops: OpsStore, statement: str) -> None:
    conn = _raw(ops)
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    assert {"audit_log_no_update", "audit_log_no_delete", "audit_log_no_replace"} <= names
    if statement.startswith("INSERT"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute(statement)
    else:
        conn.execute(statement)  # no rows: nothing to refuse, but the trigger is there (above)
    audit.record(ops, "root", "x", "y")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute(statement.replace("VALUES (0,", "VALUES (1,"))


def test_entries_are_chained_and_verify_passes(ops: OpsStore) -> None:
    for i in range(5):
        audit.record(ops, "ada", "incidents.note", f"INC-{i}", None, {"text": f"note {i}"})
    report = audit.verify(ops)
    assert report.ok and report.entries == 5 and report.broken_at is None
    rows = ops.query("SELECT entry_id, prev_hash, entry_hash FROM audit_log ORDER BY entry_id")
    assert rows[0]["prev_hash"] == audit.GENESIS
    assert all(b["prev_hash"] == a["entry_hash"] for a, b in zip(rows, rows[1:], strict=False))


def _tamper(ops: OpsStore, *statements: str) -> None:
    """Edit the file the way an OS account that can write it could: drop the triggers first."""
    conn = _raw(ops)
    for name in ("audit_log_no_update", "audit_log_no_delete", "audit_log_no_replace"):
        conn.execute(f"DROP TRIGGER {name}")
    for statement in statements:
        conn.execute(statement)
    conn.close()


@pytest.mark.parametrize(
    ("statements", "broken_at", "reason"),
    [
        (["UPDATE audit_log SET actor = 'nobody' WHERE entry_id = 3"], 3, "content does not match its hash"),
        (["DELETE FROM audit_log WHERE entry_id = 2"], 3, "ids jump from 1 to 3"),
        (["DELETE FROM audit_log WHERE entry_id = 5"], 5, "entries 5..5 were issued but are gone"),
        (["INSERT INTO audit_log (at, actor, action, target) VALUES ('2024-01-01', 'mallory', 'x', 'y')"], 6,
         "no hash"),
        (["UPDATE audit_log SET after = '{\"v\": 9}', entry_hash = 'f' WHERE entry_id = 4"], 4,
         "content does not match"),
    ],
)
def test_verify_names_the_first_broken_link(ops: OpsStore, statements: list[str], broken_at: int, reason: str) -> None:
    for i in range(5):
        audit.record(ops, "root", "registry.promote", f"m@{i}", None, {"v": i})
    _tamper(ops, *statements)
    report = audit.verify(ops)
    assert not report.ok
    assert report.broken_at == broken_at
    assert reason in str(report.reason)
    assert f"BROKEN at entry {broken_at}" in report.text()
