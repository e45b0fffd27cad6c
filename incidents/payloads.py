"""What each receiver kind is sent: pure functions of a decided group, built once when decided.

- ``slack``: a Slack incoming-webhook message, a title line and one attachment per alert.
- ``alertmanager_webhook``: the JSON Alertmanager sends to its webhook receivers (version 4),
  for tools that already consume it.
- ``alertmanager_api``: the alerts themselves, posted to an Alertmanager
  (``POST /api/v2/alerts``), which then routes, groups, silences and inhibits them. Firing
  alerts carry an ``endsAt`` a few cycle intervals ahead and are posted again every cycle
  (as Prometheus does), so an alert Vigil stops sending resolves by itself; a resolved alert
  is posted once with ``endsAt`` = now.

Every payload carries the message's idempotency key (also sent as the ``Idempotency-Key``
header), the same on every resend.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from core.clock import iso, parse_iso
from core.config import VigilConfig

# Firing alerts posted to Alertmanager end this many cycle intervals after they were posted
# unless posted again (Prometheus uses four evaluation intervals the same way).
ENDS_AFTER_INTERVALS = 4
# Alertmanager's label set for Vigil's alerts; `segment` and `owner` only when the alert has them.
ALERTMANAGER_LABELS = ("model", "subject", "family", "severity", "segment", "owner")


@dataclass(frozen=True)
class NoticeAlert:
    """One alert as a notification shows it (a PipelineAlert without pipeline fields)."""

    fingerprint: str
    labels: dict[str, str]
    annotations: dict[str, Any]
    state: str
    fired_at: str | None
    resolved_at: str | None
    incident_id: str | None
    # Ranked upstream data alerts that could explain a model alert (incidents.inhibition.PossibleCause dicts).
    possible_causes: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class Group:
    """One group's notification to one receiver, as decided."""

    receiver: str
    route: int
    group_labels: dict[str, str]
    kind: str
    key: str  # idempotency key
    now: datetime
    firing: list[NoticeAlert] = field(default_factory=list)
    resolved: list[NoticeAlert] = field(default_factory=list)
    # Fingerprint -> labels this receiver's Alertmanager last got for the alert (alertmanager_api).
    posted_labels: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return "firing" if self.firing else "resolved"

    @property
    def group_key(self) -> str:
        return json.dumps(self.group_labels, sort_keys=True)


def runbook_url(cfg: VigilConfig, check: str) -> str:
    base = cfg.alerts.runbook_base_url
    return f"{base.rstrip('/')}/{quote(check)}.md" if base else f"runbooks/{check}.md"


def dashboard_link(cfg: VigilConfig, fingerprint: str) -> str | None:
    base = cfg.alerts.dashboard_url
    return f"{base.rstrip('/')}/Alerts?alert={quote(fingerprint)}" if base else None


def alert_annotations(cfg: VigilConfig, a: NoticeAlert) -> dict[str, str]:
    ann = a.annotations
    out = {
        "summary": str(ann.get("explanation") or ""),
        "value": "" if ann.get("value") is None else str(ann.get("value")),
        "bounds": f"[{ann.get('lower')}, {ann.get('upper')}]",
        "batch": str(ann.get("batch") or ""),
        "runbook": runbook_url(cfg, a.labels.get("check", "")),
    }
    link = dashboard_link(cfg, a.fingerprint)
    if link:
        out["dashboard"] = link
    if a.incident_id:
        out["incident"] = a.incident_id
    if a.possible_causes:
        out["possible_causes"] = possible_causes_text(a.possible_causes)
    where = where_text(ann)
    if where:
        out["where"] = where
    return out


def where_text(annotations: dict[str, Any]) -> str:
    """The decomposition of a model-level change over segments, in words (checks.segments)."""
    evidence = annotations.get("evidence")
    found = evidence.get("decomposition") if isinstance(evidence, dict) else None
    if not isinstance(found, list):
        return ""
    return " ".join(str(d.get("sentence")) for d in found[:2] if isinstance(d, dict) and d.get("sentence"))


def possible_causes_text(causes: tuple[dict[str, Any], ...]) -> str:
    """'#1 unit_change on applications.income (firing from batch ...): <explanation> [value .., bounds ..]; #2 ...'"""
    return "; ".join(
        f"#{c.get('rank')} {c.get('check')} on {c.get('subject')} ({c.get('state')} from batch {c.get('started_batch')}): "
        f"{c.get('explanation')} [value {c.get('value')}, bounds {c.get('lower')} .. {c.get('upper')}]"
        for c in causes
    )


