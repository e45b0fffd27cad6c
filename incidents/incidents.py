"""Incidents: opened automatically for serious firing alerts (one per root cause) or by hand.

Status moves forward: triage -> investigating -> mitigated -> resolved -> closed, each
step time-stamped. The timeline is append-only and is written by every action here
(alerts, status changes, roles, notes) and by notifications and decisions.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from core import audit
from core.clock import Clock, iso
from core.config import VigilConfig
from core.ids import new_id
from core.stores import OpsStore
from incidents.labels import SEVERITY_RANK, severity_at_least
from incidents.schema import ensure_schema

STATUSES = ("triage", "investigating", "mitigated", "resolved", "closed")
OPEN_STATUSES = ("triage", "investigating", "mitigated")
SEVERITIES = ("SEV1", "SEV2", "SEV3", "SEV4")
TIMELINE_KINDS = ("opened", "alert", "status", "role", "note", "notification", "decision", "postmortem")
# Alert severity -> incident severity for automatic incidents (SEV1 is a human call).
AUTO_SEVERITY = {"critical": "SEV2", "warning": "SEV3", "info": "SEV4"}


class IncidentError(ValueError):
    """A bad incident action; the message names the incident / value and a hint."""


@dataclass(frozen=True)
class Incident:
    incident_id: str
    title: str
    severity: str
    status: str
    model: str
    group_key: str | None
    commander: str | None
    scribe: str | None
    opened_by: str
    opened_at: str
    investigating_at: str | None
    mitigated_at: str | None
    resolved_at: str | None
    closed_at: str | None
    updated_at: str

    @classmethod
    def from_row(cls, row: sqlite3.Row | dict[str, Any]) -> Incident:
        d = dict(row)
        return cls(**{k: d[k] for k in cls.__dataclass_fields__})


# ---- building blocks that run inside a caller's transaction ------------------------------


def add_timeline(
    conn: sqlite3.Connection, incident_id: str, at: str, kind: str, actor: str, text: str, detail: dict[str, Any] | None = None
) -> None:
    if kind not in TIMELINE_KINDS:
        raise IncidentError(f"timeline kind {kind!r} is not one of {', '.join(TIMELINE_KINDS)}")
    conn.execute(
        "INSERT INTO incident_timeline (incident_id, at, kind, actor, text, detail) VALUES (?, ?, ?, ?, ?, ?)",
        (incident_id, at, kind, actor, text, json.dumps(detail or {}, default=str)),
    )


def _insert_incident(
    conn: sqlite3.Connection, *, title: str, severity: str, model: str, group_key: str | None, opened_by: str, at: str
) -> str:
    incident_id = new_id("inc")
    conn.execute(
        "INSERT INTO incidents (incident_id, title, severity, status, model, group_key, opened_by, opened_at, updated_at) "
        "VALUES (?, ?, ?, 'triage', ?, ?, ?, ?, ?)",
        (incident_id, title, severity, model, group_key, opened_by, at, at),
    )
    add_timeline(conn, incident_id, at, "opened", opened_by, f"Incident opened ({severity}): {title}")
    return incident_id


def attach_alert(conn: sqlite3.Connection, incident_id: str, alert: sqlite3.Row, at: str, actor: str) -> None:
    """Link an alert (its current episode) to an incident and say so on the timeline."""
    conn.execute(
        "INSERT OR IGNORE INTO incident_alerts (incident_id, fingerprint, episode, added_at) VALUES (?, ?, ?, ?)",
        (incident_id, alert["fingerprint"], alert["episode"], at),
    )
    conn.execute("UPDATE alerts SET incident_id = ? WHERE fingerprint = ?", (incident_id, alert["fingerprint"]))
    note = f" (inhibited by {alert['inhibited_by']})" if alert["inhibited_by"] else ""
    where = decomposition_sentences(alert)
    if where:
        note += "; where: " + " ".join(where)
    causes = _causes(alert)
    if causes:
        note += "; possible causes: " + "; ".join(
            f"#{c['rank']} {c['check']} on {c['subject']} ({c['explanation']})" for c in causes
        )
    add_timeline(
        conn,
        incident_id,
        at,
        "alert",
        actor,
        f"Alert {alert['check_name']} on {alert['subject']} is {alert['state']} from batch {alert['started_batch']}{note}",
        {"fingerprint": alert["fingerprint"], "state": alert["state"], "batch": alert["started_batch"]},
    )


def decomposition_sentences(alert: sqlite3.Row | dict[str, Any], limit: int = 2) -> list[str]:
    """The alert's decomposition over segments in words (checks.segments), the most concentrated first."""
    ann = alert["annotations"] if "annotations" in alert.keys() else None
    if isinstance(ann, str):
        try:
            ann = json.loads(ann)
        except ValueError:
            return []
    evidence = (ann or {}).get("evidence") or {}
    found = evidence.get("decomposition") if isinstance(evidence, dict) else None
    return [str(d.get("sentence")) for d in (found or [])[:limit] if isinstance(d, dict) and d.get("sentence")]


