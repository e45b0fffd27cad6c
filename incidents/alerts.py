"""Check results -> alerts, with the semantics of Prometheus alerting rules.

Results are processed batch by batch in event-time order, one short SQLite transaction
per batch. For each alert (identity = fingerprint of check, model, subject):

- ``fail`` counts as failing; ``ok`` and ``warn`` clear (warn does not fire by default);
  ``skipped`` and ``error`` leave the state unchanged.
- inactive -> pending on the first failing batch; pending -> firing after
  ``for_batches`` consecutive failing batches (straight to firing when that is 1);
  pending -> inactive on a clearing batch.
- firing -> resolved after ``keep_firing_for_batches`` consecutive clearing batches
  (0 and 1 both resolve on the first), so a flapping check stays one firing alert.
- A result for a batch at or before the alert's last processed batch is a re-check
  (late data): it updates the alert's per-batch record and annotations, logs a
  ``recheck`` event and changes no state, so nothing is notified again.

Every transition is appended to ``alert_events``. After each batch, inhibition along
lineage is recomputed and firing alerts are attached to incidents.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from checks.result import CheckResult
from core import audit
from core.clock import Clock, iso, naive_utc
from core.config import VigilConfig
from core.stores import OpsStore
from incidents import incidents as incident_store
from incidents.inhibition import apply_inhibition
from incidents.labels import derived_labels, fingerprint_of, max_severity
from incidents.schema import ensure_schema

FAILING = frozenset({"fail"})
CLEARING = frozenset({"ok", "warn"})
ACTIVE_STATES = ("pending", "firing")


@dataclass(frozen=True)
class AlertStep:
    state: str
    fail_streak: int
    ok_streak: int


def next_state(
    state: str,
    fail_streak: int,
    ok_streak: int,
    status: str,
    for_batches: int,
    keep_firing_for: int,
    failing: frozenset[str] = FAILING,
) -> AlertStep:
    """The lifecycle as a pure function of the current state and one batch's status."""
    if status in failing:
        fails = fail_streak + 1
        if state == "firing" or fails >= for_batches:
            return AlertStep("firing", fails, 0)
        return AlertStep("pending", fails, 0)
    if status in CLEARING - failing:
        oks = ok_streak + 1
        if state == "pending":
            return AlertStep("inactive", 0, oks)
        if state == "firing":
            return AlertStep("resolved" if oks >= max(keep_firing_for, 1) else "firing", 0, oks)
        return AlertStep(state, 0, oks)
    return AlertStep(state, fail_streak, ok_streak)  # skipped / error: no information


@dataclass(frozen=True)
class Transition:
    fingerprint: str
    check: str
    subject: str
    model: str
    batch: str
    from_state: str
    to_state: str


@dataclass
class AlertReport:
    """What one call of process_results did."""

    transitions: list[Transition] = field(default_factory=list)
    rechecked: list[str] = field(default_factory=list)  # fingerprints updated by late re-checks
    firing: list[str] = field(default_factory=list)  # fingerprints firing after processing
    inhibited: dict[str, str] = field(default_factory=dict)  # fingerprint -> root-cause fingerprint
    incidents_opened: list[str] = field(default_factory=list)
    batches: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def batch_key(batch: datetime | None, clock: Clock) -> str:
    """Event-time batch as naive-UTC ISO text; results without a batch belong to 'now' (wall time)."""
    when = batch if batch is not None else clock.now()
    return naive_utc(when).isoformat()


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


def annotations_of(result: CheckResult, batch: str) -> dict[str, Any]:
    return {
        "batch": batch,
        "status": result.status,
        "value": _finite(result.value),
        "lower": _finite(result.lower),
        "upper": _finite(result.upper),
        "explanation": result.explanation,
        "evidence": result.evidence,
    }