def _common(dicts: list[dict[str, str]]) -> dict[str, str]:
    if not dicts:
        return {}
    first = dicts[0]
    return {k: v for k, v in first.items() if all(d.get(k) == v for d in dicts[1:])}


def alertmanager_webhook_payload(cfg: VigilConfig, g: Group) -> dict[str, Any]:
    """The JSON Alertmanager sends to webhook receivers (version 4), plus ``idempotencyKey``."""
    every = g.firing + g.resolved
    alerts = [
        {
            "status": "firing" if a.state == "firing" else "resolved",
            "labels": a.labels,
            "annotations": alert_annotations(cfg, a),
            "startsAt": a.fired_at or "",
            "endsAt": a.resolved_at or "0001-01-01T00:00:00Z",
            "generatorURL": dashboard_link(cfg, a.fingerprint) or "",
            "fingerprint": a.fingerprint,
        }
        for a in every
    ]
    return {
        "version": "4",
        "groupKey": f"{g.route}:{g.group_key}",
        "truncatedAlerts": 0,
        "status": g.status,
        "receiver": g.receiver,
        "groupLabels": g.group_labels,
        "commonLabels": _common([a.labels for a in every]),
        "commonAnnotations": _common([alert_annotations(cfg, a) for a in every]),
        "externalURL": cfg.alerts.dashboard_url or "",
        "alerts": alerts,
        "idempotencyKey": g.key,
    }


def slack_payload(cfg: VigilConfig, g: Group) -> dict[str, Any]:
    """A Slack incoming-webhook message: a title line and one attachment per alert (key in the footer)."""
    title = f"[{g.status.upper()}:{len(g.firing) or len(g.resolved)}] " + " ".join(f"{k}={v}" for k, v in g.group_labels.items())
    attachments = []
    for a in g.firing + g.resolved:
        ann = alert_annotations(cfg, a)
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
                ]
                + ([{"title": "possible causes", "value": ann["possible_causes"], "short": False}] if "possible_causes" in ann else [])
                + ([{"title": "where (segments)", "value": ann["where"], "short": False}] if "where" in ann else []),
                "footer": f"Vigil notification {g.key}",
            }
        )
    return {"text": title, "attachments": attachments}


def alertmanager_api_payload(cfg: VigilConfig, g: Group) -> list[dict[str, Any]]:
    """Postable alerts for ``POST /api/v2/alerts``: Alertmanager's labels, annotations and time span."""
    ends = g.now + timedelta(seconds=ENDS_AFTER_INTERVALS * cfg.schedule.interval.total_seconds())
    out = []
    for a in g.firing + g.resolved:
        labels = {"alertname": a.labels.get("check", "")}
        labels |= {k: a.labels[k] for k in ALERTMANAGER_LABELS if a.labels.get(k)}
        before = g.posted_labels.get(a.fingerprint)
        if a.state != "firing" and before:
            labels = before  # resolve the alert Alertmanager holds (severity may have changed since)
        ann = alert_annotations(cfg, a)
        annotations = {
            "summary": ann["summary"],
            "runbook_url": ann["runbook"],
            "value": ann["value"],
            "bounds": ann["bounds"],
            "batch": ann["batch"],
            "vigil_fingerprint": a.fingerprint,
            "idempotency_key": g.key,
        }
        if "dashboard" in ann:
            annotations["dashboard_url"] = ann["dashboard"]
        if "possible_causes" in ann:
            annotations["possible_causes"] = ann["possible_causes"]
        if "where" in ann:
            annotations["where"] = ann["where"]
        if a.incident_id:
            annotations["incident"] = a.incident_id
        alert: dict[str, Any] = {
            "labels": labels,
            "annotations": annotations,
            "startsAt": iso(_when(a.fired_at) or g.now),
            "endsAt": iso(ends if a.state == "firing" else g.now),
        }
        if "dashboard" in ann:
            alert["generatorURL"] = ann["dashboard"]
        out.append(alert)
        if a.state == "firing" and before and before != labels:
            # Its labels changed (an escalated severity): end the alert Alertmanager holds under the old ones.
            out.append(alert | {"labels": before, "endsAt": iso(g.now)})
    return out


def _when(text: str | None) -> datetime | None:
    return parse_iso(text) if text else None


PAYLOADS: dict[str, Callable[[VigilConfig, Group], Any]] = {
    "alertmanager_webhook": alertmanager_webhook_payload,
    "slack": slack_payload,
    "alertmanager_api": alertmanager_api_payload,
}
