"""`vigil` commands of the profilers: ingest, quarantine list|show|retry, profile export|whylogs.

Handlers take the parsed args (``args.config`` path or ``args.load_config()`` from the
app, ``args.json``) and return an exit code: 0 ok, 1 something was quarantined, 2 usage.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any

from core.config import VigilConfig, load_config
from core.stores import Warehouse

EXIT_OK, EXIT_PROBLEM, EXIT_USAGE = 0, 1, 2
DEFAULT_CONFIG = "baseline_model/configs/monitor.yaml"


def _config(args: argparse.Namespace) -> VigilConfig:
    loader = getattr(args, "load_config", None)
    if callable(loader):
        cfg = loader()
        assert isinstance(cfg, VigilConfig)
        return cfg
    return load_config(getattr(args, "config", None) or DEFAULT_CONFIG, root=getattr(args, "root", None))


def _warehouse(cfg: VigilConfig) -> Warehouse:
    return Warehouse(cfg.warehouse_path, memory_limit=cfg.storage.duckdb_memory_limit)


def _jsonable(v: Any) -> Any:
    if isinstance(v, datetime | date):
        return v.isoformat()
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple | set):
        return [_jsonable(x) for x in v]
    if isinstance(v, Path):
        return str(v)
    return v


def _emit(args: argparse.Namespace, data: Any, text: str) -> None:
    if getattr(args, "json", False):
        print(json.dumps(_jsonable(data), indent=2))
    else:
        print(text)


# ---- handlers -------------------------------------------------------------------------------


def cmd_ingest(args: argparse.Namespace) -> int:
    from profilers.ingest import ingest_all

    cfg = _config(args)
    report = ingest_all(cfg, _warehouse(cfg))
    lines = [
        f"loaded {report.loaded} file(s) ({report.rows} rows), skipped {report.skipped}, replaced {report.replaced}, "
        f"quarantined {len(report.quarantined)}"
    ]
    lines += [f"  quarantined {q.path}: {q.reason}: {q.detail}" for q in report.quarantined]
    lines += [
        f"  schema {c.source} {c.change} {c.column} {c.detail or ''}".rstrip() for c in report.schema_changes
    ]
    if report.all_dirty:
        lines.append("dirty batches: " + ", ".join(b.isoformat() for b in sorted(report.all_dirty)))
    _emit(args, report.to_dict(), "\n".join(lines))
    return EXIT_PROBLEM if report.quarantined else EXIT_OK


def cmd_quarantine_list(args: argparse.Namespace) -> int:
    from profilers.quarantine import list_quarantine

    cfg = _config(args)
    entries = list_quarantine(_warehouse(cfg), include_closed=getattr(args, "all", False))
    if not entries:
        _emit(args, [], "quarantine is empty")
        return EXIT_OK
    text = "\n".join(
        f"{e['quarantine_id']}  {e['status']:<8} {e['reason']:<14} {e['path']}  ({e['quarantined_at']:%Y-%m-%d %H:%M})"
        for e in entries
    )
    _emit(args, entries, text)
    return EXIT_OK


def cmd_quarantine_show(args: argparse.Namespace) -> int:
    from profilers.quarantine import show_quarantine

    cfg = _config(args)
    entry = show_quarantine(_warehouse(cfg), args.quarantine_id)
    if entry is None:
        print(
            f"vigil: no quarantine entry {args.quarantine_id!r} (hint: `vigil quarantine list --all`)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    text = "\n".join(f"{k}: {v}" for k, v in entry.items())
    _emit(args, entry, text)
    return EXIT_OK


def cmd_quarantine_retry(args: argparse.Namespace) -> int:
    from profilers.quarantine import retry_quarantine

    cfg = _config(args)
    if not args.quarantine_id and not args.all:
        print("vigil: name a quarantine id or pass --all (hint: `vigil quarantine list`)", file=sys.stderr)
        return EXIT_USAGE
    try:
        report = retry_quarantine(cfg, _warehouse(cfg), None if args.all else args.quarantine_id)
    except KeyError as err:
        print(f"vigil: {err.args[0]}", file=sys.stderr)
        return EXIT_USAGE
    lines = [f"loaded {report.loaded} file(s); still quarantined {len(report.quarantined)}"]
    lines += [f"  {q.quarantine_id} {q.path}: {q.reason}: {q.detail}" for q in report.quarantined]
    _emit(args, report.to_dict(), "\n".join(lines))
    return EXIT_PROBLEM if report.quarantined else EXIT_OK


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
    return EXIT_OK


def cmd_profile_whylogs(args: argparse.Namespace) -> int:
    from profilers.whylogs_profiles import profile_whylogs

    cfg = _config(args)
    done = profile_whylogs(cfg, _warehouse(cfg), max_rows=args.max_rows)
    _emit(
        args,
        [{"source": s, "batch": b} for s, b in done],
        f"profiled {len(done)} batch(es) with whylogs",
    )
    return EXIT_OK


# ---- wiring ---------------------------------------------------------------------------------


def _options(parser: argparse.ArgumentParser) -> None:
    """--config / --root / --json after the command too (the app's main parser has them before)."""
    parser.add_argument("--config", default=argparse.SUPPRESS, metavar="PATH", help="monitored-model YAML")
    parser.add_argument("--root", default=argparse.SUPPRESS, metavar="DIR", help="storage root")
    parser.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output"
    )


