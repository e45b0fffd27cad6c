"""Postmortems: the Google SRE book's template plus what an ML incident needs, prefilled.

Fields: summary, impact, root causes, trigger, resolution, detection, lessons learned (what
went well, what went wrong, where we got lucky), supporting information; plus the model
versions live, the affected data window, the number of predictions affected and the
decisions taken. The timeline and the action items come from their own tables, so the
export is always complete. Every save is a new revision; nothing is overwritten.

The prompts are blameless: they ask how the system allowed something, never who did it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import duckdb

from core import audit
from core.clock import Clock, iso
from core.config import VigilConfig
from core.ids import new_id
from core.sql import ident
from core.stores import OpsStore, StoreMissing, Warehouse
from incidents import incidents as incident_store
from incidents.decisions import decisions_for
from incidents.inhibition import possible_causes_of
from incidents.schema import ensure_schema

# (field, heading, blameless prompt)
TEMPLATE: tuple[tuple[str, str, str], ...] = (
    ("summary", "Summary", "What happened, in two or three sentences. Describe the system and its signals, not people."),
    ("impact", "Impact", "What was affected and for how long: predictions, decisions, customers, money. Numbers over adjectives."),
    ("root_causes", "Root causes", "Which conditions in the system made this possible? Ask how, not who; there is rarely one cause."),
    ("trigger", "Trigger", "The change or event that set it off: an upstream change, a deploy, a shift in the data."),
    ("resolution", "Resolution", "What stopped the impact and what restored normal service."),
    ("detection", "Detection", "How and when it was found: which check, alert and notification. How could it be found sooner?"),
    ("model_versions", "Model versions live", "Which model versions served predictions during the incident."),
    ("affected_window", "Affected data window", "The event-time batches whose data or predictions were affected."),
    ("predictions_affected", "Predictions affected", "How many predictions were made on affected data or by an affected model."),
    ("decisions", "Decisions taken", "What was decided (fix upstream, roll back, retrain, hold), by whom, on which evidence."),
    ("went_well", "What went well", "Which tools, signals and habits helped? Keep doing them."),
    ("went_wrong", "What went wrong", "Where did tools, process or signals fall short? Gaps in the system, not mistakes of individuals."),
    ("got_lucky", "Where we got lucky", "What could have made this worse, and did not, by chance?"),
    ("supporting_information", "Supporting information", "Runbooks, commands, dashboards, reports."),
)
FIELDS = tuple(f for f, _, _ in TEMPLATE)
ACTION_KINDS = ("prevent", "mitigate", "detect", "repair", "process")
ACTION_STATUSES = ("open", "in_progress", "done", "wont_do")


class PostmortemError(ValueError):
    """Bad postmortem input; the message names the field / item and gives a hint."""


@dataclass(frozen=True)
class Postmortem:
    incident_id: str
    revision: int
    fields: dict[str, str]
    author: str
    saved_at: str
    comment: str | None
    revisions: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


# ---- prefill ----------------------------------------------------------------------------


def _incident(ops: OpsStore, incident_id: str) -> dict[str, Any]:
    rows = ops.query("SELECT * FROM incidents WHERE incident_id = ?", (incident_id,))
    if not rows:
        raise PostmortemError(f"no incident {incident_id!r} (hint: `vigil incidents list --all` shows the ids)")
    return rows[0]


def _alerts(ops: OpsStore, incident_id: str) -> list[dict[str, Any]]:
    rows = ops.query(
        "SELECT a.*, r.check_name AS root_check, r.subject AS root_subject FROM incident_alerts ia "
        "JOIN alerts a USING (fingerprint) LEFT JOIN alerts r ON r.fingerprint = a.inhibited_by "
        "WHERE ia.incident_id = ? ORDER BY a.started_batch, a.fingerprint",
        (incident_id,),
    )
    for r in rows:
        r["annotations"] = json.loads(r["annotations"])
    return rows


def _window(cfg: VigilConfig, batches: list[str]) -> tuple[datetime, datetime] | None:
    if not batches:
        return None
    return datetime.fromisoformat(batches[0]), datetime.fromisoformat(batches[-1]) + cfg.batch.window


def _predictions_in(cfg: VigilConfig, wh: Warehouse | None, window: tuple[datetime, datetime]) -> tuple[int | None, list[int]]:
    """(rows, model versions) of the prediction log in the window, if the warehouse has them."""
    if wh is None:
        return None, []
    ts = ident(cfg.predictions.timestamp_column)
    try:
        with wh.read() as conn:
            n = conn.execute(f"SELECT count(*) FROM predictions WHERE {ts} >= ? AND {ts} < ?", list(window)).fetchone()  # noqa: S608
            versions: list[int] = []
            if cfg.predictions.model_version_column:
                col = ident(cfg.predictions.model_version_column)
                versions = [
                    int(r[0])
                    for r in conn.execute(
                        f"SELECT DISTINCT CAST({col} AS BIGINT) FROM predictions WHERE {ts} >= ? AND {ts} < ? AND {col} IS NOT NULL ORDER BY 1",  # noqa: S608
                        list(window),
                    ).fetchall()
                ]
    except (StoreMissing, duckdb.CatalogException):  # no warehouse or no prediction log (yet)
        return None, []
    return (int(n[0]) if n else None), versions


def _first_failure(ops: OpsStore, incident_id: str, fingerprint: str) -> dict[str, Any] | None:
    """What the check said on the first failing batch of the alert's episode in this incident."""
    rows = ops.query(
        "SELECT ab.* FROM alert_batches ab JOIN incident_alerts ia ON ia.fingerprint = ab.fingerprint AND ia.episode = ab.episode "
        "WHERE ia.incident_id = ? AND ab.fingerprint = ? AND ab.status = 'fail' ORDER BY ab.batch LIMIT 1",
        (incident_id, fingerprint),
    )
    return rows[0] if rows else None


