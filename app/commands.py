"""The app's own commands: run-once, schedule, app, config, checks, report, status.

Declared in ``COMMANDS`` (``core.commands``); the kernel (``app/cli.py``) builds the parser,
help and role checks from them.
"""

from __future__ import annotations

import logging
import sys
from datetime import datetime
from pathlib import Path

from app import settings
from app.drill_kinds import DRILL_KINDS
from core import exit_codes
from core.commands import READ, Arg, Args, Command, Group, Opt, UsageError
from core.output import emit_json, red
from core.stores import StoreUnavailable

BATCH = Arg("batch", "BATCH", "batch start, e.g. 2024-03-01")
REPORTS_DIR = "reports"  # under the storage root


def parse_batch(text: str) -> datetime:
    """'2024-03-01' or '2024-03-01T06:00' -> naive UTC batch start."""
    from core.clock import naive_utc

    try:
        return naive_utc(datetime.fromisoformat(text))
    except ValueError:
        raise UsageError(
            f"batch {text!r} is not a date or ISO timestamp (hint: use YYYY-MM-DD, e.g. 2024-03-01, "
            "or see `vigil checks show --help`)"
        ) from None


def cmd_run_once(args: Args) -> int:
    from app.cycle import run_cycle
    from app.reporting import cycle_text

    cfg = args.load_config()
    try:
        report = run_cycle(cfg, notify=not args.no_notify, actor=args.user)
    except StoreUnavailable:
        raise  # locked, corrupt, disk full: the kernel says which and how to recover (exit 3)
    except Exception as err:  # recorded on the cycles row by run_cycle
        print(f"cycle failed: {type(err).__name__}: {err} (recorded; see `vigil status`)", file=sys.stderr)
        return exit_codes.FAILED
    if args.json:
        emit_json(report.to_dict())
    else:
        print(cycle_text(report))
    return exit_codes.FAILED if report.failed_checks or report.anything_quarantined else exit_codes.OK


def cmd_schedule(args: Args) -> int:
    from app.scheduler import run_scheduler

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # one line per job run is noise
    return run_scheduler(args.load_config(), simulate=args.simulate)


def cmd_app(args: Args) -> int:
    from app.processes import spawn, stop_children, stop_signals_interrupt, streamlit_command

    cfg = args.load_config()
    with stop_signals_interrupt():
        child = spawn(streamlit_command(args.port, args.address), settings.child_env(cfg, args.user))
        print(f"Vigil dashboard: http://localhost:{args.port}   (Ctrl-C stops)", flush=True)
        try:
            return child.wait()
        except KeyboardInterrupt:
            return exit_codes.OK
        finally:
            stop_children([child])


def cmd_config_check(args: Args) -> int:
    from checks.registry import validate_checks_config

    cfg = args.load_config()
    validate_checks_config(cfg)  # check names and parameters (CheckConfigError is a ConfigError: exit 2)
    if args.json:
        emit_json({"ok": True, "file": cfg.source_file, "model": cfg.model.name, "root": str(cfg.root)})
    else:
        print(f"{cfg.source_file}: ok (model {cfg.model.name}, {len(cfg.features)} features, "
              f"{len(cfg.etl_tables)} ETL tables, storage root {cfg.root})")
    return exit_codes.OK


def cmd_config_show(args: Args) -> int:
    from app.reporting import resolved_config

    cfg = args.load_config()
    data = resolved_config(cfg)
    if args.json:
        emit_json(data)
    else:
        import yaml

        print(yaml.safe_dump(data, sort_keys=False), end="")
    return exit_codes.OK


def cmd_checks_list(args: Args) -> int:
    from app.queries import registered_checks

    rows = registered_checks()
    if args.json:
        emit_json(rows)
    else:
        for row in rows:
            kinds = ",".join(row.get("model_kinds", []))
            print(f"{row['name']:<24} {row['family']:<14} {kinds:<36} {row.get('description', '')}")
    return exit_codes.OK


