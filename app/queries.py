"""Named read functions for the dashboard and the CLI (no SQL in pages).

Each function opens a store for one query and closes it (no connection survives a
Streamlit rerun), and returns an empty result, never an exception, when the stores do not
exist yet, so pages can show an empty state with a hint. Every table is read through its
owner's query module (checks.queries, profilers.queries, profilers.stats_store,
incidents.queries, core.registries, core.runs, app.cycle_record); this module composes them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import pandas as pd

from app.cycle_record import last_cycles
from checks import queries as check_queries
from checks.registry import CHECKS
from core import runs as run_records
from core.clock import Clock, SystemClock, parse_iso
from core.config import VigilConfig, format_duration
from core.jsonable import jsonable
from core.registries import registry_for
from core.stores import OpsStore, StoreMissing, Warehouse, stores_for
from incidents import queries as incident_queries
from incidents.heartbeat import cycle_health, scoring_health
from incidents.incidents import OPEN_STATUSES
from profilers import queries as profile_queries
from profilers import stats_store
from profilers.stats_types import ColumnStats

T = TypeVar("T")

RUNBOOKS_DIR = Path(__file__).resolve().parent.parent / "runbooks"
READ_RETRY_SECONDS = 10.0
SCHEDULER_DEAD_AFTER = timedelta(minutes=2)


@dataclass(frozen=True)
class StoreState:
    warehouse: bool
    ops: bool

    @property
    def empty(self) -> bool:
        return not (self.warehouse or self.ops)


def store_state(cfg: VigilConfig) -> StoreState:
    return StoreState(warehouse=cfg.warehouse_path.exists(), ops=cfg.ops_path.exists())


EMPTY_HINT = (
    "No data yet: the stores under `{root}` do not exist. Run `vigil run-once` (or `make run` for the "
    "example model) and reload."
)


def empty_hint(cfg: VigilConfig) -> str:
    return EMPTY_HINT.format(root=cfg.root)


# ---- store access -----------------------------------------------------------------------


def _warehouse(cfg: VigilConfig) -> Warehouse:
    # Readers give up sooner than the cycle would: a page or `vigil status` says "busy" instead of hanging.
    return Warehouse(cfg.warehouse_path, cfg.storage.duckdb_memory_limit, retry_seconds=READ_RETRY_SECONDS)


def _ops(cfg: VigilConfig) -> OpsStore | None:
    """The ops store, or None when it does not exist (reading must not create it)."""
    return stores_for(cfg)[1] if cfg.ops_path.exists() else None


@contextmanager
def _read_warehouse(cfg: VigilConfig) -> Iterator[duckdb.DuckDBPyConnection | None]:
    try:
        with _warehouse(cfg).read() as conn:
            yield conn
    except StoreMissing:
        yield None


def read_warehouse(cfg: VigilConfig, read: Callable[[duckdb.DuckDBPyConnection], T], empty: T) -> T:
    """An owner's read over the warehouse; ``empty`` when the store or the table is missing."""
    with _read_warehouse(cfg) as conn:
        if conn is None:
            return empty
        try:
            return read(conn)
        except duckdb.CatalogException:  # the owning package's migration has not run yet
            return empty


def warehouse_frame(cfg: VigilConfig, read: Callable[[duckdb.DuckDBPyConnection], pd.DataFrame]) -> pd.DataFrame:
    """An owner's frame read; an empty frame when the store or the table is missing."""
    return read_warehouse(cfg, read, pd.DataFrame())


