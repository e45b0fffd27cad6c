"""The append-only, hash-chained audit trail: who did what, when, to what, before and after.

Every write from the app or the CLI calls ``record`` inside the transaction that makes the
change, so an action and its audit entry commit (or roll back) together. SQLite triggers,
created with the table (``core.stores.OPS_TRIGGERS``), refuse UPDATE, DELETE, REPLACE and
INSERT OR REPLACE on ``audit_log``. Each entry stores the hash of the previous entry and its
own hash, so an edit made around the triggers (someone who can write the file can drop
them) shows in ``verify`` (``vigil audit verify``) as the first broken link.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

from core.clock import Clock, SystemClock, iso
from core.stores import OPS_TRIGGERS, OpsStore

SYSTEM_ACTOR = "system"
CYCLE_ACTOR = "system:cycle"  # the check cycle's own writes (alerts, incidents it opens)
GENESIS = "0" * 64  # the previous hash of the first chained entry


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
    """Create the append-only triggers (idempotent; OpsStore.migrate already does it)."""
    for statement in OPS_TRIGGERS:
        conn.execute(statement)


def entry_hash(prev_hash: str, entry_id: int, at: str, actor: str, action: str, target: str,
               before: str | None, after: str | None) -> str:
    """SHA-256 over the previous hash and the entry's stored fields (canonical JSON)."""
    body = json.dumps([prev_hash, entry_id, at, actor, action, target, before, after],
                      separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()


def _chain_head(conn: sqlite3.Connection) -> tuple[int, str]:
    """(next entry id, hash of the newest entry); read inside the writer's transaction."""
    row = conn.execute("SELECT entry_id, entry_hash FROM audit_log ORDER BY entry_id DESC LIMIT 1").fetchone()
    seq = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'audit_log'").fetchone()
    last_id = max(int(row[0]) if row else 0, int(seq[0]) if seq and seq[0] is not None else 0)
    prev = str(row[1]) if row is not None and row[1] else GENESIS
    return last_id + 1, prev


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
    before_json, after_json = to_json(before), to_json(after)
    with _connection(conn_or_ops) as conn:
        entry_id, prev = _chain_head(conn)
        digest = entry_hash(prev, entry_id, at, actor, action, target, before_json, after_json)
        conn.execute(
            "INSERT INTO audit_log (entry_id, at, actor, action, target, before, after, prev_hash, entry_hash) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (entry_id, at, actor, action, target, before_json, after_json, prev, digest),
        )
        return entry_id


@dataclass(frozen=True)
class ChainReport:
    """What ``verify`` found: ok, how many entries, and the first broken link (if any)."""

    ok: bool
    entries: int
    unchained: int  # entries written before the chain existed (a leading run without hashes)
    broken_at: int | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def text(self) -> str:
        if self.ok:
            extra = f" ({self.unchained} older entries predate the chain)" if self.unchained else ""
            return f"audit chain intact: {self.entries} entries{extra}"
        return (f"audit chain BROKEN at entry {self.broken_at}: {self.reason} (hint: entries were edited, removed "
                "or inserted outside Vigil; restore the ops store from a backup (`vigil restore`) and find who "
                "could write the file)")


def verify(ops: OpsStore) -> ChainReport:
    """Recompute the hash chain from the first entry; report the first broken link."""
    with ops.read() as conn:
        rows = conn.execute(
            "SELECT entry_id, at, actor, action, target, before, after, prev_hash, entry_hash "
            "FROM audit_log ORDER BY entry_id"
        ).fetchall()
        seq_row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'audit_log'").fetchone()
    unchained = 0
    prev: str | None = None
    previous_id = 0
    for row in rows:
        entry_id = int(row["entry_id"])
        if row["entry_hash"] is None:
            if prev is None:  # a leading run written before the chain began
                unchained += 1
                previous_id = entry_id
                continue
            return ChainReport(False, len(rows), unchained, entry_id, "the entry has no hash (inserted outside Vigil)")
        expected_prev = prev if prev is not None else GENESIS
        if row["prev_hash"] != expected_prev:
            what = (f"entry {previous_id}'s hash" if prev is not None else "the start of the chain")
            gap = f" (ids jump from {previous_id} to {entry_id}: entries removed)" if entry_id != previous_id + 1 else ""
            return ChainReport(False, len(rows), unchained, entry_id,
                               f"its previous-hash does not match {what}{gap}")
        digest = entry_hash(str(row["prev_hash"]), entry_id, row["at"], row["actor"], row["action"], row["target"],
                            row["before"], row["after"])
        if digest != row["entry_hash"]:
            return ChainReport(False, len(rows), unchained, entry_id, "its content does not match its hash (edited)")
        prev, previous_id = str(row["entry_hash"]), entry_id
    seq = int(seq_row[0]) if seq_row and seq_row[0] is not None else 0
    if seq > previous_id and prev is not None:
        return ChainReport(False, len(rows), unchained, previous_id + 1,
                           f"entries {previous_id + 1}..{seq} were issued but are gone (the newest entries were removed)")
    return ChainReport(True, len(rows), unchained)


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
