"""Notifications as a list of small stages, each (alerts) -> alerts (then groups -> groups):

    candidates -> inhibit -> silence -> group -> dedup (notification log) -> send -> record

- inhibit: alerts inhibited along lineage are not notified (they show "inhibited by").
- silence: alerts matched by an active silence are not notified (``silenced_by`` is kept).
- group: routes pick receivers by labels (severity, owner, table, ...); alerts of one
  route with the same ``group_by`` labels make one notification.
- dedup: against the log: a group is sent when it has a firing alert not sent before,
  an alert sent as firing that has resolved, or when ``repeat_interval`` has passed.
  Late re-checks change no state, so they never pass this stage.
- send: a webhook POST (Slack-compatible or Alertmanager-webhook JSON), URL and token from
  the environment, retries with backoff on 5xx / 429 / network errors.
- record: every attempt outcome goes to the ``notifications`` log and the incidents' timelines.

Secrets (URLs, tokens) never reach the log, the records or the returned values: they print
as ``<secret>``.
"""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from core.clock import Clock, iso, parse_iso
from core.config import Receiver, Route, VigilConfig
from core.stores import OpsStore
from incidents import incidents as incident_store
from incidents.schema import ensure_schema
from incidents.silences import active_silences, silencing

log = logging.getLogger("vigil.notify")
SECRET = "<secret>"
DEFAULT_RETRY_DELAYS = (0.5, 2.0, 8.0)
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class PipelineAlert:
    fingerprint: str
    labels: dict[str, str]
    annotations: dict[str, Any]
    state: str  # firing or resolved
    severity: str
    started_batch: str | None
    fired_at: str | None
    resolved_at: str | None
    inhibited_by: str | None
    silenced_by: str | None
    incident_id: str | None


@dataclass
class Group:
    receiver: str
    route: int
    group_labels: dict[str, str]
    repeat_interval: timedelta
    firing: list[PipelineAlert] = field(default_factory=list)
    resolved: list[PipelineAlert] = field(default_factory=list)

    @property
    def key(self) -> str:
        return json.dumps(self.group_labels, sort_keys=True)

    @property
    def status(self) -> str:
        return "firing" if self.firing else "resolved"


@dataclass
class Delivery:
    group: Group
    payload_kind: str
    status: str  # sent or failed
    attempts: int
    error: str | None = None
    http_status: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "receiver": self.group.receiver,
            "group": self.group.group_labels,
            "firing": [a.fingerprint for a in self.group.firing],
            "resolved": [a.fingerprint for a in self.group.resolved],
            "payload_kind": self.payload_kind,
            "status": self.status,
            "attempts": self.attempts,
            "error": self.error,
            "http_status": self.http_status,
        }


Stage = Callable[[list[PipelineAlert]], list[PipelineAlert]]
GroupStage = Callable[[list[Group]], list[Group]]


# ---- stage 0: candidates ----------------------------------------------------------------


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
    )


def candidate_alerts(ops: OpsStore) -> list[PipelineAlert]:
    """Firing alerts, and resolved alerts that some receiver was last told are firing."""
    rows = ops.query("SELECT * FROM alerts WHERE state = 'firing' ORDER BY fingerprint")
    notified: set[str] = set()
    for r in ops.query(
        "SELECT firing FROM notifications n WHERE status = 'sent' AND notification_id = "
        "(SELECT max(notification_id) FROM notifications m WHERE m.status = 'sent' AND m.receiver = n.receiver "
        "AND m.route = n.route AND m.group_key = n.group_key)"
    ):
        notified.update(json.loads(r["firing"]))
    resolved = [
        r for r in ops.query("SELECT * FROM alerts WHERE state IN ('resolved', 'inactive') ORDER BY fingerprint") if r["fingerprint"] in notified
    ]
    return [_pipeline_alert(r) for r in rows + resolved]


# ---- stage 1: inhibit -------------------------------------------------------------------


def drop_inhibited(alerts: list[PipelineAlert]) -> list[PipelineAlert]:
    """Inhibited firing alerts are explained by their root cause's notification."""
    return [a for a in alerts if not (a.state == "firing" and a.inhibited_by)]


# ---- stage 2: silence -------------------------------------------------------------------


def silence_stage(ops: OpsStore, now: datetime) -> Stage:
    silences = active_silences(ops, now)

    def drop_silenced(alerts: list[PipelineAlert]) -> list[PipelineAlert]:
        kept = []
        marks: list[tuple[str | None, str]] = []
        for a in alerts:
            sid = silencing(silences, a.labels)
            if sid != a.silenced_by and a.state == "firing":
                marks.append((sid, a.fingerprint))
            if sid is None:
                kept.append(a)
        if marks:
            with ops.transaction() as conn:
                conn.executemany("UPDATE alerts SET silenced_by = ? WHERE fingerprint = ?", marks)
        return kept

    return drop_silenced


# ---- stage 3: group ---------------------------------------------------------------------


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