def ops_rows(cfg: VigilConfig, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    ops = _ops(cfg)
    if ops is None:
        return []
    try:
        return ops.query(sql, params)
    except Exception as err:  # sqlite3.OperationalError: table of a package not yet migrated
        if "no such table" in str(err):
            return []
        raise


def _json(text: Any) -> Any:
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return None
    if isinstance(text, dict | list):
        return text
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return None


# ---- cycles and status ------------------------------------------------------------------


def recent_cycles(cfg: VigilConfig, limit: int = 50) -> list[dict[str, Any]]:
    ops = _ops(cfg)
    return [] if ops is None else last_cycles(ops, cfg.model.name, limit)


def last_scheduler(cfg: VigilConfig, clock: Clock) -> dict[str, Any] | None:
    rows = ops_rows(
        cfg,
        "SELECT process_id, host, pid, started_at, beat_at, stopped_at, detail FROM process_heartbeats "
        "WHERE kind = 'scheduler' AND model = ? ORDER BY beat_at DESC LIMIT 1",
        (cfg.model.name,),
    )
    if not rows:
        return None
    row = rows[0]
    row["detail"] = _json(row.get("detail")) or {}
    beat_age = clock.now() - parse_iso(row["beat_at"])
    row["beat_age_seconds"] = beat_age.total_seconds()
    row["alive"] = row["stopped_at"] is None and beat_age <= SCHEDULER_DEAD_AFTER
    return row


def cycle_staleness(cfg: VigilConfig, clock: Clock) -> tuple[float | None, bool]:
    """(age in seconds of the newest finished cycle, stale?): the same rule as the heartbeat alert."""
    ops = _ops(cfg)
    if ops is None:
        return None, True
    health = cycle_health(cfg, ops, clock)
    return health.age_s, health.stale


def status_overview(cfg: VigilConfig, clock: Clock | None = None) -> dict[str, Any]:
    """Everything `vigil status` and the Overview page show at the top."""
    clock = clock or SystemClock()
    cycles = recent_cycles(cfg, limit=5)
    age, stale = cycle_staleness(cfg, clock)
    batch_status = latest_batch_status(cfg)
    return {
        "model": cfg.model.name,
        "root": str(cfg.root),
        "stores": {"warehouse": cfg.warehouse_path.exists(), "ops": cfg.ops_path.exists()},
        "interval": format_duration(cfg.schedule.interval),
        "last_cycle": cycles[0] if cycles else None,
        "last_cycle_age_seconds": age,
        "stale": stale,
        "scheduler": last_scheduler(cfg, clock),
        "firing_alerts": count_firing_alerts(cfg),
        "open_incidents": count_open_incidents(cfg),
        "champion": champion_label(cfg),
        "scoring_job": scoring_job_health(cfg, clock),
        "latest_batch": batch_status,
    }


# ---- checks -----------------------------------------------------------------------------


def registered_checks() -> list[dict[str, Any]]:
    """Every registered check: name, family, description, runbook present."""
    rows = []
    for name, spec in sorted(CHECKS.items()):
        doc = spec.summary or (spec.fn.__doc__ or "")
        rows.append(
            {
                "name": name,
                "family": spec.family.value,
                "description": doc.strip().splitlines()[0] if doc.strip() else "",
                "runbook": spec.runbook.exists(),
                "model_kinds": sorted(k.value for k in spec.model_kinds),
            }
        )
    return rows


def check_results(cfg: VigilConfig, batches: int | None = None) -> pd.DataFrame:
    """All check results, newest batch first; ``batches`` keeps only the newest N batches."""
    return warehouse_frame(cfg, lambda conn: check_queries.results_frame(conn, batches))


def checked_batches(cfg: VigilConfig) -> list[datetime]:
    """Batches that have check results, newest first."""
    return read_warehouse(cfg, check_queries.batches_with_results, [])


def batch_results(cfg: VigilConfig, batch: datetime) -> pd.DataFrame:
    """Every check result of one batch."""
    return warehouse_frame(cfg, lambda conn: check_queries.batch_frame(conn, batch))


def trend_series(cfg: VigilConfig, family: str) -> list[tuple[str, str]]:
    """(check, subject) pairs with results in a family, for choosing one trend to plot."""
    return read_warehouse(cfg, lambda conn: check_queries.family_series(conn, family), [])


def series_trend(cfg: VigilConfig, check: str, subject: str) -> pd.DataFrame:
    """Value and bounds per batch of one check on one subject."""
    return warehouse_frame(cfg, lambda conn: check_queries.series_frame(conn, check, subject))


def segment_series(cfg: VigilConfig, check: str, subject: str) -> list[tuple[str, str, str]]:
    """(segment check, subject, segment) of the segment series behind one model-level trend."""
    return read_warehouse(cfg, lambda conn: check_queries.segment_series(conn, check, subject), [])


def segment_heatmap(cfg: VigilConfig, family: str) -> pd.DataFrame:
    """Segment x batch: the worst status of a family's segment checks (Checks page heatmap)."""
    return warehouse_frame(cfg, lambda conn: check_queries.segment_heatmap(conn, family))


def segment_labels(cfg: VigilConfig, source: str, column: str) -> list[str]:
    """Segments with statistics for a column ('segmentation=label'), for the Data page's picker."""
    return read_warehouse(cfg, lambda conn: profile_queries.segment_labels(conn, source, column), [])


def estimate_series(cfg: VigilConfig) -> list[tuple[str, str]]:
    """(check, subject) of the performance estimates made before labels (estimated AUC, MAE, RMSE)."""
    return read_warehouse(cfg, check_queries.estimate_series, [])


def estimate_trend(cfg: VigilConfig, check: str, subject: str) -> pd.DataFrame:
    """Per batch: the estimate before labels (value, bounds, status) and, once labels matured, the
    realized value and the estimate's error. Batch is an ISO string."""
    none: list[dict[str, Any]] = []
    rows = read_warehouse(cfg, lambda conn: check_queries.estimate_trend(conn, check, subject), none)
    columns = ["batch", "estimated", "lower", "upper", "status", "realized", "estimate_error"]
    return pd.DataFrame(rows, columns=columns).astype(
        {"estimated": float, "lower": float, "upper": float, "realized": float, "estimate_error": float})


def check_results_for_batch(cfg: VigilConfig, batch: datetime) -> list[dict[str, Any]]:
    frame = warehouse_frame(cfg, lambda conn: check_queries.batch_frame(conn, batch, ordered=True))
    if frame.empty:
        return []
    order = {"fail": 0, "error": 1, "warn": 2, "skipped": 3, "ok": 4}
    rows = [_clean_row(r) for r in frame.to_dict(orient="records")]
    return sorted(rows, key=lambda r: (order.get(str(r.get("status")), 9), str(r.get("check")), str(r.get("subject"))))


def _clean_row(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in row.items():
        if isinstance(v, pd.Timestamp):
            out[k] = v.to_pydatetime().isoformat()
        elif isinstance(v, float) and math.isnan(v):
            out[k] = None
        else:
            out[k] = v
    return out


def failing_checks_per_batch(cfg: VigilConfig) -> pd.DataFrame:
    """batch, family, failed: the Overview chart."""
    return warehouse_frame(cfg, check_queries.failing_per_batch)


def latest_batch_status(cfg: VigilConfig) -> dict[str, Any] | None:
    """The newest checked batch and its results counted by family and status."""
    none: list[tuple[datetime, str, str, int]] = []
    counts = read_warehouse(cfg, check_queries.latest_batch_counts, none)
    if not counts:
        return None
    batch = pd.Timestamp(counts[0][0]).to_pydatetime()
    by_family: dict[str, dict[str, int]] = {}
    totals: dict[str, int] = {}
    for _, family, status, n in counts:
        by_family.setdefault(family, {})[status] = n
        totals[status] = totals.get(status, 0) + n
    return {"batch": batch.isoformat(), "status": totals, "families": by_family}


def family_health(families: dict[str, dict[str, int]]) -> dict[str, str]:
    """Worst status per family: fail > error > warn > ok (skipped alone counts as skipped)."""
    out = {}
    for family, counts in families.items():
        for status in ("fail", "error", "warn", "ok", "skipped"):
            if counts.get(status):
                out[family] = status
                break
    return out


def result_trend(cfg: VigilConfig, family: str) -> pd.DataFrame:
    """Value and bounds per batch for every check and subject of a family (KPI and metric trends)."""
    return warehouse_frame(cfg, lambda conn: check_queries.family_frame(conn, family))


def drift_report_html(cfg: VigilConfig, batch: datetime) -> str:
    """Evidently's drift report of one batch against the reference, as HTML."""
    from checks.report import batch_report_html

    return str(batch_report_html(cfg, _warehouse(cfg), batch))


# ---- data (profilers) -------------------------------------------------------------------


def batches(cfg: VigilConfig) -> pd.DataFrame:
    return warehouse_frame(cfg, profile_queries.batches)


def ingested_files(cfg: VigilConfig, limit: int = 500) -> pd.DataFrame:
    return warehouse_frame(cfg, lambda conn: profile_queries.ingested_files(conn, limit))


def quarantined_files(cfg: VigilConfig) -> pd.DataFrame:
    return warehouse_frame(cfg, profile_queries.quarantined_files)


def schema_changes(cfg: VigilConfig) -> pd.DataFrame:
    return warehouse_frame(cfg, profile_queries.schema_changes)


def profiled_columns(cfg: VigilConfig) -> pd.DataFrame:
    """source, column_name, kind of every profiled column."""
    return warehouse_frame(cfg, profile_queries.profiled_columns)


def column_stats_over_time(cfg: VigilConfig, source: str, column: str, segment: str | None = None) -> pd.DataFrame:
    """One column's statistics per batch, with null rate and the main quantiles spread out; for one
    segment ('segmentation=label') when given."""
    if segment:
        name, _, label = segment.partition("=")
        frame = warehouse_frame(
            cfg, lambda conn: profile_queries.segment_column_stats_frame(conn, source, column, name, label))
    else:
        frame = warehouse_frame(cfg, lambda conn: profile_queries.column_stats_frame(conn, source, column))
    if frame.empty:
        return frame
    frame["null_rate"] = (frame["nulls"] + frame["nan"]) / frame["count"].where(frame["count"] > 0)
    quantiles = frame.pop("quantiles_json").map(lambda v: _json(v) or {})
    for q, label in (("0.05", "p05"), ("0.5", "p50"), ("0.95", "p95")):
        frame[label] = quantiles.map(lambda d, q=q: _quantile(d, float(q)))
    return frame


def _quantile(values: dict[str, Any], q: float) -> float | None:
    for key, v in values.items():
        try:
            if abs(float(key) - q) < 1e-9:
                return None if v is None else float(v)
        except ValueError:
            continue
    return None


def whylogs_summary(cfg: VigilConfig, source: str, batch: datetime) -> dict[str, Any] | None:
    """A batch's whylogs profile summary (rows profiled, per-column summary), if it was profiled."""
    from profilers.whylogs_profiles import profile_summary

    try:
        summary: dict[str, Any] | None = profile_summary(_warehouse(cfg), source, batch)
    except (StoreMissing, duckdb.CatalogException):
        return None
    return summary


def table_stats_over_time(cfg: VigilConfig) -> pd.DataFrame:
    return warehouse_frame(cfg, profile_queries.table_stats_frame)


def performance_over_time(cfg: VigilConfig) -> pd.DataFrame:
    return warehouse_frame(cfg, profile_queries.performance_frame)


@dataclass(frozen=True)
class Histogram:
    """Reference and current share of rows per bin (bins from the reference's edges)."""

    labels: list[str]
    reference: list[float]
    current: list[float]

    def frame(self) -> pd.DataFrame:
        rows = [{"bin": b, "which": "reference", "share": r} for b, r in zip(self.labels, self.reference, strict=True)]
        rows += [{"bin": b, "which": "current", "share": c} for b, c in zip(self.labels, self.current, strict=True)]
        return pd.DataFrame(rows)


def reference_vs_current(cfg: VigilConfig, source: str, column: str, batch: datetime,
                         unit: str | None = None) -> Histogram | None:
    """The histogram of a column in a batch beside the reference's (categories for categoricals)."""
    with _read_warehouse(cfg) as conn:
        if conn is None:
            return None
        try:
            reference = stats_store.load_reference(conn, source, column)
            current = stats_store.load_column_stats(conn, source, column, batch)
        except duckdb.CatalogException:
            return None
    if reference is None or current is None:
        return None
    return histogram_of(reference.whole, current, unit)


def _edge(value: float) -> str:
    """A bin edge in a compact form (1.2k, 3.4M, 0.05) rather than truncated scientific notation."""
    magnitude = abs(value)
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if magnitude >= size:
            return f"{value / size:.3g}{suffix}"
    return f"{value:.3g}" if magnitude == 0 or magnitude >= 0.01 else f"{value:.2g}"


def histogram_of(reference: ColumnStats, current: ColumnStats, unit: str | None = None) -> Histogram | None:
    if reference.categories or current.categories:
        keys = sorted(set(reference.categories) | set(current.categories))
        return Histogram(keys, _shares([reference.categories.get(k, 0) for k in keys]),
                         _shares([current.categories.get(k, 0) for k in keys]))
    edges = list(reference.bin_edges)
    if not edges or len(current.bin_counts) != len(edges) + 1 or len(reference.bin_counts) != len(edges) + 1:
        return None
    suffix = f" {unit}" if unit else ""
    labels = [f"≤ {_edge(edges[0])}{suffix}"]
    labels += [f"{_edge(a)}–{_edge(b)}{suffix}" for a, b in zip(edges, edges[1:], strict=False)]
    labels.append(f"> {_edge(edges[-1])}{suffix}")
    labels = [f"{i:02d} {label}" for i, label in enumerate(labels)]  # keeps bin order in charts
    return Histogram(labels, _shares(list(reference.bin_counts)), _shares(list(current.bin_counts)))


def _shares(counts: list[int]) -> list[float]:
    total = sum(counts)
    return [c / total if total else 0.0 for c in counts]


# ---- alerts and incidents (ops store, through incidents.queries) ------------------------


def alerts(cfg: VigilConfig, states: list[str] | None = None) -> list[dict[str, Any]]:
    """Alerts with their incident and root cause ('inhibited by'), newest change first."""
    ops = _ops(cfg)
    if ops is None:
        return []
    rows: list[dict[str, Any]] = incident_queries.alerts_with_incidents(ops, model=cfg.model.name, state=states)
    return rows


def count_firing_alerts(cfg: VigilConfig) -> int | None:
    return None if _ops(cfg) is None else len(alerts(cfg, ["firing"]))


def count_open_incidents(cfg: VigilConfig) -> int | None:
    return None if _ops(cfg) is None else len(incidents(cfg, open_only=True))


def alert_batch_records(cfg: VigilConfig, fingerprint: str) -> list[dict[str, Any]]:
    """What the check said about each batch of the alert (status, value, bounds, explanation,
    evidence), oldest first: the evidence from when it fired beside the latest."""
    ops = _ops(cfg)
    if ops is None:
        return []
    detail = incident_queries.alert_detail(ops, fingerprint)
    return list((detail or {}).get("batches") or [])


def alert_history(cfg: VigilConfig, fingerprint: str) -> list[dict[str, Any]]:
    """The alert's transitions, re-checks, acks (append-only alert_events)."""
    ops = _ops(cfg)
    if ops is None:
        return []
    detail = incident_queries.alert_detail(ops, fingerprint)
    history = (detail or {}).get("history") or (detail or {}).get("events") or []
    return [
        {k: v for k, v in dict(e).items() if k in ("batch", "from_state", "to_state", "kind", "at", "actor")}
        for e in history
    ]


def silences(cfg: VigilConfig, clock: Clock | None = None) -> list[dict[str, Any]]:
    """Silences with their state; expired ones stay listed."""
    ops = _ops(cfg)
    if ops is None:
        return []
    rows: list[dict[str, Any]] = incident_queries.silences(ops, clock or SystemClock())
    return rows


def incidents(cfg: VigilConfig, open_only: bool = False) -> list[dict[str, Any]]:
    ops = _ops(cfg)
    if ops is None:
        return []
    status = list(OPEN_STATUSES) if open_only else None
    rows: list[dict[str, Any]] = incident_queries.list_incidents(ops, model=cfg.model.name, status=status)
    return rows


def incident_detail(cfg: VigilConfig, incident_id: str) -> dict[str, Any] | None:
    """The incident with its alerts, timeline and runbook links."""
    ops = _ops(cfg)
    if ops is None:
        return None
    detail: dict[str, Any] | None = incident_queries.incident_detail(ops, incident_id)
    return detail


def scoring_job_health(cfg: VigilConfig, clock: Clock | None = None) -> dict[str, Any] | None:
    """The model's batch scoring job: missed, failed or slow (incidents.heartbeat)."""
    ops = _ops(cfg)
    if ops is None:
        return None
    health = scoring_health(cfg, ops, clock or SystemClock())
    return health.to_dict() if health.monitored else None


def runbook_markdown(check: str) -> str | None:
    """The runbook of a check as Markdown text (rendered with st.markdown, never as HTML)."""
    if not check or "/" in check or "\\" in check or check.startswith("."):
        return None
    path = RUNBOOKS_DIR / f"{check}.md"
    return path.read_text() if path.is_file() else None


# ---- registry (core.registries: the embedded one or MLflow's) ----------------------------


def _registry(cfg: VigilConfig) -> Any | None:
    if not cfg.ops_path.exists():
        return None
    return registry_for(cfg, stores_for(cfg)[1])


def registry_model_name(cfg: VigilConfig) -> str:
    return cfg.model.registry_name or cfg.model.name


def champion_label(cfg: VigilConfig) -> str | None:
    registry = _registry(cfg)
    if registry is None:
        return None
    try:
        champion = registry.champion(registry_model_name(cfg))
    except Exception as err:  # registry tables not migrated yet
        if "no such table" in str(err):
            return None
        raise
    if champion is None:
        return None
    return f"{registry_model_name(cfg)} v{champion.version}"


def registry_versions(cfg: VigilConfig) -> list[dict[str, Any]]:
    registry = _registry(cfg)
    if registry is None:
        return []
    return [jsonable(v) for v in registry.versions(registry_model_name(cfg))]


def registry_events(cfg: VigilConfig, limit: int = 200) -> list[dict[str, Any]]:
    """Registry events (register, approve, promote, rollback, revert ...), newest first."""
    registry = _registry(cfg)
    if registry is None:
        return []
    return [jsonable(e) for e in registry.events(registry_model_name(cfg), limit=limit)]


# ---- postmortems and decisions (incidents.postmortem, incidents.decisions) ---------------


def postmortem_template() -> list[tuple[str, str, str]]:
    """(field, heading, blameless prompt) of every postmortem field."""
    from incidents.postmortem import TEMPLATE

    return list(TEMPLATE)


def postmortem(cfg: VigilConfig, incident_id: str, revision: int | None = None) -> dict[str, Any] | None:
    ops = _ops(cfg)
    if ops is None:
        return None
    from incidents.postmortem import get_postmortem

    found = get_postmortem(ops, incident_id, revision)
    return None if found is None else found.to_dict()


def postmortem_revisions(cfg: VigilConfig, incident_id: str) -> list[dict[str, Any]]:
    ops = _ops(cfg)
    if ops is None:
        return []
    from incidents.postmortem import revisions

    return list(revisions(ops, incident_id))


def action_items(cfg: VigilConfig, incident_id: str) -> list[dict[str, Any]]:
    ops = _ops(cfg)
    if ops is None:
        return []
    from incidents.postmortem import action_items as items

    return list(items(ops, incident_id))


def postmortem_markdown(cfg: VigilConfig, incident_id: str, revision: int | None = None) -> str | None:
    ops = _ops(cfg)
    if ops is None:
        return None
    from incidents.postmortem import export_markdown

    return str(export_markdown(ops, incident_id, revision))


def decisions(cfg: VigilConfig, incident_id: str | None = None) -> list[dict[str, Any]]:
    """Decisions (newest last) with their append-only history of who, when, why and evidence."""
    ops = _ops(cfg)
    if ops is None:
        return []
    from incidents.decisions import decisions_for

    return [jsonable(d) for d in decisions_for(ops, incident_id)]


# ---- training runs (core.runs) ---------------------------------------------------------------


def training_runs(cfg: VigilConfig, limit: int = 100) -> list[dict[str, Any]]:
    """Training runs of the registered model, newest first (experiments)."""
    ops = _ops(cfg)
    if ops is None:
        return []
    try:
        return run_records.list_runs(ops, registry_model_name(cfg), limit)
    except Exception as err:  # the runs table of a model not trained in Vigil
        if "no such table" in str(err):
            return []
        raise


def compare_training_runs(cfg: VigilConfig, run_a: str, run_b: str) -> list[dict[str, Any]]:
    """Parameters and metrics of two runs side by side: [{field, a, b, same}]."""
    ops = _ops(cfg)
    if ops is None:
        return []
    return run_records.compare_runs(ops, run_a, run_b)


# ---- audit trail --------------------------------------------------------------------------


def audit_entries(
    cfg: VigilConfig,
    *,
    actor: str | None = None,
    action_prefix: str | None = None,
    since: datetime | str | None = None,
    limit: int = 500,
) -> list[dict[str, Any]]:
    """The audit log newest first, filtered by actor, action prefix ('incidents' or 'registry.')
    and time; [] when the ops store does not exist. Raises core.audit.AuditError on a bad `since`."""
    from core import audit

    ops = _ops(cfg)
    if ops is None:
        return []
    prefix = (action_prefix or "").strip()
    if prefix and not prefix.endswith((".", "*")):
        prefix += "*"  # a prefix, not an exact action: 'incidents' matches 'incidents.note'
    try:
        entries = audit.list_entries(ops, actor=(actor or "").strip() or None, action=prefix or None,
                                     since=since or None, limit=limit)
    except Exception as err:  # sqlite3.OperationalError: the audit migration has not run yet
        if "no such table" in str(err):
            return []
        raise
    return [entry.to_dict() for entry in entries]
