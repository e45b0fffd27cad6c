"""`vigil registry ...`: versions, approvals and alias moves on the configured registry.

Every command goes through ``core.registries.registry_for(cfg, ops)``: Vigil's embedded
registry by default, or an MLflow Model Registry when the config says ``registry: {kind:
mlflow, ...}`` (promote / rollback / revert then move MLflow's ``champion`` / ``challenger``
aliases). Either way each move is a row of Vigil's registry events and audit trail, written
by the registry itself. A refused move exits 2 with the registry's reason; an MLflow that
cannot be reached exits 3 and nothing changes (``MlflowUnavailable`` is a store that is
unavailable).
"""

from __future__ import annotations

import json
from typing import Any

from core import exit_codes
from core.commands import READ, Arg, Args, Command, Group, Opt, Rows, Table
from core.config import VigilConfig
from core.output import emit, jsonable
from core.registries import promotion_rule, registry_error_types, registry_for
from core.stores import stores_for

MODEL = Opt("--model", help="registry model name (default: model.registry_name, else model.name)")
REASON = Opt("--reason", required=True)
VERSION = Arg("version", "VERSION", type=int)


def _registry(args: Args) -> tuple[Any, str]:
    cfg: VigilConfig = args.load_config()
    name = getattr(args, "model", None) or cfg.model.registry_name or cfg.model.name
    return registry_for(cfg, stores_for(cfg)[1]), name


def _print(args: Args, data: Any, text: str) -> None:
    emit(bool(getattr(args, "json", False)), data, text)


def event_text(ev: Any) -> str:
    def v(n: int | None) -> str:
        return "none" if n is None else f"v{n}"

    move = f" {ev.alias}: {v(ev.from_version)} -> {v(ev.to_version)}" if ev.alias else f" {v(ev.version)}"
    where = " (MLflow)" if (ev.details or {}).get("registry") == "mlflow" else ""
    return f"#{ev.event_id} {ev.at} {ev.kind}{move}{where} by {ev.actor}: {ev.reason}"


def _version_row(mv: Any) -> dict[str, Any]:
    evaluation = mv.evaluation or {}
    metrics = evaluation.get("metrics", {})
    return {
        "version": mv.version, "state": mv.approval_state, "aliases": ",".join(mv.aliases),
        "roc_auc": metrics.get("roc_auc"), "brier": metrics.get("brier"), "log_loss": metrics.get("log_loss"),
        "mae": metrics.get("mae"),
        "config": evaluation.get("config_name"), "run_id": mv.run_id, "created_at": mv.created_at,
    }


def cmd_list(args: Args) -> Rows:
    registry, name = _registry(args)
    versions = registry.versions(name)
    return Rows([_version_row(v) for v in versions], data=[v.to_dict() for v in versions])


def cmd_show(args: Args) -> int:
    registry, name = _registry(args)
    mv = registry.get(name, args.version)
    _print(args, mv.to_dict(), json.dumps(jsonable(mv.to_dict()), indent=2))
    return exit_codes.OK


def _decide(args: Args, approve: bool) -> int:
    registry, name = _registry(args)
    mv = (registry.approve if approve else registry.reject)(name, args.version, args.user, args.reason)
    _print(args, mv.to_dict(), f"{name} v{mv.version} is {mv.approval_state} (by {mv.approved_by}: {mv.approval_reason})")
    return exit_codes.OK


def cmd_approve(args: Args) -> int:
    return _decide(args, approve=True)


def cmd_reject(args: Args) -> int:
    return _decide(args, approve=False)


def cmd_promote(args: Args) -> int:
    registry, name = _registry(args)
    metric, margin = args.metric, args.margin
    if metric is None or margin is None:  # the version's own promotion rule fills what was not given
        rule_metric, rule_margin = promotion_rule(registry.get(name, args.version), args.load_config().model.task)
        metric = metric if metric is not None else rule_metric
        margin = margin if margin is not None else rule_margin
    ev = registry.promote(name, args.version, args.user, args.reason, metric=metric, margin=margin)
    _print(args, ev.to_dict(), event_text(ev) + f" ({ev.details.get('evaluation')})")
    return exit_codes.OK


def cmd_rollback(args: Args) -> int:
    registry, name = _registry(args)
    ev = registry.rollback(name, args.user, args.reason, to_version=args.to)
    _print(args, ev.to_dict(), event_text(ev) + f"\nundo with: vigil registry revert {ev.event_id} --reason '...'")
    return exit_codes.OK


def cmd_revert(args: Args) -> int:
    registry, _name = _registry(args)
    ev = registry.revert(args.event_id, args.user, args.reason)
    _print(args, ev.to_dict(), event_text(ev))
    return exit_codes.OK


def cmd_history(args: Args) -> int:
    registry, name = _registry(args)
    events = registry.events(name, limit=args.limit)
    _print(args, [e.to_dict() for e in events], "\n".join(event_text(e) for e in events) or "(no events)")
    return exit_codes.OK


def _cmd(path: str, handler: Any, action: str, help_text: str, *params: Arg | Opt, table: Table | None = None) -> Command:
    # A refused move (not approved, nothing to roll back to, unknown version) exits 2 with the reason.
    return Command(path, handler, action, help_text, (*params, MODEL), refusals=registry_error_types(), table=table)


COMMANDS = (
    Group("registry", "model registry: versions, approvals, aliases (embedded, or MLflow when registry.kind: mlflow)"),
    _cmd("registry list", cmd_list, READ, "registered versions",
         table=Table(("version", "state", "aliases", "roc_auc", "brier", "log_loss", "mae", "config", "run_id",
                      "created_at"))),
    _cmd("registry show", cmd_show, READ, "one version in full", VERSION),
    _cmd("registry approve", cmd_approve, "registry.approve", "approve a pending version", VERSION, REASON),
    _cmd("registry reject", cmd_reject, "registry.approve", "reject a version", VERSION, REASON),
    _cmd("registry promote", cmd_promote, "registry.promote",
         "make a version champion (needs approval and an evaluation no worse than the champion's)",
         VERSION, REASON,
         Opt("--metric", help="default: the version's promotion rule (its training config's promotion.metric)"),
         Opt("--margin", type=float, help="default: the version's promotion rule (promotion.margin)")),
    _cmd("registry rollback", cmd_rollback, "registry.promote",
         "move champion back to an earlier approved version",
         Opt("--to", type=int, help="version (default: the previous champion)"), REASON),
    _cmd("registry revert", cmd_revert, "registry.promote", "undo an alias move (promote, rollback, revert)",
         Arg("event_id", "EVENT_ID", type=int), REASON),
    _cmd("registry history", cmd_history, READ, "registry events, newest first",
         Opt("--limit", type=int, default=50)),
)
