"""The append-only audit log (core.audit)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core import audit
from core.clock import ManualClock
from core.stores import OpsStore

WALL0 = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def ops(tmp_path: Path) -> OpsStore:
    return OpsStore(tmp_path / "ops.sqlite")


def test_record_and_filter(ops: OpsStore) -> None:
    clock = ManualClock(WALL0)
    audit.record(ops, "ada", "registry.promote", "m@champion", {"version": 1}, {"version": 2}, clock=clock)
    clock.advance(timedelta(hours=1))
    audit.record(ops, "rita", "alerts.acknowledge", "abc123", {"acked_by": None}, {"acked_by": "rita"}, clock=clock)
    clock.advance(timedelta(hours=1))
    audit.record(ops, "ada", "registry.rollback", "m@champion", {"version": 2}, {"version": 1}, clock=clock)

    newest_first = audit.list_entries(ops)
    assert [e.action for e in newest_first] == ["registry.rollback", "alerts.acknowledge", "registry.promote"]
    promote = newest_first[-1]
    assert (promote.actor, promote.target, promote.before, promote.after) == ("ada", "m@champion", {"version": 1}, {"version": 2})
    assert promote.at == "2026-03-20T12:00:00+00:00"
    assert [e.action for e in audit.list_entries(ops, actor="ada")] == ["registry.rollback", "registry.promote"]
    assert [e.action for e in audit.list_entries(ops, action="registry.")] == ["registry.rollback", "registry.promote"]
    assert [e.actor for e in audit.list_entries(ops, action="alerts.acknowledge")] == ["rita"]
    assert len(audit.list_entries(ops, since="2026-03-20T12:30")) == 2
    assert len(audit.list_entries(ops, since=WALL0 + timedelta(hours=2))) == 1
    assert len(audit.list_entries(ops, limit=1)) == 1
    # A prefix filter is not a LIKE pattern: '%' and '_' in it match only themselves.
    assert audit.list_entries(ops, action="%.") == []


def test_bad_entries_and_filters_are_refused(ops: OpsStore) -> None:
    with pytest.raises(audit.AuditError, match="non-empty actor"):
        audit.record(ops, " ", "x.y", "t")
    with pytest.raises(audit.AuditError, match=r"since 'yesterday' is not an ISO date.*hint"):
        audit.list_entries(ops, since="yesterday")
    with pytest.raises(audit.AuditError, match="limit must be at least 1"):
        audit.list_entries(ops, limit=0)


def test_update_and_delete_are_refused(ops: OpsStore) -> None:
    audit.record(ops, "ada", "users.add", "rita", None, {"role": "responder"})
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        with ops.transaction() as conn:
            conn.execute("UPDATE audit_log SET actor = 'mallory'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        with ops.transaction() as conn:
            conn.execute("DELETE FROM audit_log")
    assert [e.actor for e in audit.list_entries(ops)] == ["ada"]


def test_entry_commits_or_rolls_back_with_the_change(ops: OpsStore) -> None:
    with ops.transaction() as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS things (name TEXT)")
    with pytest.raises(RuntimeError), ops.transaction() as conn:
        conn.execute("INSERT INTO things VALUES ('a')")
        audit.record(conn, "ada", "things.add", "a", None, {"name": "a"})
        raise RuntimeError("the change failed after the entry was written")
    assert audit.list_entries(ops) == [] and ops.query("SELECT * FROM things") == []
    with ops.transaction() as conn:
        conn.execute("INSERT INTO things VALUES ('b')")
        audit.record(conn, "ada", "things.add", "b", None, {"name": "b", "when": WALL0})
    (entry,) = audit.list_entries(ops)
    assert entry.after == {"name": "b", "when": WALL0.isoformat()}
