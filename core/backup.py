"""Backups of the operational store (alerts, incidents, postmortems, decisions, registry,
sessions, audit) with SQLite's online backup API, and restoring one.

The online backup copies a consistent snapshot while other processes keep reading and
writing (WAL). The users file lives beside the store and is copied with it.
"""

from __future__ import annotations

import shutil
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from core.clock import Clock, SystemClock

BACKUP_DIR = "backups"
KEEP = 14  # newest backups kept by `prune`
_STAMP = "%Y%m%dT%H%M%S%fZ"


class BackupError(RuntimeError):
    """A backup that cannot be made or restored (the message names the file and a hint)."""


@dataclass(frozen=True)
class Backup:
    path: Path
    users_file: Path | None
    bytes: int

    def to_dict(self) -> dict[str, object]:
        return {"path": str(self.path), "users_file": str(self.users_file) if self.users_file else None,
                "bytes": self.bytes}


def backup_dir(root: Path) -> Path:
    return Path(root) / BACKUP_DIR


def integrity(path: Path) -> str:
    """SQLite's `PRAGMA integrity_check` of a file ('ok' when sound; else the first problems)."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = conn.execute("PRAGMA integrity_check").fetchall()
        finally:
            conn.close()
    except sqlite3.DatabaseError as err:
        return f"unreadable: {err}"
    text = "; ".join(str(r[0]) for r in rows[:5])
    return "ok" if text == "ok" else text


def backup_ops(ops_path: Path, dest: Path, users_file: Path | None = None, *, clock: Clock | None = None) -> Backup:
    """A consistent copy of the live ops store into `dest` (a folder), checked before it is kept."""
    ops_path = Path(ops_path)
    if not ops_path.exists():
        raise BackupError(f"{ops_path}: no ops store to back up (hint: run `vigil run-once` first)")
    dest.mkdir(parents=True, exist_ok=True)
    stamp = (clock or SystemClock()).now().strftime(_STAMP)
    target = dest / f"ops-{stamp}.sqlite"
    partial = target.with_suffix(".partial")
    src = sqlite3.connect(str(ops_path), timeout=15)
    try:
        out = sqlite3.connect(str(partial))
        try:
            src.backup(out)  # the online backup API: a consistent snapshot, writers keep going
        finally:
            out.close()
    except sqlite3.DatabaseError as err:
        partial.unlink(missing_ok=True)
        raise BackupError(f"{ops_path}: cannot be backed up ({err}) (hint: `vigil doctor`; restore an older backup "
                          "with `vigil restore`)") from None
    finally:
        src.close()
    verdict = integrity(partial)
    if verdict != "ok":
        partial.unlink(missing_ok=True)
        raise BackupError(f"{ops_path}: the copy failed its integrity check ({verdict}); nothing kept")
    partial.rename(target)
    users_copy = None
    if users_file is not None and Path(users_file).exists():
        users_copy = dest / f"users-{stamp}.yaml"
        shutil.copy2(users_file, users_copy)
        users_copy.chmod(0o600)
    return Backup(target, users_copy, target.stat().st_size)


def list_backups(dest: Path) -> list[Path]:
    """Backups in `dest`, newest first."""
    return sorted(Path(dest).glob("ops-*.sqlite"), reverse=True)


def prune(dest: Path, keep: int = KEEP) -> list[Path]:
    """Remove all but the newest `keep` backups (and their users files); returns what went."""
    gone = []
    for old in list_backups(dest)[keep:]:
        old.unlink(missing_ok=True)
        (old.parent / old.name.replace("ops-", "users-").replace(".sqlite", ".yaml")).unlink(missing_ok=True)
        gone.append(old)
    return gone


def restore_ops(ops_path: Path, source: Path, *, clock: Clock | None = None) -> Path | None:
    """Replace the ops store with a backup (checked first). The current file, damaged or not, is
    moved aside (returned) rather than deleted. Call under the cycle lock."""
    source, ops_path = Path(source), Path(ops_path)
    if not source.exists():
        raise BackupError(f"{source}: no such backup (hint: `ls {backup_dir(ops_path.parent)}`)")
    verdict = integrity(source)
    if verdict != "ok":
        raise BackupError(f"{source}: the backup failed its integrity check ({verdict}) (hint: pick an older one)")
    aside = None
    stamp = (clock or SystemClock()).now().strftime(_STAMP)
    if ops_path.exists():
        aside = ops_path.with_name(f"{ops_path.name}.replaced-{stamp}")
        ops_path.rename(aside)
    for suffix in ("-wal", "-shm"):  # the old file's journal must not be replayed into the restored one
        side = ops_path.with_name(ops_path.name + suffix)
        if side.exists():
            side.rename(side.with_name(f"{side.name}.replaced-{stamp}"))
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        out = sqlite3.connect(str(ops_path))
        try:
            src.backup(out)
        finally:
            out.close()
    finally:
        src.close()
    return aside


def moved_aside_name(path: Path, when: datetime) -> Path:
    return path.with_name(f"{path.name}.damaged-{when.strftime(_STAMP)}")
