"""A year of hourly batches (8,760) and everything the cycles would have left behind, written
directly into the stores (not by running 8,760 cycles), for the dashboard speed bench.

Warehouse: batches, column_stats, reference_stats, table_stats, performance_stats,
check_results, ingested_files, quarantine, schema_changes. Ops: cycles, alerts, alert_batches,
alert_events, incidents, incident_alerts, incident_timeline, postmortems and revisions, action
items, decisions, silences, notifications, a scheduler heartbeat and three registered model
versions. Row shapes follow core/migrations; the (check, subject) pairs are the ones the
runner would produce for the example model's config (checks.registry x checks.subjects).

Bulk rows are generated inside DuckDB (a batches x subjects cross join with hash-derived
values), so a year takes seconds. Failures happen in incident episodes (two a month, a few
hours each); the newest two episodes are still firing at the end of the history.

Usage: .venv/bin/python bench/synthetic_history.py --root DIR [--hours 8760]
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from core.clock import iso  # noqa: E402
from core.config import VigilConfig, config_from_dict  # noqa: E402
from core.ids import labels_fingerprint  # noqa: E402
from core.stores import OpsStore, Warehouse  # noqa: E402
from profilers.stats_types import QUANTILES  # noqa: E402

EXAMPLE_CONFIG = ROOT / "baseline_model" / "configs" / "monitor.yaml"
HOURS_PER_YEAR = 8760
EPISODES_PER_YEAR = 24
FOR_BATCHES = 2  # pending -> firing after this many failing batches (as the alert rules do)


@dataclass(frozen=True)
class Slot:
    """One (check, subject) pair the runner writes a result for in every batch."""

    check: str
    family: str
    subject: str
    severity: str
    lower: float | None
    upper: float | None


@dataclass
class Episode:
    """A few hours in which some checks failed: one incident, its alerts, its paperwork."""

    number: int
    start: datetime
    end: datetime  # last failing batch
    slots: list[Slot]
    ongoing: bool


# ---- config and subjects ------------------------------------------------------------------


def hourly_config(root: Path) -> VigilConfig:
    """The example model's config with hourly batches, written to root/monitor.yaml."""
    data = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    data["batch"]["window"] = "1h"
    root.mkdir(parents=True, exist_ok=True)
    path = root / "monitor.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return config_from_dict(data, file=str(path), root=root)


def result_slots(cfg: VigilConfig) -> list[Slot]:
    """Every (check, subject) the runner would check per batch for this config."""
    from checks.registry import enabled_specs
    from checks.subjects import column_subjects, model_subjects, table_subjects

    slots: list[Slot] = []
    for spec in enabled_specs(cfg):
        severity = str(spec.params.get("severity", "warning"))
        if spec.reads == "column":
            subjects = [s.name for s in column_subjects(cfg) if spec.applies(s.role, s.kind)]
        elif spec.reads in ("features", "skew"):
            subjects = ["predictions"] if spec.applies("features") or spec.reads == "skew" else []
        elif spec.reads == "table":
            subjects = [s.name for s in table_subjects(cfg) if spec.applies(s.role)]
        else:
            subjects = [s.name for s in model_subjects(cfg) if spec.applies(s.role)]
        for subject in subjects:
            slots.append(Slot(spec.name, spec.family, subject, severity, 0.0, 0.2))
    return slots


def column_slots(cfg: VigilConfig) -> list[tuple[str, str, str]]:
    """(source, column, kind) of every profiled column."""
    from checks.subjects import column_subjects

    seen, out = set(), []
    for s in column_subjects(cfg):
        key = (str(s.source), str(s.column))
        if key not in seen:
            seen.add(key)
            out.append((key[0], key[1], str(s.kind or "numeric")))
    return out


# ---- warehouse ----------------------------------------------------------------------------


def _stats_json(kind: str, i: int) -> dict[str, str]:
    """Quantiles, histogram and categories of one column (shared by all its batches)."""
    if kind == "numeric":
        base = 10.0 * (i + 1)
        quantiles = {repr(q): base * (0.5 + q) for q in QUANTILES}
        edges = [base * (0.4 + 0.1 * k) for k in range(11)]
        counts = [5, 12, 30, 55, 70, 70, 55, 30, 12, 5]
        return {"q": json.dumps(quantiles), "e": json.dumps(edges), "b": json.dumps(counts), "c": "{}"}
    categories = {"a": 120, "b": 90, "c": 40} if kind == "categorical" else {"true": 20, "false": 230}
    return {"q": "{}", "e": "[]", "b": "[]", "c": json.dumps(categories)}


