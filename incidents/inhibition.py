"""Inhibition along lineage, and possible causes: a symptom is never hidden.

Three kinds of alert:

- *root*: an upstream data alert: input quality or unit change on a column (ETL
  ``table.column`` or a served feature ``predictions.column``), or a whole-table alert
  (freshness, schema, volume) on an ETL table or on the prediction log.
- *data*: a root, or a drift alert on a column.
- *symptom*: an alert on the model's behaviour: realized and estimated performance,
  score drift, decision rate, fallback rate, KPIs (families prediction, performance, kpi).

Rules:

1. A symptom ALWAYS notifies. Data alerts that could explain it (linked along lineage, and
   firing now or failing on one of the symptom's own failing batches: a KPI about day D
   arrives when D's labels mature, after D's upstream alert resolved) are attached as
   ranked *possible causes*, with their evidence.
2. A root inhibits only non-root data alerts on the same column or on columns downstream
   of it along lineage (a feature lists one upstream column, or several for a derived
   feature); a whole-table root covers every column of the table. It inhibits only while
   it is firing: when it resolves, inhibited alerts that still fail notify at once.

Inhibited alerts stay visible with ``inhibited_by`` = the root's fingerprint.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from checks.spec import Family
from core.config import VigilConfig
from incidents.incidents import add_timeline
from incidents.labels import PREDICTIONS_SOURCE, feature_names, features_fed_by, parse_subject

# From checks.spec.Family, the one list of families: upstream data families (a whole-table alert
# on an ETL table is a root whatever its family), model-level symptoms, and what lies downstream.
ROOT_FAMILIES: frozenset[str] = frozenset({Family.INPUT_QUALITY, Family.UNIT_CHANGE})
SYMPTOM_FAMILIES: frozenset[str] = frozenset({Family.PREDICTION, Family.PERFORMANCE})
DOWNSTREAM_FAMILIES: frozenset[str] = frozenset({Family.FEATURE_DRIFT}) | SYMPTOM_FAMILIES
MODEL_FAMILIES: frozenset[str] = frozenset({Family.PERFORMANCE})  # every feature feeds them
ALL_FEATURES = frozenset({"*"})  # "downstream of every feature"
MAX_CAUSES = 5


@dataclass(frozen=True)
class AlertView:
    """The parts of an alert that inhibition needs."""

    fingerprint: str
    labels: dict[str, str]
    state: str
    started_batch: str | None
    inhibited_by: str | None = None
    failing_batches: frozenset[str] = field(default_factory=frozenset)
    annotations: dict[str, Any] = field(default_factory=dict)
    possible_causes: tuple[str, ...] = ()

    @property
    def family(self) -> str:
        return self.labels.get("family", "")


@dataclass(frozen=True)
class PossibleCause:
    """A data alert that could explain a symptom, with the numbers that make it plausible."""

    fingerprint: str
    rank: int
    check: str
    subject: str
    family: str
    upstream: bool  # a root (input quality, unit change, table) rather than a drift alert
    state: str
    started_batch: str | None
    overlap: list[str]  # the symptom's failing batches this alert failed on too (event time)
    explanation: str
    value: float | None
    lower: float | None
    upper: float | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def text(self) -> str:
        return f"#{self.rank} {self.check} on {self.subject} ({self.state} from batch {self.started_batch}): {self.explanation}"


def is_root(cfg: VigilConfig, alert: AlertView) -> bool:
    if alert.family in ROOT_FAMILIES:
        return True
    # A whole-table alert on an ETL table is upstream whatever its family name.
    subj = parse_subject(alert.labels.get("subject", ""))
    return subj.is_table and subj.source in {t.name for t in cfg.etl_tables}


def is_symptom(alert: AlertView) -> bool:
    """An alert on the model's behaviour: never inhibited."""
    return alert.family in SYMPTOM_FAMILIES


def is_data(cfg: VigilConfig, alert: AlertView) -> bool:
    return is_root(cfg, alert) or alert.family == Family.FEATURE_DRIFT


def is_downstream(alert: AlertView) -> bool:
    return alert.family in DOWNSTREAM_FAMILIES


def features_broken_by(cfg: VigilConfig, root: AlertView) -> frozenset[str]:
    """Features whose values the alert's subject feeds (ALL_FEATURES for the labels table)."""
    subj = parse_subject(root.labels.get("subject", ""))
    if cfg.labels is not None and subj.source == cfg.labels.table:
        return ALL_FEATURES  # broken outcomes break every performance / KPI figure
    if subj.source in {t.name for t in cfg.etl_tables}:
        return frozenset(features_fed_by(cfg, subj.source, subj.column))
    if subj.source == PREDICTIONS_SOURCE and subj.is_table:
        return frozenset(feature_names(cfg))  # a broken prediction log (schema, volume) breaks every feature
    if subj.source == PREDICTIONS_SOURCE and subj.column in feature_names(cfg):
        return frozenset({subj.column})
    return frozenset()