def _record_batch(conn: Any, fp: str, batch: str, result: CheckResult, now: str, episode: int) -> None:
    # A re-check keeps the batch's episode: it belongs to the episode it was first seen in.
    conn.execute(
        "INSERT INTO alert_batches (fingerprint, batch, status, value, lower, upper, explanation, evidence, checked_at, episode) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (fingerprint, batch) DO UPDATE SET status = excluded.status, value = excluded.value, "
        "lower = excluded.lower, upper = excluded.upper, explanation = excluded.explanation, "
        "evidence = excluded.evidence, checked_at = excluded.checked_at, rechecks = rechecks + 1",
        (
            fp,
            batch,
            result.status,
            _finite(result.value),
            _finite(result.lower),
            _finite(result.upper),
            result.explanation,
            json.dumps(result.evidence, default=str),
            now,
            episode,
        ),
    )


def _event(
    conn: Any, fp: str, batch: str | None, from_state: str | None, to_state: str, kind: str, now: str, detail: dict[str, Any],
    actor: str = "vigil",
) -> None:
    conn.execute(
        "INSERT INTO alert_events (fingerprint, batch, from_state, to_state, kind, at, actor, detail) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (fp, batch, from_state, to_state, kind, now, actor, json.dumps(detail, default=str)),
    )


def _apply_result(
    cfg: VigilConfig, conn: Any, result: CheckResult, batch: str, now: str, report: AlertReport, failing: frozenset[str]
) -> None:
    labels = derived_labels(cfg, result)
    fp = fingerprint_of(labels)
    row = conn.execute("SELECT * FROM alerts WHERE fingerprint = ?", (fp,)).fetchone()
    if row is None:
        if result.status not in failing:
            return  # nothing to remember about a check that never failed
        conn.execute(
            "INSERT INTO alerts (fingerprint, check_name, family, model, subject, severity, labels, annotations, state, "
            "episode, first_seen_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, '{}', 'inactive', 0, ?, ?)",
            (fp, result.check, result.family, labels["model"], result.subject, result.severity, json.dumps(labels), now, now),
        )
        row = conn.execute("SELECT * FROM alerts WHERE fingerprint = ?", (fp,)).fetchone()
    annotations = json.dumps(annotations_of(result, batch), default=str)
    if result.status == "skipped" and row["annotations"] not in (None, "", "{}"):
        # A skipped result says nothing about the alert: it keeps the evidence of why it fired
        # (not "Skipped: the labels of this batch have not matured yet").
        annotations = row["annotations"]
    if row["last_batch"] is not None and batch <= row["last_batch"]:
        _record_batch(conn, fp, batch, result, now, row["episode"])
        if batch == row["last_batch"]:
            conn.execute("UPDATE alerts SET annotations = ?, updated_at = ? WHERE fingerprint = ?", (annotations, now, fp))
        _event(conn, fp, batch, row["state"], row["state"], "recheck", now, {"status": result.status, "value": _finite(result.value)})
        report.rechecked.append(fp)
        return
    step = next_state(
        row["state"],
        row["fail_streak"],
        row["ok_streak"],
        result.status,
        cfg.alerts.for_batches,
        cfg.alerts.keep_firing_for_batches,
        failing,
    )
    new_episode = row["state"] in ("inactive", "resolved") and step.state in ACTIVE_STATES
    _record_batch(conn, fp, batch, result, now, row["episode"] + 1 if new_episode else row["episode"])
    conn.execute(
        "UPDATE alerts SET state = ?, fail_streak = ?, ok_streak = ?, last_batch = ?, annotations = ?, labels = ?, "
        "updated_at = ? WHERE fingerprint = ?",
        (step.state, step.fail_streak, step.ok_streak, batch, annotations, json.dumps(labels), now, fp),
    )
    if step.state == row["state"]:
        if step.state in ACTIVE_STATES and result.status in failing:
            severity = max_severity(row["severity"], result.severity)
            conn.execute("UPDATE alerts SET severity = ? WHERE fingerprint = ?", (severity, fp))
        return
    if new_episode:
        conn.execute(
            "UPDATE alerts SET episode = episode + 1, started_batch = ?, severity = ?, fired_batch = NULL, fired_at = NULL, "
            "resolved_batch = NULL, resolved_at = NULL, acked_by = NULL, acked_at = NULL, inhibited_by = NULL, "
            "silenced_by = NULL, incident_id = NULL WHERE fingerprint = ?",
            (batch, result.severity, fp),
        )
    if step.state == "firing":
        conn.execute("UPDATE alerts SET fired_batch = ?, fired_at = ? WHERE fingerprint = ?", (batch, now, fp))
    elif step.state == "resolved":
        conn.execute("UPDATE alerts SET resolved_batch = ?, resolved_at = ? WHERE fingerprint = ?", (batch, now, fp))
    detail = {"status": result.status, "value": _finite(result.value), "explanation": result.explanation}
    _event(conn, fp, batch, row["state"], step.state, "transition", now, detail)
    report.transitions.append(Transition(fp, result.check, result.subject, labels["model"], batch, row["state"], step.state))
    incident_store.record_alert_transition(conn, fp, batch, step.state, now)


