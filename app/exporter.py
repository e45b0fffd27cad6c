"""`vigil exporter`: Prometheus metrics so teams graph Vigil in Grafana and route through Alertmanager.

Metrics are collected on scrape by a custom Collector: each scrape opens the warehouse
read-only and the ops store for its queries, reads through the packages' query functions,
and closes them again, so the exporter never holds a store between scrapes and never
blocks a cycle for longer than one read. When the warehouse is missing (no cycle yet) or
busy past a short retry budget, ``vigil_store_up{store="warehouse"}`` is 0 and the
warehouse metrics are left out of that scrape rather than failing the whole scrape (the
same for the ops store, which a scrape never creates).
"""

from __future__ import annotations

import argparse
import logging
import math
import time
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

import duckdb
from prometheus_client import start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from core import exit_codes
from core.clock import parse_iso
from core.commands import READ, Command, Opt
from core.config import VigilConfig
from core.stores import OpsStore, StoreBusy, StoreMissing, Warehouse

log = logging.getLogger("vigil.exporter")

DEFAULT_PORT = 9108
DEFAULT_HOST = "127.0.0.1"
# A scrape waits this long for a cycle's write transaction, then reports the store as down.
WAREHOUSE_RETRY_SECONDS = 5.0
CHECK_STATUSES = ("ok", "warn", "fail", "error", "skipped")
SEVERITIES = ("info", "warning", "critical")


def known_families() -> tuple[str, ...]:
    """Every check family (the registry's and the heartbeats'): their series exist at zero, so
    dashboards and ``absent()`` rules see a family that is quiet rather than no family."""
    from checks.registry import CHECKS
    from incidents.heartbeat import FAMILY as HEARTBEAT_FAMILY

    return tuple(sorted({s.family for s in CHECKS.values()} | {HEARTBEAT_FAMILY}))


def _epoch_seconds(value: Any) -> float | None:
    """An ISO text (ops store) or a naive-UTC datetime (warehouse) as Unix seconds."""
    if value is None:
        return None
    if isinstance(value, datetime):
        dt = value
    else:
        try:
            dt = parse_iso(str(value))
        except ValueError:
            return None
    if dt.tzinfo is None:  # warehouse timestamps are naive UTC
        return (dt - datetime(1970, 1, 1)).total_seconds()
    return dt.timestamp()