def write_warehouse(cfg: VigilConfig, start: datetime, hours: int, slots: list[Slot],
                    episodes: list[Episode], now: datetime) -> None:
    wh = Warehouse(cfg.warehouse_path, memory_limit=cfg.storage.duckdb_memory_limit)
    end = start + timedelta(hours=hours)
    columns = column_slots(cfg)
    col_frame = pd.DataFrame(
        [{"source": s, "column_name": c, "kind": k, "i": i, **_stats_json(k, i)} for i, (s, c, k) in enumerate(columns)]
    )
    slot_frame = pd.DataFrame([
        {"slot": i, "check_name": s.check, "family": s.family, "subject": s.subject, "severity": s.severity,
         "lower": s.lower, "upper": s.upper} for i, s in enumerate(slots)
    ])
    slot_index = {s: i for i, s in enumerate(slots)}
    fail_frame = pd.DataFrame(
        [{"slot": slot_index[s], "f_start": e.start, "f_end": e.end} for e in episodes for s in e.slots],
        columns=["slot", "f_start", "f_end"],
    )
    sources = ["predictions", *[t.name for t in cfg.etl_tables]]
    naive_now = now.replace(tzinfo=None)
    with wh.write() as conn:
        conn.register("col_frame", col_frame)
        conn.register("slot_frame", slot_frame)
        conn.register("fail_frame", fail_frame)
        conn.execute("CREATE TEMP TABLE hours AS SELECT range AS batch, row_number() OVER () AS h "
                     "FROM range(?::TIMESTAMP, ?::TIMESTAMP, INTERVAL 1 HOUR)", [start, end])
        conn.execute("INSERT INTO batches SELECT batch, 80 + (hash(batch) % 40), batch + INTERVAL 3 MINUTE FROM hours")
        conn.execute(
            "INSERT INTO column_stats SELECT c.source, c.column_name, c.kind, h.batch, 90, h.h % 3, 0, 0, "
            "CASE WHEN c.kind = 'numeric' THEN 10.0 * (c.i + 1) * 0.4 END, "
            "CASE WHEN c.kind = 'numeric' THEN 10.0 * (c.i + 1) * 1.5 END, "
            "CASE WHEN c.kind = 'numeric' THEN 10.0 * (c.i + 1) * (1 + (hash(h.batch, c.i) % 100) / 1000.0) END, "
            "CASE WHEN c.kind = 'numeric' THEN 2.0 * (c.i + 1) END, "
            "c.q, c.e, c.b, c.c, CASE WHEN c.kind = 'numeric' THEN 85 ELSE 3 END, "
            "h.batch + INTERVAL 3 MINUTE FROM hours h CROSS JOIN col_frame c"
        )
        conn.execute(
            "INSERT INTO reference_stats SELECT source, column_name, -1, NULL, kind, 20000, 0, 0, 0, "
            "CASE WHEN kind = 'numeric' THEN 10.0 * (i + 1) * 0.4 END, CASE WHEN kind = 'numeric' THEN 10.0 * (i + 1) * 1.5 END, "
            "CASE WHEN kind = 'numeric' THEN 10.0 * (i + 1) END, CASE WHEN kind = 'numeric' THEN 2.0 * (i + 1) END, "
            "q, e, b, c, CASE WHEN kind = 'numeric' THEN 5000 ELSE 3 END FROM col_frame"
        )
        conn.execute("INSERT INTO reference_meta VALUES ('synthetic', 'synthetic reference (bench)', 20000, 20, ?)",
                     [naive_now])
        for source in sources:
            conn.execute(
                "INSERT INTO table_stats SELECT ?, batch, 80 + (hash(batch) % 40), batch + INTERVAL 55 MINUTE, "
                "300.0, 0, '{}', '[]', '[]', '{}', '{}', batch + INTERVAL 3 MINUTE FROM hours", [source]
            )
        # Labels mature 14 days later: the newest two weeks have predictions but no outcomes yet.
        conn.execute(
            "INSERT INTO performance_stats (batch, predictions, labeled, matured, positives, approved, "
            "approved_labeled, approved_positives, mean_score, mean_label, auc, brier, precision, recall, mae, rmse, "
            "estimated_json, computed_at) SELECT batch, 100, l, l > 0, l // 9, 80, l * 4 // 5, l // 11, 0.11, "
            "CASE WHEN l > 0 THEN 0.1 END, CASE WHEN l > 0 THEN 0.74 + (hash(batch) % 40) / 1000.0 END, "
            "CASE WHEN l > 0 THEN 0.09 END, CASE WHEN l > 0 THEN 0.3 END, CASE WHEN l > 0 THEN 0.5 END, "
            "CASE WHEN l > 0 THEN 0.2 END, CASE WHEN l > 0 THEN 0.3 END, '{}', batch + INTERVAL 3 MINUTE "
            "FROM (SELECT batch, CASE WHEN batch < ?::TIMESTAMP - INTERVAL 14 DAY THEN 100 ELSE 0 END AS l FROM hours)",
            [end],
        )
        conn.execute(
            "INSERT INTO check_results SELECT s.check_name, s.family, s.subject, h.batch, ?, "
            "CASE WHEN f.slot IS NOT NULL THEN 'fail' WHEN hash(h.batch, s.slot) % 997 = 0 THEN 'warn' ELSE 'ok' END, "
            "s.severity, "
            "CASE WHEN f.slot IS NOT NULL THEN s.upper * 3 ELSE s.upper * (hash(h.batch, s.slot) % 800) / 1000.0 END, "
            "s.lower, s.upper, "
            "CASE WHEN f.slot IS NOT NULL THEN s.subject || ' is outside its bounds (' || s.check_name || ')' "
            "ELSE s.subject || ' is within its bounds' END, "
            "'{\"synthetic\": true}', h.batch + INTERVAL 3 MINUTE "
            "FROM hours h CROSS JOIN slot_frame s "
            "LEFT JOIN fail_frame f ON f.slot = s.slot AND h.batch BETWEEN f.f_start AND f.f_end",
            [cfg.model.name],
        )
        # Files land daily per source (the batches are hourly).
        conn.execute(
            "INSERT INTO ingested_files SELECT 'landing/' || CASE WHEN s = 'predictions' THEN 'predictions/' "
            "ELSE 'etl/' || s || '/' END || s || '_' || strftime(d, '%Y-%m-%d') || '.parquet', s, "
            "md5(s || d::VARCHAR), 250000, epoch(d), 2400, 'loaded', NULL, d + INTERVAL 1 DAY, '{}' "
            "FROM range(?::TIMESTAMP, ?::TIMESTAMP, INTERVAL 1 DAY) t(d) CROSS JOIN unnest(?::VARCHAR[]) u(s)",
            [start, end, sources],
        )
        for k in range(6):
            day = start + timedelta(days=40 * k + 7)
            status = "open" if k >= 4 else "resolved"
            conn.execute(
                "INSERT INTO quarantine VALUES (?, ?, 'applications', NULL, 10, 0, 'truncated', "
                "'the file ends before its footer (hint: re-export it)', ?, ?, ?)",
                [f"q-{k}", f"landing/etl/applications/applications_{day:%Y-%m-%d}-retry.parquet", status, day,
                 day + timedelta(hours=5) if status == "resolved" else None],
            )
        conn.execute(
            "INSERT INTO schema_changes VALUES ('landing/etl/bureau/bureau_x.parquet', 'bureau', 'x', 'added', "
            "'score_band', NULL, ?)", [start + timedelta(days=100)]
        )


