"""Decisions: what to do about an incident, recommended from its evidence by explicit rules.

Rules, in order (the first that applies wins):
1. monitoring broken (heartbeat alerts: the cycle or scoring job)   -> fix_monitoring
2. upstream data broken (input-quality / unit-change / ETL alerts)  -> fix_upstream
   (drift alerts downstream are held by inhibition; model alerts notify with the upstream alert
   as a possible cause; the affected window is recorded so a retrain excludes it)
3. performance degraded right after a promotion, and the previous version scores better on
   the live test set (shadow evaluation)                             -> roll_back
4. sustained degradation (>= SUSTAINED_BATCHES batches) on clean inputs with enough labels
   (>= MIN_LABELS)                                                    -> retrain
5. anything else (input drift with no effect on outputs or KPIs, or too little evidence yet)
                                                                      -> hold_and_watch

Carrying a decision out needs an approver; roll_back and retrain (promotion of a candidate
that beats the champion) move aliases in the configured registry (core.registries: Vigil's
embedded one or an MLflow Model Registry). Versions are compared through the model's
adapter (core.adapter). Every step is
an append-only row (who, when, why, evidence) and a carried-out decision can be reversed.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from checks.spec import Family
from core import audit
from core.clock import Clock, iso
from core.config import VigilConfig
from core.ids import new_id
from core.registries import promotion_rule, registry_error_types, registry_for
from core.sql import ident
from core.stores import OpsStore, StoreMissing, StoreUnavailable, Warehouse
from incidents import incidents as incident_store
from incidents.inhibition import AlertView, is_downstream, is_root, possible_causes_of
from incidents.schema import ensure_schema
from incidents.shadow import VersionScore, better, shadow_evaluate

ACTIONS = ("fix_monitoring", "fix_upstream", "roll_back", "retrain", "hold_and_watch")
KINDS = ("recommended", "approved", "rejected", "carried_out", "reversed")
NEXT_KINDS = {"recommended": ("approved", "rejected"), "approved": ("carried_out", "rejected"), "carried_out": ("reversed",)}
MONITORING_FAMILIES: frozenset[str] = frozenset({Family.HEARTBEAT})
DEGRADATION_FAMILIES: frozenset[str] = frozenset({Family.PERFORMANCE})
SUSTAINED_BATCHES = 3
MIN_LABELS = 100
PROMOTION_LOOKBACK_BATCHES = 7
LABEL_COUNT_KEYS = ("labelled", "labeled", "n_labelled", "matured", "rows", "n")  # "labeled": performance checks' evidence


class DecisionError(ValueError):
    """A decision action is not allowed; the message says why and what to do."""


@dataclass
class Evidence:
    incident_id: str
    model: str
    monitoring_alerts: list[str] = field(default_factory=list)
    upstream_alerts: list[str] = field(default_factory=list)
    degradation_alerts: list[str] = field(default_factory=list)
    drift_alerts: list[str] = field(default_factory=list)
    inhibited_alerts: list[str] = field(default_factory=list)
    explained_alerts: list[str] = field(default_factory=list)  # model alerts with an upstream possible cause
    affected_window: tuple[str, str] | None = None  # event time [start, end)
    degraded_batches: int = 0
    labelled_rows: int | None = None
    promotion: dict[str, Any] | None = None  # {from_version, to_version, source}
    shadow: list[dict[str, Any]] = field(default_factory=list)
    previous_better: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Recommendation:
    action: str
    reasons: list[str]
    evidence: Evidence
    target_version: int | None = None


def recommend_action(e: Evidence) -> Recommendation:
    """The rule set, as a pure function of the evidence."""
    if e.monitoring_alerts:
        return Recommendation("fix_monitoring", [f"monitoring or scoring pipeline broken: {', '.join(e.monitoring_alerts)}"], e)
    if e.upstream_alerts:
        window = f" (exclude {e.affected_window[0]} .. {e.affected_window[1]} from any retraining)" if e.affected_window else ""
        reasons = [f"upstream data broken: {', '.join(e.upstream_alerts)}{window}"]
        if e.inhibited_alerts:
            reasons.append(f"downstream data alerts held (inhibited): {', '.join(e.inhibited_alerts)}")
        if e.explained_alerts:
            reasons.append(f"model alerts with this upstream problem as their possible cause: {', '.join(e.explained_alerts)}")
        return Recommendation("fix_upstream", reasons, e)
    if e.degradation_alerts and e.promotion and e.previous_better:
        prev, new = e.promotion.get("from_version"), e.promotion.get("to_version")
        reasons = [
            f"degradation ({', '.join(e.degradation_alerts)}) started right after v{new} was promoted",
            f"v{prev} scores better on the live test set: {json.dumps(e.shadow)}",
        ]
        return Recommendation("roll_back", reasons, e, target_version=int(prev) if prev is not None else None)
    if e.degradation_alerts:
        enough = e.labelled_rows is not None and e.labelled_rows >= MIN_LABELS
        if e.degraded_batches >= SUSTAINED_BATCHES and enough:
            reasons = [
                f"sustained degradation over {e.degraded_batches} batches on clean inputs: {', '.join(e.degradation_alerts)}",
                f"{e.labelled_rows} labelled rows: enough to train and compare a candidate; promote only if it beats the champion",
            ]
            return Recommendation("retrain", reasons, e)
        why = []
        if e.degraded_batches < SUSTAINED_BATCHES:
            why.append(f"degradation over {e.degraded_batches} batch(es) only (sustained means {SUSTAINED_BATCHES})")
        if not enough:
            why.append(f"{e.labelled_rows if e.labelled_rows is not None else 'unknown'} labelled rows (need {MIN_LABELS})")
        if e.promotion and e.previous_better is False:
            why.append("the previous version is not better on the live test set, so rolling back would not help")
        return Recommendation("hold_and_watch", ["not enough evidence to act yet: " + "; ".join(why)], e)
    if e.drift_alerts:
        return Recommendation("hold_and_watch", [f"input drift with no effect on KPIs or performance yet: {', '.join(e.drift_alerts)}"], e)
    return Recommendation("hold_and_watch", ["no alert in this incident calls for a model change"], e)


# ---- evidence ---------------------------------------------------------------------------


def _describe(alert: dict[str, Any]) -> str:
    return f"{alert['check_name']} on {alert['subject']}"


def _labelled_rows(batches: list[dict[str, Any]]) -> int | None:
    total, seen = 0, False
    for b in batches:
        evidence = json.loads(b["evidence"] or "{}")
        for key in LABEL_COUNT_KEYS:
            if isinstance(evidence.get(key), int | float):
                total += int(evidence[key])
                seen = True
                break
    return total if seen else None


def _serving_versions(cfg: VigilConfig, wh: Warehouse, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Per model version: first and last prediction time in [start, end), from the prediction log."""
    col = cfg.predictions.model_version_column
    if not col:
        return []
    ts = ident(cfg.predictions.timestamp_column)
    sql = (
        f"SELECT CAST({ident(col)} AS BIGINT) AS version, min({ts}) AS first_at, max({ts}) AS last_at "  # noqa: S608
        f"FROM predictions WHERE {ts} >= ? AND {ts} < ? AND {ident(col)} IS NOT NULL GROUP BY 1 ORDER BY 2"
    )
    try:
        with wh.read() as conn:
            rows = conn.execute(sql, [start, end]).fetchall()
    except StoreMissing:
        return []
    return [{"version": int(r[0]), "first_at": r[1], "last_at": r[2]} for r in rows]