def process_results(
    cfg: VigilConfig, ops: OpsStore, results: list[CheckResult], clock: Clock, *, fire_on_warn: bool = False
) -> AlertReport:
    """Turn check results into alert state, inhibition and incidents (notifications: incidents.notify).

    ``fire_on_warn`` makes ``warn`` count as failing (by default only ``fail`` does).
    """
    failing = FAILING | {"warn"} if fire_on_warn else FAILING
    ensure_schema(ops)
    report = AlertReport()
    by_batch: dict[str, list[CheckResult]] = defaultdict(list)
    for r in results:
        by_batch[batch_key(r.batch, clock)].append(r)
    for batch in sorted(by_batch):
        now = iso(clock.now())
        with ops.transaction() as conn:
            seen = len(report.transitions)
            # Deterministic order inside a batch, so event ids are reproducible.
            for result in sorted(by_batch[batch], key=lambda r: (r.check, r.subject)):
                _apply_result(cfg, conn, result, batch, now, report, frozenset(failing))
            report.inhibited = apply_inhibition(cfg, conn, now)
            report.incidents_opened += incident_store.open_for_firing(cfg, conn, now)
            moved = report.transitions[seen:]
            if moved:  # the cycle's own writes are audited too (actor system:cycle)
                audit.record(conn, audit.CYCLE_ACTOR, "alerts.transition", f"{cfg.model.name}@{batch}", None,
                             {"transitions": [{"fingerprint": t.fingerprint, "check": t.check, "subject": t.subject,
                                               "from": t.from_state, "to": t.to_state} for t in moved]}, at=now)
        report.batches.append(batch)
    report.rechecked = sorted(set(report.rechecked))
    report.firing = [r["fingerprint"] for r in ops.query("SELECT fingerprint FROM alerts WHERE state = 'firing' ORDER BY fingerprint")]
    return report


def acknowledge(ops: OpsStore, clock: Clock, fingerprint: str, user: str) -> None:
    """Acknowledge an alert (someone is on it); logged as an alert event."""
    ensure_schema(ops)
    now = iso(clock.now())
    with ops.transaction() as conn:
        row = conn.execute(
            "SELECT state, incident_id, acked_by, acked_at FROM alerts WHERE fingerprint = ?", (fingerprint,)
        ).fetchone()
        if row is None:
            raise KeyError(f"no alert with fingerprint {fingerprint!r} (hint: `vigil alerts list` shows them)")
        conn.execute("UPDATE alerts SET acked_by = ?, acked_at = ? WHERE fingerprint = ?", (user, now, fingerprint))
        _event(conn, fingerprint, None, row["state"], row["state"], "ack", now, {"by": user}, actor=user)
        if row["incident_id"]:
            incident_store.add_timeline(conn, row["incident_id"], now, "alert", user, f"Alert {fingerprint} acknowledged by {user}")
        audit.record(
            conn, user, "alerts.acknowledge", fingerprint,
            {"acked_by": row["acked_by"], "acked_at": row["acked_at"], "state": row["state"]},
            {"acked_by": user, "acked_at": now, "state": row["state"]}, clock=clock,
        )
