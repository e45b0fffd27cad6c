"""Writing check results to the warehouse table check_results (migration 300)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import duckdb
import pyarrow as pa

from checks.result import CheckResult


def _json_default(obj: Any) -> Any:
    if isinstance(obj, datetime):
        return obj.isoformat()
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    return str(obj)


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def evidence_json(evidence: dict[str, Any]) -> str:
    return json.dumps(_clean(evidence), default=_json_default, sort_keys=True)


def store_results(conn: duckdb.DuckDBPyConnection, results: Iterable[CheckResult], checked_at: datetime) -> None:
    """Replace earlier rows of the same (check, subject, batch, model), in the caller's transaction."""
    rows = []
    for r in results:
        if r.batch is None:
            continue
        rows.append([r.check, r.family, r.subject, r.batch, r.model, r.status, r.severity,
                     _num(r.value), _num(r.lower), _num(r.upper), r.explanation, evidence_json(r.evidence),
                     checked_at])
    if not rows:
        return
    # An Arrow table with microsecond timestamps (DuckDB's own precision): any batch DuckDB can
    # store, year 1 to 9999, goes through (a pandas frame holds nanoseconds: years 1677-2262 only).
    columns = list(zip(*rows, strict=True))
    frame = pa.table([pa.array(list(col), type=_ARROW_TYPES[name]) for name, col in zip(_RESULT_COLUMNS, columns, strict=True)],
                     names=list(_RESULT_COLUMNS))
    # One set-based delete + insert per batch: executemany is ~100x slower in DuckDB.
    conn.register("_new_check_results", frame)
    try:
        conn.execute(
            "DELETE FROM check_results c USING _new_check_results n WHERE c.check_name = n.check_name "
            "AND c.subject = n.subject AND c.batch = n.batch AND c.model = n.model"
        )
        cols = ", ".join(_RESULT_COLUMNS)
        conn.execute(f"INSERT INTO check_results ({cols}) SELECT {cols} FROM _new_check_results")  # noqa: S608
    finally:
        conn.unregister("_new_check_results")


_RESULT_COLUMNS = ("check_name", "family", "subject", "batch", "model", "status", "severity", "value", "lower",
                   "upper", "explanation", "evidence_json", "checked_at")


_ARROW_TYPES: dict[str, pa.DataType] = {
    "check_name": pa.string(), "family": pa.string(), "subject": pa.string(), "batch": pa.timestamp("us"),
    "model": pa.string(), "status": pa.string(), "severity": pa.string(), "value": pa.float64(), "lower": pa.float64(),
    "upper": pa.float64(), "explanation": pa.string(), "evidence_json": pa.string(), "checked_at": pa.timestamp("us"),
}


def _num(v: float | None) -> float | None:
    return float(v) if v is not None and math.isfinite(v) else None