def _promotion_from_predictions(cfg: VigilConfig, wh: Warehouse, start: datetime, end: datetime) -> dict[str, Any] | None:
    lookback = start - cfg.batch.window * PROMOTION_LOOKBACK_BATCHES
    versions = _serving_versions(cfg, wh, lookback, end)
    if len(versions) < 2:
        return None
    newest = max(versions, key=lambda v: v["first_at"])
    # "Right after": the version serving the degraded window first appeared in the lookback.
    if newest["first_at"] <= lookback or newest["first_at"] > start + cfg.batch.window:
        return None
    before = [v for v in versions if v["version"] != newest["version"] and v["last_at"] < newest["first_at"] + cfg.batch.window]
    if not before:
        return None
    previous = max(before, key=lambda v: v["last_at"])
    return {"from_version": previous["version"], "to_version": newest["version"], "at": str(newest["first_at"]), "source": "predictions"}


def _promotion_from_registry(registry: Any, model_name: str) -> dict[str, Any] | None:
    for ev in registry.events(model_name):
        if ev.alias == "champion" and ev.kind == "promote" and ev.from_version is not None:
            champion = registry.champion(model_name)
            if champion is not None and champion.version == ev.to_version:
                return {"from_version": ev.from_version, "to_version": ev.to_version, "at": ev.at, "source": "registry"}
            return None
    return None


