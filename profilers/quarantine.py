"""The quarantine: files that could not be loaded, with the reason; list, show, retry."""

from __future__ import annotations

from typing import Any

import duckdb

from core import audit
from core.config import VigilConfig
from core.stores import OpsStore, StoreMissing, Warehouse
from profilers.ingest import IngestReport, ingest_all

_COLUMNS = (
    "quarantine_id",
    "path",
    "source",
    "sha256",
    "size",
    "reason",
    "detail",
    "status",
    "quarantined_at",
    "resolved_at",
)


def _rows(wh: Warehouse, where: str, params: list[Any]) -> list[dict[str, Any]]:
    try:
        with wh.read() as conn:
            rows = conn.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM quarantine {where} ORDER BY quarantined_at DESC, path",  # noqa: S608
                params,
            ).fetchall()
    except StoreMissing:
        return []
    return [dict(zip(_COLUMNS, r, strict=True)) for r in rows]


def list_quarantine(wh: Warehouse, include_closed: bool = False) -> list[dict[str, Any]]:
    """Open quarantine entries, newest first (all entries with include_closed)."""
    return _rows(wh, "" if include_closed else "WHERE status = 'open'", [])


def show_quarantine(wh: Warehouse, quarantine_id: str) -> dict[str, Any] | None:
    found = _rows(wh, "WHERE quarantine_id = ?", [quarantine_id])
    return found[0] if found else None


_ROW_COLUMNS = ("path", "source", "row_number", "reason", "detail", "timestamp_value", "row_json", "quarantined_at")


def list_quarantined_rows(wh: Warehouse, path: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
    """Rows set aside at ingestion (null or implausible timestamps), newest first; ``path`` filters one file."""
    where, params = ("WHERE path = ?", [path]) if path else ("", [])
    try:
        with wh.read() as conn:
            rows = conn.execute(
                f"SELECT {', '.join(_ROW_COLUMNS)} FROM quarantined_rows {where} "  # noqa: S608
                "ORDER BY quarantined_at DESC, path, row_number LIMIT ?",
                [*params, limit],
            ).fetchall()
    except (StoreMissing, duckdb.CatalogException):
        return []
    return [dict(zip(_ROW_COLUMNS, r, strict=True)) for r in rows]


def retry_quarantine(cfg: VigilConfig, wh: Warehouse, quarantine_id: str | None = None) -> IngestReport:
    """Try the open entries again (one, or all): files still bad are quarantined anew.

    Raises KeyError if the id is unknown or not open.
    """
    entries = list_quarantine(wh)
    if quarantine_id is not None:
        entries = [e for e in entries if e["quarantine_id"] == quarantine_id]
        if not entries:
            raise KeyError(f"no open quarantine entry {quarantine_id!r} (hint: `vigil quarantine list`)")
    paths = [str(e["path"]) for e in entries]
    with wh.write() as conn:
        for e in entries:
            conn.execute(
                "UPDATE quarantine SET status = 'retried', resolved_at = now() WHERE quarantine_id = ?",
                [e["quarantine_id"]],
            )
            # Forget the quarantined version so the scan reads the file again.
            conn.execute("DELETE FROM ingested_files WHERE path = ? AND status = 'quarantined'", [e["path"]])
    return ingest_all(cfg, wh, only=paths)


def audit_ingest(cfg: VigilConfig, actor: str, action: str, report: IngestReport, target: str | None = None) -> int:
    """Record an ingest or quarantine retry in the audit trail (the warehouse has no audit of its own)."""
    summary: dict[str, Any] = {
        "loaded": report.loaded, "skipped": report.skipped, "replaced": report.replaced, "rows": report.rows,
        "loaded_files": report.loaded_files[:100],
        "quarantined": [{"path": q.path, "reason": q.reason} for q in report.quarantined[:100]],
    }
    return audit.record(OpsStore(cfg.ops_path), actor, action, target or cfg.model.name, None, summary)
