"""Notification as a list of stages, each a ``Stage``: ``(alerts, context) -> alerts``.

    DECIDING = (inhibit, silence, group, dedup)

- inhibit: data alerts inhibited along lineage by a root firing now are not notified (they
  show "inhibited by"). Model-behaviour alerts are never inhibited: they carry their ranked
  possible causes into the payload instead.
- silence: alerts matched by an active silence are not notified (``silenced_by`` is kept).
- group: routes pick receivers by labels (severity, owner, table, ...); each alert leaves
  this stage once per matching route, carrying its receiver and ``group_by`` labels.
- dedup: against the notification log (the outbox): a group is sent when it has a firing
  alert not notified before, an alert notified as firing that has resolved, or when
  ``repeat_interval`` has passed (an ``alertmanager_api`` receiver: every cycle while
  firing). Late re-checks change no state, so they never pass this stage.

The stages are pure: the context is a snapshot read before they run (clock, config,
active silences, the log). ``decide`` runs them inside one ops-store transaction and
writes their outcome there: the outbox messages (with their payloads and idempotency
keys) and which alerts a silence matched. ``incidents.delivery`` sends the outbox later,
outside the cycle lock, and records each outcome: the only other side effect.

Secrets (URLs, tokens) never reach the outbox, the log, the records or the returned values:
they live in the environment and print as ``<secret>``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from core.clock import Clock
from core.config import Route, VigilConfig
from core.ids import labels_fingerprint
from core.stores import OpsStore
from incidents import outbox
from incidents.delivery import DEFAULT_RETRY_DELAYS, SECRET, Delivery, deliver_outbox
from incidents.inhibition import possible_causes_of
from incidents.outbox import GroupId, LoggedGroup, OutboxMessage
from incidents.payloads import PAYLOADS, Group, NoticeAlert
from incidents.schema import ensure_schema
from incidents.silences import Silence, active_silences_in, silencing

__all__ = [
    "DECIDING",
    "Delivery",
    "NotifyContext",
    "PipelineAlert",
    "RouteKey",
    "Stage",
    "decide",
    "dedup",
    "deliver_outbox",
    "describe_receivers",
    "group",
    "inhibit",
    "notify_pending",
    "run_stages",
    "silence",
]


@dataclass(frozen=True)
class RouteKey:
    """Where a routed alert goes: receiver, route index and its group (the ``group_by`` labels)."""

    receiver: str
    route: int
    group_labels: tuple[tuple[str, str], ...]
    repeat_interval: timedelta
    kind: str

    @property
    def group_key(self) -> str:
        return json.dumps(dict(self.group_labels), sort_keys=True)

    @property
    def group_id(self) -> GroupId:
        return (self.receiver, self.route, self.group_key)


@dataclass(frozen=True)
class PipelineAlert:
    fingerprint: str
    labels: dict[str, str]
    annotations: dict[str, Any]
    state: str  # firing or resolved (resolved / inactive alerts that a receiver was told are firing)
    severity: str
    started_batch: str | None
    fired_at: str | None
    resolved_at: str | None
    inhibited_by: str | None
    silenced_by: str | None
    incident_id: str | None
    routed: RouteKey | None = None  # set by the group stage
    possible_causes: tuple[dict[str, Any], ...] = ()

    def notice(self) -> NoticeAlert:
        return NoticeAlert(
            self.fingerprint, self.labels, self.annotations, self.state, self.fired_at, self.resolved_at, self.incident_id,
            self.possible_causes,
        )


@dataclass(frozen=True)
class NotifyContext:
    """What the stages may read: a snapshot, so each stage is a pure function of (alerts, context)."""

    cfg: VigilConfig
    now: datetime
    silences: tuple[Silence, ...] = ()
    log: Mapping[GroupId, LoggedGroup] = field(default_factory=dict)
    # (receiver, fingerprint) -> labels last posted to an Alertmanager (payloads only; no stage reads it).
    posted: Mapping[tuple[str, str], dict[str, str]] = field(default_factory=dict)


Stage = Callable[[list[PipelineAlert], NotifyContext], list[PipelineAlert]]


# ---- the stages -----------------------------------------------------------------------------


def inhibit(alerts: list[PipelineAlert], ctx: NotifyContext) -> list[PipelineAlert]:
    """Inhibited firing alerts are explained by their root cause's notification."""
    return [a for a in alerts if not (a.state == "firing" and a.inhibited_by)]