def _registry(cfg: VigilConfig | None, ops: OpsStore, clock: Clock) -> Any:
    return registry_for(cfg, ops, clock)


def registry_name(cfg: VigilConfig) -> str:
    return cfg.model.registry_name or cfg.model.name


def gather_evidence(
    cfg: VigilConfig, ops: OpsStore, clock: Clock, incident_id: str, wh: Warehouse | None = None, registry: Any = None
) -> Evidence:
    """Everything the rules look at, from the incident's alerts, the prediction log and the registry."""
    ensure_schema(ops)
    rows = ops.query(
        "SELECT a.* FROM incident_alerts ia JOIN alerts a USING (fingerprint) WHERE ia.incident_id = ? ORDER BY a.fingerprint",
        (incident_id,),
    )
    incident = ops.query("SELECT model FROM incidents WHERE incident_id = ?", (incident_id,))
    if not incident:
        raise DecisionError(f"no incident {incident_id!r} (hint: `vigil incidents list --all`)")
    e = Evidence(incident_id=incident_id, model=incident[0]["model"] or cfg.model.name)
    failing: list[str] = []
    for a in rows:
        view = AlertView(a["fingerprint"], json.loads(a["labels"]), a["state"], a["started_batch"], a["inhibited_by"])
        batches = ops.query(
            "SELECT ab.* FROM alert_batches ab JOIN incident_alerts ia ON ia.fingerprint = ab.fingerprint AND ia.episode = ab.episode "
            "WHERE ia.incident_id = ? AND ab.fingerprint = ? AND ab.status = 'fail' ORDER BY ab.batch",
            (incident_id, a["fingerprint"]),
        )
        failing += [b["batch"] for b in batches]
        causes = possible_causes_of(a)
        if any(c.get("upstream") for c in causes):
            e.explained_alerts.append(f"{_describe(a)} (possible cause: {causes[0]['check']} on {causes[0]['subject']})")
        if a["inhibited_by"]:
            e.inhibited_alerts.append(_describe(a))
        elif a["family"] in MONITORING_FAMILIES:
            e.monitoring_alerts.append(_describe(a))
        elif is_root(cfg, view):
            e.upstream_alerts.append(_describe(a))
        elif a["family"] in DEGRADATION_FAMILIES:
            e.degradation_alerts.append(_describe(a))
            e.degraded_batches = max(e.degraded_batches, len(batches))
            labelled = _labelled_rows(batches)
            if labelled is not None:
                e.labelled_rows = max(e.labelled_rows or 0, labelled)
        elif is_downstream(view):
            e.drift_alerts.append(_describe(a))
    if failing:
        end = datetime.fromisoformat(max(failing)) + cfg.batch.window
        e.affected_window = (min(failing), end.isoformat())
    if e.degradation_alerts and not e.monitoring_alerts and not e.upstream_alerts:
        _add_version_evidence(cfg, ops, clock, e, wh, registry)
    return e


