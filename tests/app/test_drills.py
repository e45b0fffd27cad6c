"""`vigil drill`: the incident shows in a sandbox copy; the real store stays byte-for-byte the same."""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from app.cli import main
from app.cycle import run_cycle
from app.drills import DrillError, run_drill
from baseline_model.demo import ensure_example
from baseline_model.simulator import simulate_history
from core.clock import ManualClock
from core.config import VigilConfig, config_from_dict
from core.stores import OpsStore, Warehouse

REPO = Path(__file__).resolve().parents[2]
START = date(2026, 3, 2)
DAYS = 14
VOLUME = 300


def write_small_config(root: Path) -> VigilConfig:
    """The example's monitoring config with the expected daily volume scaled to this business."""
    data = yaml.safe_load((REPO / "baseline_model" / "configs" / "monitor.yaml").read_text())
    for table in data["etl_tables"]:
        if "expected_rows" in table:
            table["expected_rows"] = [VOLUME // 2, VOLUME * 2]
    (root / "monitor.yaml").write_text(yaml.safe_dump(data))
    return config_from_dict(data, file=str(root / "monitor.yaml"), root=root)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> VigilConfig:
    root = tmp_path_factory.mktemp("drill-world")
    ops = OpsStore(root / "ops.sqlite")
    clock = ManualClock(datetime(2026, 4, 1, 12, 0))
    ensure_example(root, ops, today=START + timedelta(days=DAYS - 1), history_days=DAYS, snapshot_days=20,
                   snapshot_volume=VOLUME, seed=4, clock=clock, progress=False)
    simulate_history(root, START, DAYS, 4, volume=VOLUME, ops=ops)
    cfg = write_small_config(root)
    run_cycle(cfg, clock=clock, notify=False)
    return cfg


def fingerprint(root: Path) -> dict[str, str]:
    """sha256 of every data file under the storage root.

    SQLite's -shm index and an empty -wal appear whenever anyone opens the ops store (even
    read-only); they hold no data, so they are checked apart: the WAL must stay empty.
    """
    files = [p for p in sorted(root.rglob("*")) if p.is_file() and not p.name.endswith(("-shm", "-wal"))]
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def wal_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*-wal"))


def row_counts(cfg: VigilConfig) -> dict[str, int]:
    ops = OpsStore(cfg.ops_path)
    counts = {t: ops.query(f"SELECT count(*) AS n FROM {t}")[0]["n"] for t in ("alerts", "incidents", "scoring_jobs", "cycles")}  # noqa: S608
    with Warehouse(cfg.warehouse_path).read() as conn:
        for t in ("predictions", "check_results", "ingested_files"):
            counts[t] = conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # noqa: S608
    return counts


def test_unit_change_drill_alerts_in_the_sandbox_and_leaves_the_real_store_alone(world: VigilConfig, tmp_path: Path) -> None:
    before_rows = row_counts(world)
    before_files = fingerprint(world.root)
    clock = ManualClock(datetime(2026, 4, 1, 13, 0))
    report = run_drill(world, "unit_change", "income", keep=True, clock=clock, sandbox_dir=tmp_path)

    assert fingerprint(world.root) == before_files
    assert wal_bytes(world.root) == 0
    assert row_counts(world) == before_rows

    drill_day = START + timedelta(days=DAYS)
    assert report.batch == datetime.combine(drill_day, datetime.min.time()).isoformat()
    roots = {(a.check, a.subject) for a in report.alerts if a.inhibited_by is None}
    assert ("unit_change", "applications.income") in roots
    missing = [a.runbook for a in report.alerts if not (REPO / a.runbook).exists()]
    assert not missing, missing
    held = [a for a in report.alerts if a.inhibited_by]
    assert held and all("unit_change" in (a.inhibited_by or "") or "out_of_range" in (a.inhibited_by or "") for a in held)
    assert [i["action"] for i in report.incidents] == ["fix_upstream"]
    assert not any(a.check == "volume" for a in report.alerts), "the drill itself must not look like a missing extract"

    # The kept sandbox holds the drilled batch and its alert; the real root has neither.
    sandbox = Path(report.sandbox or "")
    assert (sandbox / "landing" / "predictions" / f"predictions_{drill_day}.parquet").exists()
    assert not (world.root / "landing" / "predictions" / f"predictions_{drill_day}.parquet").exists()
    firing = OpsStore(sandbox / "ops.sqlite").query(
        "SELECT state FROM alerts WHERE check_name = 'unit_change' AND subject = 'applications.income'"
    )
    assert [r["state"] for r in firing] == ["firing"]
    assert sandbox.parent == tmp_path


def test_prediction_shift_drill_is_caught_and_the_sandbox_deleted(world: VigilConfig, tmp_path: Path) -> None:
    report = run_drill(world, "prediction_shift", size=0.3, sandbox_dir=tmp_path)
    assert report.sandbox is None and not list(tmp_path.iterdir()), "sandbox deleted"
    checks = {a.check for a in report.alerts}
    assert "score_drift" in checks or "decision_rate_shift" in checks, checks
    assert not any(a.subject.startswith("applications.") for a in report.alerts)


def test_bad_drills_are_refused_with_a_hint(world: VigilConfig, tmp_path: Path) -> None:
    # 14 days of history, outcomes after 14 days: no batch has its labels yet to copy.
    with pytest.raises(DrillError, match=r"no batch has matured labels yet \(labels.maturity 2w\)"):
        run_drill(world, "concept_drift", sandbox_dir=tmp_path)
    with pytest.raises(DrillError, match="'salary' is in neither extract"):
        run_drill(world, "nulls", "salary", sandbox_dir=tmp_path)
    with pytest.raises(DrillError, match="unknown incident kind"):
        run_drill(world, "meteor", sandbox_dir=tmp_path)
    assert not list(tmp_path.iterdir())


def test_cli(world: VigilConfig, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--config", str(world.source_file), "--root", str(world.root), "drill", "nulls", "--column", "credit_score"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "ALERT CRITICAL null_rate on bureau.credit_score" in out
    assert "runbooks/null_rate.md" in out and "FIX UPSTREAM" in out
    assert main(["--config", str(world.source_file), "--root", str(world.root), "drill", "concept_drift"]) == 2


def test_covariate_drift_drill_holds_and_watches(world: VigilConfig, tmp_path: Path) -> None:
    report = run_drill(world, "covariate_drift", "credit_score", size=-1.5, sandbox_dir=tmp_path)
    drifted = {(a.check, a.subject) for a in report.alerts if a.inhibited_by is None}
    assert ("psi", "predictions.credit_score") in drifted
    assert not any(a.subject.startswith(("applications.", "bureau.")) and a.check in ("null_rate", "unit_change") for a in report.alerts)
    # A population change with no labels yet: nothing to fix upstream, nothing to roll back.
    assert {i["action"] for i in report.incidents} <= {"hold_and_watch"}
