"""User actions from the dashboard, each delegating to the package that owns the state.

All writes land in the ops store (SQLite WAL) through the packages' functions, so a click
during a long cycle waits milliseconds, not the cycle. Each function raises the package's
own error (with a hint) when the action is refused; pages show that message.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core.clock import Clock, SystemClock
from core.config import VigilConfig
from core.stores import OpsStore, stores_for
from incidents import alerts, incidents, silences


def _ops(cfg: VigilConfig) -> OpsStore:
    return stores_for(cfg)[1]


# ---- alerts -----------------------------------------------------------------------------


def acknowledge_alert(cfg: VigilConfig, fingerprint: str, user: str, clock: Clock | None = None) -> None:
    alerts.acknowledge(_ops(cfg), clock or SystemClock(), fingerprint, user)


def silence_alert(
    cfg: VigilConfig,
    alert: dict[str, Any],
    ends_at: datetime,
    comment: str,
    user: str,
    clock: Clock | None = None,
) -> str:
    """Silence exactly this alert (equality matchers on its identity labels) until ``ends_at``."""
    matchers = [
        silences.Matcher(name="check", op="=", value=str(alert.get("check_name", ""))),
        silences.Matcher(name="model", op="=", value=str(alert.get("model", ""))),
        silences.Matcher(name="subject", op="=", value=str(alert.get("subject", ""))),
    ]
    silence = silences.add_silence(
        _ops(cfg), clock or SystemClock(), matchers=matchers, ends_at=ends_at, author=user, comment=comment
    )
    return str(silence.silence_id)


def open_incident_for_alert(
    cfg: VigilConfig, fingerprint: str, user: str, severity: str | None = None, clock: Clock | None = None
) -> str:
    return str(
        incidents.open_incident(
            _ops(cfg),
            clock or SystemClock(),
            opened_by=user,
            alert_fingerprints=[fingerprint],
            severity=severity,
            model=cfg.model.name,
        )
    )


# ---- incidents --------------------------------------------------------------------------


def set_incident_status(
    cfg: VigilConfig, incident_id: str, status: str, user: str, note: str | None = None, clock: Clock | None = None
) -> None:
    incidents.set_status(_ops(cfg), clock or SystemClock(), incident_id, status, user, note)


def set_incident_roles(
    cfg: VigilConfig,
    incident_id: str,
    user: str,
    commander: str | None,
    scribe: str | None,
    clock: Clock | None = None,
) -> None:
    incidents.set_roles(_ops(cfg), clock or SystemClock(), incident_id, user, commander=commander or None, scribe=scribe or None)


def add_incident_note(cfg: VigilConfig, incident_id: str, user: str, text: str, clock: Clock | None = None) -> None:
    incidents.add_note(_ops(cfg), clock or SystemClock(), incident_id, user, text)


# ---- registry ---------------------------------------------------------------------------


def _registry(cfg: VigilConfig) -> Any:
    from core.registries import registry_for

    return registry_for(cfg, _ops(cfg))


def approve_version(cfg: VigilConfig, model_name: str, version: int, user: str, reason: str) -> Any:
    return _registry(cfg).approve(model_name, version, user, reason)


def reject_version(cfg: VigilConfig, model_name: str, version: int, user: str, reason: str) -> Any:
    return _registry(cfg).reject(model_name, version, user, reason)


def promote_version(cfg: VigilConfig, model_name: str, version: int, user: str, reason: str) -> Any:
    """Refused by the registry (PromotionRefused, with the reason) unless approved and no worse."""
    from core.registries import promotion_rule

    registry = _registry(cfg)
    metric, margin = promotion_rule(registry.get(model_name, version), cfg.model.task)
    return registry.promote(model_name, version, user, reason, metric=metric, margin=margin)


def rollback_champion(cfg: VigilConfig, model_name: str, user: str, reason: str, version: int | None = None) -> Any:
    return _registry(cfg).rollback(model_name, user, reason, to_version=version)


def revert_registry_event(cfg: VigilConfig, event_id: int, user: str, reason: str) -> Any:
    return _registry(cfg).revert(event_id, user, reason)


# ---- postmortems --------------------------------------------------------------------------


def create_postmortem(cfg: VigilConfig, incident_id: str, user: str, clock: Clock | None = None) -> Any:
    from incidents.postmortem import create_postmortem

    wh, ops = stores_for(cfg)
    return create_postmortem(cfg, ops, clock or SystemClock(), incident_id, user, wh if cfg.warehouse_path.exists() else None)


def save_postmortem(
    cfg: VigilConfig, incident_id: str, changes: dict[str, str], user: str, comment: str | None,
    clock: Clock | None = None,
) -> Any:
    from incidents.postmortem import save_revision

    return save_revision(_ops(cfg), clock or SystemClock(), incident_id, changes, user, comment)


def add_action_item(
    cfg: VigilConfig, incident_id: str, *, title: str, owner: str, kind: str, due: str, user: str,
    clock: Clock | None = None,
) -> str:
    from incidents.postmortem import add_action_item as add

    return str(add(_ops(cfg), clock or SystemClock(), incident_id, title=title, owner=owner, kind=kind, due=due,
                   author=user))


def update_action_item(cfg: VigilConfig, item_id: str, user: str, status: str, clock: Clock | None = None) -> Any:
    from incidents.postmortem import update_action_item as update

    return update(_ops(cfg), clock or SystemClock(), item_id, user, status=status)


# ---- decisions ----------------------------------------------------------------------------


def recommend_decision(cfg: VigilConfig, incident_id: str, clock: Clock | None = None, *, user: str = "system") -> Any:
    from incidents.decisions import recommend

    wh, ops = stores_for(cfg)
    return recommend(cfg, ops, clock or SystemClock(), incident_id, wh=wh if cfg.warehouse_path.exists() else None,
                     actor=user)


def approve_decision(cfg: VigilConfig, decision_id: str, user: str, reason: str, clock: Clock | None = None) -> Any:
    from incidents.decisions import approve

    return approve(_ops(cfg), clock or SystemClock(), decision_id, user, reason)


def reject_decision(cfg: VigilConfig, decision_id: str, user: str, reason: str, clock: Clock | None = None) -> Any:
    from incidents.decisions import reject

    return reject(_ops(cfg), clock or SystemClock(), decision_id, user, reason)


def carry_out_decision(
    cfg: VigilConfig, decision_id: str, user: str, reason: str, candidate_version: int | None = None,
    clock: Clock | None = None,
) -> Any:
    from incidents.decisions import carry_out

    wh, ops = stores_for(cfg)
    return carry_out(cfg, ops, clock or SystemClock(), decision_id, user, reason, candidate_version=candidate_version,
                     wh=wh if cfg.warehouse_path.exists() else None)


def reverse_decision(cfg: VigilConfig, decision_id: str, user: str, reason: str, clock: Clock | None = None) -> Any:
    from incidents.decisions import reverse

    return reverse(_ops(cfg), clock or SystemClock(), decision_id, user, reason, cfg=cfg)
