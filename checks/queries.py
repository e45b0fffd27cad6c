"""Named read functions over check_results, for the app's pages and the CLI."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import duckdb
import pandas as pd

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


# ---- frames for the dashboard (pandas; the app turns them into charts and tables) ----------


def normalise_results(frame: pd.DataFrame) -> pd.DataFrame:
    """check_results rows with the CheckResult field names (check, evidence as a dict)."""
    if frame.empty:
        return frame
    renames = {"check_name": "check", "evidence_json": "evidence"}
    frame = frame.rename(columns={k: v for k, v in renames.items() if k in frame.columns})
    if "evidence" in frame.columns:
        frame["evidence"] = frame["evidence"].map(_evidence)
    return frame


def _evidence(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    if not isinstance(value, str) or not value:
        return {}
    try:
        loaded = json.loads(value)
    except ValueError:
        return {}
    return loaded if isinstance(loaded, dict) else {}


def results_frame(conn: duckdb.DuckDBPyConnection, batches: int | None = None) -> pd.DataFrame:
    """All results, newest batch first; ``batches`` keeps only the newest N batches."""
    if batches is None:
        return normalise_results(conn.execute("SELECT * FROM check_results ORDER BY batch DESC").df())
    return normalise_results(conn.execute(
        "SELECT * FROM check_results WHERE batch IN "
        "(SELECT DISTINCT batch FROM check_results ORDER BY batch DESC LIMIT ?) ORDER BY batch DESC",
        [batches],
    ).df())


def batches_with_results(conn: duckdb.DuckDBPyConnection) -> list[datetime]:
    """Batches that have results, newest first (aggregated in SQL: a year of hourly batches is
    1.5M result rows, which a page must not load to list them)."""
    rows = conn.execute(
        "SELECT DISTINCT batch FROM check_results WHERE batch IS NOT NULL ORDER BY batch DESC"
    ).fetchall()
    return [r[0] for r in rows]


def batch_frame(conn: duckdb.DuckDBPyConnection, batch: datetime, ordered: bool = False) -> pd.DataFrame:
    """Every result of one batch (``ordered``: by status, then the first column)."""
    if ordered:
        return normalise_results(conn.execute("SELECT * FROM check_results WHERE batch = ? ORDER BY status, 1", [batch]).df())
    return normalise_results(conn.execute("SELECT * FROM check_results WHERE batch = ?", [batch]).df())


# A segment result's subject ends with '{segmentation=label}' (checks.segments).
_IS_SEGMENT = "(subject LIKE '%}' AND contains(subject, '{'))"
# The segment check behind each model-level check (the trends' segment picker).
SEGMENT_CHECK_OF = {"auc": "segment_auc", "kpi": "segment_kpi", "calibration_drift": "segment_calibration",
                    "mae": "segment_mae", "estimated_performance": "segment_estimated_auc",
                    "score_drift": "segment_score_drift", "psi": "segment_drift", "null_rate": "segment_null_rate"}


def family_series(conn: duckdb.DuckDBPyConnection, family: str) -> list[tuple[str, str]]:
    """(check, subject) pairs with results in a family (segment results apart: see segment_series)."""
    rows = conn.execute(
        f"SELECT DISTINCT check_name, subject FROM check_results WHERE family = ? AND NOT {_IS_SEGMENT} ORDER BY 1, 2",  # noqa: S608
        [family],
    ).fetchall()
    return [(str(c), str(s)) for c, s in rows]


def segment_series(conn: duckdb.DuckDBPyConnection, check: str, subject: str) -> list[tuple[str, str, str]]:
    """(segment check, its subject, segment) of every segment series behind a model-level series."""
    seg_check = SEGMENT_CHECK_OF.get(check)
    if seg_check is None:
        return []
    base = subject if seg_check not in ("segment_estimated_auc",) else "model"
    rows = conn.execute(
        "SELECT DISTINCT subject FROM check_results WHERE check_name = ? AND starts_with(subject, ?) "
        "AND subject LIKE '%}' ORDER BY 1",
        [seg_check, base + "{"],
    ).fetchall()
    return [(seg_check, str(r[0]), str(r[0])[len(base) + 1 : -1]) for r in rows]


def segment_heatmap(conn: duckdb.DuckDBPyConnection, family: str) -> pd.DataFrame:
    """Per (batch, segment) of one family's segment checks: the worst status, the check and subject
    that gave it, and the smallest adjusted p-value (the Checks page's segment x batch heatmap)."""
    frame = conn.execute(
        "SELECT batch, check_name AS check, subject, status, value, "  # noqa: S608
        "regexp_extract(subject, '\\{(.*)\\}$', 1) AS segment, "
        "TRY_CAST(json_extract_string(evidence_json, '$.adjusted_pvalue') AS DOUBLE) AS adjusted_pvalue, "
        "TRY_CAST(json_extract_string(evidence_json, '$.rows') AS BIGINT) AS rows "
        f"FROM check_results WHERE family = ? AND starts_with(check_name, 'segment_') AND {_IS_SEGMENT} "
        "ORDER BY batch",
        [family],
    ).df()
    if frame.empty:
        return frame
    rank = {"fail": 0, "error": 1, "warn": 2, "ok": 3, "skipped": 4}
    frame["_rank"] = frame["status"].map(rank).fillna(9)
    frame = frame.sort_values(["batch", "segment", "_rank", "adjusted_pvalue"])
    worst = frame.groupby(["batch", "segment"], as_index=False).first()
    worst["adjusted_pvalue"] = frame.groupby(["batch", "segment"])["adjusted_pvalue"].min().to_numpy()
    worst["tests"] = frame.groupby(["batch", "segment"]).size().to_numpy()
    return worst.drop(columns=["_rank"])


def series_frame(conn: duckdb.DuckDBPyConnection, check: str, subject: str) -> pd.DataFrame:
    """Value and bounds per batch of one check on one subject."""
    return normalise_results(conn.execute(
        "SELECT * FROM check_results WHERE check_name = ? AND subject = ? ORDER BY batch", [check, subject]
    ).df())


def family_frame(conn: duckdb.DuckDBPyConnection, family: str) -> pd.DataFrame:
    """Every result of a family, oldest batch first (KPI and metric trends)."""
    return normalise_results(
        conn.execute("SELECT * FROM check_results WHERE family = ? ORDER BY batch", [family]).df()
    )


def failing_per_batch(conn: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """batch, family, failed, warned."""
    return conn.execute(
        "SELECT batch, family, count(*) FILTER (WHERE status = 'fail') AS failed, "
        "count(*) FILTER (WHERE status = 'warn') AS warned FROM check_results "
        "GROUP BY batch, family ORDER BY batch, family"
    ).df()


def latest_batch_counts(conn: duckdb.DuckDBPyConnection) -> list[tuple[datetime, str, str, int]]:
    """(batch, family, status, results) of the newest checked batch."""
    rows = conn.execute(
        "SELECT batch, family, status, count(*) AS n FROM check_results "
        "WHERE batch = (SELECT max(batch) FROM check_results) GROUP BY batch, family, status"
    ).fetchall()
    return [(r[0], str(r[1]), str(r[2]), int(r[3])) for r in rows]


def latest_batch(conn: duckdb.DuckDBPyConnection, model: str) -> datetime | None:
    """The newest batch with results for the model."""
    rows = conn.execute("SELECT max(batch) FROM check_results WHERE model = ?", [model]).fetchall()
    return rows[0][0] if rows else None


def unchecked_batches(conn: duckdb.DuckDBPyConnection) -> set[datetime]:
    """Profiled batches without any result (a cycle killed between profile and checks)."""
    rows = conn.execute(
        "SELECT b.batch FROM batches b WHERE NOT EXISTS "
        "(SELECT 1 FROM check_results c WHERE c.batch = b.batch)"
    ).fetchall()
    return {r[0] for r in rows}
# Checks that estimate a performance metric before labels, and the evidence key of the realized
# value stored beside the estimate once the batch's labels matured.
ESTIMATE_REALIZED_KEYS = {"estimated_performance": "realized_auc", "estimated_mae": "realized_mae",
                          "estimated_rmse": "realized_rmse"}


def estimate_series(conn: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """(check, subject) pairs of performance estimates with results."""
    names = sorted(ESTIMATE_REALIZED_KEYS)
    rows = conn.execute(
        f"SELECT DISTINCT check_name, subject FROM check_results WHERE check_name IN ({', '.join('?' * len(names))}) "  # noqa: S608
        "ORDER BY 1, 2", names,
    ).fetchall()
    return [(str(c), str(s)) for c, s in rows]


def estimate_trend(conn: duckdb.DuckDBPyConnection, check: str, subject: str = "model") -> list[dict[str, Any]]:
    """Per batch (oldest first), for one trend: the estimate made before labels with its bounds and
    status, and, once the batch's labels matured, the realized value and the estimate's error
    (None before). Batches are ISO strings: no timestamp conversion can overflow."""
    key = ESTIMATE_REALIZED_KEYS.get(check)
    if key is None:
        raise KeyError(f"{check!r} is not a performance estimate (hint: one of {', '.join(sorted(ESTIMATE_REALIZED_KEYS))})")
    out = []
    for r in check_history(conn, check, subject):
        if r["status"] in ("skipped", "error") or r["value"] is None:
            continue
        ev = r.get("evidence") or {}
        realized = ev.get(key)
        error = ev.get("estimate_error")
        if realized is not None and error is None:
            error = float(r["value"]) - float(realized)
        out.append({"batch": r["batch"].isoformat() if isinstance(r["batch"], datetime) else str(r["batch"]),
                    "estimated": float(r["value"]), "lower": r["lower"], "upper": r["upper"], "status": r["status"],
                    "realized": float(realized) if realized is not None else None,
                    "estimate_error": float(error) if error is not None else None})
    return out


def estimate_vs_realized(conn: duckdb.DuckDBPyConnection, subject: str = "model") -> list[dict[str, Any]]:
    """Per batch (oldest first): the estimated AUC before labels and, once the labels matured,
    the realized AUC and the estimate's error on the same labelled rows (for the Checks trend)."""
    out = []
    for r in check_history(conn, "estimated_performance", subject):
        ev = r.get("evidence") or {}
        if ev.get("realized_auc") is None:
            continue
        out.append({"batch": r["batch"], "estimated_auc": ev.get("estimated_auc"),
                    "estimated_auc_labelled": ev.get("estimated_auc_labelled"),
                    "realized_auc": ev.get("realized_auc"), "estimate_error": ev.get("estimate_error"),
                    "status": r["status"]})
    return out