def ancestry(cfg: VigilConfig, subject: str) -> set[tuple[str, str | None]]:
    """(source, column) of the subject itself and of every upstream column along lineage."""
    subj = parse_subject(subject)
    out: set[tuple[str, str | None]] = {(subj.source, subj.column)}
    if subj.source != PREDICTIONS_SOURCE:
        return out
    # A whole-log subject (multivariate drift over the feature set) depends on every feature.
    features = feature_names(cfg) if subj.column is None else ({subj.column} & feature_names(cfg))
    for name in features:
        out.add((PREDICTIONS_SOURCE, name))
        for parent in cfg.feature(name).parents:
            table, _, column = parent.partition(".")
            out.add((table, column))
    return out


def covers(cfg: VigilConfig, root: AlertView, target: AlertView) -> bool:
    """The root's column (or table) is the target's column or upstream of it along lineage."""
    subj = parse_subject(root.labels.get("subject", ""))
    above = ancestry(cfg, target.labels.get("subject", ""))
    if subj.is_table:
        return any(source == subj.source for source, _ in above)
    return (subj.source, subj.column) in above


def inhibits(cfg: VigilConfig, root: AlertView, target: AlertView) -> bool:
    """Rule 2: a firing root inhibits a non-root data alert on its column or downstream of it."""
    if root.fingerprint == target.fingerprint or root.state != "firing" or not is_root(cfg, root):
        return False
    if is_symptom(target) or is_root(cfg, target) or not is_data(cfg, target):
        return False
    return covers(cfg, root, target)


def could_explain(cfg: VigilConfig, cause: AlertView, symptom: AlertView) -> bool:
    """Rule 1: a data alert linked to the symptom along lineage, firing now or failing with it."""
    if cause.fingerprint == symptom.fingerprint or not is_data(cfg, cause) or not is_symptom(symptom):
        return False
    if not (cause.state == "firing" or cause.failing_batches & symptom.failing_batches):
        return False
    broken = features_broken_by(cfg, cause)
    if broken == ALL_FEATURES:  # the labels table: performance and KPI figures only
        return symptom.family in MODEL_FAMILIES
    return bool(broken)


def _start_gap(root: AlertView, target: AlertView) -> float:
    """How far apart the two problems started (event time): a cause starts with its effect."""
    if not root.started_batch or not target.started_batch:
        return float("inf")
    gap = datetime.fromisoformat(target.started_batch) - datetime.fromisoformat(root.started_batch)
    return abs(gap.total_seconds())


def _upstream_rank(cfg: VigilConfig, root: AlertView) -> int:
    """Most upstream, then broadest, first: ETL table, ETL column, prediction log, served column."""
    subj = parse_subject(root.labels.get("subject", ""))
    upstream = subj.source in {t.name for t in cfg.etl_tables}
    return (0 if upstream else 2) + (0 if subj.is_table else 1)


def _order(cfg: VigilConfig, cause: AlertView, target: AlertView) -> tuple[Any, ...]:
    overlap = bool(cause.failing_batches & target.failing_batches)
    return (not overlap, _start_gap(cause, target), not is_root(cfg, cause), _upstream_rank(cfg, cause), cause.fingerprint)


def compute_inhibitions(cfg: VigilConfig, alerts: Iterable[AlertView]) -> dict[str, str]:
    """{data-alert fingerprint: root fingerprint} for every active data alert a firing root explains.

    Pure. Among several roots the one whose problem started closest to the target's start
    wins (a long-running unrelated root does not steal a new effect), then the most upstream
    and broadest (ETL table, ETL column, prediction log, served column), then the smallest
    fingerprint, so the answer is deterministic.
    """
    views = list(alerts)
    roots = [a for a in views if is_root(cfg, a) and a.state == "firing"]
    out: dict[str, str] = {}
    for target in views:
        if target.state not in ("pending", "firing"):
            continue
        causes = [r for r in roots if inhibits(cfg, r, target)]
        if causes:
            best = min(causes, key=lambda r: (_start_gap(r, target), _upstream_rank(cfg, r), r.fingerprint))
            out[target.fingerprint] = best.fingerprint
    return out


def compute_possible_causes(cfg: VigilConfig, alerts: Iterable[AlertView]) -> dict[str, list[PossibleCause]]:
    """{symptom fingerprint: ranked possible causes} for every active symptom with one. Pure.

    Ranked: data alerts that failed on the symptom's own batches first, then the closest
    start, roots before drift, the most upstream, the smallest fingerprint.
    """
    views = list(alerts)
    out: dict[str, list[PossibleCause]] = {}
    for target in views:
        if target.state not in ("pending", "firing") or not is_symptom(target):
            continue
        found = sorted((c for c in views if could_explain(cfg, c, target)), key=lambda c: _order(cfg, c, target))
        if not found:
            continue
        out[target.fingerprint] = [
            PossibleCause(
                fingerprint=c.fingerprint,
                rank=i + 1,
                check=c.labels.get("check", ""),
                subject=c.labels.get("subject", ""),
                family=c.family,
                upstream=is_root(cfg, c),
                state=c.state,
                started_batch=c.started_batch,
                overlap=sorted(c.failing_batches & target.failing_batches),
                explanation=str(c.annotations.get("explanation") or ""),
                value=c.annotations.get("value"),
                lower=c.annotations.get("lower"),
                upper=c.annotations.get("upper"),
            )
            for i, c in enumerate(found[:MAX_CAUSES])
        ]
    return out