def _finite(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


# ---- readers: one scrape's worth of facts from the stores --------------------------------


def latest_check_results(conn: duckdb.DuckDBPyConnection, model: str) -> tuple[datetime | None, list[dict[str, Any]]]:
    """The newest checked batch of the model and its results (through checks.queries)."""
    from checks.queries import latest_batch, results_for_batch

    batch = latest_batch(conn, model)
    if batch is None:
        return None, []
    return batch, [r for r in results_for_batch(conn, batch) if r.get("model") == model]


def ingestion_counts(conn: duckdb.DuckDBPyConnection) -> list[tuple[str, str, int]]:
    """(source, status, files) over every file version the ingester has seen (profilers.queries)."""
    from profilers.queries import ingestion_counts as counts

    return counts(conn)


def open_quarantine(conn: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Open quarantine entries per source (through profilers.stats_store)."""
    from profilers.stats_store import quarantine_entries

    counts: dict[str, int] = {}
    for entry in quarantine_entries(conn, only_open=True):
        source = str(entry.get("source"))
        counts[source] = counts.get(source, 0) + 1
    return counts


# ---- metric families ----------------------------------------------------------------------


def check_metrics(model: str, batch: datetime | None, results: list[dict[str, Any]]) -> list[Metric]:
    value = GaugeMetricFamily(
        "vigil_check_value", "Value of each check on the latest checked batch", labels=["check", "subject", "model"]
    )
    lower = GaugeMetricFamily("vigil_check_lower_bound", "Lower bound of each check on the latest batch",
                              labels=["check", "subject", "model"])
    upper = GaugeMetricFamily("vigil_check_upper_bound", "Upper bound of each check on the latest batch",
                              labels=["check", "subject", "model"])
    status = GaugeMetricFamily(
        "vigil_check_status",
        "1 for the status of each check on the latest batch, 0 for the other statuses (a state set)",
        labels=["check", "subject", "model", "status"],
    )
    failing = GaugeMetricFamily("vigil_check_failing", "1 if the check failed on the latest batch, else 0",
                                labels=["check", "subject", "model"])
    latest = GaugeMetricFamily("vigil_latest_batch_timestamp_seconds", "Start of the latest checked batch",
                               labels=["model"])
    for r in results:
        subject = str(r["subject"])
        if subject.endswith("}") and "{" in subject and r["status"] not in ("fail", "warn"):
            # A segment result (checks.segments) is a series only while it has something to say:
            # 1,000 segments x every check would be tens of thousands of quiet series per scrape.
            continue
        labels = [str(r["check_name"]), subject, str(r["model"])]
        for family, key in ((value, "value"), (lower, "lower"), (upper, "upper")):
            number = _finite(r.get(key))
            if number is not None:
                family.add_metric(labels, number)
        for s in CHECK_STATUSES:
            status.add_metric([*labels, s], 1.0 if r["status"] == s else 0.0)
        failing.add_metric(labels, 1.0 if r["status"] == "fail" else 0.0)
    seconds = _epoch_seconds(batch)
    if seconds is not None:
        latest.add_metric([model], seconds)
    return [value, lower, upper, status, failing, latest]


def family_metrics(model: str, results: list[dict[str, Any]], families: tuple[str, ...]) -> list[Metric]:
    """Checks of the latest batch counted by family and status, every known pair present (zero or more)."""
    checks = GaugeMetricFamily(
        "vigil_checks", "Checks on the latest checked batch by family and status (0 for a quiet family)",
        labels=["model", "family", "status"],
    )
    counts = {(f, s): 0 for f in families for s in CHECK_STATUSES}
    for r in results:
        pair = (str(r.get("family")), str(r.get("status")))
        counts[pair] = counts.get(pair, 0) + 1
    for (family, status), n in sorted(counts.items()):
        checks.add_metric([model, family, status], float(n))
    return [checks]


def firing_by_family(model: str, alerts: list[dict[str, Any]], families: tuple[str, ...]) -> list[Metric]:
    """Firing alerts by family and severity, every known pair present; open incidents by severity likewise."""
    firing = GaugeMetricFamily(
        "vigil_alerts_firing_by_family", "Firing alerts by check family and severity (0 when none)",
        labels=["model", "family", "severity"],
    )
    counts = {(f, s): 0 for f in families for s in SEVERITIES}
    for a in alerts:
        pair = (str(a.get("family")), str(a.get("severity")))
        counts[pair] = counts.get(pair, 0) + 1
    for (family, severity), n in sorted(counts.items()):
        firing.add_metric([model, family, severity], float(n))
    return [firing]


def config_metrics(cfg: VigilConfig) -> list[Metric]:
    """What the config promises, so rules can compare against it (a stale cycle is N intervals late)."""
    interval = GaugeMetricFamily("vigil_cycle_interval_seconds", "Configured interval of the check cycle", labels=["model"])
    interval.add_metric([cfg.model.name], cfg.schedule.interval.total_seconds())
    return [interval]


def outbox_metrics(pending: int) -> list[Metric]:
    waiting = GaugeMetricFamily(
        "vigil_notifications_pending", "Notifications decided but not yet delivered (waiting in the outbox for a retry)"
    )
    waiting.add_metric([], float(pending))
    return [waiting]


def alert_metrics(model: str, alerts: list[dict[str, Any]], incidents: list[dict[str, Any]]) -> list[Metric]:
    firing = GaugeMetricFamily("vigil_alerts_firing", "Firing alerts by severity and check",
                               labels=["model", "severity", "check"])
    counts: dict[tuple[str, str], int] = {}
    for a in alerts:
        key = (str(a["severity"]), str(a["check_name"]))
        counts[key] = counts.get(key, 0) + 1
    for (severity, check), n in sorted(counts.items()):
        firing.add_metric([model, severity, check], float(n))
    open_incidents = GaugeMetricFamily("vigil_incidents_open", "Open incidents by severity", labels=["model", "severity"])
    by_severity: dict[str, int] = dict.fromkeys(SEVERITIES, 0)
    for i in incidents:
        by_severity[str(i["severity"])] = by_severity.get(str(i["severity"]), 0) + 1
    for severity, n in sorted(by_severity.items()):
        open_incidents.add_metric([model, severity], float(n))
    return [firing, open_incidents]


def cycle_metrics(model: str, cycles: list[dict[str, Any]]) -> list[Metric]:
    """From the newest cycles (newest first): last finished duration, last success, last status."""
    duration = GaugeMetricFamily("vigil_cycle_duration_seconds", "Duration of the last finished cycle", labels=["model"])
    success = GaugeMetricFamily("vigil_cycle_last_success_timestamp_seconds", "End of the last successful cycle",
                                labels=["model"])
    last_status = GaugeMetricFamily("vigil_cycle_last_status", "1 for the status of the newest cycle",
                                    labels=["model", "status"])
    loaded = GaugeMetricFamily("vigil_cycle_files_loaded", "Files loaded by the last finished cycle", labels=["model"])
    quarantined = GaugeMetricFamily("vigil_cycle_files_quarantined", "Files quarantined by the last finished cycle",
                                    labels=["model"])
    if cycles:
        newest = cycles[0]
        for s in ("running", "ok", "failed"):
            last_status.add_metric([model, s], 1.0 if newest["status"] == s else 0.0)
    finished = next((c for c in cycles if c.get("finished_at")), None)
    if finished is not None:
        start, end = _epoch_seconds(finished["started_at"]), _epoch_seconds(finished["finished_at"])
        if start is not None and end is not None:
            duration.add_metric([model], end - start)
        summary = finished.get("summary") or {}
        if isinstance(summary.get("files_loaded"), int):
            loaded.add_metric([model], float(summary["files_loaded"]))
        if isinstance(summary.get("quarantined"), int):
            quarantined.add_metric([model], float(summary["quarantined"]))
    ok = next((c for c in cycles if c["status"] == "ok" and c.get("finished_at")), None)
    if ok is not None:
        end = _epoch_seconds(ok["finished_at"])
        if end is not None:
            success.add_metric([model], end)
    return [duration, success, last_status, loaded, quarantined]


def ingestion_metrics(counts: list[tuple[str, str, int]], quarantine: dict[str, int]) -> list[Metric]:
    files = GaugeMetricFamily(
        "vigil_ingested_files", "File versions seen by the ingester, by source and status "
        "(loaded, superseded, duplicate, quarantined)", labels=["source", "status"]
    )
    for source, status, n in counts:
        files.add_metric([source, status], float(n))
    open_q = GaugeMetricFamily("vigil_quarantine_open_files", "Files waiting in quarantine (open entries)",
                               labels=["source"])
    for source, n in sorted(quarantine.items()):
        open_q.add_metric([source], float(n))
    size = GaugeMetricFamily("vigil_quarantine_size", "Open quarantine entries in total")
    size.add_metric([], float(sum(quarantine.values())))
    return [files, open_q, size]


class VigilCollector(Collector):
    """Reads the stores on every scrape; nothing is cached between scrapes."""

    def __init__(self, cfg: VigilConfig, warehouse_retry_seconds: float = WAREHOUSE_RETRY_SECONDS) -> None:
        self.cfg = cfg
        self.warehouse = Warehouse(
            cfg.warehouse_path, memory_limit=cfg.storage.duckdb_memory_limit, retry_seconds=warehouse_retry_seconds
        )
        self.ops = OpsStore(cfg.ops_path)

    def describe(self) -> Iterable[Metric]:
        return []  # collected on scrape only (no store reads at registration)

    def collect(self) -> Iterator[Metric]:
        started = time.perf_counter()
        model = self.cfg.model.name
        up = GaugeMetricFamily("vigil_store_up", "1 if the store could be read on this scrape", labels=["store"])
        warehouse_ok, metrics = self._warehouse_metrics(model)
        up.add_metric(["warehouse"], 1.0 if warehouse_ok else 0.0)
        ops_ok, ops_metrics = self._ops_metrics(model)
        up.add_metric(["ops"], 1.0 if ops_ok else 0.0)
        yield up
        yield from config_metrics(self.cfg)
        yield from metrics
        yield from ops_metrics
        took = GaugeMetricFamily("vigil_scrape_duration_seconds", "Time this scrape spent reading the stores")
        took.add_metric([], time.perf_counter() - started)
        yield took

    def _warehouse_metrics(self, model: str) -> tuple[bool, list[Metric]]:
        try:
            with self.warehouse.read() as conn:
                batch, results = latest_check_results(conn, model)
                counts = ingestion_counts(conn)
                quarantine = open_quarantine(conn)
        except (StoreMissing, StoreBusy, duckdb.Error) as err:
            log.warning("warehouse not readable on this scrape: %s", err)
            return False, []
        sources = ["predictions", *(t.name for t in self.cfg.etl_tables)]
        quarantine = {source: quarantine.get(source, 0) for source in sources} | quarantine
        return True, (
            check_metrics(model, batch, results) + family_metrics(model, results, known_families())
            + ingestion_metrics(counts, quarantine)
        )

    def _ops_metrics(self, model: str) -> tuple[bool, list[Metric]]:
        from app.cycle import last_cycles
        from incidents import outbox
        from incidents.incidents import OPEN_STATUSES
        from incidents.queries import alerts_with_incidents, list_incidents

        if not self.cfg.ops_path.exists():  # scraping must not create the store
            return False, []
        try:
            firing = alerts_with_incidents(self.ops, model=model, state="firing")
            incidents = list_incidents(self.ops, model=model, status=list(OPEN_STATUSES))
            cycles = last_cycles(self.ops, model, limit=50)
            pending = outbox.pending_count(self.ops)
        except Exception as err:  # sqlite busy past its timeout, a broken file: report, do not crash the scrape
            log.warning("ops store not readable on this scrape: %s", err)
            return False, []
        return True, (
            alert_metrics(model, firing, incidents) + firing_by_family(model, firing, known_families())
            + cycle_metrics(model, cycles) + outbox_metrics(pending)
        )


def metrics_registry(cfg: VigilConfig) -> CollectorRegistry:
    """A registry with only Vigil's collector (no process metrics of the exporter itself)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(VigilCollector(cfg))
    return registry


def serve(cfg: VigilConfig, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> Any:
    """Start the HTTP server in a daemon thread; returns the server (``server.server_port``, ``shutdown()``)."""
    server, _thread = start_http_server(port, addr=host, registry=metrics_registry(cfg))
    return server


def cmd_exporter(args: argparse.Namespace) -> int:
    cfg = args.load_config()
    try:
        server = serve(cfg, args.host, args.port)
    except OSError as err:
        print(f"vigil: cannot listen on {args.host}:{args.port}: {err} (hint: pick another --port)")
        return exit_codes.USAGE
    print(f"Vigil metrics for model {cfg.model.name}: http://{args.host}:{server.server_port}/metrics   "
          "(Ctrl-C stops)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return exit_codes.OK
    finally:
        server.shutdown()


COMMANDS = (
    Command("exporter", cmd_exporter, READ,
            "serve Prometheus metrics (check values and statuses, firing alerts, cycles, ingestion)", (
                Opt("--port", type=int, default=DEFAULT_PORT, help=f"port to listen on (default {DEFAULT_PORT})"),
                Opt("--host", default=DEFAULT_HOST, help=f"address to bind (default {DEFAULT_HOST})"),
            )),
)