def _add_version_evidence(cfg: VigilConfig, ops: OpsStore, clock: Clock, e: Evidence, wh: Warehouse | None, registry: Any) -> None:
    model_name = registry_name(cfg)
    reg = registry if registry is not None else _registry(cfg, ops, clock)
    if e.affected_window is None:
        return
    start, end = (datetime.fromisoformat(x) for x in e.affected_window)
    if wh is not None and cfg.predictions.model_version_column:
        # The prediction log says which version scored which batch: the timing is measured.
        promotion = _promotion_from_predictions(cfg, wh, start, end)
    else:
        try:  # without it, the registry's last promotion is context only (no shadow evaluation possible)
            promotion = _promotion_from_registry(reg, model_name)
        except sqlite3.OperationalError:  # registry tables absent
            promotion = None
    e.promotion = promotion
    if promotion is None or wh is None:
        return
    scores = shadow_evaluate(cfg, wh, reg, model_name, [promotion["to_version"], promotion["from_version"]], start, end)
    e.shadow = [s.to_dict() for s in scores]
    current, previous = scores
    e.labelled_rows = max(e.labelled_rows or 0, current.n)
    e.previous_better = better(previous, current) if current.n and previous.n else None


# ---- the append-only record --------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    decision_id: str
    incident_id: str
    action: str
    state: str
    target_version: int | None
    registry_event_id: int | None
    history: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _append(
    conn: sqlite3.Connection,
    *,
    decision_id: str,
    incident_id: str,
    kind: str,
    action: str,
    actor: str,
    at: str,
    reason: str,
    evidence: dict[str, Any],
    model_name: str | None = None,
    target_version: int | None = None,
    registry_event_id: int | None = None,
) -> None:
    previous = conn.execute(
        "SELECT kind FROM decisions WHERE decision_id = ? ORDER BY event_id DESC LIMIT 1", (decision_id,)
    ).fetchone()
    conn.execute(
        "INSERT INTO decisions (decision_id, incident_id, kind, action, actor, at, reason, evidence, model_name, target_version, "
        "registry_event_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (decision_id, incident_id, kind, action, actor, at, reason, json.dumps(evidence, default=str), model_name, target_version, registry_event_id),
    )
    text = f"Decision {action.replace('_', ' ')} {kind.replace('_', ' ')} by {actor}: {reason}"
    incident_store.add_timeline(conn, incident_id, at, "decision", actor, text, {"decision_id": decision_id, "kind": kind})
    audit.record(
        conn, actor, f"decisions.{kind}", decision_id, None if previous is None else {"state": previous[0]},
        {"state": kind, "action": action, "incident_id": incident_id, "reason": reason,
         "target_version": target_version, "registry_event_id": registry_event_id},
        at=at,
    )


def get_decision(ops: OpsStore, decision_id: str) -> Decision:
    ensure_schema(ops)
    rows = ops.query("SELECT * FROM decisions WHERE decision_id = ? ORDER BY event_id", (decision_id,))
    if not rows:
        raise DecisionError(f"no decision {decision_id!r} (hint: `vigil decisions list INCIDENT`)")
    for r in rows:
        r["evidence"] = json.loads(r["evidence"])
    last = rows[-1]
    target = next((r["target_version"] for r in reversed(rows) if r["target_version"] is not None), None)
    registry_event = next((r["registry_event_id"] for r in reversed(rows) if r["registry_event_id"] is not None), None)
    return Decision(decision_id, last["incident_id"], last["action"], last["kind"], target, registry_event, rows)


