"""`vigil` subcommands of the example model's lifecycle.

train, simulate, demo, runs (list | show | compare | note), reproduce, lineage. The
`registry` commands work on any model's registry and live in the app (app/registry_commands.py).

Declared in ``COMMANDS`` and contributed to `vigil` through the ``vigil.commands``
entry-point group (pyproject.toml), so the app never imports this package. Handlers take
the kernel's args (``args.load_config()``, ``args.json``, ``args.user``) and return an exit
code: 0 ok, 1 reproduce mismatch, 2 usage error or refused action (message with a hint).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from core import exit_codes
from core.commands import READ, Arg, Command, Group, Opt, Rows, Table, UsageError
from core.config import VigilConfig
from core.output import emit, jsonable
from core.stores import OpsStore, stores_for

Handler = Callable[[argparse.Namespace], "int | Rows"]


# ---- plumbing -------------------------------------------------------------
def _config(args: argparse.Namespace) -> VigilConfig:
    cfg: VigilConfig = args.load_config()
    return cfg


def _ops(cfg: VigilConfig) -> OpsStore:
    return stores_for(cfg)[1]


def _model_name(args: argparse.Namespace, cfg: VigilConfig) -> str:
    return getattr(args, "model", None) or cfg.model.registry_name or cfg.model.name


def _user(args: argparse.Namespace) -> str:
    return str(args.user)  # the acting user, resolved once by the command kernel


def _jsonable(value: Any) -> Any:
    return jsonable(value)


def _print(args: argparse.Namespace, data: Any, text: str) -> None:
    emit(bool(getattr(args, "json", False)), data, text)


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

    def run(args: argparse.Namespace) -> int | Rows:
        from baseline_model.lineage import LineageNotFound
        from baseline_model.scorer import ScoringError
        from baseline_model.simulator import SimulationError
        from baseline_model.train import TrainingError
        from core.registry import RegistryError
        from core.runs import RunNotFound

        try:
            return handler(args)
        except (RegistryError, TrainingError, SimulationError, RunNotFound, LineageNotFound, ScoringError) as err:
            print(f"vigil: {err}", file=sys.stderr)
            return exit_codes.USAGE

    return run


# ---- train / simulate ----------------------------------------------------------
def cmd_train(args: argparse.Namespace) -> int:
    from baseline_model.demo import register_run
    from baseline_model.train import train
    from core.registry import Registry

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
    return exit_codes.OK


def _next_day(root: Path) -> date | None:
    """The day after the newest simulated extract (files named applications_YYYY-MM-DD.parquet).

    A stray file that does not follow the name (applications_nokey.parquet) is refused with
    its name rather than a traceback from date parsing.
    """
    folder = root / "landing" / "etl" / "applications"
    days = []
    for p in folder.glob("applications_*.parquet"):
        text = p.stem.removeprefix("applications_")
        try:
            days.append(date.fromisoformat(text))
        except ValueError:
            raise UsageError(
                f"{p}: not a simulated day's extract (expected applications_YYYY-MM-DD.parquet) (hint: move the file "
                "out of the landing folder, or pass --start YYYY-MM-DD)"
            ) from None
    return max(days) + timedelta(days=1) if days else None


def cmd_simulate(args: argparse.Namespace) -> Rows:
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
    return Rows(rows)


# ---- runs / reproduce / lineage ------------------------------------------------------
def cmd_runs_list(args: argparse.Namespace) -> Rows:
    from core.runs import list_runs

    cfg = _config(args)
    runs = list_runs(_ops(cfg), _model_name(args, cfg), limit=args.limit)
    rows = [
        {"run_id": r["run_id"], "kind": r["kind"], "config": r["config_name"], "status": r["status"],
         "roc_auc": (r.get("metrics") or {}).get("roc_auc"),
         "rule_roc_auc": (r.get("baseline_metrics") or {}).get("roc_auc"),
         "started_at": r["started_at"], "duration_s": r.get("duration_s")}
        for r in runs
    ]
    return Rows(rows, data=runs)


def cmd_runs_show(args: argparse.Namespace) -> int:
    from core.runs import get_run

    cfg = _config(args)
    run = get_run(_ops(cfg), args.run)
    _print(args, run, json.dumps(_jsonable(run), indent=2, default=str))
    return exit_codes.OK


def cmd_runs_compare(args: argparse.Namespace) -> Rows:
    from core.runs import compare_runs

    cfg = _config(args)
    rows = compare_runs(_ops(cfg), args.run_a, args.run_b)
    return Rows([{**r, "same": "" if r["same"] else "*"} for r in rows], data=rows)


def cmd_runs_note(args: argparse.Namespace) -> int:
    from core.runs import add_note

    cfg = _config(args)
    try:
        note = add_note(_ops(cfg), args.run, _user(args), args.text)
    except ValueError as err:
        print(f"vigil: {err}", file=sys.stderr)
        return exit_codes.USAGE
    _print(args, note, f"note added to {note['run_id']}")
    return exit_codes.OK


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
    return exit_codes.OK if result["match"] else exit_codes.FAILED


def cmd_lineage(args: argparse.Namespace) -> int:
    from baseline_model.lineage import lineage

    cfg = _config(args)
    info = lineage(cfg.root, _ops(cfg), args.prediction_id)
    _print(args, info, json.dumps(_jsonable(info), indent=2, default=str))
    return exit_codes.OK


def cmd_demo(args: argparse.Namespace) -> int:
    """`make run`: train and register the example model, simulate the history (steps 1-2), then
    the app's first cycle and its scheduler and dashboard (app.demo, steps 3-4)."""
    from app.demo import first_cycle, serve
    from baseline_model.demo import prepare_history

    cfg = _config(args)
    prepare_history(cfg, days=args.days)
    code = first_cycle(cfg)
    if args.no_serve:
        return code
    return serve(cfg, _user(args), args.port, simulate=not args.no_simulate)