# ---- episodes -----------------------------------------------------------------------------


def plan_episodes(slots: list[Slot], start: datetime, hours: int, rng: random.Random) -> list[Episode]:
    """Two incident episodes a month; each fails one root check and a few others for 3-12 hours."""
    n = max(2, round(EPISODES_PER_YEAR * hours / HOURS_PER_YEAR))
    critical = [s for s in slots if s.severity == "critical"] or slots
    spacing = hours // n
    episodes = []
    for k in range(n):
        ongoing = k >= n - 2
        length = rng.randint(3, 12)
        if ongoing:  # the newest two are still failing at the end of the history
            ep_end = start + timedelta(hours=hours - 1)
            ep_start = ep_end - timedelta(hours=length - 1 + (n - 1 - k) * 6)
        else:
            ep_start = start + timedelta(hours=k * spacing + rng.randint(0, max(0, spacing - 24)))
            ep_end = ep_start + timedelta(hours=length - 1)
        chosen = [rng.choice(critical)]
        for s in rng.sample(slots, 3):
            if s not in chosen:
                chosen.append(s)
        episodes.append(Episode(k, ep_start, ep_end, chosen, ongoing))
    return episodes


# ---- ops store -----------------------------------------------------------------------------


def _fingerprint(model: str, slot: Slot) -> str:
    return labels_fingerprint({"check": slot.check, "model": model, "subject": slot.subject})