def decisions_for(ops: OpsStore, incident_id: str | None = None) -> list[Decision]:
    ensure_schema(ops)
    if incident_id:
        rows = ops.query(
            "SELECT decision_id, min(event_id) AS first FROM decisions WHERE incident_id = ? GROUP BY decision_id ORDER BY first",
            (incident_id,),
        )
    else:
        rows = ops.query("SELECT decision_id, min(event_id) AS first FROM decisions GROUP BY decision_id ORDER BY first")
    return [get_decision(ops, r["decision_id"]) for r in rows]


def recommend(
    cfg: VigilConfig, ops: OpsStore, clock: Clock, incident_id: str, *, wh: Warehouse | None = None, registry: Any = None,
    actor: str = "vigil",
) -> Decision:
    """Gather evidence, apply the rules and record the recommendation (needs approval to carry out).

    ``actor`` is who asked for it (the acting user); the audit entry and timeline name them.
    """
    evidence = gather_evidence(cfg, ops, clock, incident_id, wh, registry)
    rec = recommend_action(evidence)
    # Asking again while the same recommendation is still open returns it: no duplicate decisions.
    for existing in reversed(decisions_for(ops, incident_id)):
        if (existing.state == "recommended" and existing.action == rec.action
                and existing.target_version == rec.target_version):
            return existing
    decision_id = new_id("dec")
    with ops.transaction() as conn:
        _append(
            conn,
            decision_id=decision_id,
            incident_id=incident_id,
            kind="recommended",
            action=rec.action,
            actor=actor,
            at=iso(clock.now()),
            reason="; ".join(rec.reasons),
            evidence=evidence.to_dict(),
            model_name=registry_name(cfg),
            target_version=rec.target_version,
        )
    return get_decision(ops, decision_id)


def _advance(ops: OpsStore, clock: Clock, decision_id: str, kind: str, actor: str, reason: str, **extra: Any) -> Decision:
    if not actor or not actor.strip():
        raise DecisionError(f"{kind.replace('_', ' ')} needs a person (hint: --user NAME)")
    if not reason or not reason.strip():
        raise DecisionError(f"{kind.replace('_', ' ')} needs a reason (hint: --reason 'why')")
    current = get_decision(ops, decision_id)
    allowed = NEXT_KINDS.get(current.state, ())
    if kind not in allowed:
        raise DecisionError(
            f"decision {decision_id} is {current.state}; it can be {' or '.join(allowed) or 'nothing more'} now, not {kind}"
        )
    with ops.transaction() as conn:
        _append(
            conn,
            decision_id=decision_id,
            incident_id=current.incident_id,
            kind=kind,
            action=current.action,
            actor=actor.strip(),
            at=iso(clock.now()),
            reason=reason.strip(),
            evidence=extra.pop("evidence", {}),
            model_name=extra.pop("model_name", None),
            target_version=extra.pop("target_version", current.target_version),
            registry_event_id=extra.pop("registry_event_id", None),
        )
    return get_decision(ops, decision_id)


def approve(ops: OpsStore, clock: Clock, decision_id: str, approver: str, reason: str) -> Decision:
    """A person approves a recommendation (the recommender is Vigil, so an approver is always a human)."""
    if approver.strip() == "vigil":
        raise DecisionError("a decision must be approved by a person, not by vigil (hint: --user NAME)")
    return _advance(ops, clock, decision_id, "approved", approver, reason)


def reject(ops: OpsStore, clock: Clock, decision_id: str, actor: str, reason: str) -> Decision:
    return _advance(ops, clock, decision_id, "rejected", actor, reason)


@contextmanager
def _registry_errors() -> Iterator[None]:
    """A refused registry move (not approved, nothing to roll back to) is a decision error with its hint.
    A registry that cannot be reached (MLflow down) is not a refusal: it stays a store that is
    unavailable, so `vigil` exits 3 and the decision stays where it was."""
    try:
        yield
    except StoreUnavailable:
        raise
    except registry_error_types() as err:
        raise DecisionError(f"the registry refused: {err}") from err


