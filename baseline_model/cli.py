"""`vigil` subcommands of the example model's lifecycle.

train, simulate, registry (list | show | approve | reject | promote | rollback | history
| revert), runs (list | show | compare | note), reproduce, lineage.

Handlers take the parsed args (args.config: monitoring config, args.json, args.user;
`args.load_config()` when app/cli.py provides it) and return an exit code:
0 ok, 1 reproduce mismatch, 2 usage error or refused action (message with a hint).
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Callable
from dataclasses import asdict, is_dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from core.config import VigilConfig, load_config
from core.stores import OpsStore, stores_for

Handler = Callable[[argparse.Namespace], int]
DEFAULT_MONITOR_CONFIG = "baseline_model/configs/monitor.yaml"
EXIT_OK, EXIT_MISMATCH, EXIT_USAGE = 0, 1, 2


# ---- plumbing -------------------------------------------------------------
def _config(args: argparse.Namespace) -> VigilConfig:
    loader = getattr(args, "load_config", None)
    if callable(loader):
        cfg: VigilConfig = loader()
        return cfg
    path = getattr(args, "config", None) or os.environ.get("VIGIL_CONFIG") or DEFAULT_MONITOR_CONFIG
    return load_config(path, root=getattr(args, "root", None))


def _ops(cfg: VigilConfig) -> OpsStore:
    return stores_for(cfg)[1]


def _model_name(args: argparse.Namespace, cfg: VigilConfig) -> str:
    return getattr(args, "model", None) or cfg.model.registry_name or cfg.model.name


def _user(args: argparse.Namespace) -> str:
    return getattr(args, "user", None) or os.environ.get("VIGIL_USER") or getpass.getuser()


def _jsonable(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return _jsonable(asdict(value))
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value


def _print(args: argparse.Namespace, data: Any, text: str) -> None:
    if getattr(args, "json", False):
        print(json.dumps(_jsonable(data), indent=2, default=str))
    else:
        print(text)


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    if not rows:
        return "(none)"
    cells = [[("" if r.get(c) is None else str(r.get(c))) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


def _guard(handler: Handler) -> Handler:
    """Domain errors (refusals, bad input) become exit code 2 with their message."""

    def run(args: argparse.Namespace) -> int:
        from baseline_model.lineage import LineageNotFound
        from baseline_model.registry import RegistryError
        from baseline_model.runs import RunNotFound
        from baseline_model.scorer import ScoringError
        from baseline_model.simulator import SimulationError
        from baseline_model.train import TrainingError

        try:
            return handler(args)
        except (RegistryError, TrainingError, SimulationError, RunNotFound, LineageNotFound, ScoringError) as err:
            print(f"vigil: {err}", file=sys.stderr)
            return EXIT_USAGE

    return run


# ---- train / simulate ----------------------------------------------------------
def cmd_train(args: argparse.Namespace) -> int:
    from baseline_model.demo import register_run
    from baseline_model.registry import Registry
    from baseline_model.train import train

    cfg = _config(args)
    ops = _ops(cfg)
    run = train(
        args.train_config, cfg.root, ops, update_reference=True if args.update_reference else None,
        progress=not args.json and sys.stderr.isatty(),
    )
    result: dict[str, Any] = {k: run[k] for k in ("run_id", "config_name", "status", "duration_s", "artifact_sha256",
                                                  "data_sha256", "manifest_path", "metrics", "baseline_metrics")}
    if args.register:
        mv = register_run(Registry(ops), run, user=_user(args))
        result["registered_version"] = mv.version
    m, b = run["metrics"], run["baseline_metrics"]
    lines = [
        f"run {run['run_id']} ({run['config_name']}): {run['status']} in {run['duration_s']}s",
        f"manifest {run['manifest_path']}",
        f"{'metric':<32}{'model':>12}{'baseline rule':>16}",
    ]
    for k in ("roc_auc", "pr_auc", "brier", "approval_rate", "default_rate_approved", "expected_profit_per_application"):
        lines.append(f"{k:<32}{m[k]:>12}{b[k]:>16}")
    lines.append(f"{'calibration ECE':<32}{m['calibration']['ece']:>12}{b['calibration']['ece']:>16}")
    if "registered_version" in result:
        lines.append(f"registered as {run['model_name']} v{result['registered_version']} (pending approval)")
    _print(args, result, "\n".join(lines))
    return EXIT_OK


def _next_day(root: Path) -> date | None:
    folder = root / "landing" / "etl" / "applications"
    days = sorted(p.stem.removeprefix("applications_") for p in folder.glob("applications_*.parquet"))
    return date.fromisoformat(days[-1]) + timedelta(days=1) if days else None


def cmd_simulate(args: argparse.Namespace) -> int:
    from baseline_model.demo import ensure_example
    from baseline_model.simulator import parse_incident, simulate_history

    cfg = _config(args)
    ops = _ops(cfg)
    incidents = [parse_incident(t) for t in args.incident or []]
    today = datetime.now(UTC).date()
    start = date.fromisoformat(args.start) if args.start else (_next_day(cfg.root) or today - timedelta(days=args.days - 1))
    if not args.no_score:
        ensure_example(cfg.root, ops, today=start + timedelta(days=args.days - 1), history_days=args.days,
                       progress=not args.json)
    reports = simulate_history(
        cfg.root, start, args.days, args.seed, volume=args.volume, incidents=incidents,
        label_delay_days=args.label_delay, ops=ops, model_name=_model_name(args, cfg), score=not args.no_score,
        progress=not args.json and sys.stderr.isatty(),
    )
    rows = [
        {"day": r.day.isoformat(), "applications": r.applications, "scored": r.scored, "fallback": r.fallback,
         "outcomes": r.outcomes, "bureau": "yes" if r.bureau_delivered else "MISSING", "incidents": ",".join(r.incidents)}
        for r in reports
    ]
    _print(args, rows, _table(rows, list(rows[0])))
    return EXIT_OK


# ---- registry ----------------------------------------------------------------
def _version_row(mv: Any) -> dict[str, Any]:
    metrics = mv.evaluation.get("metrics", {})
    return {
        "version": mv.version, "state": mv.approval_state, "aliases": ",".join(mv.aliases),
        "roc_auc": metrics.get("roc_auc"), "brier": metrics.get("brier"),
        "config": mv.evaluation.get("config_name"), "run_id": mv.run_id, "created_at": mv.created_at,
    }


def cmd_registry_list(args: argparse.Namespace) -> int:
    from baseline_model.registry import Registry

    cfg = _config(args)
    versions = Registry(_ops(cfg)).versions(_model_name(args, cfg))
    columns = ["version", "state", "aliases", "roc_auc", "brier", "config", "run_id", "created_at"]
    _print(args, [v.to_dict() for v in versions], _table([_version_row(v) for v in versions], columns))
    return EXIT_OK


def cmd_registry_show(args: argparse.Namespace) -> int:
    from baseline_model.registry import Registry

    cfg = _config(args)
    mv = Registry(_ops(cfg)).get(_model_name(args, cfg), args.version)
    _print(args, mv.to_dict(), json.dumps(_jsonable(mv.to_dict()), indent=2))
    return EXIT_OK


def _event_text(ev: Any) -> str:
    def v(n: int | None) -> str:
        return "none" if n is None else f"v{n}"

    move = f" {ev.alias}: {v(ev.from_version)} -> {v(ev.to_version)}" if ev.alias else f" {v(ev.version)}"
    return f"#{ev.event_id} {ev.at} {ev.kind}{move} by {ev.actor}: {ev.reason}"


def cmd_registry_decide(args: argparse.Namespace) -> int:
    from baseline_model.registry import Registry

    cfg = _config(args)
    reg = Registry(_ops(cfg))
    name = _model_name(args, cfg)
    action = reg.approve if args.registry_command == "approve" else reg.reject
    mv = action(name, args.version, _user(args), args.reason)
    _print(args, mv.to_dict(), f"{name} v{mv.version} is {mv.approval_state} (by {mv.approved_by}: {mv.approval_reason})")
    return EXIT_OK


def cmd_registry_promote(args: argparse.Namespace) -> int:
    from baseline_model.registry import Registry

    cfg = _config(args)
    ev = Registry(_ops(cfg)).promote(
        _model_name(args, cfg), args.version, _user(args), args.reason, metric=args.metric, margin=args.margin
    )
    _print(args, ev.to_dict(), _event_text(ev) + f" ({ev.details.get('evaluation')})")
    return EXIT_OK


def cmd_registry_rollback(args: argparse.Namespace) -> int:
    from baseline_model.registry import Registry

    cfg = _config(args)
    ev = Registry(_ops(cfg)).rollback(_model_name(args, cfg), _user(args), args.reason, to_version=args.to)
    _print(args, ev.to_dict(), _event_text(ev) + f"\nundo with: vigil registry revert {ev.event_id} --reason '...'")
    return EXIT_OK


def cmd_registry_revert(args: argparse.Namespace) -> int:
    from baseline_model.registry import Registry

    cfg = _config(args)
    ev = Registry(_ops(cfg)).revert(args.event_id, _user(args), args.reason)
    _print(args, ev.to_dict(), _event_text(ev))
    return EXIT_OK


def cmd_registry_history(args: argparse.Namespace) -> int:
    from baseline_model.registry import Registry

    cfg = _config(args)
    events = Registry(_ops(cfg)).events(_model_name(args, cfg), limit=args.limit)
    _print(args, [e.to_dict() for e in events], "\n".join(_event_text(e) for e in events) or "(no events)")
    return EXIT_OK


# ---- runs / reproduce / lineage ------------------------------------------------------
def cmd_runs_list(args: argparse.Namespace) -> int:
    from baseline_model.runs import list_runs

    cfg = _config(args)
    runs = list_runs(_ops(cfg), _model_name(args, cfg), limit=args.limit)
    rows = [
        {"run_id": r["run_id"], "kind": r["kind"], "config": r["config_name"], "status": r["status"],
         "roc_auc": (r.get("metrics") or {}).get("roc_auc"),
         "rule_roc_auc": (r.get("baseline_metrics") or {}).get("roc_auc"),
         "started_at": r["started_at"], "duration_s": r.get("duration_s")}
        for r in runs
    ]
    _print(args, runs, _table(rows, ["run_id", "kind", "config", "status", "roc_auc", "rule_roc_auc", "started_at",
                                     "duration_s"]))
    return EXIT_OK


def cmd_runs_show(args: argparse.Namespace) -> int:
    from baseline_model.runs import get_run

    cfg = _config(args)
    run = get_run(_ops(cfg), args.run)
    _print(args, run, json.dumps(_jsonable(run), indent=2, default=str))
    return EXIT_OK


def cmd_runs_compare(args: argparse.Namespace) -> int:
    from baseline_model.runs import compare_runs

    cfg = _config(args)
    rows = compare_runs(_ops(cfg), args.run_a, args.run_b)
    shown = [{**r, "same": "" if r["same"] else "*"} for r in rows]
    _print(args, rows, _table(shown, ["field", "a", "b", "same"]))
    return EXIT_OK


def cmd_runs_note(args: argparse.Namespace) -> int:
    from baseline_model.runs import add_note

    cfg = _config(args)
    try:
        note = add_note(_ops(cfg), args.run, _user(args), args.text)
    except ValueError as err:
        print(f"vigil: {err}", file=sys.stderr)
        return EXIT_USAGE
    _print(args, note, f"note added to {note['run_id']}")
    return EXIT_OK


def cmd_reproduce(args: argparse.Namespace) -> int:
    from baseline_model.train import reproduce

    cfg = _config(args)
    result = reproduce(cfg.root, _ops(cfg), _model_name(args, cfg), args.version, progress=not args.json)
    rows = [{**f, "match": "yes" if f["match"] else "NO"} for f in result["fields"]]
    text = _table(rows, ["field", "registered", "reproduced", "match"])
    if result["environment_differences"]:
        text += "\nenvironment differences:\n" + _table(result["environment_differences"], ["field", "registered", "reproduced"])
    text += f"\n{'MATCH' if result['match'] else 'MISMATCH'} (reproduction run {result['reproduce_run_id']})"
    _print(args, result, text)
    return EXIT_OK if result["match"] else EXIT_MISMATCH


def cmd_lineage(args: argparse.Namespace) -> int:
    from baseline_model.lineage import lineage

    cfg = _config(args)
    info = lineage(cfg.root, _ops(cfg), args.prediction_id)
    _print(args, info, json.dumps(_jsonable(info), indent=2, default=str))
    return EXIT_OK


# ---- wiring -------------------------------------------------------------------
def _options(parser: argparse.ArgumentParser, config: bool = True) -> None:
    """The global options, accepted after the subcommand too (defaults left to the main parser)."""
    if config:
        parser.add_argument("--config", default=argparse.SUPPRESS, metavar="PATH", help="monitored-model YAML")
    parser.add_argument("--root", default=argparse.SUPPRESS, metavar="DIR", help="storage root")
    parser.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output")
    parser.add_argument("--user", default=argparse.SUPPRESS, metavar="NAME", help="who is acting")
    parser.add_argument("--model", default=None, help="registry model name (default: from the config)")


def _add(sub: Any, name: str, handler: Handler | None, help_text: str, config: bool = True) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(name, help=help_text, description=help_text)
    _options(parser, config)
    if handler is not None:
        parser.set_defaults(func=_guard(handler))
    return parser


def _needs(name: str) -> Handler:
    def handler(_args: argparse.Namespace) -> int:
        print(f"vigil: `vigil {name}` needs a subcommand (hint: `vigil {name} --help`)", file=sys.stderr)
        return EXIT_USAGE

    return handler


def add_commands(subparsers: Any) -> None:
    """Register the model-lifecycle commands on `vigil`'s subparsers."""
    train = _add(subparsers, "train", cmd_train, "train the example model from a YAML config and record the run",
                 config=False)
    train.add_argument("--config", dest="train_config", required=True, metavar="TRAIN_YAML",
                       help="training config, e.g. baseline_model/configs/train_gbm.yaml")
    train.add_argument("--register", action="store_true", help="register the result as a new (pending) version")
    train.add_argument("--update-reference", action="store_true",
                       help="replace training/reference.parquet with this run's holdout")

    sim = _add(subparsers, "simulate", cmd_simulate, "simulate business days (extracts, scoring, outcomes)")
    sim.add_argument("--days", type=int, default=1)
    sim.add_argument("--seed", type=int, default=7)
    sim.add_argument("--start", default=None, help="first day (default: the day after the newest extract)")
    sim.add_argument("--volume", type=int, default=2000, help="applications per day before seasonality")
    sim.add_argument("--label-delay", type=int, default=14, help="days until an outcome is observed")
    sim.add_argument("--incident", action="append", metavar="KIND:DAY[:COLUMN[:SIZE]]",
                     help="inject an incident, DAY an offset from --start, e.g. unit_change:3:income")
    sim.add_argument("--no-score", action="store_true", help="do not run the batch scorer")

    reg = _add(subparsers, "registry", _needs("registry"), "model registry: versions, approvals, aliases")
    reg_sub = reg.add_subparsers(dest="registry_command", metavar="SUBCOMMAND")
    _add(reg_sub, "list", cmd_registry_list, "registered versions")
    _add(reg_sub, "show", cmd_registry_show, "one version in full").add_argument("version", type=int)
    for name, help_text in (("approve", "approve a pending version"), ("reject", "reject a version")):
        p = _add(reg_sub, name, cmd_registry_decide, help_text)
        p.add_argument("version", type=int)
        p.add_argument("--reason", required=True)
    promote = _add(reg_sub, "promote", cmd_registry_promote,
                   "make a version champion (needs approval and an evaluation no worse than the champion's)")
    promote.add_argument("version", type=int)
    promote.add_argument("--reason", required=True)
    promote.add_argument("--metric", default=None, help="default: promotion.metric of its training config")
    promote.add_argument("--margin", type=float, default=None, help="default: promotion.margin of its training config")
    rollback = _add(reg_sub, "rollback", cmd_registry_rollback, "move champion back to an earlier approved version")
    rollback.add_argument("--to", type=int, default=None, help="version (default: the previous champion)")
    rollback.add_argument("--reason", required=True)
    revert = _add(reg_sub, "revert", cmd_registry_revert, "undo an alias move (promote, rollback, revert)")
    revert.add_argument("event_id", type=int)
    revert.add_argument("--reason", required=True)
    history = _add(reg_sub, "history", cmd_registry_history, "registry events, newest first")
    history.add_argument("--limit", type=int, default=50)

    runs = _add(subparsers, "runs", _needs("runs"), "training runs (experiments)")
    runs_sub = runs.add_subparsers(dest="runs_command", metavar="SUBCOMMAND")
    _add(runs_sub, "list", cmd_runs_list, "training runs, newest first").add_argument("--limit", type=int, default=50)
    _add(runs_sub, "show", cmd_runs_show, "one run with its notes").add_argument("run")
    compare = _add(runs_sub, "compare", cmd_runs_compare, "two runs' parameters and metrics side by side")
    compare.add_argument("run_a")
    compare.add_argument("run_b")
    note = _add(runs_sub, "note", cmd_runs_note, "attach a note to a run ('tried X, worse because Y')")
    note.add_argument("run")
    note.add_argument("text")

    _add(subparsers, "reproduce", cmd_reproduce,
         "retrain a registered version from its manifest; exit 1 on any mismatch").add_argument("version", type=int)
    _add(subparsers, "lineage", cmd_lineage,
         "which model version, run, config and data produced a prediction").add_argument("prediction_id")