def is_segment_alert(alert: sqlite3.Row | dict[str, Any]) -> bool:
    subject = str(alert["subject"])
    return subject.endswith("}") and "{" in subject


def _open_incident_of_model(conn: sqlite3.Connection, model: str) -> str | None:
    row = conn.execute(
        "SELECT incident_id FROM incidents WHERE model = ? AND status IN ('triage', 'investigating', 'mitigated') "
        "ORDER BY opened_at DESC LIMIT 1",
        (model,),
    ).fetchone()
    return row["incident_id"] if row else None


def _incident_opened_by_a_segment(conn: sqlite3.Connection, model: str) -> str | None:
    """The model's open automatic incident whose first alert is a segment alert (the segment opened
    the model's incident: a later model-level alert of the model belongs in it)."""
    rows = conn.execute(
        "SELECT incident_id FROM incidents WHERE model = ? AND opened_by = 'vigil' "
        "AND status IN ('triage', 'investigating', 'mitigated') ORDER BY opened_at DESC",
        (model,),
    ).fetchall()
    for row in rows:
        first = conn.execute(
            "SELECT a.subject FROM incident_alerts ia JOIN alerts a ON a.fingerprint = ia.fingerprint "
            "WHERE ia.incident_id = ? ORDER BY ia.added_at, ia.rowid LIMIT 1",
            (row["incident_id"],),
        ).fetchone()
        if first is not None and is_segment_alert(first):
            return str(row["incident_id"])
    return None


def _causes(alert: sqlite3.Row) -> list[dict[str, Any]]:
    text = alert["possible_causes"] if "possible_causes" in alert.keys() else None
    return list(json.loads(text)) if text else []


def group_key_for(alert: sqlite3.Row) -> str:
    """One incident per root cause: the model and the batch the problem started in."""
    return f"{alert['model']}|{alert['started_batch']}"


def _open_incident_for_group(conn: sqlite3.Connection, group_key: str) -> str | None:
    row = conn.execute(
        "SELECT incident_id FROM incidents WHERE group_key = ? AND status IN ('triage', 'investigating', 'mitigated') "
        "ORDER BY opened_at LIMIT 1",
        (group_key,),
    ).fetchone()
    return row["incident_id"] if row else None


def _alert(conn: sqlite3.Connection, fingerprint: str) -> sqlite3.Row | None:
    row: sqlite3.Row | None = conn.execute("SELECT * FROM alerts WHERE fingerprint = ?", (fingerprint,)).fetchone()
    return row