def group_stage(cfg: VigilConfig) -> Callable[[list[PipelineAlert]], list[Group]]:
    def group(alerts: list[PipelineAlert]) -> list[Group]:
        groups: dict[tuple[str, int, str], Group] = {}
        for a in alerts:
            for index, route in routes_for(cfg, a.labels):
                labels = {k: a.labels.get(k, "") for k in route.group_by}
                g = Group(route.receiver, index, labels, route.repeat_interval)
                g = groups.setdefault((g.receiver, index, g.key), g)
                (g.firing if a.state == "firing" else g.resolved).append(a)
        return list(groups.values())

    return group


# ---- stage 4: dedup against the notification log ----------------------------------------


def dedup_stage(ops: OpsStore, now: datetime) -> GroupStage:
    def dedup(groups: list[Group]) -> list[Group]:
        out = []
        for g in groups:
            last = ops.query(
                "SELECT firing, at FROM notifications WHERE status = 'sent' AND receiver = ? AND route = ? AND group_key = ? "
                "ORDER BY notification_id DESC LIMIT 1",
                (g.receiver, g.route, g.key),
            )
            before = set(json.loads(last[0]["firing"])) if last else set()
            g.resolved = [a for a in g.resolved if a.fingerprint in before]
            new_firing = {a.fingerprint for a in g.firing} - before
            repeat_due = bool(g.firing) and bool(last) and now - parse_iso(last[0]["at"]) >= g.repeat_interval
            if new_firing or g.resolved or repeat_due:
                out.append(g)
        return out

    return dedup


# ---- stage 5: send ----------------------------------------------------------------------


def _alert_annotations(a: PipelineAlert) -> dict[str, str]:
    ann = a.annotations
    out = {
        "summary": str(ann.get("explanation") or ""),
        "value": "" if ann.get("value") is None else str(ann.get("value")),
        "bounds": f"[{ann.get('lower')}, {ann.get('upper')}]",
        "batch": str(ann.get("batch") or ""),
        "runbook": f"runbooks/{a.labels.get('check', '')}.md",
    }
    if a.incident_id:
        out["incident"] = a.incident_id
    return out


def _common(dicts: list[dict[str, str]]) -> dict[str, str]:
    if not dicts:
        return {}
    first = dicts[0]
    return {k: v for k, v in first.items() if all(d.get(k) == v for d in dicts[1:])}


def alertmanager_payload(g: Group) -> dict[str, Any]:
    """The JSON Alertmanager sends to webhook receivers (version 4)."""
    alerts = []
    for a in g.firing + g.resolved:
        alerts.append(
            {
                "status": a.state if a.state == "firing" else "resolved",
                "labels": a.labels,
                "annotations": _alert_annotations(a),
                "startsAt": a.fired_at or "",
                "endsAt": a.resolved_at or "0001-01-01T00:00:00Z",
                "generatorURL": "",
                "fingerprint": a.fingerprint,
            }
        )
    every = g.firing + g.resolved
    return {
        "version": "4",
        "groupKey": f"{g.route}:{g.key}",
        "truncatedAlerts": 0,
        "status": g.status,
        "receiver": g.receiver,
        "groupLabels": g.group_labels,
        "commonLabels": _common([a.labels for a in every]),
        "commonAnnotations": _common([_alert_annotations(a) for a in every]),
        "externalURL": "",
        "alerts": alerts,
    }


def slack_payload(g: Group) -> dict[str, Any]:
    """A Slack incoming-webhook message: a title line and one attachment per alert."""
    title = f"[{g.status.upper()}:{len(g.firing) or len(g.resolved)}] " + " ".join(f"{k}={v}" for k, v in g.group_labels.items())
    attachments = []
    for a in g.firing + g.resolved:
        ann = _alert_annotations(a)
        attachments.append(
            {
                "color": "danger" if a.state == "firing" else "good",
                "title": f"{a.labels.get('check')} on {a.labels.get('subject')} ({a.state})",
                "text": ann["summary"],
                "fields": [
                    {"title": "value", "value": ann["value"], "short": True},
                    {"title": "bounds", "value": ann["bounds"], "short": True},
                    {"title": "batch", "value": ann["batch"], "short": True},
                    {"title": "runbook", "value": ann["runbook"], "short": True},
                ],
            }
        )
    return {"text": title, "attachments": attachments}


PAYLOADS: dict[str, Callable[[Group], dict[str, Any]]] = {"alertmanager": alertmanager_payload, "slack": slack_payload}


def redact(text: str, secrets: list[str]) -> str:
    for s in secrets:
        if s:
            text = text.replace(s, SECRET)
    return text


