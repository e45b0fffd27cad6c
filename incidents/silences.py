"""Silences: mute matching alerts' notifications for a while (Alertmanager semantics).

A silence has matchers on labels (``name=value``, ``name!=value``, ``name=~regex``,
``name!~regex``; regexes match the whole value), a start, a REQUIRED end, an author and
a REQUIRED comment. Expiring a silence ends it now; expired silences stay visible.
Silenced alerts still change state and stay visible; they are only not notified.
"""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core import audit
from core.clock import Clock, iso, parse_iso
from core.ids import new_id
from core.stores import OpsStore
from incidents.schema import ensure_schema

_MATCHER = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$")
OPS = ("=", "!=", "=~", "!~")


class SilenceError(ValueError):
    """A silence is invalid; the message names the field and gives a hint."""


@dataclass(frozen=True)
class Matcher:
    name: str
    op: str
    value: str

    def matches(self, labels: dict[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        found = re.fullmatch(self.value, actual) is not None
        return found if self.op == "=~" else not found

    def __str__(self) -> str:
        return f"{self.name}{self.op}{self.value}"


@dataclass(frozen=True)
class Silence:
    silence_id: str
    matchers: tuple[Matcher, ...]
    starts_at: datetime
    ends_at: datetime
    author: str
    comment: str
    created_at: datetime
    expired_at: datetime | None = None
    expired_by: str | None = None

    def state(self, now: datetime) -> str:
        if self.ends_at <= now:
            return "expired"
        return "active" if self.starts_at <= now else "pending"

    def is_active(self, now: datetime) -> bool:
        return self.state(now) == "active"

    def matches(self, labels: dict[str, str]) -> bool:
        return all(m.matches(labels) for m in self.matchers)

    def to_dict(self, now: datetime) -> dict[str, Any]:
        return {
            "silence_id": self.silence_id,
            "matchers": [str(m) for m in self.matchers],
            "starts_at": iso(self.starts_at),
            "ends_at": iso(self.ends_at),
            "author": self.author,
            "comment": self.comment,
            "created_at": iso(self.created_at),
            "expired_at": iso(self.expired_at) if self.expired_at else None,
            "expired_by": self.expired_by,
            "state": self.state(now),
        }


def parse_matcher(text: str) -> Matcher:
    """'check=unit_change', 'subject=~applications\\..*', 'severity!=info'."""
    m = _MATCHER.match(text)
    if not m:
        raise SilenceError(
            f"matcher {text!r} is not of the form name=value, name!=value, name=~regex or name!~regex "
            "(hint: --match check=unit_change)"
        )
    name, op, value = m.groups()
    if op in ("=~", "!~"):
        try:
            re.compile(value)
        except re.error as e:
            raise SilenceError(f"matcher {text!r}: bad regular expression: {e} (hint: escape dots as \\.)") from None
    return Matcher(name=name, op=op, value=value)


def validate(
    matchers: list[Matcher], starts_at: datetime, ends_at: datetime | None, author: str | None, comment: str | None, now: datetime
) -> None:
    if not matchers:
        raise SilenceError("a silence needs at least one matcher (hint: --match check=unit_change)")
    if ends_at is None:
        raise SilenceError("a silence needs an end: silences that never end hide problems (hint: --ends 2h or an ISO time)")
    if ends_at <= starts_at:
        raise SilenceError(f"silence end {iso(ends_at)} is not after its start {iso(starts_at)} (hint: pick a later end)")
    if ends_at <= now:
        raise SilenceError(f"silence end {iso(ends_at)} is already past (hint: pick an end in the future)")
    if not author or not author.strip():
        raise SilenceError("a silence needs an author (hint: --user NAME or $VIGIL_USER)")
    if not comment or not comment.strip():
        raise SilenceError("a silence needs a comment saying why (hint: --comment 'known upstream backfill, ticket 123')")
    if all(m.op in ("!=", "!~") or (m.op == "=~" and re.fullmatch(m.value, "") is not None) for m in matchers):
        raise SilenceError("a silence must have at least one matcher that does not match everything (hint: add check=NAME)")


def add_silence(
    ops: OpsStore,
    clock: Clock,
    *,
    matchers: list[str] | list[Matcher],
    ends_at: datetime | None,
    author: str | None,
    comment: str | None,
    starts_at: datetime | None = None,
) -> Silence:
    ensure_schema(ops)
    parsed = [m if isinstance(m, Matcher) else parse_matcher(m) for m in matchers]
    now = clock.now()
    start = starts_at or now
    validate(parsed, start, ends_at, author, comment, now)
    assert ends_at is not None and author is not None and comment is not None  # validated above
    silence = Silence(
        silence_id=new_id("sil"),
        matchers=tuple(parsed),
        starts_at=start,
        ends_at=ends_at,
        author=author.strip(),
        comment=comment.strip(),
        created_at=now,
    )
    with ops.transaction() as conn:
        conn.execute(
            "INSERT INTO silences (silence_id, matchers, starts_at, ends_at, author, comment, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                silence.silence_id,
                json.dumps([{"name": m.name, "op": m.op, "value": m.value} for m in parsed]),
                iso(start),
                iso(ends_at),
                silence.author,
                silence.comment,
                iso(now),
            ),
        )
        audit.record(
            conn, silence.author, "silences.add", silence.silence_id, None,
            {"matchers": [str(m) for m in parsed], "starts_at": iso(start), "ends_at": iso(ends_at),
             "comment": silence.comment}, clock=clock,
        )
    return silence


def _from_row(row: dict[str, Any]) -> Silence:
    return Silence(
        silence_id=row["silence_id"],
        matchers=tuple(Matcher(**m) for m in json.loads(row["matchers"])),
        starts_at=parse_iso(row["starts_at"]),
        ends_at=parse_iso(row["ends_at"]),
        author=row["author"],
        comment=row["comment"],
        created_at=parse_iso(row["created_at"]),
        expired_at=parse_iso(row["expired_at"]) if row["expired_at"] else None,
        expired_by=row["expired_by"],
    )


def list_silences(ops: OpsStore, include_expired: bool = True, now: datetime | None = None) -> list[Silence]:
    ensure_schema(ops)
    silences = [_from_row(r) for r in ops.query("SELECT * FROM silences ORDER BY created_at, silence_id")]
    if include_expired or now is None:
        return silences
    return [s for s in silences if s.state(now) != "expired"]


def active_silences(ops: OpsStore, now: datetime) -> list[Silence]:
    return [s for s in list_silences(ops) if s.is_active(now)]


def active_silences_in(conn: sqlite3.Connection, now: datetime) -> list[Silence]:
    """Active silences read on the caller's connection (inside its transaction)."""
    rows = conn.execute("SELECT * FROM silences ORDER BY created_at, silence_id").fetchall()
    return [s for s in (_from_row(dict(r)) for r in rows) if s.is_active(now)]


def silencing(silences: list[Silence], labels: dict[str, str]) -> str | None:
    """Id of the first active silence matching these labels, or None."""
    for s in silences:
        if s.matches(labels):
            return s.silence_id
    return None


def expire_silence(ops: OpsStore, clock: Clock, silence_id: str, by: str) -> Silence:
    """End a silence now; it stays listed as expired."""
    ensure_schema(ops)
    now = clock.now()
    with ops.transaction() as conn:
        row = conn.execute("SELECT * FROM silences WHERE silence_id = ?", (silence_id,)).fetchone()
        if row is None:
            raise SilenceError(f"no silence {silence_id!r} (hint: `vigil silence list` shows the ids)")
        if parse_iso(row["ends_at"]) <= now:
            raise SilenceError(f"silence {silence_id} already ended at {row['ends_at']}")
        conn.execute(
            "UPDATE silences SET ends_at = ?, expired_at = ?, expired_by = ? WHERE silence_id = ?", (iso(now), iso(now), by, silence_id)
        )
        audit.record(conn, by, "silences.expire", silence_id, {"ends_at": row["ends_at"]},
                     {"ends_at": iso(now), "expired_by": by}, clock=clock)
        row = conn.execute("SELECT * FROM silences WHERE silence_id = ?", (silence_id,)).fetchone()
    return _from_row(dict(row))


def parse_end(text: str, now: datetime) -> datetime:
    """'2h', '30m', '1d' from now, or an ISO-8601 time."""
    from core.config import parse_duration

    try:
        return now + parse_duration(text)
    except ValueError:
        pass
    try:
        return parse_iso(text)
    except ValueError:
        raise SilenceError(f"end {text!r} is neither a duration (2h, 1d) nor an ISO time (2026-03-01T12:00:00Z)") from None