def load_views(conn: sqlite3.Connection) -> list[AlertView]:
    """Active alerts, and every alert that failed on one of their current episode's batches."""
    rows = conn.execute("SELECT * FROM alerts WHERE state IN ('pending', 'firing')").fetchall()
    active = {r["fingerprint"]: r for r in rows}
    failing: dict[str, set[str]] = {}
    for fp, r in active.items():
        for b in conn.execute(
            "SELECT batch FROM alert_batches WHERE fingerprint = ? AND status = 'fail' AND batch >= ?",
            (fp, r["started_batch"] or ""),
        ):
            failing.setdefault(fp, set()).add(b[0])
    episode_batches = sorted({b for bs in failing.values() for b in bs})
    extra: dict[str, sqlite3.Row] = {}
    if episode_batches:
        marks = ",".join("?" * len(episode_batches))
        for row in conn.execute(
            f"SELECT a.*, ab.batch AS failed_batch FROM alert_batches ab JOIN alerts a USING (fingerprint) "  # noqa: S608
            f"WHERE ab.status = 'fail' AND ab.batch IN ({marks})",
            episode_batches,
        ):
            fp = row["fingerprint"]
            if fp not in active:
                extra[fp] = row
                failing.setdefault(fp, set()).add(row["failed_batch"])
    views = []
    for fp, r in {**active, **extra}.items():
        causes = json.loads(r["possible_causes"] or "[]") if "possible_causes" in r.keys() else []
        views.append(
            AlertView(
                fingerprint=fp,
                labels=json.loads(r["labels"]),
                state=r["state"],
                started_batch=r["started_batch"],
                inhibited_by=r["inhibited_by"],
                failing_batches=frozenset(failing.get(fp, set())),
                annotations=json.loads(r["annotations"] or "{}"),
                possible_causes=tuple(c["fingerprint"] for c in causes),
            )
        )
    return views


def apply_inhibition(cfg: VigilConfig, conn: sqlite3.Connection, now: str) -> dict[str, str]:
    """Recompute and persist ``inhibited_by`` and ``possible_causes`` of active alerts.

    Changes are logged as alert events (and on the incident's timeline for possible causes).
    Returns {fingerprint: inhibiting root} of the alerts inhibited now.
    """
    views = load_views(conn)
    result = compute_inhibitions(cfg, views)
    causes = compute_possible_causes(cfg, views)
    for v in views:
        if v.state not in ("pending", "firing"):
            continue
        new = result.get(v.fingerprint)
        if new != v.inhibited_by:
            conn.execute("UPDATE alerts SET inhibited_by = ? WHERE fingerprint = ?", (new, v.fingerprint))
            conn.execute(
                "INSERT INTO alert_events (fingerprint, batch, from_state, to_state, kind, at, detail) "
                "VALUES (?, NULL, ?, ?, 'inhibited', ?, ?)",
                (v.fingerprint, v.state, v.state, now, json.dumps({"inhibited_by": new})),
            )
        found = causes.get(v.fingerprint, [])
        if tuple(c.fingerprint for c in found) != v.possible_causes or (found and not v.possible_causes):
            payload = json.dumps([c.to_dict() for c in found], default=str) if found else None
            conn.execute("UPDATE alerts SET possible_causes = ? WHERE fingerprint = ?", (payload, v.fingerprint))
            conn.execute(
                "INSERT INTO alert_events (fingerprint, batch, from_state, to_state, kind, at, detail) "
                "VALUES (?, NULL, ?, ?, 'possible_causes', ?, ?)",
                (v.fingerprint, v.state, v.state, now, json.dumps({"possible_causes": [c.fingerprint for c in found]})),
            )
            _timeline_causes(conn, v, found, now)
    return result


def _timeline_causes(conn: sqlite3.Connection, v: AlertView, found: list[PossibleCause], now: str) -> None:
    row = conn.execute("SELECT incident_id, check_name, subject FROM alerts WHERE fingerprint = ?", (v.fingerprint,)).fetchone()
    if row is None or not row["incident_id"] or not found:
        return
    text = f"Possible causes of {row['check_name']} on {row['subject']}: " + "; ".join(c.text() for c in found)
    add_timeline(conn, row["incident_id"], now, "alert", "vigil", text,
                 {"fingerprint": v.fingerprint, "possible_causes": [c.to_dict() for c in found]})


def possible_causes_of(row: Any) -> list[dict[str, Any]]:
    """The stored possible causes of an alert row (a list of PossibleCause dicts, best first)."""
    try:
        text = row["possible_causes"]
    except (KeyError, IndexError):
        return []
    return list(json.loads(text)) if text else []
