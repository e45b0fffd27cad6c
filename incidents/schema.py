"""Append-only guards for the incidents tables.

The ops migrations are split on ';', so triggers (whose bodies need ';') cannot live in
the SQL files; they are created here, once per store path per process, before any write.
"""

from __future__ import annotations

import sqlite3

from core.stores import OpsStore

APPEND_ONLY_TABLES = ("alert_events", "incident_timeline", "decisions", "postmortem_revisions")

_done: set[str] = set()


def _trigger_sql(table: str, action: str) -> str:
    # Table names come from the constant above, never from input.
    return (
        f"CREATE TRIGGER IF NOT EXISTS {table}_no_{action.lower()} BEFORE {action} ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
    )


def _existing_tables(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def ensure_schema(ops: OpsStore) -> None:
    """Migrate the store and install the append-only triggers (idempotent, cheap after the first call)."""
    key = str(ops.path.absolute())
    if key in _done and ops.path.exists():
        return
    with ops.transaction() as conn:
        present = _existing_tables(conn)
        for table in APPEND_ONLY_TABLES:
            if table in present:
                for action in ("UPDATE", "DELETE"):
                    conn.execute(_trigger_sql(table, action))
    _done.add(key)