def _batch_text(batch: datetime) -> str:
    return batch.isoformat()


def write_ops(cfg: VigilConfig, start: datetime, hours: int, episodes: list[Episode], now: datetime,
              rng: random.Random) -> None:
    ops = OpsStore(cfg.ops_path)
    ops.migrate()
    from incidents.schema import ensure_schema

    ensure_schema(ops)
    register_models(cfg, ops)
    model = cfg.model.name
    with ops.transaction() as conn:
        write_cycles(conn, model, start, hours)
        alerts: dict[str, dict[str, Any]] = {}
        for ep in episodes:
            write_episode(conn, cfg, ep, alerts, rng)
        for fp, a in alerts.items():
            conn.execute(
                "INSERT INTO alerts (fingerprint, check_name, family, model, subject, severity, labels, annotations, "
                "state, fail_streak, ok_streak, episode, started_batch, fired_batch, resolved_batch, last_batch, "
                "first_seen_at, updated_at, fired_at, resolved_at, acked_by, acked_at, incident_id) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (fp, a["check"], a["family"], model, a["subject"], a["severity"],
                 json.dumps({"check": a["check"], "model": model, "subject": a["subject"], "severity": a["severity"],
                             "family": a["family"]}),
                 json.dumps({"value": 0.6, "lower": 0.0, "upper": 0.2, "explanation": f"{a['subject']} failed",
                             "batch": a["last_batch"]}),
                 a["state"], a["fail_streak"], 0, a["episode"], a["started_batch"], a["fired_batch"],
                 a["resolved_batch"], a["last_batch"], a["first_seen_at"], a["updated_at"], a["fired_at"],
                 a["resolved_at"], a["acked_by"], a["acked_at"], a["incident_id"]),
            )
        write_silences(conn, start, now)
        conn.execute(
            "INSERT INTO process_heartbeats VALUES ('sched-bench', 'scheduler', ?, 'bench', 1, ?, ?, NULL, '{}')",
            (model, iso(now - timedelta(days=3)), iso(now)),
        )


def write_cycles(conn: sqlite3.Connection, model: str, start: datetime, hours: int) -> None:
    rows = []
    for h in range(hours):
        began = start + timedelta(hours=h + 1, minutes=2)
        failed = h % 997 == 500
        summary = {"files_loaded": 4 if h % 24 == 0 else 0, "quarantined": 0, "batches_profiled": 1, "checks": 200,
                   "duration_seconds": 41.0}
        rows.append((f"cycle-{h:05d}", model, iso(began), iso(began + timedelta(seconds=41)),
                     "failed" if failed else "ok", "StoreBusy: synthetic failure" if failed else None,
                     json.dumps(summary)))
    conn.executemany("INSERT INTO cycles VALUES (?, ?, ?, ?, ?, ?, ?)", rows)