def open_for_firing(cfg: VigilConfig, conn: sqlite3.Connection, at: str) -> list[str]:
    """Attach every firing alert without an incident to the incident of its root cause.

    An inhibited alert joins its root's incident; a symptom (never inhibited) joins the
    incident of its most likely possible cause, so one upstream problem is one incident.
    A root alert at or above
    ``cfg.alerts.incident_severity`` joins the open incident of its group (model + start
    batch) or opens one. Segments: a segment alert joins its model's open incident, whatever
    its severity; with none open, one at or above that severity opens the model's incident
    (group model + start batch, like a model-level alert), and a later model-level alert of the
    model (not an upstream table's) joins that incident instead of opening a second one.
    Returns the ids of incidents opened.
    """
    opened: list[str] = []
    rows = conn.execute("SELECT * FROM alerts WHERE state = 'firing' AND incident_id IS NULL").fetchall()
    # Roots first, most upstream first, so an incident is named after its root cause.
    etl = {t.name for t in cfg.etl_tables}

    def order(row: sqlite3.Row) -> tuple[bool, bool, int, str]:
        source, _, column = str(row["subject"]).partition(".")
        explained = row["inhibited_by"] is not None or bool(_causes(row))
        # Segment alerts last: they join the incident their model-level alerts opened.
        return (is_segment_alert(row), explained, (0 if source in etl else 2) + (1 if column else 0), row["fingerprint"])

    for listed in sorted(rows, key=order):
        alert = _alert(conn, listed["fingerprint"])  # fresh: an earlier step may have attached it
        if alert is None or alert["incident_id"]:
            continue
        causes = _causes(alert)
        anchor_fp = alert["inhibited_by"] or (causes[0]["fingerprint"] if causes else None)
        root = _alert(conn, anchor_fp) if anchor_fp else None
        anchor = root if root is not None else alert
        if anchor["incident_id"]:
            attach_alert(conn, anchor["incident_id"], alert, at, "vigil")
            continue
        if root is None and is_segment_alert(alert):
            # A segment alert is grouped under its model's open incident, whatever batch it started in.
            model_incident = _open_incident_for_group(conn, group_key_for(alert)) or _open_incident_of_model(conn, alert["model"])
            if model_incident is not None:
                attach_alert(conn, model_incident, alert, at, "vigil")
                continue
        if not severity_at_least(alert["severity"], cfg.alerts.incident_severity) and not (
            root is not None and severity_at_least(root["severity"], cfg.alerts.incident_severity)
        ):
            continue
        key = group_key_for(anchor)
        incident_id = _open_incident_for_group(conn, key)
        if incident_id is None and root is None and not is_segment_alert(alert) and \
                str(alert["subject"]).partition(".")[0] not in etl:
            # The incident a segment alert opened is the model's (the segment is a label of the
            # alert): the model's own alerts join it, whatever batch they started in.
            incident_id = _incident_opened_by_a_segment(conn, alert["model"])
        if incident_id is None:
            title = f"{anchor['check_name']} on {anchor['subject']} ({anchor['model']}, batch {anchor['started_batch']})"
            incident_id = _insert_incident(
                conn,
                title=title,
                severity=AUTO_SEVERITY.get(anchor["severity"], "SEV3"),
                model=anchor["model"],
                group_key=key,
                opened_by="vigil",
                at=at,
            )
            audit.record(conn, audit.CYCLE_ACTOR, "incidents.open", incident_id, None,
                         {"title": title, "group_key": key, "opened_by": "vigil"}, at=at)
            opened.append(incident_id)
        if root is not None and not root["incident_id"]:
            attach_alert(conn, incident_id, root, at, "vigil")
        attach_alert(conn, incident_id, alert, at, "vigil")
    return opened


def record_alert_transition(conn: sqlite3.Connection, fingerprint: str, batch: str | None, to_state: str, at: str) -> None:
    """Timeline entry for a transition of an alert that belongs to an incident."""
    alert = _alert(conn, fingerprint)
    if alert is None or not alert["incident_id"]:
        return
    add_timeline(
        conn,
        alert["incident_id"],
        at,
        "alert",
        "vigil",
        f"Alert {alert['check_name']} on {alert['subject']} is {to_state} (batch {batch})",
        {"fingerprint": fingerprint, "state": to_state, "batch": batch},
    )