def silence(alerts: list[PipelineAlert], ctx: NotifyContext) -> list[PipelineAlert]:
    """Alerts an active silence matches are not notified (they stay visible, marked silenced)."""
    return [a for a in alerts if silencing(list(ctx.silences), a.labels) is None]


def routes_for(cfg: VigilConfig, labels: dict[str, str]) -> list[tuple[int, Route]]:
    """Routes whose match labels all equal the alert's; the first receiver catches the rest."""
    matched: list[tuple[int, Route]] = []
    for i, route in enumerate(cfg.alerts.routes):
        if all(labels.get(k) == v for k, v in route.match.items()):
            matched.append((i, route))
            if not route.continue_:
                break
    if not matched and cfg.alerts.receivers:
        matched.append((-1, Route(receiver=cfg.alerts.receivers[0].name)))
    return matched


def group(alerts: list[PipelineAlert], ctx: NotifyContext) -> list[PipelineAlert]:
    """One routed copy of each alert per matching route, carrying its receiver and group labels."""
    kinds = {r.name: r.kind for r in ctx.cfg.alerts.receivers}
    out = []
    for a in alerts:
        for index, route in routes_for(ctx.cfg, a.labels):
            labels = tuple((k, a.labels.get(k, "")) for k in route.group_by)
            key = RouteKey(route.receiver, index, labels, route.repeat_interval, kinds[route.receiver])
            out.append(replace(a, routed=key))
    return out


def _by_group(alerts: list[PipelineAlert]) -> dict[GroupId, list[PipelineAlert]]:
    groups: dict[GroupId, list[PipelineAlert]] = {}
    for a in alerts:
        if a.routed is None:
            raise ValueError(f"alert {a.fingerprint} reached a grouped stage without a route (hint: run `group` first)")
        groups.setdefault(a.routed.group_id, []).append(a)
    return groups


def dedup(alerts: list[PipelineAlert], ctx: NotifyContext) -> list[PipelineAlert]:
    """Keep the groups with something new to say; drop resolved alerts their receiver never heard of."""
    out: list[PipelineAlert] = []
    for gid, members in _by_group(alerts).items():
        route = members[0].routed
        assert route is not None  # _by_group checked
        last = ctx.log.get(gid)
        before = last.firing if last else frozenset()
        firing = [a for a in members if a.state == "firing"]
        resolved = [a for a in members if a.state != "firing" and a.fingerprint in before]
        new_firing = {a.fingerprint for a in firing} - before
        if route.kind == "alertmanager_api":  # Alertmanager needs firing alerts re-posted before they end
            repeat_due = bool(firing)
        else:
            repeat_due = bool(firing) and last is not None and ctx.now - last.at >= route.repeat_interval
        if new_firing or resolved or repeat_due:
            out.extend(firing + resolved)
    return out


DECIDING: tuple[Stage, ...] = (inhibit, silence, group, dedup)


def run_stages(alerts: list[PipelineAlert], ctx: NotifyContext, stages: Sequence[Stage] = DECIDING) -> list[PipelineAlert]:
    """The pipeline: each stage's output is the next one's input."""
    for stage in stages:
        alerts = stage(alerts, ctx)
    return alerts


# ---- the edges: reading the snapshot, building messages, writing them ---------------------------


def _pipeline_alert(row: Mapping[str, Any]) -> PipelineAlert:
    return PipelineAlert(
        fingerprint=row["fingerprint"],
        labels=json.loads(row["labels"]),
        annotations=json.loads(row["annotations"]),
        state=row["state"],
        severity=row["severity"],
        started_batch=row["started_batch"],
        fired_at=row["fired_at"],
        resolved_at=row["resolved_at"],
        inhibited_by=row["inhibited_by"],
        silenced_by=row["silenced_by"],
        incident_id=row["incident_id"],
        possible_causes=tuple(possible_causes_of(row)),
    )


def candidate_alerts(conn: sqlite3.Connection, log: Mapping[GroupId, LoggedGroup]) -> list[PipelineAlert]:
    """Firing alerts, and resolved alerts that some receiver was last told are firing."""
    rows = [dict(r) for r in conn.execute("SELECT * FROM alerts WHERE state = 'firing' ORDER BY fingerprint")]
    notified = set().union(*(g.firing for g in log.values())) if log else set()
    resolved = [
        dict(r)
        for r in conn.execute("SELECT * FROM alerts WHERE state IN ('resolved', 'inactive') ORDER BY fingerprint")
        if r["fingerprint"] in notified
    ]
    return [_pipeline_alert(r) for r in rows + resolved]


