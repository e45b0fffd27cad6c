"""Inhibition along lineage: a broken upstream column explains the alerts downstream of it.

A *root* alert is an upstream data alert: input quality or unit change on a column
(ETL ``table.column`` or a served feature ``predictions.column``), or a whole-table
alert (freshness, schema, volume) on an ETL ``table`` or on the prediction log. A *downstream* alert is a drift,
prediction or KPI / performance alert. The root inhibits a downstream alert when the
config's lineage links them (feature <- table.column; score and model-level alerts are
downstream of every feature) and the root is firing now or failed on one of the batches
the downstream alert is failing on (event time: a KPI alert about day D arrives when
day D's labels mature, long after the upstream alert about day D resolved).

Inhibited alerts stay visible with ``inhibited_by`` = the root's fingerprint.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from core.config import VigilConfig
from incidents.labels import PREDICTIONS_SOURCE, feature_names, features_fed_by, parse_subject

ROOT_FAMILIES = frozenset({"input_quality", "unit_change", "etl", "freshness", "schema", "volume", "table"})
DOWNSTREAM_FAMILIES = frozenset({"feature_drift", "prediction", "performance", "kpi"})
ALL_FEATURES = frozenset({"*"})  # "downstream of every feature"


@dataclass(frozen=True)
class AlertView:
    """The parts of an alert that inhibition needs."""

    fingerprint: str
    labels: dict[str, str]
    state: str
    started_batch: str | None
    inhibited_by: str | None = None
    failing_batches: frozenset[str] = field(default_factory=frozenset)

    @property
    def family(self) -> str:
        return self.labels.get("family", "")


def is_root(cfg: VigilConfig, alert: AlertView) -> bool:
    if alert.family in ROOT_FAMILIES:
        return True
    # A whole-table alert on an ETL table is upstream whatever its family name.
    subj = parse_subject(alert.labels.get("subject", ""))
    return subj.is_table and subj.source in {t.name for t in cfg.etl_tables}


def is_downstream(alert: AlertView) -> bool:
    return alert.family in DOWNSTREAM_FAMILIES


def features_broken_by(cfg: VigilConfig, root: AlertView) -> frozenset[str]:
    """Features whose values the root alert's subject feeds (ALL_FEATURES for the labels table)."""
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


def features_watched_by(cfg: VigilConfig, target: AlertView) -> frozenset[str]:
    """Features a downstream alert depends on: one for a feature's drift, all for score / model alerts."""
    feature = target.labels.get("feature")
    if target.family == "feature_drift" and feature:
        return frozenset({feature})
    return ALL_FEATURES


def linked(cfg: VigilConfig, root: AlertView, target: AlertView) -> bool:
    broken = features_broken_by(cfg, root)
    if not broken:
        return False
    watched = features_watched_by(cfg, target)
    if broken == ALL_FEATURES:
        return target.family in ("performance", "kpi")
    return watched == ALL_FEATURES or bool(broken & watched)


def _explains(root: AlertView, target: AlertView) -> bool:
    return root.state == "firing" or bool(root.failing_batches & target.failing_batches)


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


def compute_inhibitions(cfg: VigilConfig, alerts: Iterable[AlertView]) -> dict[str, str]:
    """{downstream fingerprint: root fingerprint} for every active downstream alert with a root cause.

    Pure. Among several roots the one whose problem started closest to the target's start
    wins (a long-running unrelated root does not steal a new effect), then the most upstream
    and broadest (ETL table, ETL column, prediction log, served column), then the smallest
    fingerprint, so the answer is deterministic.
    """
    views = list(alerts)
    roots = [a for a in views if is_root(cfg, a)]
    out: dict[str, str] = {}
    for target in views:
        if target.state not in ("pending", "firing") or not is_downstream(target):
            continue
        causes = [r for r in roots if r.fingerprint != target.fingerprint and linked(cfg, r, target) and _explains(r, target)]
        if causes:
            best = min(causes, key=lambda r: (_start_gap(r, target), _upstream_rank(cfg, r), r.fingerprint))
            out[target.fingerprint] = best.fingerprint
    return out


def load_views(conn: sqlite3.Connection) -> list[AlertView]:
    """Active downstream alerts, every root alert that failed on one of their batches, and firing roots."""
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
        views.append(
            AlertView(
                fingerprint=fp,
                labels=json.loads(r["labels"]),
                state=r["state"],
                started_batch=r["started_batch"],
                inhibited_by=r["inhibited_by"],
                failing_batches=frozenset(failing.get(fp, set())),
            )
        )
    return views


def apply_inhibition(cfg: VigilConfig, conn: sqlite3.Connection, now: str) -> dict[str, str]:
    """Recompute and persist ``inhibited_by`` for active alerts; log changes as alert events."""
    views = load_views(conn)
    result = compute_inhibitions(cfg, views)
    for v in views:
        if v.state not in ("pending", "firing"):
            continue
        new = result.get(v.fingerprint)
        if new == v.inhibited_by:
            continue
        conn.execute("UPDATE alerts SET inhibited_by = ? WHERE fingerprint = ?", (new, v.fingerprint))
        conn.execute(
            "INSERT INTO alert_events (fingerprint, batch, from_state, to_state, kind, at, detail) "
            "VALUES (?, NULL, ?, ?, 'inhibited', ?, ?)",
            (v.fingerprint, v.state, v.state, now, json.dumps({"inhibited_by": new})),
        )
    return result