def _line(ops: OpsStore, incident_id: str, a: dict[str, Any]) -> str:
    first = _first_failure(ops, incident_id, a["fingerprint"]) or {}
    return (
        f"- {a['check_name']} on {a['subject']} (batch {first.get('batch', a['started_batch'])}): {first.get('explanation', '')} "
        f"[value {first.get('value')}, bounds {first.get('lower')} .. {first.get('upper')}]"
    )


def _upstream_first(cfg: VigilConfig, alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """ETL tables, then ETL columns, then the prediction log and served columns; by start batch within."""
    etl = {t.name for t in cfg.etl_tables}

    def key(a: dict[str, Any]) -> tuple[int, str, str]:
        source, _, column = str(a["subject"]).partition(".")
        return ((0 if source in etl else 2) + (1 if column else 0), a["started_batch"] or "", a["fingerprint"])

    return sorted(alerts, key=key)


def prefill(cfg: VigilConfig, ops: OpsStore, incident_id: str, wh: Warehouse | None = None) -> dict[str, str]:
    """A first draft of every field from the incident's timeline, alerts, evidence and decisions."""
    ensure_schema(ops)
    inc = _incident(ops, incident_id)
    alerts = _alerts(ops, incident_id)
    # A model alert with a possible cause is an effect to explain, not a root cause.
    roots = _upstream_first(cfg, [a for a in alerts if not a["inhibited_by"] and not possible_causes_of(a)])
    inhibited = [a for a in alerts if a["inhibited_by"]]
    window = _window(cfg, incident_store.incident_failing_batches(ops, incident_id))
    n_predictions, versions = _predictions_in(cfg, wh, window) if window else (None, [])
    timeline = ops.query("SELECT * FROM incident_timeline WHERE incident_id = ? ORDER BY entry_id", (incident_id,))
    first_fired = min((a["fired_at"] for a in alerts if a["fired_at"]), default=None)
    first_note = next((t for t in timeline if t["kind"] == "notification"), None)
    decisions = decisions_for(ops, incident_id)
    window_text = f"{window[0].isoformat()} to {window[1].isoformat()} (event time)" if window else "unknown"
    f: dict[str, str] = {}
    f["summary"] = (
        f"{inc['title']}. {inc['severity']}, opened {inc['opened_at']} by {inc['opened_by']}, now {inc['status']}. "
        f"{len(roots)} root-cause alert(s), {len(inhibited)} downstream alert(s) explained by them."
    )
    f["impact"] = "\n".join(
        [f"Affected data window: {window_text}."]
        + ([f"{n_predictions} predictions were made in that window."] if n_predictions is not None else [])
        + ([f"Downstream effects (inhibited alerts): {', '.join(a['check_name'] + ' on ' + a['subject'] for a in inhibited)}."] if inhibited else [])
    )
    f["root_causes"] = "\n".join(_line(ops, incident_id, a) for a in roots) or "(no root-cause alert: describe the conditions that allowed this)"
    if inhibited:
        f["root_causes"] += "\nExplained downstream:\n" + "\n".join(
            f"- {a['check_name']} on {a['subject']}: inhibited by {a['root_check']} on {a['root_subject']}" for a in inhibited
        )
    explained = [(a, possible_causes_of(a)) for a in alerts if possible_causes_of(a)]
    if explained:
        f["root_causes"] += "\nModel alerts (notified) and their possible causes, most likely first:\n" + "\n".join(
            f"- {a['check_name']} on {a['subject']}: "
            + "; ".join(
                f"#{c['rank']} {c['check']} on {c['subject']} ({c['explanation']}; value {c['value']}, bounds {c['lower']} .. {c['upper']})"
                for c in causes
            )
            for a, causes in explained
        )
    where = [(a, incident_store.decomposition_sentences(a, limit=3)) for a in alerts]
    where = [(a, w) for a, w in where if w]
    if where:
        f["root_causes"] += "\nWhere it broke (model-level change decomposed over segments, counterfactual swap):\n" + "\n".join(
            f"- {a['check_name']} on {a['subject']}: " + " ".join(w) for a, w in where
        )
    segments = [a for a in alerts if incident_store.is_segment_alert(a)]
    if segments:
        f["impact"] += "\nSegments that failed their own checks: " + ", ".join(
            f"{a['check_name']} on {a['subject']}" for a in segments) + "."
    trigger = roots[0] if roots else (alerts[0] if alerts else None)
    first = _first_failure(ops, incident_id, trigger["fingerprint"]) if trigger else None
    f["trigger"] = (
        f"{trigger['check_name']} on {trigger['subject']}, first failing batch {first['batch']}: {first['explanation']}"
        if trigger and first
        else ""
    )
    stamps = [f"{s} at {inc[f'{s}_at']}" for s in ("investigating", "mitigated", "resolved", "closed") if inc.get(f"{s}_at")]
    carried = [d for d in decisions if d.state in ("carried_out", "reversed")]
    f["resolution"] = "; ".join(stamps + [f"decision {d.action} {d.state.replace('_', ' ')}" for d in carried]) or "(not resolved yet)"
    detection = []
    if trigger:
        detection.append(f"Detected by Vigil: {trigger['check_name']} on {trigger['subject']} failed on batch {trigger['started_batch']}.")
    if first_fired:
        detection.append(f"First alert fired at {first_fired}; incident opened at {inc['opened_at']}.")
    if first_note:
        detection.append(f"First notification: {first_note['at']} ({first_note['text']}).")
    f["detection"] = " ".join(detection)
    f["model_versions"] = (
        f"Versions that scored the affected window: {', '.join('v' + str(v) for v in versions)}." if versions else "(see the registry history)"
    )
    f["affected_window"] = window_text
    f["predictions_affected"] = str(n_predictions) if n_predictions is not None else "(unknown: the prediction log was not available)"
    f["decisions"] = "\n".join(
        f"- {d.action} ({d.state}); " + "; ".join(f"{h['kind']} by {h['actor']} at {h['at']}: {h['reason']}" for h in d.history) for d in decisions
    ) or "(none yet)"
    for name in ("went_well", "went_wrong", "got_lucky"):
        f[name] = ""
    f["supporting_information"] = "\n".join(
        [f"- Runbook: {link}" for link in incident_store.runbook_links([a["check_name"] for a in alerts])]
        + [f"- `vigil incidents show {incident_id}`"]
        + [f"- `vigil alerts show {a['fingerprint']}`" for a in roots]
    )
    return f


# ---- revisions --------------------------------------------------------------------------


def _load(ops: OpsStore, incident_id: str, revision: int | None = None) -> Postmortem | None:
    head = ops.query("SELECT current_revision FROM postmortems WHERE incident_id = ?", (incident_id,))
    if not head:
        return None
    rev = revision or int(head[0]["current_revision"])
    rows = ops.query("SELECT * FROM postmortem_revisions WHERE incident_id = ? AND revision = ?", (incident_id, rev))
    if not rows:
        raise PostmortemError(f"postmortem of {incident_id} has no revision {rev} (hint: revisions 1..{head[0]['current_revision']})")
    r = rows[0]
    return Postmortem(incident_id, rev, json.loads(r["fields"]), r["author"], r["saved_at"], r["comment"], int(head[0]["current_revision"]))


def get_postmortem(ops: OpsStore, incident_id: str, revision: int | None = None) -> Postmortem | None:
    ensure_schema(ops)
    return _load(ops, incident_id, revision)


def create_postmortem(cfg: VigilConfig, ops: OpsStore, clock: Clock, incident_id: str, author: str, wh: Warehouse | None = None) -> Postmortem:
    """Revision 1, prefilled. An existing postmortem is returned unchanged."""
    ensure_schema(ops)
    existing = _load(ops, incident_id)
    if existing is not None:
        return existing
    fields = prefill(cfg, ops, incident_id, wh)
    at = iso(clock.now())
    with ops.transaction() as conn:
        conn.execute(
            "INSERT INTO postmortems (incident_id, created_by, created_at, current_revision, updated_at) VALUES (?, ?, ?, 1, ?)",
            (incident_id, author, at, at),
        )
        conn.execute(
            "INSERT INTO postmortem_revisions (incident_id, revision, fields, author, saved_at, comment) VALUES (?, 1, ?, ?, ?, ?)",
            (incident_id, json.dumps(fields), author, at, "prefilled from the incident"),
        )
        incident_store.add_timeline(conn, incident_id, at, "postmortem", author, "Postmortem drafted (revision 1, prefilled)")
        audit.record(conn, author, "postmortems.create", incident_id, None, {"revision": 1}, clock=clock)
    result = _load(ops, incident_id)
    assert result is not None
    return result


def save_revision(ops: OpsStore, clock: Clock, incident_id: str, changes: dict[str, str], author: str, comment: str | None = None) -> Postmortem:
    """Save edited fields as a new revision (unchanged fields carry over)."""
    ensure_schema(ops)
    unknown = sorted(set(changes) - set(FIELDS))
    if unknown:
        raise PostmortemError(f"unknown postmortem field(s) {', '.join(unknown)} (hint: one of {', '.join(FIELDS)})")
    if not author.strip():
        raise PostmortemError("a revision needs an author (hint: --user NAME)")
    at = iso(clock.now())
    with ops.transaction() as conn:
        head = conn.execute("SELECT current_revision FROM postmortems WHERE incident_id = ?", (incident_id,)).fetchone()
        if head is None:
            raise PostmortemError(f"incident {incident_id} has no postmortem yet (hint: `vigil postmortem create {incident_id}`)")
        rev = int(head[0])
        current = json.loads(
            conn.execute("SELECT fields FROM postmortem_revisions WHERE incident_id = ? AND revision = ?", (incident_id, rev)).fetchone()[0]
        )
        if all(current.get(k) == v for k, v in changes.items()):
            raise PostmortemError("nothing changed: no revision saved")
        current.update(changes)
        conn.execute(
            "INSERT INTO postmortem_revisions (incident_id, revision, fields, author, saved_at, comment) VALUES (?, ?, ?, ?, ?, ?)",
            (incident_id, rev + 1, json.dumps(current), author, at, comment),
        )
        conn.execute("UPDATE postmortems SET current_revision = ?, updated_at = ? WHERE incident_id = ?", (rev + 1, at, incident_id))
        incident_store.add_timeline(
            conn, incident_id, at, "postmortem", author, f"Postmortem revision {rev + 1}: {', '.join(sorted(changes))}"
        )
        before_fields = {k: v for k, v in json.loads(
            conn.execute("SELECT fields FROM postmortem_revisions WHERE incident_id = ? AND revision = ?", (incident_id, rev)).fetchone()[0]
        ).items() if k in changes}
        audit.record(
            conn, author, "postmortems.save", incident_id, {"revision": rev, **before_fields},
            {"revision": rev + 1, **changes}, clock=clock,
        )
    result = _load(ops, incident_id)
    assert result is not None
    return result


def revisions(ops: OpsStore, incident_id: str) -> list[dict[str, Any]]:
    ensure_schema(ops)
    return ops.query(
        "SELECT revision, author, saved_at, comment FROM postmortem_revisions WHERE incident_id = ? ORDER BY revision", (incident_id,)
    )


# ---- action items -----------------------------------------------------------------------


def _check_due(due: str) -> str:
    try:
        return date.fromisoformat(due).isoformat()
    except ValueError:
        raise PostmortemError(f"due date {due!r} is not YYYY-MM-DD (hint: --due 2026-04-01)") from None


def add_action_item(
    ops: OpsStore, clock: Clock, incident_id: str, *, title: str, owner: str, kind: str, due: str, author: str
) -> str:
    ensure_schema(ops)
    if not title.strip():
        raise PostmortemError("an action item needs a title (hint: what will be done)")
    if not owner.strip():
        raise PostmortemError("an action item needs an owner (a team or a person) (hint: --owner team-data)")
    if kind not in ACTION_KINDS:
        raise PostmortemError(f"action item type {kind!r} is not one of {', '.join(ACTION_KINDS)}")
    due_text = _check_due(due)
    _incident(ops, incident_id)
    item_id = new_id("act")
    at = iso(clock.now())
    with ops.transaction() as conn:
        conn.execute(
            "INSERT INTO action_items (item_id, incident_id, title, owner, kind, due, status, created_by, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, 'open', ?, ?, ?)",
            (item_id, incident_id, title.strip(), owner.strip(), kind, due_text, author, at, at),
        )
        incident_store.add_timeline(conn, incident_id, at, "postmortem", author, f"Action item ({kind}, {owner}, due {due_text}): {title}")
        audit.record(
            conn, author, "postmortems.action_add", item_id, None,
            {"incident_id": incident_id, "title": title.strip(), "owner": owner.strip(), "kind": kind, "due": due_text},
            clock=clock,
        )
    return item_id


def update_action_item(
    ops: OpsStore, clock: Clock, item_id: str, actor: str, *, status: str | None = None, owner: str | None = None, due: str | None = None
) -> dict[str, Any]:
    ensure_schema(ops)
    if status is not None and status not in ACTION_STATUSES:
        raise PostmortemError(f"action item status {status!r} is not one of {', '.join(ACTION_STATUSES)}")
    due_text = _check_due(due) if due is not None else None
    at = iso(clock.now())
    with ops.transaction() as conn:
        row = conn.execute("SELECT * FROM action_items WHERE item_id = ?", (item_id,)).fetchone()
        if row is None:
            raise PostmortemError(f"no action item {item_id!r} (hint: `vigil postmortem actions INCIDENT`)")
        new = {"status": status or row["status"], "owner": owner or row["owner"], "due": due_text or row["due"]}
        conn.execute(
            "UPDATE action_items SET status = ?, owner = ?, due = ?, updated_at = ? WHERE item_id = ?",
            (new["status"], new["owner"], new["due"], at, item_id),
        )
        changes = ", ".join(f"{k} {row[k]} -> {v}" for k, v in new.items() if row[k] != v)
        incident_store.add_timeline(conn, row["incident_id"], at, "postmortem", actor, f"Action item {row['title']!r}: {changes or 'no change'}")
        audit.record(
            conn, actor, "postmortems.action_update", item_id,
            {"status": row["status"], "owner": row["owner"], "due": row["due"]}, new, clock=clock,
        )
    return ops.query("SELECT * FROM action_items WHERE item_id = ?", (item_id,))[0]


def action_items(ops: OpsStore, incident_id: str) -> list[dict[str, Any]]:
    ensure_schema(ops)
    return ops.query("SELECT * FROM action_items WHERE incident_id = ? ORDER BY due, created_at", (incident_id,))


# ---- export -----------------------------------------------------------------------------


def _md_cell(text: Any) -> str:
    return str(text if text is not None else "").replace("|", "\\|").replace("\n", " ")


def export_markdown(ops: OpsStore, incident_id: str, revision: int | None = None) -> str:
    """The postmortem as Markdown: template fields, action items and the full incident timeline."""
    ensure_schema(ops)
    pm = _load(ops, incident_id, revision)
    if pm is None:
        raise PostmortemError(f"incident {incident_id} has no postmortem yet (hint: `vigil postmortem create {incident_id}`)")
    inc = _incident(ops, incident_id)
    lines = [
        f"# Postmortem: {inc['title']}",
        "",
        f"Incident `{incident_id}` · {inc['severity']} · status {inc['status']} · commander {inc['commander'] or '-'} · "
        f"scribe {inc['scribe'] or '-'} · revision {pm.revision} of {pm.revisions} by {pm.author} at {pm.saved_at}",
        "",
        "_Blameless: this document describes how the system and its processes allowed the incident, not who is at fault._",
    ]
    lessons_done = False
    for name, heading, prompt in TEMPLATE:
        if name in ("went_well", "went_wrong", "got_lucky"):
            if not lessons_done:
                lines += ["", "## Lessons learned"]
                lessons_done = True
            lines += ["", f"### {heading}", ""]
        else:
            lines += ["", f"## {heading}", ""]
        text = pm.fields.get(name, "").strip()
        lines.append(text if text else f"_{prompt}_")
    items = action_items(ops, incident_id)
    lines += ["", "## Action items", ""]
    if items:
        lines += ["| Action | Type | Owner | Due | Status |", "| --- | --- | --- | --- | --- |"]
        lines += [f"| {_md_cell(i['title'])} | {i['kind']} | {_md_cell(i['owner'])} | {i['due']} | {i['status']} |" for i in items]
    else:
        lines.append("_What will prevent a recurrence, detect it sooner or mitigate it faster? Each item has an owner and a due date._")
    lines += ["", "## Timeline", "", "| Time (UTC) | Kind | Who | What |", "| --- | --- | --- | --- |"]
    for t in ops.query("SELECT * FROM incident_timeline WHERE incident_id = ? ORDER BY entry_id", (incident_id,)):
        lines.append(f"| {t['at']} | {t['kind']} | {_md_cell(t['actor'])} | {_md_cell(t['text'])} |")
    return "\n".join(lines) + "\n"
