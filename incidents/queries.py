"""Named read functions for the app and the CLI (and the few writes they trigger).

Pages and commands call these; none of them holds a connection after returning.
"""

from __future__ import annotations

import json
from typing import Any

from core.clock import Clock
from core.config import VigilConfig
from core.stores import OpsStore
from incidents import incidents as incident_store
from incidents.alerts import acknowledge
from incidents.heartbeat import cycle_health, scoring_health
from incidents.incidents import runbook_links
from incidents.schema import ensure_schema
from incidents.silences import list_silences

# Writes the app and CLI use, re-exported so callers have one module to look in.
ack_alert = acknowledge
add_note = incident_store.add_note
change_status = incident_store.set_status
set_roles = incident_store.set_roles
open_incident = incident_store.open_incident

_ALERT_SELECT = (
    "SELECT a.*, i.title AS incident_title, i.status AS incident_status, i.severity AS incident_severity, "
    "r.check_name AS inhibited_by_check, r.subject AS inhibited_by_subject "
    "FROM alerts a LEFT JOIN incidents i ON i.incident_id = a.incident_id "
    "LEFT JOIN alerts r ON r.fingerprint = a.inhibited_by"
)


def _decode(row: dict[str, Any], *keys: str) -> dict[str, Any]:
    for k in keys:
        if isinstance(row.get(k), str):
            row[k] = json.loads(row[k])
    return row


def _alert_row(row: dict[str, Any]) -> dict[str, Any]:
    row = _decode(row, "labels", "annotations")
    causes = row.get("possible_causes")
    row["possible_causes"] = json.loads(causes) if isinstance(causes, str) else (causes or [])
    row["runbook"] = f"runbooks/{row['check_name']}.md"
    row["inhibited_by_text"] = (
        f"inhibited by {row['inhibited_by_check']} on {row['inhibited_by_subject']}" if row.get("inhibited_by") else None
    )
    return row


def alerts_with_incidents(
    ops: OpsStore,
    *,
    model: str | None = None,
    state: str | list[str] | None = None,
    check: str | None = None,
    subject: str | None = None,
    severity: str | None = None,
) -> list[dict[str, Any]]:
    """Alerts (newest change first) with their incident and root cause ("inhibited by")."""
    ensure_schema(ops)
    where: list[str] = []
    params: list[Any] = []
    states = [state] if isinstance(state, str) else state
    if states:
        where.append(f"a.state IN ({','.join('?' * len(states))})")
        params += states
    for column, value in (("a.model", model), ("a.check_name", check), ("a.subject", subject), ("a.severity", severity)):
        if value:
            where.append(f"{column} = ?")
            params.append(value)
    sql = _ALERT_SELECT + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY a.updated_at DESC, a.fingerprint"
    return [_alert_row(r) for r in ops.query(sql, tuple(params))]


list_alerts = alerts_with_incidents


def alert_detail(ops: OpsStore, fingerprint: str) -> dict[str, Any] | None:
    """One alert with its per-batch record, its event history and its incidents."""
    ensure_schema(ops)
    rows = ops.query(_ALERT_SELECT + " WHERE a.fingerprint = ?", (fingerprint,))
    if not rows:
        # Allow a unique prefix, as people type the first characters of a fingerprint.
        rows = ops.query(_ALERT_SELECT + " WHERE a.fingerprint LIKE ? ESCAPE '\\'", (_like_prefix(fingerprint),))
        if len(rows) != 1:
            return None
    alert = _alert_row(rows[0])
    fp = alert["fingerprint"]
    alert["batches"] = [_decode(b, "evidence") for b in ops.query("SELECT * FROM alert_batches WHERE fingerprint = ? ORDER BY batch", (fp,))]
    alert["events"] = [_decode(e, "detail") for e in ops.query("SELECT * FROM alert_events WHERE fingerprint = ? ORDER BY event_id", (fp,))]
    alert["incidents"] = ops.query(
        "SELECT i.incident_id, i.title, i.status, i.severity, ia.episode FROM incident_alerts ia "
        "JOIN incidents i USING (incident_id) WHERE ia.fingerprint = ? ORDER BY ia.added_at",
        (fp,),
    )
    return alert


