"""Issue 2's end-to-end test: 20 clean days, then one day whose applications extract
reports income in thousands. One cycle over the history: the unit-change alert fires on
that day and on no other; the clean days fire nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from app.cycle import run_cycle
from baseline_model.demo import ensure_example
from baseline_model.simulator import Incident, simulate_history
from core.clock import ManualClock
from core.config import VigilConfig, config_from_dict
from core.stores import OpsStore
from incidents.queries import alerts_with_incidents, list_incidents

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "baseline_model" / "configs" / "monitor.yaml"
CLEAN_DAYS = 20
START = date(2026, 3, 2)
INCIDENT_DAY = START + timedelta(days=CLEAN_DAYS)
VOLUME = 400


def small_config(root: Path) -> VigilConfig:
    """The example's config, with the expected daily volume scaled to this test's business."""
    data = yaml.safe_load(CONFIG.read_text())
    for table in data["etl_tables"]:
        if "expected_rows" in table:
            table["expected_rows"] = [VOLUME // 2, VOLUME * 2]
    (root / "monitor.yaml").write_text(yaml.safe_dump(data))
    return config_from_dict(data, file=str(root / "monitor.yaml"), root=root)


@pytest.fixture(scope="module", params=[11, 29])
def history(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    seed = request.param
    root = tmp_path_factory.mktemp(f"skeleton-{seed}")
    ops = OpsStore(root / "ops.sqlite")
    clock = ManualClock(datetime(2026, 4, 1, 12, 0))
    ensure_example(root, ops, today=START + timedelta(days=CLEAN_DAYS), history_days=CLEAN_DAYS + 1,
                   snapshot_days=20, snapshot_volume=VOLUME, seed=seed, clock=clock, progress=False)
    simulate_history(
        root, START, CLEAN_DAYS + 1, seed, volume=VOLUME, ops=ops,
        incidents=[Incident("unit_change", day=CLEAN_DAYS, column="income", size=0.001)],
    )
    small_config(root)
    return root, seed


def test_unit_change_fires_on_that_day_only(history: tuple[Path, int]) -> None:
    root, _ = history
    cfg = small_config(root)
    report = run_cycle(cfg, clock=ManualClock(datetime(2026, 4, 1, 12, 5)), notify=False)
    assert report.status == "ok"
    incident_batch = datetime.combine(INCIDENT_DAY, datetime.min.time())

    failing_days = {r.batch for r in report.results if r.status == "fail"}
    assert failing_days == {incident_batch}, f"failures outside the incident day: {sorted(failing_days)}"

    unit = [r for r in report.results if r.check == "unit_change" and r.status == "fail"]
    subjects = {r.subject for r in unit}
    assert "applications.income" in subjects
    factor = next(r for r in unit if r.subject == "applications.income").evidence["factor"]
    assert factor == pytest.approx(0.001, rel=0.05)

    ops = OpsStore(cfg.ops_path)
    firing = alerts_with_incidents(ops, state=["pending", "firing", "resolved"])
    fired_on = {(a["check_name"], a["subject"]): a["fired_batch"] for a in firing if a["fired_batch"]}
    assert ("unit_change", "applications.income") in fired_on
    assert {b[:10] for b in fired_on.values()} == {INCIDENT_DAY.isoformat()}
    # A firing critical alert opens an incident.
    assert list_incidents(ops), "no incident opened for the critical unit-change alert"


def test_clean_history_fires_nothing(tmp_path: Path) -> None:
    root = tmp_path
    ops = OpsStore(root / "ops.sqlite")
    clock = ManualClock(datetime(2026, 4, 1, 12, 0))
    ensure_example(root, ops, today=START + timedelta(days=CLEAN_DAYS), history_days=CLEAN_DAYS,
                   snapshot_days=20, snapshot_volume=VOLUME, seed=5, clock=clock, progress=False)
    simulate_history(root, START, CLEAN_DAYS, 5, volume=VOLUME, ops=ops)
    cfg = small_config(root)
    report = run_cycle(cfg, clock=clock, notify=False)
    assert [r for r in report.results if r.status == "fail"] == []
    assert alerts_with_incidents(OpsStore(cfg.ops_path), state=["pending", "firing"]) == []


def test_run_once_json_is_valid(history: tuple[Path, int]) -> None:
    root, _ = history
    proc = subprocess.run(
        [sys.executable, "-m", "app.cli", "--config", str(root / "monitor.yaml"), "--root", str(root), "--json", "run-once"],
        capture_output=True, text=True, timeout=600, cwd=REPO,
    )
    assert proc.returncode in (0, 1), proc.stderr
    out = json.loads(proc.stdout)
    assert out["status"] == "ok"
    assert isinstance(out["results"], list)
