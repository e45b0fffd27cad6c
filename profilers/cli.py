"""`vigil` commands of the profilers: ingest, quarantine list|show|retry, profile export|whylogs.

Declared in ``COMMANDS`` and contributed through the ``vigil.commands`` entry-point group.
Handlers take the kernel's args (``args.load_config()``, ``args.json``) and return an exit
code: 0 ok, 1 something was quarantined, 2 usage.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from core import exit_codes
from core.commands import READ, Arg, Command, Group, Opt
from core.config import VigilConfig
from core.output import emit
from core.stores import Warehouse


def _config(args: argparse.Namespace) -> VigilConfig:
    cfg: VigilConfig = args.load_config()
    return cfg


def _actor(args: argparse.Namespace) -> str:
    """The acting user the command kernel resolved once (core.identity); the audit names them."""
    return str(args.user)


def _warehouse(cfg: VigilConfig) -> Warehouse:
    return Warehouse(cfg.warehouse_path, memory_limit=cfg.storage.duckdb_memory_limit)


def _emit(args: argparse.Namespace, data: Any, text: str) -> None:
    emit(bool(getattr(args, "json", False)), data, text)


# ---- handlers -------------------------------------------------------------------------------


def cmd_ingest(args: argparse.Namespace) -> int:
    from profilers.ingest import ingest_all
    from profilers.quarantine import audit_ingest

    cfg = _config(args)
    report = ingest_all(cfg, _warehouse(cfg))
    audit_ingest(cfg, _actor(args), "ingest.run", report)
    lines = [
        f"loaded {report.loaded} file(s) ({report.rows} rows), skipped {report.skipped}, replaced {report.replaced}, "
        f"quarantined {len(report.quarantined)}"
    ]
    lines += [f"  quarantined {q.path}: {q.reason}: {q.detail}" for q in report.quarantined]
    lines += [f"  quarantined {q.rows} row(s) of {q.path}: {q.reason}: {q.detail}" for q in report.quarantined_rows]
    lines += [
        f"  schema {c.source} {c.change} {c.column} {c.detail or ''}".rstrip() for c in report.schema_changes
    ]
    if report.all_dirty:
        lines.append("dirty batches: " + ", ".join(b.isoformat() for b in sorted(report.all_dirty)))
    _emit(args, report.to_dict(), "\n".join(lines))
    return exit_codes.FAILED if report.quarantined or report.quarantined_rows else exit_codes.OK


def cmd_quarantine_list(args: argparse.Namespace) -> int:
    from profilers.quarantine import list_quarantine

    cfg = _config(args)
    entries = list_quarantine(_warehouse(cfg), include_closed=getattr(args, "all", False))
    if not entries:
        _emit(args, [], "quarantine is empty")
        return exit_codes.OK
    text = "\n".join(
        f"{e['quarantine_id']}  {e['status']:<8} {e['reason']:<14} {e['path']}  ({e['quarantined_at']:%Y-%m-%d %H:%M})"
        for e in entries
    )
    _emit(args, entries, text)
    return exit_codes.OK


def cmd_quarantine_show(args: argparse.Namespace) -> int:
    from profilers.quarantine import show_quarantine

    cfg = _config(args)
    entry = show_quarantine(_warehouse(cfg), args.quarantine_id)
    if entry is None:
        print(
            f"vigil: no quarantine entry {args.quarantine_id!r} (hint: `vigil quarantine list --all`)",
            file=sys.stderr,
        )
        return exit_codes.USAGE
    text = "\n".join(f"{k}: {v}" for k, v in entry.items())
    _emit(args, entry, text)
    return exit_codes.OK


def cmd_quarantine_rows(args: argparse.Namespace) -> int:
    from profilers.quarantine import list_quarantined_rows

    cfg = _config(args)
    rows = list_quarantined_rows(_warehouse(cfg), args.path, args.limit)
    if not rows:
        _emit(args, [], "no quarantined rows")
        return exit_codes.OK
    text = "\n".join(
        f"{r['path']} row {r['row_number']}  {r['reason']:<16} {r['timestamp_value'] or '(null)'}  {r['detail']}" for r in rows
    )
    _emit(args, rows, text)
    return exit_codes.OK


def cmd_quarantine_retry(args: argparse.Namespace) -> int:
    from profilers.quarantine import audit_ingest, retry_quarantine

    cfg = _config(args)
    if not args.quarantine_id and not args.all:
        print("vigil: name a quarantine id or pass --all (hint: `vigil quarantine list`)", file=sys.stderr)
        return exit_codes.USAGE
    try:
        report = retry_quarantine(cfg, _warehouse(cfg), None if args.all else args.quarantine_id)
    except KeyError as err:
        print(f"vigil: {err.args[0]}", file=sys.stderr)
        return exit_codes.USAGE
    audit_ingest(cfg, _actor(args), "quarantine.retry", report, target=args.quarantine_id or "all")
    lines = [f"loaded {report.loaded} file(s); still quarantined {len(report.quarantined)}"]
    lines += [f"  {q.quarantine_id} {q.path}: {q.reason}: {q.detail}" for q in report.quarantined]
    _emit(args, report.to_dict(), "\n".join(lines))
    return exit_codes.FAILED if report.quarantined else exit_codes.OK


def cmd_profile_export(args: argparse.Namespace) -> int:
    from profilers.whylogs_profiles import export_profiles, profile_whylogs

    cfg = _config(args)
    wh = _warehouse(cfg)
    if not args.no_compute:
        profile_whylogs(cfg, wh)  # bring stale profiles up to date first
    files = export_profiles(wh, args.out, source=args.source, weekly=args.weekly)
    text = f"wrote {len(files)} whylogs profile(s) to {args.out}"
    if not files:
        text += " (hint: batches are profiled by the cycle; run `vigil run-once` first)"
    _emit(args, [str(f) for f in files], text)
    return exit_codes.OK


def cmd_profile_whylogs(args: argparse.Namespace) -> int:
    from profilers.whylogs_profiles import profile_whylogs

    cfg = _config(args)
    done = profile_whylogs(cfg, _warehouse(cfg), max_rows=args.max_rows)
    _emit(
        args,
        [{"source": s, "batch": b} for s, b in done],
        f"profiled {len(done)} batch(es) with whylogs",
    )
    return exit_codes.OK


# ---- declarations ---------------------------------------------------------------------------

COMMANDS = (
    Command("ingest", cmd_ingest, "cycle.run", "load new landing files exactly once (exit 1 if any was quarantined)"),
    Group("quarantine", "files that could not be loaded"),
    Command("quarantine list", cmd_quarantine_list, READ, "list open quarantine entries",
            (Opt("--all", is_flag=True, help="include resolved and retried entries"),)),
    Command("quarantine show", cmd_quarantine_show, READ, "show one entry with its reason", (Arg("quarantine_id", "ID"),)),
    Command("quarantine rows", cmd_quarantine_rows, READ, "rows set aside at ingestion (null or implausible timestamps)", (
        Opt("--path", help="only the rows of this landing file (relative path)"),
        Opt("--limit", type=int, default=1000, help="at most this many rows (newest first)"),
    )),
    Command("quarantine retry", cmd_quarantine_retry, "cycle.run", "load a quarantined file again (after it was fixed)",
            (Arg("quarantine_id", "ID", required=False), Opt("--all", is_flag=True, help="retry every open entry"))),
    Group("profile", "whylogs profiles of the batches"),
    Command("profile export", cmd_profile_export, READ, "write whylogs profiles (per batch or weekly) to a folder", (
        Opt("--out", default="whylogs-profiles", metavar="DIR"),
        Opt("--source", help="'predictions' or an ETL table (default: all)"),
        Opt("--weekly", is_flag=True, help="merge batches into weekly roll-ups"),
        Opt("--no-compute", is_flag=True, help="export stored profiles only"),
    )),
    Command("profile whylogs", cmd_profile_whylogs, READ, "compute missing or stale whylogs profiles now",
            (Opt("--max-rows", type=int, default=100_000, help="uniform sample size for large batches"),)),
)