# ---- actions (each its own short transaction) -------------------------------------------


def _require_incident(conn: sqlite3.Connection, incident_id: str) -> sqlite3.Row:
    row: sqlite3.Row | None = conn.execute("SELECT * FROM incidents WHERE incident_id = ?", (incident_id,)).fetchone()
    if row is None:
        raise IncidentError(f"no incident {incident_id!r} (hint: `vigil incidents list` shows the ids)")
    return row


def _check_severity(severity: str) -> str:
    sev = severity.upper()
    if sev not in SEVERITIES:
        raise IncidentError(f"severity {severity!r} is not one of {', '.join(SEVERITIES)} (hint: SEV1 is the most severe)")
    return sev


def open_incident(
    ops: OpsStore,
    clock: Clock,
    *,
    opened_by: str,
    alert_fingerprints: list[str] | None = None,
    title: str | None = None,
    severity: str | None = None,
    model: str | None = None,
) -> str:
    """Open an incident by hand, from any alerts (or none, with a title). Returns its id."""
    ensure_schema(ops)
    fps = alert_fingerprints or []
    if not fps and not title:
        raise IncidentError("an incident needs at least one alert or a title (hint: --alert FINGERPRINT or --title TEXT)")
    at = iso(clock.now())
    with ops.transaction() as conn:
        alerts = []
        for fp in fps:
            row = _alert(conn, fp)
            if row is None:
                raise IncidentError(f"no alert with fingerprint {fp!r} (hint: `vigil alerts list` shows them)")
            alerts.append(row)
        worst = max((a["severity"] for a in alerts), key=lambda s: SEVERITY_RANK.get(s, 0), default="warning")
        sev = _check_severity(severity) if severity else AUTO_SEVERITY.get(worst, "SEV3")
        first = alerts[0] if alerts else None
        incident_title = title or (f"{first['check_name']} on {first['subject']}" if first else "incident")
        incident_id = _insert_incident(
            conn,
            title=incident_title,
            severity=sev,
            model=model or (first["model"] if first else ""),
            group_key=None,
            opened_by=opened_by,
            at=at,
        )
        for a in alerts:
            attach_alert(conn, incident_id, a, at, opened_by)
        audit.record(
            conn, opened_by, "incidents.open", incident_id, None,
            {"title": incident_title, "severity": sev, "alerts": fps}, clock=clock,
        )
    return incident_id


def set_status(ops: OpsStore, clock: Clock, incident_id: str, status: str, actor: str, note: str | None = None) -> None:
    """Move an incident forward (skipping steps is allowed, going back is not)."""
    ensure_schema(ops)
    if status not in STATUSES:
        raise IncidentError(f"status {status!r} is not one of {' -> '.join(STATUSES)}")
    at = iso(clock.now())
    with ops.transaction() as conn:
        row = _require_incident(conn, incident_id)
        current = row["status"]
        if STATUSES.index(status) <= STATUSES.index(current):
            raise IncidentError(
                f"incident {incident_id} is {current}; it can only move forward "
                f"({' -> '.join(STATUSES[STATUSES.index(current) + 1:]) or 'it is closed'})"
            )
        stamp = {"investigating": "investigating_at", "mitigated": "mitigated_at", "resolved": "resolved_at", "closed": "closed_at"}
        # Steps skipped get the same time stamp, so every status has one.
        for s in STATUSES[STATUSES.index(current) + 1 : STATUSES.index(status) + 1]:
            col = stamp[s]
            conn.execute(f"UPDATE incidents SET {col} = ? WHERE incident_id = ?", (at, incident_id))  # noqa: S608
        conn.execute("UPDATE incidents SET status = ?, updated_at = ? WHERE incident_id = ?", (status, at, incident_id))
        text = f"Status {current} -> {status}" + (f": {note}" if note else "")
        add_timeline(conn, incident_id, at, "status", actor, text, {"from": current, "to": status})
        audit.record(conn, actor, "incidents.status", incident_id, {"status": current},
                     {"status": status, "note": note}, clock=clock)


