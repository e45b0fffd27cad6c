"""`vigil warehouse rebuild`: a new DuckDB warehouse from the landing files (the source of truth).

The damaged file is moved aside, never deleted. The quarantine history of the old file is
kept when it can still be read; files that are still bad are quarantined again by the
ingest of the rebuild. Statistics and check results are recomputed by the cycle that follows.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb

from core.clock import SystemClock
from core.config import VigilConfig
from core.stores import Warehouse, cycle_lock

_STAMP = "%Y%m%dT%H%M%SZ"


def _kept_quarantine(old: Path) -> list[tuple]:  # type: ignore[type-arg]
    """Closed quarantine entries of the old warehouse, if it still reads (best effort)."""
    try:
        conn = duckdb.connect(str(old), read_only=True)
    except duckdb.Error:
        return []
    try:
        return conn.execute("SELECT * FROM quarantine WHERE status <> 'open'").fetchall()
    except duckdb.Error:
        return []
    finally:
        conn.close()


def move_aside(cfg: VigilConfig, when: datetime | None = None) -> Path | None:
    """Under the cycle lock: the warehouse file (and its WAL) renamed `<name>.damaged-<time>`."""
    path = cfg.warehouse_path
    stamp = (when or SystemClock().now()).strftime(_STAMP)
    with cycle_lock(cfg.root / "cycle.lock"):
        if not path.exists():
            return None
        aside = path.with_name(f"{path.name}.damaged-{stamp}")
        path.rename(aside)
        wal = path.with_name(path.name + ".wal")
        if wal.exists():
            wal.rename(wal.with_name(f"{wal.name}.damaged-{stamp}"))
    return aside


def restore_quarantine_history(cfg: VigilConfig, aside: Path | None) -> int:
    """Copy the old file's closed quarantine entries into the new warehouse; returns how many."""
    if aside is None:
        return 0
    rows = _kept_quarantine(aside)
    if not rows:
        return 0
    wh = Warehouse(cfg.warehouse_path, memory_limit=cfg.storage.duckdb_memory_limit)
    marks = ", ".join("?" for _ in rows[0])
    with wh.write() as conn:
        known = {r[0] for r in conn.execute("SELECT quarantine_id FROM quarantine").fetchall()}
        fresh = [r for r in rows if r[0] not in known]
        for row in fresh:
            conn.execute(f"INSERT INTO quarantine VALUES ({marks})", list(row))  # noqa: S608
    return len(fresh)