def write_episode(conn: sqlite3.Connection, cfg: VigilConfig, ep: Episode, alerts: dict[str, dict[str, Any]],
                  rng: random.Random) -> None:
    model = cfg.model.name
    opened = ep.start + timedelta(hours=FOR_BATCHES, minutes=3)
    resolved = ep.end + timedelta(hours=2, minutes=3)
    incident_id = f"inc-bench-{ep.number:03d}"
    root = ep.slots[0]
    status = "investigating" if ep.ongoing else "closed"
    conn.execute(
        "INSERT INTO incidents (incident_id, title, severity, status, model, group_key, commander, scribe, opened_by, "
        "opened_at, investigating_at, mitigated_at, resolved_at, closed_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'vigil', ?, ?, ?, ?, ?, ?)",
        (incident_id, f"{root.check} on {root.subject} ({model}, batch {_batch_text(ep.start)})",
         "SEV2" if root.severity == "critical" else "SEV3", status, model, f"{model}|{_batch_text(ep.start)}",
         "alice", "bob", iso(opened), iso(opened + timedelta(minutes=20)),
         None if ep.ongoing else iso(resolved - timedelta(hours=1)), None if ep.ongoing else iso(resolved),
         None if ep.ongoing else iso(resolved + timedelta(days=2)), iso(resolved if not ep.ongoing else opened)),
    )
    timeline = [(incident_id, iso(opened), "opened", "vigil", f"Opened for {root.check} on {root.subject}", None)]
    for slot in ep.slots:
        fp = _fingerprint(model, slot)
        a = alerts.get(fp)
        episode_no = 1 if a is None else a["episode"] + 1
        fired_batch = ep.start + timedelta(hours=FOR_BATCHES - 1)
        alerts[fp] = {
            "check": slot.check, "family": slot.family, "subject": slot.subject, "severity": slot.severity,
            "state": "firing" if ep.ongoing else "resolved", "fail_streak": 0 if not ep.ongoing else 3,
            "episode": episode_no, "started_batch": _batch_text(ep.start), "fired_batch": _batch_text(fired_batch),
            "resolved_batch": None if ep.ongoing else _batch_text(ep.end + timedelta(hours=2)),
            "last_batch": _batch_text(ep.end + timedelta(hours=0 if ep.ongoing else 2)),
            "first_seen_at": a["first_seen_at"] if a else iso(ep.start + timedelta(hours=1, minutes=3)),
            "updated_at": iso(opened if ep.ongoing else resolved), "fired_at": iso(opened),
            "resolved_at": None if ep.ongoing else iso(resolved),
            "acked_by": "alice", "acked_at": iso(opened + timedelta(minutes=5)), "incident_id": incident_id,
        }
        batch = ep.start
        while batch <= ep.end:
            conn.execute(
                "INSERT INTO alert_batches (fingerprint, batch, status, value, lower, upper, explanation, evidence, "
                "checked_at, rechecks, episode) VALUES (?, ?, 'fail', 0.6, 0.0, 0.2, ?, '{}', ?, 0, ?)",
                (fp, _batch_text(batch), f"{slot.subject} failed {slot.check}", iso(batch + timedelta(hours=1)),
                 episode_no),
            )
            batch += timedelta(hours=1)
        events = [(None, "pending", ep.start), ("pending", "firing", fired_batch)]
        if not ep.ongoing:
            events.append(("firing", "resolved", ep.end + timedelta(hours=2)))
        for from_state, to_state, at_batch in events:
            conn.execute(
                "INSERT INTO alert_events (fingerprint, batch, from_state, to_state, kind, at, actor, detail) "
                "VALUES (?, ?, ?, ?, 'transition', ?, NULL, '{}')",
                (fp, _batch_text(at_batch), from_state, to_state, iso(at_batch + timedelta(hours=1, minutes=3))),
            )
        conn.execute(
            "INSERT INTO alert_events (fingerprint, batch, from_state, to_state, kind, at, actor, detail) "
            "VALUES (?, NULL, 'firing', 'firing', 'ack', ?, 'alice', '{\"by\": \"alice\"}')",
            (fp, iso(opened + timedelta(minutes=5))),
        )
        conn.execute("INSERT INTO incident_alerts VALUES (?, ?, ?, ?)", (incident_id, fp, episode_no, iso(opened)))
        timeline.append((incident_id, iso(opened), "alert", "vigil", f"Alert {slot.check} on {slot.subject} firing",
                         None))
    for k in range(3):
        timeline.append((incident_id, iso(opened + timedelta(minutes=10 * (k + 1))), "note", "alice",
                         f"Looked at {root.subject}: note {k + 1}", None))
    conn.executemany("INSERT INTO incident_timeline (incident_id, at, kind, actor, text, detail) VALUES (?, ?, ?, ?, ?, ?)",
                     timeline)
    conn.execute(
        "INSERT INTO notifications (receiver, route, group_key, firing, resolved, payload_kind, status, attempts, "
        "error, http_status, at) VALUES ('on-call', 0, ?, ?, '[]', 'slack', 'sent', 1, NULL, 200, ?)",
        (json.dumps({"model": model, "check": root.check}), json.dumps([_fingerprint(model, s) for s in ep.slots]),
         iso(opened)),
    )
    if ep.ongoing:
        return
    fields = {"summary": f"{root.check} failed on {root.subject} for {len(ep.slots)} checks.",
              "impact": "A few hours of predictions.", "root_causes": "An upstream change.",
              "resolution": "The upstream team re-exported the extract."}
    conn.execute("INSERT INTO postmortems VALUES (?, 'alice', ?, 2, ?)",
                 (incident_id, iso(resolved), iso(resolved + timedelta(hours=3))))
    for rev in (1, 2):
        conn.execute("INSERT INTO postmortem_revisions VALUES (?, ?, ?, 'alice', ?, NULL)",
                     (incident_id, rev, json.dumps(fields if rev == 2 else {"summary": fields["summary"]}),
                      iso(resolved + timedelta(hours=rev))))
    for k, kind in enumerate(("prevent", "detect")):
        conn.execute(
            "INSERT INTO action_items VALUES (?, ?, ?, 'bob', ?, ?, ?, 'alice', ?, ?)",
            (f"ai-bench-{ep.number:03d}-{k}", incident_id, f"{kind} a repeat of {root.check}", kind,
             (resolved + timedelta(days=14)).date().isoformat(), "done" if rng.random() < 0.7 else "open",
             iso(resolved), iso(resolved)),
        )
    decision_id = f"dec-bench-{ep.number:03d}"
    for k, kind in enumerate(("recommended", "approved", "carried_out")):
        conn.execute(
            "INSERT INTO decisions (decision_id, incident_id, kind, action, actor, at, reason, evidence, model_name, "
            "target_version, registry_event_id) VALUES (?, ?, ?, 'fix_upstream', ?, ?, ?, ?, ?, NULL, NULL)",
            (decision_id, incident_id, kind, "vigil" if k == 0 else "carol", iso(opened + timedelta(hours=k + 1)),
             "upstream data broken: fix upstream, do not retrain on the window", json.dumps({"root": root.subject}),
             cfg.model.registry_name or model),
        )