def silence_marks(alerts: list[PipelineAlert], ctx: NotifyContext) -> list[tuple[str | None, str]]:
    """(silence id or None, fingerprint) for firing alerts whose recorded silence changed."""
    marks: list[tuple[str | None, str]] = []
    for a in alerts:
        sid = silencing(list(ctx.silences), a.labels)
        if a.state == "firing" and sid != a.silenced_by:
            marks.append((sid, a.fingerprint))
    return marks


def message_key(route: RouteKey, firing: list[str], resolved: list[str], now: datetime) -> str:
    """The idempotency key: a hash of what is said, to whom, when. Every resend carries it."""
    parts = {
        "receiver": route.receiver,
        "route": route.route,
        "group": route.group_key,
        "firing": ",".join(sorted(firing)),
        "resolved": ",".join(sorted(resolved)),
        "at": now.isoformat(),
    }
    return "vigil-" + labels_fingerprint(parts)


def messages_for(alerts: list[PipelineAlert], ctx: NotifyContext) -> list[OutboxMessage]:
    """One outbox message per group that passed the stages, its payload built now."""
    out = []
    for _gid, members in _by_group(alerts).items():
        route = members[0].routed
        assert route is not None
        firing = [a for a in members if a.state == "firing"]
        resolved = [a for a in members if a.state != "firing"]
        key = message_key(route, [a.fingerprint for a in firing], [a.fingerprint for a in resolved], ctx.now)
        g = Group(
            route.receiver, route.route, dict(route.group_labels), route.kind, key, ctx.now,
            [a.notice() for a in firing], [a.notice() for a in resolved],
            {a.fingerprint: ctx.posted[(route.receiver, a.fingerprint)] for a in members if (route.receiver, a.fingerprint) in ctx.posted},
        )
        out.append(
            OutboxMessage(
                key=key,
                receiver=route.receiver,
                route=route.route,
                group_labels=dict(route.group_labels),
                kind=route.kind,
                status=g.status,
                firing=tuple(a.fingerprint for a in firing),
                resolved=tuple(a.fingerprint for a in resolved),
                incidents=tuple(sorted({a.incident_id for a in members if a.incident_id})),
                payload=PAYLOADS[route.kind](ctx.cfg, g),
                created_at=ctx.now,
            )
        )
    return out


def decide(cfg: VigilConfig, ops: OpsStore, clock: Clock) -> list[OutboxMessage]:
    """Run the deciding stages over the current alert state and write their outcome, in one transaction.

    Returns the messages written to the outbox (nothing is sent here: see ``deliver_outbox``).
    """
    ensure_schema(ops)
    if not cfg.alerts.receivers:
        return []
    now = clock.now()
    with ops.transaction() as conn:
        log = outbox.last_decided(conn)
        ctx = NotifyContext(
            cfg=cfg, now=now, silences=tuple(active_silences_in(conn, now)), log=log, posted=outbox.posted_labels(conn)
        )
        candidates = candidate_alerts(conn, log)
        marks = silence_marks(inhibit(candidates, ctx), ctx)
        messages = messages_for(run_stages(candidates, ctx), ctx)
        if marks:
            conn.executemany("UPDATE alerts SET silenced_by = ? WHERE fingerprint = ?", marks)
        outbox.write(conn, messages)
        outbox.prune(conn, now)
    return messages


def notify_pending(
    cfg: VigilConfig,
    ops: OpsStore,
    clock: Clock,
    *,
    env: Mapping[str, str] | None = None,
    retry_delays: tuple[float, ...] = DEFAULT_RETRY_DELAYS,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Delivery]:
    """Decide, then deliver what is pending (this call's messages and any left over). Returns the deliveries."""
    decide(cfg, ops, clock)
    if not cfg.alerts.receivers:
        return []
    return deliver_outbox(cfg, ops, clock, env=env if env is not None else os.environ, retry_delays=retry_delays, sleep=sleep)


send_notifications = notify_pending


def describe_receivers(cfg: VigilConfig) -> list[dict[str, str | None]]:
    """Receivers for display: names of the environment variables, never their values."""
    return [
        {"name": r.name, "kind": r.kind, "url": SECRET, "url_env": r.url_env, "token_env": r.token_env} for r in cfg.alerts.receivers
    ]
