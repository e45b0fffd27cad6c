"""`vigil exporter`: scraped over real HTTP on 127.0.0.1, parsed with prometheus_client's parser,
and every figure compared with the stores the test built by running real cycles."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.cycle import run_cycle
from app.exporter import known_families, serve
from core.clock import ManualClock, parse_iso
from core.config import VigilConfig
from core.stores import stores_for
from tests.app.builders import write_history

REPO = Path(__file__).resolve().parents[2]
START = date(2024, 3, 1)
UNIT_DAY = START + timedelta(days=7)  # the last day: its alerts are still firing

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


class SteppingClock(ManualClock):
    """Moves one second per reading, so the recorded cycle has a non-zero duration."""

    def now(self) -> datetime:
        return self.advance(timedelta(seconds=1))


def scrape(port: int) -> Samples:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as response:
        assert response.status == 200
        text = response.read().decode()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples


def named(samples: Samples, name: str) -> dict[frozenset[tuple[str, str]], float]:
    return {labels: v for (n, labels), v in samples.items() if n == name}


def key(**labels: str) -> frozenset[tuple[str, str]]:
    return frozenset(labels.items())


@pytest.fixture
def exporter_port(cfg: VigilConfig) -> Iterator[int]:
    server = serve(cfg, host="127.0.0.1", port=0)  # port 0: the OS picks a free one
    try:
        yield int(server.server_port)
    finally:
        server.shutdown()
        server.server_close()


def test_before_any_cycle_the_stores_are_reported_down_not_an_error(cfg: VigilConfig, exporter_port: int) -> None:
    samples = scrape(exporter_port)
    assert samples[("vigil_store_up", key(store="warehouse"))] == 0.0
    assert samples[("vigil_store_up", key(store="ops"))] == 0.0
    assert named(samples, "vigil_check_value") == {}
    assert not cfg.ops_path.exists() and not cfg.warehouse_path.exists(), "scraping must not create the stores"
    assert named(samples, "vigil_cycle_last_success_timestamp_seconds") == {}


@pytest.fixture
def checked(cfg: VigilConfig) -> VigilConfig:
    """Eight days with a unit change on the last day, one unreadable predictions file, two real cycles."""
    write_history(cfg.root, START, days=8, unit_change_day=UNIT_DAY)
    clock = SteppingClock(datetime(2024, 3, 9, 6, 0))
    assert run_cycle(cfg, clock=clock, notify=False).status == "ok"
    bad = cfg.root / "landing" / "predictions" / "predictions_2024-03-09.parquet"
    bad.write_bytes(b"this is not parquet")
    assert run_cycle(cfg, clock=clock, notify=False).status == "ok"
    return cfg


def test_scraped_metrics_match_the_stores(checked: VigilConfig, exporter_port: int) -> None:
    cfg = checked
    samples = scrape(exporter_port)
    assert samples[("vigil_store_up", key(store="warehouse"))] == 1.0
    wh, ops = stores_for(cfg)

    with duckdb.connect(str(cfg.warehouse_path), read_only=True) as conn:
        latest = conn.execute("SELECT max(batch) FROM check_results").fetchall()[0][0]
        results = conn.execute(
            "SELECT check_name, subject, model, status, value FROM check_results WHERE batch = ?", [latest]
        ).fetchall()
        ingested = conn.execute("SELECT source, status, count(*) FROM ingested_files GROUP BY ALL").fetchall()
        open_quarantine = conn.execute("SELECT count(*) FROM quarantine WHERE status = 'open'").fetchall()[0][0]

    # Check values and statuses of the latest batch, one series per (check, subject, model).
    values = named(samples, "vigil_check_value")
    statuses = named(samples, "vigil_check_status")
    assert results, "the cycle wrote no check results"
    for check, subject, model, status, value in results:
        labels = dict(check=check, subject=subject, model=model)
        if value is not None:
            assert values[key(**labels)] == pytest.approx(value)
        assert statuses[key(**labels, status=status)] == 1.0
        assert sum(v for k, v in statuses.items() if key(**labels) <= k) == 1.0
    assert len(values) == sum(1 for r in results if r[4] is not None)
    assert samples[("vigil_latest_batch_timestamp_seconds", key(model="loans"))] == (
        latest - datetime(1970, 1, 1)
    ).total_seconds()

    # Firing alerts by severity and check: the unit change of the last day is firing.
    firing = ops.query(
        "SELECT severity, check_name, count(*) AS n FROM alerts WHERE state = 'firing' GROUP BY severity, check_name"
    )
    assert {"severity": "critical", "check_name": "unit_change", "n": 2} in firing
    assert named(samples, "vigil_alerts_firing") == {
        key(model="loans", severity=r["severity"], check=r["check_name"]): float(r["n"]) for r in firing
    }
    open_incidents = ops.query("SELECT severity, count(*) AS n FROM incidents GROUP BY severity")
    # Every known severity has a series (zero when no incident has it), so dashboards and absent() behave.
    assert named(samples, "vigil_incidents_open") == {
        key(model="loans", severity=s): 0.0 for s in ("info", "warning", "critical")
    } | {key(model="loans", severity=r["severity"]): float(r["n"]) for r in open_incidents}
    assert open_incidents, "the critical unit-change alert should have opened an incident"

    # By family: every known family x status / severity pair is present, the counts match the stores.
    families = known_families()
    assert {"input_quality", "unit_change", "feature_drift", "prediction", "performance", "heartbeat"} <= set(families)
    checks = named(samples, "vigil_checks")
    assert len(checks) == len(families) * 5
    with duckdb.connect(str(cfg.warehouse_path), read_only=True) as conn:
        by_family = conn.execute(
            "SELECT family, status, count(*) FROM check_results WHERE batch = ? AND model = 'loans' GROUP BY ALL", [latest]
        ).fetchall()
    assert {k: v for k, v in checks.items() if v} == {key(model="loans", family=f, status=s): float(n) for f, s, n in by_family}
    assert checks[key(model="loans", family="heartbeat", status="fail")] == 0.0
    by_alert_family = named(samples, "vigil_alerts_firing_by_family")
    assert len(by_alert_family) == len(families) * 3
    assert by_alert_family[key(model="loans", family="unit_change", severity="critical")] == 2.0
    assert sum(by_alert_family.values()) == sum(r["n"] for r in firing)
    assert samples[("vigil_cycle_interval_seconds", key(model="loans"))] == cfg.schedule.interval.total_seconds()
    assert samples[("vigil_quarantine_open_files", key(source="applications"))] == 0.0
    assert samples[("vigil_notifications_pending", key())] == 0.0  # no receiver: nothing waits

    # Cycles: the last one succeeded; its duration and end come from the cycles table.
    last = ops.query("SELECT * FROM cycles ORDER BY started_at DESC LIMIT 1")[0]
    duration = (parse_iso(last["finished_at"]) - parse_iso(last["started_at"])).total_seconds()
    assert duration > 0
    assert samples[("vigil_cycle_duration_seconds", key(model="loans"))] == duration
    assert samples[("vigil_cycle_last_success_timestamp_seconds", key(model="loans"))] == parse_iso(
        last["finished_at"]
    ).timestamp()
    assert samples[("vigil_cycle_last_status", key(model="loans", status="ok"))] == 1.0
    assert samples[("vigil_cycle_files_quarantined", key(model="loans"))] == 1.0
    assert samples[("vigil_cycle_files_loaded", key(model="loans"))] == 0.0

    # Ingestion counts and the quarantine.
    assert named(samples, "vigil_ingested_files") == {
        key(source=s, status=st): float(n) for s, st, n in ingested
    }
    assert samples[("vigil_ingested_files", key(source="predictions", status="loaded"))] == 8.0
    assert open_quarantine == 1
    assert samples[("vigil_quarantine_size", key())] == 1.0
    assert samples[("vigil_quarantine_open_files", key(source="predictions"))] == 1.0


def test_cli_exporter_serves_on_the_requested_port(checked: VigilConfig, config_file: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "--config", str(config_file), "--root", str(checked.root),
         "exporter", "--port", str(port), "--host", "127.0.0.1"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                samples = scrape(port)
                break
            except OSError:
                assert proc.poll() is None, proc.communicate()[1]
                assert time.monotonic() < deadline, "exporter did not start listening"
                time.sleep(0.2)
        assert samples[("vigil_store_up", key(store="warehouse"))] == 1.0
        assert named(samples, "vigil_check_status")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