def write_silences(conn: sqlite3.Connection, start: datetime, now: datetime) -> None:
    for k in range(20):
        began = start + timedelta(days=18 * k)
        ends = now + timedelta(hours=4) if k == 19 else began + timedelta(hours=6)
        conn.execute(
            "INSERT INTO silences (silence_id, matchers, starts_at, ends_at, author, comment, created_at) "
            "VALUES (?, ?, ?, ?, 'alice', ?, ?)",
            (f"sil-bench-{k:02d}", json.dumps([{"name": "check", "op": "=", "value": "freshness"}]), iso(began),
             iso(ends), f"known upstream backfill {k}", iso(began)),
        )


def register_models(cfg: VigilConfig, ops: OpsStore) -> None:
    """Three registered versions, v3 champion (through the registry, which guards its tables)."""
    from core.registry import Registry

    name = cfg.model.registry_name or cfg.model.name
    registry = Registry(ops)
    artifact = cfg.root / "models" / "bench-artifact.bin"
    artifact.parent.mkdir(parents=True, exist_ok=True)
    artifact.write_bytes(b"synthetic model artifact for the dashboard bench")
    for v in (1, 2, 3):
        mv = registry.register(
            name, run_id=f"run-bench-{v}", data_version=f"sha-{v}", environment={"python": "3.11"},
            evaluation={"holdout": "bench", "metrics": {"auc": 0.72 + v / 100, "brier": 0.1}},
            artifact_path=str(artifact), artifact_sha256="0" * 64, description=f"bench v{v}",
        )
        registry.approve(name, mv.version, "carol", "bench")
    registry.set_alias(name, "champion", 3, "carol", "bench")


# ---- entry point ---------------------------------------------------------------------------


def build_history(root: Path, hours: int = HOURS_PER_YEAR, seed: int = 7, now: datetime | None = None) -> VigilConfig:
    """Write `hours` hourly batches ending at the current hour into fresh stores under root."""
    now = now or datetime.now(UTC)
    end = now.replace(minute=0, second=0, microsecond=0, tzinfo=None)
    start = end - timedelta(hours=hours)
    cfg = hourly_config(root)
    if cfg.warehouse_path.exists() or cfg.ops_path.exists():
        raise FileExistsError(f"{root} already holds stores (hint: point --root at an empty folder)")
    rng = random.Random(seed)
    slots = result_slots(cfg)
    episodes = plan_episodes(slots, start, hours, rng)
    write_warehouse(cfg, start, hours, slots, episodes, now)
    write_ops(cfg, start, hours, episodes, now, rng)
    return cfg


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Synthesise a year of hourly batches into fresh stores.")
    parser.add_argument("--root", type=Path, required=True, help="storage root to create (must be empty)")
    parser.add_argument("--hours", type=int, default=HOURS_PER_YEAR)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    cfg = build_history(args.root, args.hours, args.seed)
    print(f"wrote {args.hours} hourly batches to {cfg.root} (config {cfg.source_file})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
