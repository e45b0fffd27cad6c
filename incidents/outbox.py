"""The notification outbox (ops table ``outbox``): its only reader and writer.

A message is one group's notification to one receiver, decided by the cycle and written
here in the transaction that decides it (``incidents.notify.decide``). Delivery
(``incidents.delivery``) claims pending messages for a while, sends them and records the
outcome; a message that was not delivered stays pending and is sent again by the next
run, with the same idempotency key, so a receiver can drop repeats. Delivery is at least
once: a run that dies after sending and before recording leaves the message pending.

The outbox is also the notification log that dedup reads: the newest message of a group
is what that group's receiver was (or is about to be) told.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from core.clock import iso, parse_iso
from core.stores import OpsStore

PENDING, DELIVERED, DROPPED = "pending", "delivered", "dropped"
# Delivered messages are kept this long (the notifications log keeps every outcome for good);
# the newest message of each group is always kept: dedup reads it.
KEEP_DELIVERED = timedelta(days=30)


@dataclass(frozen=True)
class OutboxMessage:
    key: str  # idempotency key, the same on every resend
    receiver: str
    route: int
    group_labels: dict[str, str]
    kind: str
    status: str  # firing or resolved
    firing: tuple[str, ...]
    resolved: tuple[str, ...]
    incidents: tuple[str, ...]
    payload: Any  # JSON body (dict for webhooks, list for the Alertmanager API)
    created_at: datetime
    state: str = PENDING
    attempts: int = 0

    @property
    def group_key(self) -> str:
        return json.dumps(self.group_labels, sort_keys=True)


@dataclass(frozen=True)
class LoggedGroup:
    """The newest decided message of a group: what its receiver was last told is firing, and when."""

    firing: frozenset[str]
    at: datetime


GroupId = tuple[str, int, str]  # (receiver, route, group_key)


def _message(row: sqlite3.Row | dict[str, Any]) -> OutboxMessage:
    return OutboxMessage(
        key=row["idempotency_key"],
        receiver=row["receiver"],
        route=int(row["route"]),
        group_labels=json.loads(row["group_key"]),
        kind=row["kind"],
        status=row["status"],
        firing=tuple(json.loads(row["firing"])),
        resolved=tuple(json.loads(row["resolved"])),
        incidents=tuple(json.loads(row["incidents"])),
        payload=json.loads(row["payload"]),
        created_at=parse_iso(row["created_at"]),
        state=row["state"],
        attempts=int(row["attempts"]),
    )


# ---- read inside the deciding transaction -------------------------------------------------


def last_decided(conn: sqlite3.Connection) -> dict[GroupId, LoggedGroup]:
    """Per group, the newest message decided for it (delivered or still pending)."""
    rows = conn.execute(
        "SELECT receiver, route, group_key, firing, created_at FROM outbox o WHERE outbox_id = "
        "(SELECT max(outbox_id) FROM outbox m WHERE m.receiver = o.receiver AND m.route = o.route "
        "AND m.group_key = o.group_key)"
    ).fetchall()
    return {
        (r["receiver"], int(r["route"]), r["group_key"]): LoggedGroup(frozenset(json.loads(r["firing"])), parse_iso(r["created_at"]))
        for r in rows
    }


def posted_labels(conn: sqlite3.Connection, kind: str = "alertmanager_api") -> dict[tuple[str, str], dict[str, str]]:
    """(receiver, fingerprint) -> the Alertmanager labels an alert was last posted with.

    Alertmanager's identity is the whole label set, so a resolution (or a change of
    severity) must name the labels Alertmanager already holds.
    """
    rows = conn.execute(
        "SELECT receiver, payload FROM outbox o WHERE kind = ? AND outbox_id = "
        "(SELECT max(outbox_id) FROM outbox m WHERE m.receiver = o.receiver AND m.route = o.route "
        "AND m.group_key = o.group_key) ORDER BY outbox_id",
        (kind,),
    ).fetchall()
    out: dict[tuple[str, str], dict[str, str]] = {}
    for r in rows:
        payload = json.loads(r["payload"])
        for alert in payload if isinstance(payload, list) else []:
            fp = (alert.get("annotations") or {}).get("vigil_fingerprint")
            if fp and isinstance(alert.get("labels"), dict):
                out[(r["receiver"], fp)] = alert["labels"]
    return out


def write(conn: sqlite3.Connection, messages: Iterable[OutboxMessage]) -> int:
    """Append decided messages (in the caller's transaction). A key already present is kept as is."""
    written = 0
    for m in messages:
        cur = conn.execute(
            "INSERT OR IGNORE INTO outbox (idempotency_key, receiver, route, group_key, kind, status, firing, resolved, "
            "incidents, payload, created_at, state, attempts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
            (
                m.key,
                m.receiver,
                m.route,
                m.group_key,
                m.kind,
                m.status,
                json.dumps(list(m.firing)),
                json.dumps(list(m.resolved)),
                json.dumps(list(m.incidents)),
                json.dumps(m.payload, default=str, sort_keys=True),
                iso(m.created_at),
                PENDING,
            ),
        )
        written += int(cur.rowcount or 0)
    return written


def prune(conn: sqlite3.Connection, now: datetime, keep: timedelta = KEEP_DELIVERED) -> int:
    """Forget delivered or dropped messages older than ``keep``, except each group's newest."""
    cur = conn.execute(
        "DELETE FROM outbox WHERE state != ? AND created_at < ? AND outbox_id NOT IN "
        "(SELECT max(outbox_id) FROM outbox GROUP BY receiver, route, group_key)",
        (PENDING, iso(now - keep)),
    )
    return int(cur.rowcount or 0)


# ---- delivery: claim, mark, release ----------------------------------------------------------


def claim(ops: OpsStore, claimer: str, now: datetime, until: datetime) -> list[OutboxMessage]:
    """Pending messages no live run is sending, oldest first, now claimed by ``claimer`` until ``until``.

    A claim keeps a second delivery run (a manual ``run-once`` while the scheduler's run is
    still waiting on a slow receiver) from sending the same message at the same time; a
    claim left by a run that died expires and the message is taken over.
    """
    with ops.transaction() as conn:
        rows = conn.execute(
            "SELECT * FROM outbox WHERE state = ? AND (claimed_until IS NULL OR claimed_until <= ?) ORDER BY outbox_id",
            (PENDING, iso(now)),
        ).fetchall()
        conn.executemany(
            "UPDATE outbox SET claimed_by = ?, claimed_until = ? WHERE idempotency_key = ?",
            [(claimer, iso(until), r["idempotency_key"]) for r in rows],
        )
    return [_message(r) for r in rows]


def mark(conn: sqlite3.Connection, key: str, state: str, attempts: int, error: str | None, at: datetime) -> None:
    """Record one delivery run's outcome for a message (in the caller's transaction) and drop the claim."""
    conn.execute(
        "UPDATE outbox SET state = ?, attempts = attempts + ?, last_error = ?, delivered_at = ?, claimed_by = NULL, "
        "claimed_until = NULL WHERE idempotency_key = ?",
        (state, attempts, error, iso(at) if state == DELIVERED else None, key),
    )


def release(ops: OpsStore, claimer: str) -> int:
    """Give back what a run claimed and did not get to (the next run sends it)."""
    with ops.transaction() as conn:
        cur = conn.execute(
            "UPDATE outbox SET claimed_by = NULL, claimed_until = NULL WHERE claimed_by = ? AND state = ?",
            (claimer, PENDING),
        )
        return int(cur.rowcount or 0)


# ---- reading for people and tests -------------------------------------------------------------


def messages(ops: OpsStore, state: str | None = None, limit: int = 500) -> list[OutboxMessage]:
    """Messages oldest first (optionally only one state)."""
    if state is None:
        rows = ops.query("SELECT * FROM outbox ORDER BY outbox_id LIMIT ?", (limit,))
    else:
        rows = ops.query("SELECT * FROM outbox WHERE state = ? ORDER BY outbox_id LIMIT ?", (state, limit))
    return [_message(r) for r in rows]


def pending_count(ops: OpsStore) -> int:
    rows = ops.query("SELECT count(*) AS n FROM outbox WHERE state = ?", (PENDING,))
    return int(rows[0]["n"]) if rows else 0
