"""`vigil doctor`, `vigil backup`, `vigil restore`, `vigil warehouse rebuild`: the stores' health
and recovery. Logic lives in core.doctor, core.backup and profilers.rebuild."""

from __future__ import annotations

import sys
from pathlib import Path

from core import audit, auth, exit_codes
from core.backup import BackupError, backup_dir, backup_ops, list_backups, prune, restore_ops
from core.commands import ANYONE, Arg, Args, Command, Group, Opt
from core.doctor import diagnose
from core.identity import acting_username
from core.output import emit
from core.stores import OpsStore, cycle_lock


def cmd_doctor(args: Args) -> int:
    cfg = args.load_config()
    findings = diagnose(cfg)
    text = "\n".join(f"{'ok  ' if f.ok else 'FAIL'}  {f.check:<22} {f.detail}" for f in findings)
    emit(args.json, [f.to_dict() for f in findings], text)
    return exit_codes.OK if all(f.ok for f in findings) else exit_codes.FAILED


def cmd_backup(args: Args) -> int:
    cfg = args.load_config()
    dest = Path(args.out) if args.out else backup_dir(cfg.root)
    made = backup_ops(cfg.ops_path, dest, auth.users_file(cfg.root))
    pruned = prune(dest) if not args.out else []
    audit.record(OpsStore(cfg.ops_path), args.user, "stores.backup", str(made.path), None, made.to_dict())
    emit(args.json, {**made.to_dict(), "pruned": [str(p) for p in pruned]},
         f"ops store backed up to {made.path} ({made.bytes:,} bytes, integrity ok)")
    return exit_codes.OK


def cmd_restore(args: Args) -> int:
    cfg = args.load_config()
    source = Path(args.backup) if args.backup else next(iter(list_backups(backup_dir(cfg.root))), None)
    if source is None:
        raise BackupError(f"no backup under {backup_dir(cfg.root)} (hint: name one: `vigil restore FILE`)")
    with cycle_lock(cfg.root / "cycle.lock"):  # no cycle writes while the file is swapped
        aside = restore_ops(cfg.ops_path, source)
    # Who did it: the OS account (restoring needs write access to the store files, which the
    # trust model already equates with full control; see README).
    actor = f"os:{acting_username()}"
    audit.record(OpsStore(cfg.ops_path), actor, "stores.restore", str(source), None,
                 {"replaced": str(aside) if aside else None})
    emit(args.json, {"restored_from": str(source), "moved_aside": str(aside) if aside else None},
         f"ops store restored from {source}" + (f"; the replaced file is kept as {aside}" if aside else ""))
    return exit_codes.OK


def cmd_warehouse_rebuild(args: Args) -> int:
    from app.cycle import run_cycle
    from profilers.rebuild import move_aside, restore_quarantine_history

    cfg = args.load_config()
    aside = move_aside(cfg)
    print(f"warehouse moved aside to {aside}; rebuilding from the landing files ..." if aside
          else "no warehouse file; building it from the landing files ...", file=sys.stderr, flush=True)
    report = run_cycle(cfg, notify=False, actor=args.user)  # ingest everything, profile, check (no re-notify)
    kept = restore_quarantine_history(cfg, aside)
    audit.record(OpsStore(cfg.ops_path), args.user, "stores.warehouse_rebuild", str(cfg.warehouse_path),
                 None, {"moved_aside": str(aside) if aside else None, "files_loaded": report.files_loaded,
                        "quarantined": len(report.quarantined), "quarantine_history_kept": kept})
    emit(args.json, {"moved_aside": str(aside) if aside else None, "files_loaded": report.files_loaded,
                     "quarantined": len(report.quarantined), "batches": len(report.batches_profiled),
                     "quarantine_history_kept": kept},
         f"warehouse rebuilt: {report.files_loaded} files loaded, {len(report.quarantined)} quarantined, "
         f"{len(report.batches_profiled)} batches profiled and checked")
    return exit_codes.OK


COMMANDS = (
    Command("doctor", cmd_doctor, ANYONE,
            "check both stores (SQLite integrity, DuckDB reads), the audit chain, landing folders and free disk "
            "(exit 1 if anything is wrong)"),
    Command("backup", cmd_backup, "stores.backup",
            "back up the ops store (SQLite online backup) and the users file under <root>/backups",
            (Opt("--out", metavar="DIR", help="another folder for this backup"),), refusals=(BackupError,)),
    Command("restore", cmd_restore, ANYONE,
            "replace the ops store with a backup (default: the newest); the current file is moved aside",
            (Arg("backup", "BACKUP", required=False, help="a file from `vigil backup`"),), refusals=(BackupError,)),
    Group("warehouse", "the DuckDB warehouse"),
    Command("warehouse rebuild", cmd_warehouse_rebuild, "stores.rebuild",
            "move the warehouse aside and rebuild it from the landing files (its source of truth)"),
)
