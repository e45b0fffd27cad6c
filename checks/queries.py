"""Named read functions over check_results, for the app's pages and the CLI."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import duckdb

_COLUMNS = ("check_name, family, subject, batch, model, status, severity, value, lower, upper, explanation, "
            "evidence_json, checked_at")


def _rows(cur: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    names = [d[0] for d in cur.description or []]
    out = []
    for r in cur.fetchall():
        d = dict(zip(names, r, strict=True))
        if "evidence_json" in d:
            d["evidence"] = json.loads(d.pop("evidence_json") or "{}")
        out.append(d)
    return out


def results_for_batch(conn: duckdb.DuckDBPyConnection, batch: datetime, status: str | None = None) -> list[dict[str, Any]]:
    """Every result of one batch (optionally one status), failures first."""
    sql = f"SELECT {_COLUMNS} FROM check_results WHERE batch = ?"  # noqa: S608
    params: list[Any] = [batch]
    if status:
        sql += " AND status = ?"
        params.append(status)
    sql += (" ORDER BY CASE status WHEN 'fail' THEN 0 WHEN 'error' THEN 1 WHEN 'warn' THEN 2 WHEN 'ok' THEN 3 "
            "ELSE 4 END, family, check_name, subject")
    return _rows(conn.execute(sql, params))


def check_history(conn: duckdb.DuckDBPyConnection, check: str, subject: str, limit: int = 365) -> list[dict[str, Any]]:
    """One check on one subject over time (oldest first): value, bounds, status."""
    return _rows(conn.execute(
        f"SELECT {_COLUMNS} FROM (SELECT * FROM check_results WHERE check_name = ? AND subject = ? "  # noqa: S608
        "ORDER BY batch DESC LIMIT ?) ORDER BY batch",
        [check, subject, limit],
    ))


def checked_batches(conn: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Per batch: how many results of each status."""
    return _rows(conn.execute(
        "SELECT batch, count(*) FILTER (WHERE status = 'fail') AS fail, count(*) FILTER (WHERE status = 'warn') AS warn, "
        "count(*) FILTER (WHERE status = 'error') AS error, count(*) FILTER (WHERE status = 'ok') AS ok, "
        "count(*) FILTER (WHERE status = 'skipped') AS skipped FROM check_results GROUP BY batch ORDER BY batch"
    ))


def latest_failures(conn: duckdb.DuckDBPyConnection, limit: int = 100) -> list[dict[str, Any]]:
    """Failed and errored results, newest batch first."""
    return _rows(conn.execute(
        f"SELECT {_COLUMNS} FROM check_results WHERE status IN ('fail', 'error') "  # noqa: S608
        "ORDER BY batch DESC, family, check_name, subject LIMIT ?",
        [limit],
    ))


def subjects_of_check(conn: duckdb.DuckDBPyConnection, check: str) -> list[str]:
    return [r[0] for r in conn.execute(
        "SELECT DISTINCT subject FROM check_results WHERE check_name = ? ORDER BY subject", [check]).fetchall()]