def _needs(name: str) -> Any:
    def handler(_args: argparse.Namespace) -> int:
        print(f"vigil: `vigil {name}` needs a subcommand (hint: `vigil {name} --help`)", file=sys.stderr)
        return EXIT_USAGE

    return handler


def _add(subparsers: Any, name: str, handler: Any, help_text: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(name, help=help_text, description=help_text)
    _options(parser)
    parser.set_defaults(func=handler)
    return parser


def add_commands(subparsers: Any) -> None:
    _add(
        subparsers,
        "ingest",
        cmd_ingest,
        "load new landing files exactly once (exit 1 if any was quarantined)",
    )

    quarantine = _add(subparsers, "quarantine", _needs("quarantine"), "files that could not be loaded")
    qsub = quarantine.add_subparsers(dest="quarantine_command", metavar="SUBCOMMAND")
    qlist = _add(qsub, "list", cmd_quarantine_list, "list open quarantine entries")
    qlist.add_argument("--all", action="store_true", help="include resolved and retried entries")
    qshow = _add(qsub, "show", cmd_quarantine_show, "show one entry with its reason")
    qshow.add_argument("quarantine_id", metavar="ID")
    qretry = _add(qsub, "retry", cmd_quarantine_retry, "load a quarantined file again (after it was fixed)")
    qretry.add_argument("quarantine_id", metavar="ID", nargs="?")
    qretry.add_argument("--all", action="store_true", help="retry every open entry")

    profile = _add(subparsers, "profile", _needs("profile"), "whylogs profiles of the batches")
    psub = profile.add_subparsers(dest="profile_command", metavar="SUBCOMMAND")
    export = _add(
        psub, "export", cmd_profile_export, "write whylogs profiles (per batch or weekly) to a folder"
    )
    export.add_argument("--out", default="whylogs-profiles", metavar="DIR")
    export.add_argument("--source", default=None, help="'predictions' or an ETL table (default: all)")
    export.add_argument("--weekly", action="store_true", help="merge batches into weekly roll-ups")
    export.add_argument("--no-compute", action="store_true", help="export stored profiles only")
    why = _add(psub, "whylogs", cmd_profile_whylogs, "compute missing or stale whylogs profiles now")
    why.add_argument("--max-rows", type=int, default=100_000, help="uniform sample size for large batches")


def main(argv: list[str] | None = None) -> int:
    """Standalone entry (tests, debugging): `python -m profilers.cli --config F ingest`."""
    parser = argparse.ArgumentParser(prog="vigil")
    parser.add_argument("--config", default=None)
    parser.add_argument("--root", default=None)
    parser.add_argument("--json", action="store_true")
    add_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return EXIT_USAGE
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