def post_json(url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
    """One POST; returns the HTTP status (raises urllib errors)."""
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (http(s) URL from the operator's env)
        return int(resp.status)


def deliver(
    receiver: Receiver,
    payload: dict[str, Any],
    env: Mapping[str, str],
    retry_delays: tuple[float, ...] = DEFAULT_RETRY_DELAYS,
    sleep: Callable[[float], None] = time.sleep,
    timeout: float = 10.0,
) -> tuple[str, int, str | None, int | None]:
    """POST with retries and backoff. Returns (status, attempts, error, http_status); never leaks secrets."""
    url = env.get(receiver.url_env)
    if not url:
        return "failed", 0, f"environment variable {receiver.url_env} is not set (hint: export it where vigil runs)", None
    if not url.startswith(("http://", "https://")):
        return "failed", 0, f"environment variable {receiver.url_env} does not hold an http(s) URL", None
    token = env.get(receiver.token_env) if receiver.token_env else None
    if receiver.token_env and not token:
        return "failed", 0, f"environment variable {receiver.token_env} is not set (hint: export it where vigil runs)", None
    headers = {"Content-Type": "application/json", "User-Agent": "vigil"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    body = json.dumps(payload, default=str).encode()
    secrets = [url, token or ""]
    error: str | None = None
    http_status: int | None = None
    attempts = 0
    for attempt in range(len(retry_delays) + 1):
        attempts = attempt + 1
        try:
            http_status = post_json(url, body, headers, timeout)
            if 200 <= http_status < 300:
                log.info("notification to %s (%s) sent on attempt %d", receiver.name, SECRET, attempts)
                return "sent", attempts, None, http_status
            error = f"HTTP {http_status}"
        except urllib.error.HTTPError as e:
            http_status = e.code
            error = f"HTTP {e.code} {e.reason}"
            if e.code not in RETRYABLE_STATUS:
                break
        except (urllib.error.URLError, TimeoutError, OSError) as e:
            http_status = None
            error = f"network error: {getattr(e, 'reason', e)}"
        error = redact(error, secrets)
        log.warning("notification to %s (%s) failed on attempt %d: %s", receiver.name, SECRET, attempts, error)
        if attempt < len(retry_delays):
            sleep(retry_delays[attempt])
    return "failed", attempts, redact(error or "unknown error", secrets), http_status


def send_stage(
    cfg: VigilConfig,
    env: Mapping[str, str],
    retry_delays: tuple[float, ...] = DEFAULT_RETRY_DELAYS,
    sleep: Callable[[float], None] = time.sleep,
) -> Callable[[list[Group]], list[Delivery]]:
    receivers = {r.name: r for r in cfg.alerts.receivers}

    def send(groups: list[Group]) -> list[Delivery]:
        out = []
        for g in groups:
            receiver = receivers[g.receiver]
            payload = PAYLOADS[receiver.kind](g)
            status, attempts, error, http_status = deliver(receiver, payload, env, retry_delays, sleep)
            out.append(Delivery(g, receiver.kind, status, attempts, error, http_status))
        return out

    return send


# ---- stage 6: record --------------------------------------------------------------------


def record_stage(ops: OpsStore, now: datetime) -> Callable[[list[Delivery]], list[Delivery]]:
    def record(deliveries: list[Delivery]) -> list[Delivery]:
        if not deliveries:
            return deliveries
        at = iso(now)
        with ops.transaction() as conn:
            for d in deliveries:
                g = d.group
                conn.execute(
                    "INSERT INTO notifications (receiver, route, group_key, firing, resolved, payload_kind, status, attempts, "
                    "error, http_status, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        g.receiver,
                        g.route,
                        g.key,
                        json.dumps([a.fingerprint for a in g.firing]),
                        json.dumps([a.fingerprint for a in g.resolved]),
                        d.payload_kind,
                        d.status,
                        d.attempts,
                        d.error,
                        d.http_status,
                        at,
                    ),
                )
                incidents = sorted({a.incident_id for a in g.firing + g.resolved if a.incident_id})
                for incident_id in incidents:
                    verb = "sent to" if d.status == "sent" else "FAILED for"
                    text = (
                        f"Notification ({g.status}, {len(g.firing)} firing, {len(g.resolved)} resolved) {verb} "
                        f"receiver {g.receiver}" + (f": {d.error}" if d.error else "")
                    )
                    incident_store.add_timeline(conn, incident_id, at, "notification", "vigil", text, d.to_dict())
        return deliveries

    return record


# ---- the pipeline -----------------------------------------------------------------------


def notify_pending(
    cfg: VigilConfig,
    ops: OpsStore,
    clock: Clock,
    *,
    env: Mapping[str, str] | None = None,
    retry_delays: tuple[float, ...] = DEFAULT_RETRY_DELAYS,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Delivery]:
    """Run the pipeline once over the current alert state. Returns what was sent (or failed)."""
    ensure_schema(ops)
    if not cfg.alerts.receivers:
        return []
    now = clock.now()
    alerts = candidate_alerts(ops)
    for stage in (drop_inhibited, silence_stage(ops, now)):
        alerts = stage(alerts)
    groups = group_stage(cfg)(alerts)
    groups = dedup_stage(ops, now)(groups)
    deliveries = send_stage(cfg, env if env is not None else os.environ, retry_delays, sleep)(groups)
    return record_stage(ops, now)(deliveries)


send_notifications = notify_pending


def describe_receivers(cfg: VigilConfig) -> list[dict[str, str | None]]:
    """Receivers for display: names of the environment variables, never their values."""
    return [
        {"name": r.name, "kind": r.kind, "url": SECRET, "url_env": r.url_env, "token_env": r.token_env} for r in cfg.alerts.receivers
    ]
