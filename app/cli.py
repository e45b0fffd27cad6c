"""The ``vigil`` command line.

Exit codes: 0 ok, 1 checks failed (or a cycle failed), 2 usage or config error. Global
options (``--config``, ``--root``, ``--json``, ``--user``) go before or after the command.
Packages add their own commands through ``add_commands(subparsers)``; a handler is
``func(args) -> int`` and may call ``args.load_config()`` for the resolved config.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from app import settings
from core.config import ConfigError, VigilConfig
from core.stores import StoreBusy, StoreMissing

EXIT_OK, EXIT_CHECKS_FAILED, EXIT_USAGE = 0, 1, 2
PACKAGE_COMMANDS = ("baseline_model.cli", "profilers.cli", "checks.cli", "incidents.cli", "app.exporter",
                    "incidents.retrain", "app.drills",
                    "app.users_cli")  # users_cli last: it puts every command behind the role check

Handler = Callable[[argparse.Namespace], int]


class UsageError(Exception):
    """Bad arguments or missing inputs: exit code 2 with the message (which carries a hint)."""


# ---- output helpers ---------------------------------------------------------------------


def emit_json(data: Any) -> None:
    from app.cycle import jsonable

    print(json.dumps(jsonable(data), indent=2, sort_keys=False))


def red(text: str) -> str:
    return f"\x1b[31m{text}\x1b[0m" if sys.stdout.isatty() else text


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


# ---- commands ---------------------------------------------------------------------------


def cmd_run_once(args: argparse.Namespace) -> int:
    from app.cycle import run_cycle
    from app.reporting import cycle_text

    cfg = args.load_config()
    try:
        report = run_cycle(cfg, notify=not args.no_notify)
    except Exception as err:  # recorded on the cycles row by run_cycle
        print(f"cycle failed: {type(err).__name__}: {err} (recorded; see `vigil status`)", file=sys.stderr)
        return EXIT_CHECKS_FAILED
    if args.json:
        emit_json(report.to_dict())
    else:
        print(cycle_text(report))
    return EXIT_CHECKS_FAILED if report.failed_checks else EXIT_OK


def cmd_schedule(args: argparse.Namespace) -> int:
    from app.scheduler import run_scheduler

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # one line per job run is noise
    return run_scheduler(args.load_config(), simulate=args.simulate)


def cmd_app(args: argparse.Namespace) -> int:
    from app.processes import spawn, stop_children, stop_signals_interrupt, streamlit_command

    cfg = args.load_config()
    with stop_signals_interrupt():
        child = spawn(streamlit_command(args.port, args.address), settings.child_env(cfg, args.user))
        print(f"Vigil dashboard: http://localhost:{args.port}   (Ctrl-C stops)", flush=True)
        try:
            return child.wait()
        except KeyboardInterrupt:
            return EXIT_OK
        finally:
            stop_children([child])


def cmd_demo(args: argparse.Namespace) -> int:
    from app.cycle import run_cycle
    from app.demo import prepare_history, serve
    from app.reporting import cycle_text

    cfg = args.load_config()
    prepare_history(cfg, days=args.days)
    print("running the check cycle over the history ...", flush=True)
    try:
        report = run_cycle(cfg, on_step=lambda step, seconds: print(f"  {step}: {seconds:.1f}s", flush=True))
        print(cycle_text(report, max_failed=15))
        code = EXIT_OK
    except Exception as err:  # recorded on the cycles row; the dashboard shows it in red
        print(f"the first cycle failed: {type(err).__name__}: {err} (recorded; the scheduler retries "
              "every schedule.interval)", file=sys.stderr)
        code = EXIT_CHECKS_FAILED
    if args.no_serve:
        return code
    return serve(cfg, args.user, args.port, simulate=not args.no_simulate)


def cmd_config_check(args: argparse.Namespace) -> int:
    cfg = args.load_config()
    if args.json:
        emit_json({"ok": True, "file": cfg.source_file, "model": cfg.model.name, "root": str(cfg.root)})
    else:
        print(f"{cfg.source_file}: ok (model {cfg.model.name}, {len(cfg.features)} features, "
              f"{len(cfg.etl_tables)} ETL tables, storage root {cfg.root})")
    return EXIT_OK


def cmd_config_show(args: argparse.Namespace) -> int:
    from app.reporting import resolved_config

    cfg = args.load_config()
    data = resolved_config(cfg)
    if args.json:
        emit_json(data)
    else:
        import yaml

        print(yaml.safe_dump(data, sort_keys=False), end="")
    return EXIT_OK


def cmd_checks_list(args: argparse.Namespace) -> int:
    from app.queries import registered_checks

    rows = registered_checks()
    if args.json:
        emit_json(rows)
    else:
        for row in rows:
            kinds = ",".join(row.get("model_kinds", []))
            print(f"{row['name']:<24} {row['family']:<14} {kinds:<36} {row.get('description', '')}")
    return EXIT_OK


def cmd_checks_show(args: argparse.Namespace) -> int:
    from app.queries import check_results_for_batch

    cfg = args.load_config()
    batch = parse_batch(args.batch)
    rows = check_results_for_batch(cfg, batch)
    if not rows:
        raise UsageError(f"no check results for batch {batch.isoformat()} (hint: `vigil data batches` or "
                         "the Data page lists the batches; run `vigil run-once` first)")
    if args.json:
        emit_json(rows)
    else:
        for row in rows:
            status = str(row.get("status", ""))
            mark = red(status.upper()) if status == "fail" else status
            print(f"{mark:<8} {row.get('check', ''):<28} {row.get('subject', ''):<34} {row.get('explanation', '')}")
    failed = any(row.get("status") == "fail" for row in rows)
    return EXIT_CHECKS_FAILED if failed else EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from app.queries import drift_report_html

    cfg = args.load_config()
    batch = parse_batch(args.batch)
    try:
        html = drift_report_html(cfg, batch)
    except ValueError as err:  # no rows in the batch, no file reference: the message carries a hint
        raise UsageError(str(err)) from None
    out = Path(args.out or f"vigil-report-{batch.date().isoformat()}.html")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html)
    if args.json:
        emit_json({"batch": batch.isoformat(), "path": str(out.absolute()), "bytes": len(html)})
    else:
        print(f"drift report for batch {batch.isoformat()} written to {out.absolute()}")
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    from app.queries import status_overview
    from app.reporting import status_text

    cfg = args.load_config()
    status = status_overview(cfg)
    if args.json:
        emit_json(status)
    else:
        print(status_text(status, colour=red))
    return EXIT_OK


# ---- parser -----------------------------------------------------------------------------


def _global_options(parser: argparse.ArgumentParser, suppress: bool) -> None:
    """The same options on the main parser and on every app subcommand (so order is free)."""
    default: Any = argparse.SUPPRESS if suppress else None
    parser.add_argument("--config", default=default, metavar="PATH",
                        help=f"monitored-model YAML (default: ${settings.CONFIG_ENV} or {settings.DEFAULT_CONFIG})")
    parser.add_argument("--root", default=default, metavar="DIR",
                        help=f"storage root (default: ${settings.ROOT_ENV} or storage.root of the config)")
    parser.add_argument("--json", action="store_true", default=argparse.SUPPRESS if suppress else False,
                        help="machine-readable output")
    parser.add_argument("--user", default=default, metavar="NAME",
                        help=f"who is acting (default: ${settings.USER_ENV} or the OS user)")


def _command(subparsers: Any, name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(name, help=help_text, description=help_text)
    _global_options(parser, suppress=True)
    parser.set_defaults(func=handler)
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vigil",
        description="Vigil: monitoring and incident response for a production ML model.",
        epilog="Exit codes: 0 ok, 1 checks failed, 2 usage or config error.",
    )
    _global_options(parser, suppress=False)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")

    run_once = _command(subparsers, "run-once", cmd_run_once,
                        "run one check cycle: ingest, profile, check, alert (exit 1 if a check failed)")
    run_once.add_argument("--no-notify", action="store_true", help="do not send notifications this cycle")

    schedule = _command(subparsers, "schedule", cmd_schedule,
                        "run the check cycle every schedule.interval until Ctrl-C")
    schedule.add_argument("--simulate", action="store_true",
                          help="also simulate and score one more business day each tick (example model)")

    app = _command(subparsers, "app", cmd_app, "start the Streamlit dashboard")
    app.add_argument("--port", type=int, default=8501)
    app.add_argument("--address", default=None, help="bind address (default: Streamlit's)")

    demo = _command(subparsers, "demo", cmd_demo,
                    "train the example model, simulate 60 days with two incidents, check them, then serve "
                    "the scheduler and dashboard (what `make run` does)")
    demo.add_argument("--days", type=int, default=60)
    demo.add_argument("--port", type=int, default=8501)
    demo.add_argument("--no-serve", action="store_true", help="stop after the first cycle")
    demo.add_argument("--no-simulate", action="store_true", help="scheduler does not simulate new days")

    config = _command(subparsers, "config", _needs_subcommand("config"), "validate or show the config")
    config_sub = config.add_subparsers(dest="config_command", metavar="SUBCOMMAND")
    _command(config_sub, "check", cmd_config_check, "validate the config file")
    _command(config_sub, "show", cmd_config_show, "print the resolved config with defaults")

    checks = _command(subparsers, "checks", _needs_subcommand("checks"), "registered checks and their results")
    checks_sub = checks.add_subparsers(dest="checks_command", metavar="SUBCOMMAND")
    _command(checks_sub, "list", cmd_checks_list, "list the registered checks")
    show = _command(checks_sub, "show", cmd_checks_show, "check results of one batch (exit 1 if any failed)")
    show.add_argument("batch", metavar="BATCH", help="batch start, e.g. 2024-03-01")

    report = _command(subparsers, "report", cmd_report, "write the Evidently drift report of a batch as HTML")
    report.add_argument("batch", metavar="BATCH", help="batch start, e.g. 2024-03-01")
    report.add_argument("--out", metavar="FILE", help="output file (default: vigil-report-DATE.html)")

    _command(subparsers, "status", cmd_status,
             "last cycle and its staleness, scheduler heartbeat, firing alerts, open incidents, champion")

    for module_name in PACKAGE_COMMANDS:
        _add_package_commands(subparsers, module_name)
    return parser


def _needs_subcommand(name: str) -> Handler:
    def handler(_args: argparse.Namespace) -> int:
        raise UsageError(f"`vigil {name}` needs a subcommand (hint: `vigil {name} --help`)")

    return handler


def _add_package_commands(subparsers: Any, module_name: str) -> None:
    """Wire in a package's commands if the package provides them."""
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name in {module_name, module_name.split(".")[0]}:
            return  # the package has no CLI (yet)
        raise
    add = getattr(module, "add_commands", None)
    if add is not None:
        add(subparsers)


def _attach_loader(args: argparse.Namespace) -> None:
    """Give handlers one way to get the config, resolved from flags and environment."""
    cache: dict[str, VigilConfig] = {}

    def load_config() -> VigilConfig:
        if "cfg" not in cache:
            cache["cfg"] = settings.load(getattr(args, "config", None), getattr(args, "root", None))
        return cache["cfg"]

    args.load_config = load_config
    args.user = settings.current_user(getattr(args, "user", None))
    if not hasattr(args, "json"):
        args.json = False


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(list(argv) if argv is not None else None)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return EXIT_USAGE
    _attach_loader(args)
    try:
        return int(args.func(args) or 0)
    except ConfigError as err:
        print(str(err), file=sys.stderr)
        return EXIT_USAGE
    except (UsageError, StoreMissing) as err:
        print(f"vigil: {err}", file=sys.stderr)
        return EXIT_USAGE
    except StoreBusy as err:
        print(f"vigil: {err} (hint: a cycle is writing; retry in a moment)", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_OK
    except BrokenPipeError:  # `vigil checks list | head`
        sys.stderr.close()
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