def set_severity(ops: OpsStore, clock: Clock, incident_id: str, severity: str, actor: str) -> None:
    ensure_schema(ops)
    sev = _check_severity(severity)
    at = iso(clock.now())
    with ops.transaction() as conn:
        row = _require_incident(conn, incident_id)
        conn.execute("UPDATE incidents SET severity = ?, updated_at = ? WHERE incident_id = ?", (sev, at, incident_id))
        add_timeline(conn, incident_id, at, "status", actor, f"Severity {row['severity']} -> {sev}")
        audit.record(conn, actor, "incidents.severity", incident_id, {"severity": row["severity"]},
                     {"severity": sev}, clock=clock)


def set_roles(
    ops: OpsStore, clock: Clock, incident_id: str, actor: str, *, commander: str | None = None, scribe: str | None = None
) -> None:
    ensure_schema(ops)
    if commander is None and scribe is None:
        raise IncidentError("set a commander, a scribe or both (hint: --commander NAME --scribe NAME)")
    at = iso(clock.now())
    with ops.transaction() as conn:
        row = _require_incident(conn, incident_id)
        before = {"commander": row["commander"], "scribe": row["scribe"]}
        after = dict(before)
        for role, person in (("commander", commander), ("scribe", scribe)):
            if person is None:
                continue
            conn.execute(f"UPDATE incidents SET {role} = ?, updated_at = ? WHERE incident_id = ?", (person, at, incident_id))  # noqa: S608
            add_timeline(conn, incident_id, at, "role", actor, f"{role.capitalize()}: {person}", {"role": role, "person": person})
            after[role] = person
        audit.record(conn, actor, "incidents.roles", incident_id, before, after, clock=clock)


def add_note(ops: OpsStore, clock: Clock, incident_id: str, author: str, text: str) -> None:
    ensure_schema(ops)
    if not text.strip():
        raise IncidentError("a note needs text (hint: say what was seen or decided)")
    at = iso(clock.now())
    with ops.transaction() as conn:
        _require_incident(conn, incident_id)
        add_timeline(conn, incident_id, at, "note", author, text.strip())
        conn.execute("UPDATE incidents SET updated_at = ? WHERE incident_id = ?", (at, incident_id))
        audit.record(conn, author, "incidents.note", incident_id, None, {"text": text.strip()}, clock=clock)


def record_event(ops: OpsStore, clock: Clock, incident_id: str, kind: str, actor: str, text: str, detail: dict[str, Any]) -> None:
    """Timeline entry from another part of the package (decisions, postmortems)."""
    ensure_schema(ops)
    with ops.transaction() as conn:
        _require_incident(conn, incident_id)
        add_timeline(conn, incident_id, iso(clock.now()), kind, actor, text, detail)


def runbook_links(check_names: list[str]) -> list[str]:
    """runbooks/<check>.md for each distinct check, in order of first appearance."""
    seen: list[str] = []
    for name in check_names:
        if name not in seen:
            seen.append(name)
    return [f"runbooks/{name}.md" for name in seen]


def incident_failing_batches(ops: OpsStore, incident_id: str, fingerprint: str | None = None) -> list[str]:
    """Failing batches of the alert episodes linked to an incident (optionally of one alert), sorted."""
    sql = (
        "SELECT DISTINCT ab.batch FROM incident_alerts ia JOIN alert_batches ab "
        "ON ab.fingerprint = ia.fingerprint AND ab.episode = ia.episode "
        "WHERE ia.incident_id = ? AND ab.status = 'fail'"
    )
    params: tuple[str, ...] = (incident_id,)
    if fingerprint is not None:
        sql += " AND ia.fingerprint = ?"
        params += (fingerprint,)
    return sorted(r["batch"] for r in ops.query(sql + " ORDER BY ab.batch", params))