def carry_out(
    cfg: VigilConfig,
    ops: OpsStore,
    clock: Clock,
    decision_id: str,
    actor: str,
    reason: str,
    *,
    candidate_version: int | None = None,
    wh: Warehouse | None = None,
    registry: Any = None,
) -> Decision:
    """Do what an approved decision says. roll_back / retrain move the champion alias in the registry."""
    current = get_decision(ops, decision_id)
    if current.state != "approved":
        raise DecisionError(f"decision {decision_id} is {current.state}: it must be approved before it is carried out")
    reg: Any = registry if registry is not None else (_registry(cfg, ops, clock) if current.action in ("roll_back", "retrain") else None)
    model_name = registry_name(cfg)
    event_id: int | None = None
    target = current.target_version
    evidence: dict[str, Any] = {}
    with _registry_errors():
        if current.action == "roll_back":
            event = reg.rollback(model_name, user=actor, reason=f"{reason} (decision {decision_id})", to_version=target)
            event_id, target = int(event.event_id), event.to_version
        elif current.action == "retrain":
            if candidate_version is None:
                raise DecisionError("retrain needs a candidate version (hint: `vigil retrain`, then --candidate VERSION)")
            evidence = _candidate_check(cfg, reg, model_name, candidate_version, current, wh)
            metric, margin = promotion_rule(reg.get(model_name, candidate_version), cfg.model.task)
            event = reg.promote(model_name, candidate_version, user=actor, reason=f"{reason} (decision {decision_id})",
                                metric=metric, margin=margin)
            event_id, target = int(event.event_id), candidate_version
    return _advance(
        ops, clock, decision_id, "carried_out", actor, reason, registry_event_id=event_id, target_version=target,
        model_name=model_name, evidence=evidence,
    )


def _candidate_check(cfg: VigilConfig, reg: Any, model_name: str, candidate: int, current: Decision, wh: Warehouse | None) -> dict[str, Any]:
    """Promote only a candidate that beats the champion on the live test set."""
    champion = reg.champion(model_name)
    window = current.history[0]["evidence"].get("affected_window")
    if champion is None or wh is None or not window:
        return {"shadow": "not evaluated (no champion, warehouse or window)"}
    start, end = (datetime.fromisoformat(x) for x in window)
    scores: list[VersionScore] = shadow_evaluate(cfg, wh, reg, model_name, [candidate, champion.version], start, end)
    if not better(scores[0], scores[1]):
        raise DecisionError(
            f"candidate v{candidate} does not beat champion v{champion.version} on the live test set "
            f"({scores[0].to_dict()} vs {scores[1].to_dict()}): not promoted"
        )
    return {"shadow": [s.to_dict() for s in scores]}


def reverse(
    ops: OpsStore, clock: Clock, decision_id: str, actor: str, reason: str, *, registry: Any = None, cfg: VigilConfig | None = None
) -> Decision:
    """Undo a carried-out decision: a registry alias move is reverted (a new registry event)."""
    current = get_decision(ops, decision_id)
    if current.state != "carried_out":
        raise DecisionError(f"decision {decision_id} is {current.state}: only a carried-out decision can be reversed")
    event_id = None
    if current.registry_event_id is not None:
        reg = registry if registry is not None else _registry(cfg, ops, clock)
        with _registry_errors():
            event_id = int(reg.revert(current.registry_event_id, user=actor, reason=f"{reason} (reverses decision {decision_id})").event_id)
    return _advance(ops, clock, decision_id, "reversed", actor, reason, registry_event_id=event_id)


def excluded_windows(ops: OpsStore) -> list[tuple[str, str]]:
    """Event-time windows of upstream data incidents (fix_upstream decisions): never train on them."""
    ensure_schema(ops)
    out = []
    for r in ops.query("SELECT evidence FROM decisions WHERE action = 'fix_upstream' AND kind = 'recommended'"):
        window = json.loads(r["evidence"]).get("affected_window")
        if window:
            out.append((window[0], window[1]))
    return sorted(set(out))