def cmd_checks_show(args: Args) -> int:
    from app.queries import check_results_for_batch

    cfg = args.load_config()
    batch = parse_batch(args.batch)
    rows = check_results_for_batch(cfg, batch)
    if not rows:
        raise UsageError(f"no check results for batch {batch.isoformat()} (hint: `vigil status` shows the last "
                         "checked batch and the Data page lists the batches; run `vigil run-once` first)")
    if args.json:
        emit_json(rows)
    else:
        for row in rows:
            status = str(row.get("status", ""))
            mark = red(status.upper()) if status == "fail" else status
            print(f"{mark:<8} {row.get('check', ''):<28} {row.get('subject', ''):<34} {row.get('explanation', '')}")
    failed = any(row.get("status") == "fail" for row in rows)
    return exit_codes.FAILED if failed else exit_codes.OK


def report_path(root: Path, batch: datetime, out: str | None) -> Path:
    """--out, else <storage root>/reports/vigil-report-DATE.html."""
    return Path(out) if out else Path(root) / REPORTS_DIR / f"vigil-report-{batch.date().isoformat()}.html"


def cmd_report(args: Args) -> int:
    from app.queries import drift_report_html

    cfg = args.load_config()
    batch = parse_batch(args.batch)
    try:
        html = drift_report_html(cfg, batch)
    except ValueError as err:  # no rows in the batch, no file reference: the message carries a hint
        raise UsageError(str(err)) from None
    out = report_path(cfg.root, batch, args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html)
    if args.json:
        emit_json({"batch": batch.isoformat(), "path": str(out.absolute()), "bytes": len(html)})
    else:
        print(f"drift report for batch {batch.isoformat()} written to {out.absolute()}")
    return exit_codes.OK


def cmd_status(args: Args) -> int:
    from app.queries import status_overview
    from app.reporting import status_text

    cfg = args.load_config()
    status = status_overview(cfg)
    if args.json:
        emit_json(status)
    else:
        print(status_text(status, colour=red))
    return exit_codes.OK


def cmd_drill(args: Args) -> int:
    from app.drills import cmd_drill as run_drill_command

    return run_drill_command(args)


COMMANDS = (
    Command(
        "drill", cmd_drill, "cycle.run",
        "game day: inject an incident into a sandbox copy of the latest batch and run the cycle there",
        (
            Arg("kind", "TYPE", "the incident kind; hyphens or underscores (unit-change = unit_change)",
                choices=DRILL_KINDS),
            Opt("--column", metavar="C", help="column TABLE.COLUMN, a served feature, or a table for stale_table / duplicates / volume_drop"),
            Opt("--size", type=float, metavar="X", help="factor, fraction or shift (default: the kind's default)"),
            Opt("--keep", is_flag=True, help="keep the sandbox folder and print where it is"),
        ),
        description="Inject an incident into a copy of the latest batch in a sandbox store, run the check cycle there "
        "and print the alerts, their runbooks and the recommended decision. The real store is not touched.",
    ),
    Command("run-once", cmd_run_once, "cycle.run",
            "run one check cycle: ingest, profile, check, alert (exit 1 if a check failed)",
            (Opt("--no-notify", is_flag=True, help="do not send notifications this cycle"),)),
    Command("schedule", cmd_schedule, "cycle.run", "run the check cycle every schedule.interval until Ctrl-C",
            (Opt("--simulate", is_flag=True,
                 help="also simulate and score one more business day each tick (example model)"),)),
    Command("app", cmd_app, READ, "start the Streamlit dashboard (headless, no source-file watcher: restart it after an upgrade)",
            (Opt("--port", type=int, default=8501), Opt("--address", help="bind address (default: Streamlit's)"))),
    Group("config", "validate or show the config"),
    Command("config check", cmd_config_check, READ, "validate the config file"),
    Command("config show", cmd_config_show, READ, "print the resolved config with defaults"),
    Group("checks", "registered checks and their results"),
    Command("checks list", cmd_checks_list, READ, "list the registered checks"),
    Command("checks show", cmd_checks_show, READ, "check results of one batch (exit 1 if any failed)", (BATCH,)),
    Command("report", cmd_report, READ,
            "write the Evidently drift report of a batch as HTML (into reports/ under the storage root unless --out)",
            (BATCH, Opt("--out", metavar="FILE",
                        help="output file (default: <storage root>/reports/vigil-report-DATE.html)"))),
    Command("status", cmd_status, READ,
            "last cycle and its staleness, scheduler heartbeat, firing alerts, open incidents, champion"),
)