def _like_prefix(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def resolve_fingerprint(ops: OpsStore, text: str) -> str | None:
    detail = alert_detail(ops, text)
    return detail["fingerprint"] if detail else None


def list_incidents(ops: OpsStore, *, model: str | None = None, status: str | list[str] | None = None) -> list[dict[str, Any]]:
    ensure_schema(ops)
    where, params = [], []
    statuses = [status] if isinstance(status, str) else status
    if statuses:
        where.append(f"status IN ({','.join('?' * len(statuses))})")
        params += statuses
    if model:
        where.append("model = ?")
        params.append(model)
    # Only constant column names and '?' placeholders are joined here; values are bound.
    sql = (
        "SELECT i.*, (SELECT count(*) FROM incident_alerts ia WHERE ia.incident_id = i.incident_id) AS alert_count "  # noqa: S608
        "FROM incidents i" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY opened_at DESC, incident_id"
    )
    return ops.query(sql, tuple(params))


def incident_detail(ops: OpsStore, incident_id: str) -> dict[str, Any] | None:
    """The incident with its alerts (with root causes), its timeline and its runbook links."""
    ensure_schema(ops)
    rows = ops.query("SELECT * FROM incidents WHERE incident_id = ?", (incident_id,))
    if not rows:
        return None
    detail = rows[0]
    alerts = ops.query(
        "SELECT a.fingerprint, a.check_name, a.family, a.subject, a.severity, a.state, a.started_batch, a.fired_batch, "
        "a.resolved_batch, a.inhibited_by, r.check_name AS inhibited_by_check, r.subject AS inhibited_by_subject, "
        "a.annotations, a.possible_causes, ia.episode, ia.added_at, a.episode AS current_episode, a.incident_id AS current_incident "
        "FROM incident_alerts ia JOIN alerts a ON a.fingerprint = ia.fingerprint "
        "LEFT JOIN alerts r ON r.fingerprint = a.inhibited_by WHERE ia.incident_id = ? ORDER BY ia.added_at, a.fingerprint",
        (incident_id,),
    )
    detail["alerts"] = [_decode(a, "annotations", "possible_causes") for a in alerts]
    for a in detail["alerts"]:
        a["possible_causes"] = a["possible_causes"] or []
    detail["timeline"] = [
        _decode(t, "detail")
        for t in ops.query("SELECT * FROM incident_timeline WHERE incident_id = ? ORDER BY entry_id", (incident_id,))
    ]
    detail["runbooks"] = runbook_links([a["check_name"] for a in alerts])
    return detail


def silences(ops: OpsStore, clock: Clock, include_expired: bool = True) -> list[dict[str, Any]]:
    """Silences with their state (active, pending, expired); expired ones stay listed."""
    now = clock.now()
    return [s.to_dict(now) for s in list_silences(ops, include_expired=include_expired, now=now)]


def notification_log(ops: OpsStore, limit: int = 100) -> list[dict[str, Any]]:
    """The newest notifications first: receiver, group, alerts, status, attempts and error (no secrets stored)."""
    ensure_schema(ops)
    rows = ops.query("SELECT * FROM notifications ORDER BY notification_id DESC LIMIT ?", (limit,))
    return [_decode(r, "group_key", "firing", "resolved") for r in rows]


def status_summary(cfg: VigilConfig, ops: OpsStore, clock: Clock) -> dict[str, Any]:
    """For `vigil status` and the Overview page: cycle staleness, scoring job health, firing alerts, open incidents."""
    ensure_schema(ops)
    model = cfg.model.name
    firing = alerts_with_incidents(ops, model=model, state="firing")
    return {
        "cycle": cycle_health(cfg, ops, clock).to_dict(),
        "scoring_job": scoring_health(cfg, ops, clock).to_dict(),
        "firing_alerts": [
            {k: a[k] for k in ("fingerprint", "check_name", "subject", "severity", "started_batch", "incident_id", "inhibited_by_text")}
            for a in firing
        ],
        "open_incidents": list_incidents(ops, model=model, status=list(incident_store.OPEN_STATUSES)),
    }
