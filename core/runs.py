"""Experiment records: training runs in the ops table `runs`, with notes (`run_notes`).

Model-agnostic: any trainer records its runs here (the example's `baseline_model.train` does);
the tables were created by `core/migrations/ops/110_runs.sql`.
"""

from __future__ import annotations

import json
from typing import Any

from core import audit
from core.clock import Clock, SystemClock, iso
from core.stores import OpsStore

_JSON_FIELDS = ("params", "metrics", "baseline_metrics")


class RunNotFound(LookupError):
    pass


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    for k in _JSON_FIELDS:
        if row.get(k):
            row[k] = json.loads(row[k])
    if row.get("git_dirty") is not None:
        row["git_dirty"] = bool(row["git_dirty"])
    return row


def insert_run(ops: OpsStore, record: dict[str, Any]) -> None:
    values = {k: (json.dumps(v, sort_keys=True) if k in _JSON_FIELDS and v is not None else v) for k, v in record.items()}
    if isinstance(values.get("git_dirty"), bool):
        values["git_dirty"] = int(values["git_dirty"])
    cols = ", ".join(values)
    marks = ", ".join("?" for _ in values)
    updates = ", ".join(f"{c} = excluded.{c}" for c in values if c != "run_id")
    with ops.transaction() as conn:
        prior = conn.execute("SELECT status FROM runs WHERE run_id = ?", (values.get("run_id"),)).fetchone()
        conn.execute(
            f"INSERT INTO runs ({cols}) VALUES ({marks}) ON CONFLICT (run_id) DO UPDATE SET {updates}",  # noqa: S608 - keys are our record's fixed field names
            tuple(values.values()),
        )
        # Training is started by whoever ran `vigil train`; the run record has no user column.
        audit.record(
            conn, audit.SYSTEM_ACTOR, "runs.record", str(values.get("run_id")),
            None if prior is None else {"status": prior[0]},
            {"status": values.get("status"), "kind": values.get("kind", "train"), "model_name": values.get("model_name")},
        )


def list_runs(ops: OpsStore, model_name: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    if model_name is None:
        rows = ops.query("SELECT * FROM runs ORDER BY started_at DESC, rowid DESC LIMIT ?", (int(limit),))
    else:
        rows = ops.query(
            "SELECT * FROM runs WHERE model_name = ? ORDER BY started_at DESC, rowid DESC LIMIT ?", (model_name, int(limit))
        )
    return [_decode(r) for r in rows]


def get_run(ops: OpsStore, run_id: str) -> dict[str, Any]:
    """A run by id (or by a unique id prefix), with its notes."""
    rows = ops.query("SELECT * FROM runs WHERE run_id = ?", (run_id,))
    if not rows:
        rows = ops.query("SELECT * FROM runs WHERE run_id LIKE ? ORDER BY run_id", (run_id.replace("%", "") + "%",))
        if len(rows) > 1:
            raise RunNotFound(f"run id prefix {run_id!r} is ambiguous ({', '.join(r['run_id'] for r in rows[:5])})")
    if not rows:
        raise RunNotFound(f"no run {run_id!r} (hint: `vigil runs list`)")
    run = _decode(rows[0])
    run["notes"] = ops.query(
        "SELECT author, created_at, text FROM run_notes WHERE run_id = ? ORDER BY note_id", (run["run_id"],)
    )
    return run


def add_note(ops: OpsStore, run_id: str, author: str, text: str, clock: Clock | None = None) -> dict[str, Any]:
    """Attach a note (e.g. a failure note: 'tried X, worse because Y') to a run."""
    if not text.strip():
        raise ValueError("a run note needs text (hint: vigil runs note RUN 'tried X, worse because Y')")
    run = get_run(ops, run_id)
    now = iso((clock or SystemClock()).now())
    with ops.transaction() as conn:
        conn.execute(
            "INSERT INTO run_notes (run_id, author, created_at, text) VALUES (?, ?, ?, ?)",
            (run["run_id"], author, now, text),
        )
        audit.record(conn, author, "runs.note", run["run_id"], None, {"text": text}, clock=clock)
    return {"run_id": run["run_id"], "author": author, "created_at": now, "text": text}


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for k in sorted(value):
            _flatten(f"{prefix}.{k}" if prefix else str(k), value[k], out)
    elif not isinstance(value, list):
        out[prefix] = value


def compare_runs(ops: OpsStore, run_a: str, run_b: str) -> list[dict[str, Any]]:
    """Parameters and metrics of two runs side by side: [{field, a, b, same}]."""
    a, b = get_run(ops, run_a), get_run(ops, run_b)
    fa: dict[str, Any] = {}
    fb: dict[str, Any] = {}
    for key in ("model_type", "config_name", "data_sha256", "artifact_sha256", "params", "metrics", "baseline_metrics"):
        _flatten(key, a.get(key), fa)
        _flatten(key, b.get(key), fb)
    return [
        {"field": k, "a": fa.get(k), "b": fb.get(k), "same": fa.get(k) == fb.get(k)}
        for k in sorted(set(fa) | set(fb))
    ]
