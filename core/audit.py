"""The append-only audit trail: who did what, when, to what, with the state before and after.

Every write from the app or the CLI calls ``record`` inside the transaction that makes the
change, so an action and its audit entry commit (or roll back) together. SQLite triggers
refuse UPDATE and DELETE on ``audit_log``; they are created here because the ops migration
files are split on ';' and a trigger body needs semicolons.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

from core.clock import Clock, SystemClock, iso
from core.stores import OpsStore

SYSTEM_ACTOR = "system"
_GUARDS = (
    "CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: entries cannot be changed'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: entries cannot be deleted'); END",
)


class AuditError(ValueError):
    """An audit entry or filter that cannot be accepted (the message names the field)."""


@dataclass(frozen=True)
class AuditEntry:
    entry_id: int
    at: str
    actor: str
    action: str
    target: str
    before: Any
    after: Any

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def install_guards(conn: sqlite3.Connection) -> None:
    """Create the UPDATE / DELETE triggers (idempotent; a no-op once they exist)."""
    for statement in _GUARDS:
        conn.execute(statement)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return str(value)


def to_json(state: Any) -> str | None:
    """Before/after state as canonical JSON (None stays SQL NULL: 'did not exist')."""
    if state is None:
        return None
    return json.dumps(state, sort_keys=True, default=_json_default)


@contextmanager
def _connection(conn_or_ops: sqlite3.Connection | OpsStore) -> Iterator[sqlite3.Connection]:
    if isinstance(conn_or_ops, OpsStore):
        with conn_or_ops.transaction() as conn:
            yield conn
    else:
        yield conn_or_ops


def record(
    conn_or_ops: sqlite3.Connection | OpsStore,
    actor: str,
    action: str,
    target: str,
    before: Any = None,
    after: Any = None,
    *,
    clock: Clock | None = None,
    at: str | None = None,
) -> int:
    """Append one entry; returns its id.

    Pass the connection of the transaction making the change so both commit together;
    an OpsStore opens a transaction of its own (for writes outside the ops store,
    e.g. the users file).
    """
    for name, value in (("actor", actor), ("action", action), ("target", target)):
        if not isinstance(value, str) or not value.strip():
            raise AuditError(f"audit entry needs a non-empty {name} (got {value!r})")
    at = at or iso((clock or SystemClock()).now())  # `at`: the change's own time stamp, when it has one
    with _connection(conn_or_ops) as conn:
        install_guards(conn)
        cur = conn.execute(
            "INSERT INTO audit_log (at, actor, action, target, before, after) VALUES (?, ?, ?, ?, ?, ?)",
            (at, actor, action, target, to_json(before), to_json(after)),
        )
        return int(cur.lastrowid or 0)


def _entry(row: dict[str, Any]) -> AuditEntry:
    return AuditEntry(
        entry_id=int(row["entry_id"]),
        at=row["at"],
        actor=row["actor"],
        action=row["action"],
        target=row["target"],
        before=None if row["before"] is None else json.loads(row["before"]),
        after=None if row["after"] is None else json.loads(row["after"]),
    )


def _since_text(since: datetime | str | None) -> str | None:
    if since is None:
        return None
    if isinstance(since, datetime):
        return iso(since)
    try:
        return iso(datetime.fromisoformat(since))
    except ValueError:
        raise AuditError(f"since {since!r} is not an ISO date or time (hint: e.g. 2024-03-01 or 2024-03-01T06:00)") from None


def list_entries(
    ops: OpsStore,
    *,
    actor: str | None = None,
    action: str | None = None,
    target: str | None = None,
    since: datetime | str | None = None,
    until: datetime | str | None = None,
    limit: int | None = 100,
) -> list[AuditEntry]:
    """Entries newest first. ``action`` ending in '.' or '*' matches a prefix (e.g. 'registry.')."""
    clauses: list[str] = []
    params: list[Any] = []
    if actor:
        clauses.append("actor = ?")
        params.append(actor)
    if action:
        if action.endswith(("*", ".")):
            prefix = action.rstrip("*")
            clauses.append("substr(action, 1, ?) = ?")
            params += [len(prefix), prefix]
        else:
            clauses.append("action = ?")
            params.append(action)
    if target:
        clauses.append("target = ?")
        params.append(target)
    since_text, until_text = _since_text(since), _since_text(until)
    if since_text:
        clauses.append("at >= ?")
        params.append(since_text)
    if until_text:
        clauses.append("at < ?")
        params.append(until_text)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    sql = f"SELECT * FROM audit_log {where} ORDER BY entry_id DESC"  # noqa: S608 - fixed clauses, values bound
    if limit is not None:
        if limit < 1:
            raise AuditError(f"limit must be at least 1 (got {limit})")
        sql += " LIMIT ?"
        params.append(int(limit))
    return [_entry(r) for r in ops.query(sql, tuple(params))]
