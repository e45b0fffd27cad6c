"""`vigil drill TYPE [--column C]`: a game day without touching the real store.

1. Under the cycle lock of the real storage root (so no cycle writes meanwhile), the
   configured landing folders, the reference file and both stores are copied to a sandbox
   root (the ops store through SQLite's backup API, consistent even with readers attached).
2. The latest batch's extracts are copied as the next day's batch (timestamps + 1 day,
   application ids suffixed) and the incident is injected into that copy with the
   simulator's own incident code (baseline_model.simulator kinds).
3. The batch is scored with the sandbox's champion, and one cycle runs in the sandbox
   without notifications (a drill must not page anyone).
4. The alerts it raised, their runbooks, the root cause and the recommended decision of
   the incident are printed. The sandbox is deleted unless --keep.
Registered model artifacts are read from their real paths (read-only, sha256-checked).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core import exit_codes
from core.clock import Clock, SystemClock
from core.config import VigilConfig
from core.stores import cycle_lock, stores_for

DRILL_SUFFIX = "-drill"
# Population changes that only show in outcomes, which mature after labels.maturity:
# one drilled batch cannot show them.
LABEL_ONLY_KINDS = frozenset({"concept_drift"})
_TIMESTAMP_COLUMNS = ("submitted_at", "reported_at", "observed_at")


class DrillError(ValueError):
    """The drill cannot run here; the message says why and what to do."""


@dataclass
class DrillAlert:
    check: str
    subject: str
    severity: str
    state: str
    runbook: str
    inhibited_by: str | None
    explanation: str


@dataclass
class DrillReport:
    kind: str
    column: str | None
    batch: str
    sandbox: str | None  # kept sandbox root, None when deleted
    scoring: str
    alerts: list[DrillAlert] = field(default_factory=list)
    incidents: list[dict[str, Any]] = field(default_factory=list)  # id, title, action, reasons

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---- the sandbox ----------------------------------------------------------------------------


def _relative(cfg: VigilConfig, path: str, what: str) -> Path:
    p = Path(path)
    if p.is_absolute():
        raise DrillError(
            f"{cfg.source_file}: {what} is an absolute path ({path}); a drill copies the storage root into a sandbox "
            "and could write to it (hint: make the path relative to storage.root)"
        )
    return p


def sandbox_paths(cfg: VigilConfig) -> list[Path]:
    """Root-relative files and folders a sandbox needs: landing sources, reference, stores."""
    paths = [_relative(cfg, cfg.predictions.source.path, "predictions.source.path")]
    paths += [_relative(cfg, t.source.path, f"etl_tables[{t.name}].source.path") for t in cfg.etl_tables]
    if cfg.reference is not None and cfg.reference.kind == "file" and cfg.reference.path:
        paths.append(_relative(cfg, cfg.reference.path, "reference.path"))
    paths.append(_relative(cfg, cfg.storage.warehouse, "storage.warehouse"))
    paths.append(_relative(cfg, cfg.storage.ops, "storage.ops"))
    return paths


def make_sandbox(cfg: VigilConfig, sandbox_root: Path) -> VigilConfig:
    """Copy what a cycle reads and writes into sandbox_root; returns the config pointing there."""
    ops_rel = Path(cfg.storage.ops)
    with cycle_lock(cfg.root / "cycle.lock"):
        for rel in sandbox_paths(cfg):
            src, dst = cfg.root / rel, sandbox_root / rel
            if not src.exists() or rel == ops_rel:
                continue
            dst.parent.mkdir(parents=True, exist_ok=True)
            if src.is_dir():
                shutil.copytree(src, dst)
            else:
                shutil.copy2(src, dst)
                wal = src.with_name(src.name + ".wal")  # DuckDB's write-ahead log, if a writer left one
                if wal.exists():
                    shutil.copy2(wal, dst.with_name(dst.name + ".wal"))
        if (cfg.root / ops_rel).exists():
            (sandbox_root / ops_rel).parent.mkdir(parents=True, exist_ok=True)
            # Read-only: a read-write connection could checkpoint the real WAL on close.
            source = sqlite3.connect(f"{(cfg.root / ops_rel).absolute().as_uri()}?mode=ro", uri=True)
            copy = sqlite3.connect(sandbox_root / ops_rel)
            try:
                source.backup(copy)
            finally:
                source.close()
                copy.close()
    return cfg.model_copy(update={"root_dir": str(sandbox_root.absolute())})


# ---- the drilled batch ---------------------------------------------------------------------


def latest_day(root: Path) -> date:
    """The newest day with an applications extract (the example business's landing layout)."""
    from baseline_model.layout import etl_path

    folder = etl_path(root, "applications", date(2000, 1, 1)).parent
    days = sorted(date.fromisoformat(p.stem.rsplit("_", 1)[-1]) for p in folder.glob("applications_*.parquet"))
    if not days:
        raise DrillError(f"{folder}: no applications extract to copy (hint: `vigil demo` or `vigil simulate` first)")
    return days[-1]


def shifted_copy(frame: pd.DataFrame, days: int = 1) -> pd.DataFrame:
    """The same rows as a new batch: timestamps moved on, ids made new so nothing collides."""
    out = frame.copy()
    for col in _TIMESTAMP_COLUMNS:
        if col in out.columns:
            out[col] = pd.to_datetime(out[col]) + pd.Timedelta(days=days)
    if "application_id" in out.columns:
        out["application_id"] = out["application_id"].astype(str) + DRILL_SUFFIX
    return out


def inject(kind: str, column: str | None, size: float | None, day: date, tables: dict[str, pd.DataFrame | None], seed: int = 0) -> float:
    """Apply the incident to the copied extracts in place; returns the score shift (prediction_shift)."""
    from baseline_model.simulator import (
        Incident,
        SimulationError,
        _apply_covariate_drift,
        _apply_reporting,
        _table_of,
    )

    try:
        inc = Incident(kind=kind, day=day, column=column, size=size)
    except SimulationError as err:
        raise DrillError(str(err)) from None
    if kind in LABEL_ONLY_KINDS:
        raise DrillError(
            f"{kind} changes outcomes only, which mature after labels.maturity: one drilled batch cannot show it "
            "(hint: simulate it over a history: `vigil simulate --incident concept_drift:DAY`)"
        )
    rng = np.random.default_rng([seed, day.toordinal(), 99])
    apps = tables["applications"]
    assert apps is not None
    if kind == "prediction_shift":
        return float(inc.amount or 0.0)
    if kind == "volume_drop":
        keep = rng.random(len(apps)) < float(inc.amount if inc.amount is not None else 1.0)
        kept_ids = set(apps.loc[keep, "application_id"].astype(str))
        tables["applications"] = apps.loc[keep].reset_index(drop=True)
        bureau = tables.get("bureau")
        if bureau is not None:
            tables["bureau"] = bureau.loc[bureau["application_id"].astype(str).isin(kept_ids)].reset_index(drop=True)
        return 0.0
    try:
        if kind == "covariate_drift":
            name = _table_of(inc.target or "", apps, tables.get("bureau"))
            frame = tables[name]
            assert frame is not None
            _apply_covariate_drift(frame, inc)
        else:
            _apply_reporting(inc, tables, rng)
    except SimulationError as err:
        raise DrillError(str(err)) from None
    return 0.0


def write_drill_batch(root: Path, source_day: date, kind: str, column: str | None, size: float | None) -> tuple[date, float]:
    """Copy source_day's extracts as the next day's batch under root, with the incident injected."""
    from baseline_model.layout import etl_path, write_parquet_atomic

    day = source_day + timedelta(days=1)
    tables: dict[str, pd.DataFrame | None] = {}
    for table in ("applications", "bureau", "outcomes"):
        path = etl_path(root, table, source_day)
        tables[table] = shifted_copy(pd.read_parquet(path)) if path.exists() else None
    if tables["applications"] is None:
        raise DrillError(f"{etl_path(root, 'applications', source_day)}: missing")
    shift = inject(kind, column, size, day, tables)
    # Outcomes are copied too (ids suffixed, so they label nothing): a missing extract would
    # itself raise volume and freshness alerts that the drill did not ask for.
    for table, frame in tables.items():
        path = etl_path(root, table, day)
        if frame is not None:
            write_parquet_atomic(frame.reset_index(drop=True), path)
        elif path.exists():  # stale_table without a size: the extract was not delivered
            path.unlink()
    return day, shift


# ---- the drill ------------------------------------------------------------------------------


def run_drill(
    cfg: VigilConfig,
    kind: str,
    column: str | None = None,
    *,
    size: float | None = None,
    keep: bool = False,
    clock: Clock | None = None,
    sandbox_dir: Path | None = None,
) -> DrillReport:
    """Inject `kind` into a copy of the latest batch in a sandbox, run the cycle there, report."""
    from app.cycle import run_cycle
    from baseline_model.scorer import ScoringError, score_day
    from incidents.decisions import recommend, registry_name
    from incidents.incidents import runbook_links
    from incidents.queries import alerts_with_incidents, list_incidents

    clock = clock or SystemClock()
    sandbox = Path(tempfile.mkdtemp(prefix="vigil-drill-", dir=sandbox_dir))
    try:
        sb_cfg = make_sandbox(cfg, sandbox)
        wh, ops = stores_for(sb_cfg)
        before = {i["incident_id"] for i in list_incidents(ops, status=None)}
        day, shift = write_drill_batch(sandbox, latest_day(sandbox), kind, column, size)
        try:
            job = score_day(sandbox, day, ops, model_name=registry_name(sb_cfg), score_shift=shift, clock=clock)
            scoring = f"scored {job.scored} rows ({job.fallback} fell back) with v{job.model_version}"
        except ScoringError as err:  # a drill may break scoring itself: the heartbeat alerts show it
            scoring = f"scoring failed: {err}"
        report = run_cycle(sb_cfg, clock=clock, notify=False)
        batch = datetime.combine(day, time())
        failing = {(r.check, r.subject): r for r in report.results if r.status == "fail" and r.batch == batch}
        # The sandbox has no scheduler, so its cycle heartbeat says nothing; a broken scoring job does.
        failing.update({(r.check, r.subject): r for r in report.heartbeats if r.status == "fail" and r.check.startswith("scoring_job")})
        alerts, drill_incidents = [], set()
        for a in alerts_with_incidents(ops, state=["pending", "firing"]):
            result = failing.get((a["check_name"], a["subject"]))
            if result is None:
                continue
            if a.get("incident_id"):
                drill_incidents.add(a["incident_id"])
            root_cause = f"{a['inhibited_by_check']} on {a['inhibited_by_subject']}" if a.get("inhibited_by") else None
            alerts.append(
                DrillAlert(a["check_name"], a["subject"], a["severity"], a["state"], runbook_links([a["check_name"]])[0],
                           root_cause, result.explanation)
            )
        alerts.sort(key=lambda x: (x.inhibited_by is not None, x.check, x.subject))
        incidents = []
        for inc in list_incidents(ops, status=None):
            if inc["incident_id"] in before or inc["incident_id"] not in drill_incidents:
                continue
            decision = recommend(sb_cfg, ops, clock, inc["incident_id"], wh=wh)
            incidents.append({"incident_id": inc["incident_id"], "title": inc.get("title"), "severity": inc.get("severity"),
                              "action": decision.action, "reasons": decision.history[0]["reason"]})
        return DrillReport(kind, column, batch.isoformat(), str(sandbox) if keep else None, scoring, alerts, incidents)
    finally:
        if not keep:
            shutil.rmtree(sandbox, ignore_errors=True)


def report_text(r: DrillReport) -> str:
    lines = [f"DRILL {r.kind}" + (f" on {r.column}" if r.column else "") + f": batch {r.batch} (a copy of the latest batch, in a sandbox)",
             f"  {r.scoring}"]
    root_alerts = [a for a in r.alerts if a.inhibited_by is None]
    held = [a for a in r.alerts if a.inhibited_by is not None]
    if not r.alerts:
        lines.append("no alert fired: this incident went unnoticed by the checks (worth a look)")
    for a in root_alerts:
        lines.append(f"ALERT {a.severity.upper():8s} {a.check} on {a.subject} [{a.state}]  runbook: {a.runbook}")
        lines.append(f"      {a.explanation}")
    if held:
        lines.append(f"inhibited (root cause shown, not notified): {len(held)}")
        lines += [f"  {a.check} on {a.subject}  <- inhibited by {a.inhibited_by}  runbook: {a.runbook}" for a in held]
    for inc in r.incidents:
        lines.append(f"INCIDENT {inc['severity']} {inc['title']}: recommended decision {inc['action'].replace('_', ' ').upper()}")
        lines.append(f"      {inc['reasons']}")
    if r.alerts and not r.incidents:
        lines.append("no incident opened automatically (no critical alert); open one by hand with `vigil incidents open`")
    lines.append(f"sandbox kept at {r.sandbox}" if r.sandbox else "sandbox deleted; the real store was not touched")
    return "\n".join(lines)


# ---- command line ---------------------------------------------------------------------------


def cmd_drill(args: argparse.Namespace) -> int:
    cfg = args.load_config()
    try:
        report = run_drill(cfg, args.kind, args.column, size=args.size, keep=args.keep)
    except DrillError as err:
        print(f"vigil: {err}", file=sys.stderr)
        return exit_codes.USAGE
    if getattr(args, "json", False):
        print(json.dumps(report.to_dict(), indent=2, default=str))
    else:
        print(report_text(report))
    return exit_codes.OK
