"""`vigil doctor`: is every part Vigil stands on sound?

Checks the ops store (SQLite ``integrity_check``), the warehouse (DuckDB opens read-only and
reads every column of every table, so a failed block checksum shows), the audit chain, the
landing folders (present, readable, no symlink leaving the storage root) and free disk.
Each finding says what is wrong and how to recover; nothing is changed.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import asdict, dataclass
from typing import Any

import duckdb

from core import audit
from core.backup import backup_dir, integrity, list_backups
from core.config import VigilConfig
from core.sql import ident
from core.stores import OpsStore, StoreUnavailable

MIN_FREE_BYTES = 1 << 30  # 1 GiB
MIN_FREE_SHARE = 0.05


@dataclass(frozen=True)
class Finding:
    check: str
    ok: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _ops(cfg: VigilConfig) -> Finding:
    path = cfg.ops_path
    if not path.exists():
        return Finding("ops store", False, f"{path}: missing (hint: `vigil run-once` creates it; or `vigil restore`)")
    verdict = integrity(path)
    if verdict != "ok":
        newest = next(iter(list_backups(backup_dir(cfg.root))), None)
        hint = f"`vigil restore {newest}`" if newest else "`vigil restore BACKUP` (no backup found under the root)"
        return Finding("ops store", False, f"{path}: integrity_check failed: {verdict} (hint: {hint})")
    return Finding("ops store", True, f"{path}: integrity_check ok ({path.stat().st_size:,} bytes)")


def _warehouse(cfg: VigilConfig) -> Finding:
    path = cfg.warehouse_path
    if not path.exists():
        return Finding("warehouse", False, f"{path}: missing (hint: `vigil run-once` or `vigil warehouse rebuild`)")
    hint = "(hint: `vigil warehouse rebuild` rebuilds it from the landing files)"
    try:
        conn = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as err:
        return Finding("warehouse", False, f"{path}: does not open: {str(err).splitlines()[0]} {hint}")
    try:
        tables = [r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' ORDER BY 1").fetchall()]
        rows = 0
        for table in tables:
            # hash every column: reads every block, so a failed checksum anywhere shows here
            got = conn.execute(f"SELECT count(*), sum(hash(COLUMNS(*))) FROM {ident(table)}").fetchall()  # noqa: S608
            rows += int(got[0][0])
    except duckdb.Error as err:
        return Finding("warehouse", False, f"{path}: opens but does not read: {str(err).splitlines()[0]} {hint}")
    finally:
        conn.close()
    return Finding("warehouse", True, f"{path}: opens and reads ({len(tables)} tables, {rows:,} rows)")


def _audit(cfg: VigilConfig) -> Finding:
    if not cfg.ops_path.exists():
        return Finding("audit chain", False, "no ops store, so no audit trail")
    try:
        report = audit.verify(OpsStore(cfg.ops_path))
    except (StoreUnavailable, Exception) as err:  # a damaged store: reported by the ops check too
        return Finding("audit chain", False, f"cannot be read: {str(err).splitlines()[0]}")
    return Finding("audit chain", report.ok, report.text())


def _landing(cfg: VigilConfig) -> list[Finding]:
    root = cfg.root.resolve()
    sources = [("predictions", cfg.predictions.source.path)] + [(t.name, t.source.path) for t in cfg.etl_tables]
    out = []
    for name, rel in sources:
        folder = cfg.resolve(rel)
        if not folder.is_dir():
            out.append(Finding(f"landing {name}", False, f"{folder}: missing (hint: the producer writes here)"))
            continue
        if not os.access(folder, os.R_OK | os.X_OK):
            out.append(Finding(f"landing {name}", False, f"{folder}: not readable (hint: check permissions)"))
            continue
        files = [p for p in folder.iterdir() if not p.name.startswith(".")]
        escaping = [p.name for p in files if p.is_symlink() and not p.resolve().is_relative_to(root)]
        if escaping:
            out.append(Finding(f"landing {name}", False, f"{folder}: {len(escaping)} symlink(s) leave the storage root "
                                                          f"and are refused: {', '.join(sorted(escaping)[:5])}"))
        else:
            out.append(Finding(f"landing {name}", True, f"{folder}: {len(files)} file(s)"))
    return out


def _disk(cfg: VigilConfig) -> Finding:
    usage = shutil.disk_usage(cfg.root if cfg.root.exists() else cfg.root.parent)
    share = usage.free / usage.total if usage.total else 0.0
    ok = usage.free >= MIN_FREE_BYTES and share >= MIN_FREE_SHARE
    detail = f"{usage.free / 2**30:.1f} GiB free of {usage.total / 2**30:.1f} GiB ({share:.0%})"
    return Finding("free disk", ok, detail if ok else detail + " (hint: free space before the stores fill the disk)")


def diagnose(cfg: VigilConfig) -> list[Finding]:
    return [_ops(cfg), _warehouse(cfg), _audit(cfg), *_landing(cfg), _disk(cfg)]