# ---- declarations ---------------------------------------------------------------
MODEL = Opt("--model", help="registry model name (default: from the config)")
VERSION = Arg("version", "VERSION", type=int)


def _cmd(path: str, handler: Handler, action: str, help_text: str, *params: Arg | Opt,
         table: Table | None = None) -> Command:
    return Command(path, _guard(handler), action, help_text, (*params, MODEL), table=table)


COMMANDS = (
    _cmd("train", cmd_train, "models.train", "train the example model from a YAML config and record the run",
         Opt("--config", dest="train_config", required=True, metavar="TRAIN_YAML",
             help="training config, e.g. baseline_model/configs/train_gbm.yaml"),
         Opt("--register", is_flag=True, help="register the result as a new (pending) version"),
         Opt("--update-reference", is_flag=True, help="replace training/reference.parquet with this run's holdout")),
    _cmd("simulate", cmd_simulate, "cycle.run", "simulate business days (extracts, scoring, outcomes)",
         Opt("--days", type=int, default=1),
         Opt("--seed", type=int, default=7),
         Opt("--start", help="first day (default: the day after the newest extract)"),
         Opt("--volume", type=int, default=2000, help="applications per day before seasonality"),
         Opt("--label-delay", type=int, default=14, help="days until an outcome is observed"),
         Opt("--incident", multiple=True, metavar="KIND:DAY[:COLUMN[:SIZE]]",
             help="inject an incident, DAY an offset from --start, e.g. unit_change:3:income (repeatable)"),
         Opt("--no-score", is_flag=True, help="do not run the batch scorer"),
         table=Table(("day", "applications", "scored", "fallback", "outcomes", "bureau", "incidents"))),
    _cmd("demo", cmd_demo, "models.train",
         "train the example model, simulate 60 days with two incidents, check them, then serve the scheduler "
         "and dashboard (what `make run` does)",
         Opt("--days", type=int, default=60),
         Opt("--port", type=int, default=8501),
         Opt("--no-serve", is_flag=True, help="stop after the first cycle"),
         Opt("--no-simulate", is_flag=True, help="scheduler does not simulate new days")),
    Group("runs", "training runs (experiments)"),
    _cmd("runs list", cmd_runs_list, READ, "training runs, newest first", Opt("--limit", type=int, default=50),
         table=Table(("run_id", "kind", "config", "status", "roc_auc", "rule_roc_auc", "started_at", "duration_s"))),
    _cmd("runs show", cmd_runs_show, READ, "one run with its notes", Arg("run", "RUN")),
    _cmd("runs compare", cmd_runs_compare, READ, "two runs' parameters and metrics side by side",
         Arg("run_a", "RUN_A"), Arg("run_b", "RUN_B"), table=Table(("field", "a", "b", "same"))),
    _cmd("runs note", cmd_runs_note, "runs.note", "attach a note to a run ('tried X, worse because Y')",
         Arg("run", "RUN"), Arg("text", "TEXT")),
    _cmd("reproduce", cmd_reproduce, "models.train",
         "retrain a registered version from its manifest; exit 1 on any mismatch", VERSION),
    _cmd("lineage", cmd_lineage, READ, "which model version, run, config and data produced a prediction",
         Arg("prediction_id", "PREDICTION_ID")),
)
