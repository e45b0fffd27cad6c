"""The ops-store record of each cycle (table ``cycles``): written at start and end, read by status pages."""

from __future__ import annotations

import json
from typing import Any

from app.cycle_report import CycleReport
from core import audit
from core.clock import iso
from core.jsonable import jsonable
from core.stores import OpsStore


def record_start(ops: OpsStore, report: CycleReport, actor: str = audit.CYCLE_ACTOR) -> None:
    with ops.transaction() as conn:
        conn.execute(
            "INSERT INTO cycles (cycle_id, model, started_at, status) VALUES (?, ?, ?, 'running')",
            (report.cycle_id, report.model, iso(report.started_at)),
        )
        audit.record(conn, actor, "cycle.start", report.cycle_id, None, {"model": report.model},
                     at=iso(report.started_at))


def mark_interrupted(ops: OpsStore, model: str) -> int:
    """Cycles left 'running' by a process that died. Called under the cycle lock, so none is alive."""
    with ops.transaction() as conn:
        cur = conn.execute(
            "UPDATE cycles SET status = 'failed', error = ? WHERE model = ? AND status = 'running'",
            ("interrupted: the process stopped before the cycle finished (its work is redone)", model),
        )
        return int(cur.rowcount or 0)


def record_finish(ops: OpsStore, report: CycleReport, actor: str = audit.CYCLE_ACTOR) -> None:
    summary = json.dumps(jsonable(report.summary()), sort_keys=True)
    with ops.transaction() as conn:
        audit.record(conn, actor, "cycle.finish", report.cycle_id, {"status": "running"},
                     {"status": report.status, "error": report.error, "summary": json.loads(summary)},
                     at=iso(report.finished_at) if report.finished_at else None)
        conn.execute(
            "UPDATE cycles SET finished_at = ?, status = ?, error = ?, summary = ? WHERE cycle_id = ?",
            (
                iso(report.finished_at) if report.finished_at else None,
                report.status,
                report.error,
                summary,
                report.cycle_id,
            ),
        )


def last_cycles(ops: OpsStore, model: str, limit: int = 20) -> list[dict[str, Any]]:
    rows = ops.query(
        "SELECT cycle_id, model, started_at, finished_at, status, error, summary FROM cycles "
        "WHERE model = ? ORDER BY started_at DESC LIMIT ?",
        (model, limit),
    )
    for row in rows:
        row["summary"] = json.loads(row["summary"]) if row.get("summary") else {}
    return rows
