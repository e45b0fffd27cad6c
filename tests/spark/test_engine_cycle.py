"""Issue 14's done-when: `vigil run-once` with `profile.engine: spark` runs the full cycle on the
example model, and its check results have the same statuses as the DuckDB engine's on the same
data, with AUC from the same score bins x labels."""

from __future__ import annotations

import json
import shutil
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.cli import main
from baseline_model.demo import ensure_example
from baseline_model.simulator import Incident, simulate_history
from core.clock import ManualClock
from core.stores import OpsStore, Warehouse

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "baseline_model" / "configs" / "monitor.yaml"
SPARK_CONFIG = REPO / "baseline_model" / "configs" / "monitor_spark.yaml"
DAYS = 16  # outcomes arrive 14 days after the application: the first batches have AUC
START = date(2026, 3, 2)
VOLUME = 200


def _config(root: Path, source: Path, name: str) -> Path:
    data = yaml.safe_load(source.read_text())
    for table in data["etl_tables"]:
        if "expected_rows" in table:
            table["expected_rows"] = [VOLUME // 2, VOLUME * 2]
    data["storage"] = {**data.get("storage", {}), "root": str(root)}
    path = root / name
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The example model's history in one root, copied to a second: DuckDB runs in one, Spark in the other."""
    root = tmp_path_factory.mktemp("engine-duckdb")
    ops = OpsStore(root / "ops.sqlite")
    clock = ManualClock(datetime(2026, 4, 1, 12, 0))
    ensure_example(root, ops, today=START + timedelta(days=DAYS - 1), history_days=DAYS, snapshot_days=20,
                   snapshot_volume=VOLUME, seed=5, clock=clock, progress=False)
    simulate_history(root, START, DAYS, 5, volume=VOLUME, ops=ops,
                     incidents=[Incident("unit_change", day=DAYS - 2, column="income", size=0.001)])
    other = tmp_path_factory.mktemp("engine-spark")
    shutil.rmtree(other)
    shutil.copytree(root, other)
    return root, other


def _results(root: Path) -> dict[tuple[str, str, str], str]:
    with Warehouse(root / "warehouse.duckdb").read() as conn:
        rows = conn.execute("SELECT check_name, subject, batch, status FROM check_results").fetchall()
    return {(c, s, str(b)): st for c, s, b, st in rows}


def _performance(root: Path) -> dict[str, tuple[Any, ...]]:
    with Warehouse(root / "warehouse.duckdb").read() as conn:
        rows = conn.execute("SELECT batch, predictions, labeled, positives, auc, brier FROM performance_stats").fetchall()
    return {str(r[0]): tuple(r[1:]) for r in rows}


def test_run_once_on_spark_matches_duckdb(
    spark: Any, roots: tuple[Path, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    duck_root, spark_root = roots
    monkeypatch.setenv("VIGIL_USER", "tester")
    duck_cfg = _config(duck_root, CONFIG, "monitor.yaml")
    spark_cfg = _config(spark_root, SPARK_CONFIG, "monitor_spark.yaml")
    assert yaml.safe_load(spark_cfg.read_text())["profile"]["engine"] == "spark"

    main(["--config", str(duck_cfg), "--root", str(duck_root), "run-once", "--json"])
    capsys.readouterr()
    main(["--config", str(spark_cfg), "--root", str(spark_root), "run-once", "--json"])
    report = json.loads(capsys.readouterr().out)["summary"]
    assert report["files_loaded"] > 0

    # Raw rows were not ingested: the Spark root has no ingestion records, only the ledger and the sample.
    with Warehouse(spark_root / "warehouse.duckdb").read() as conn:
        assert conn.execute("SELECT count(*) FROM ingested_files").fetchall()[0][0] == 0
        ledger = conn.execute("SELECT count(*) FROM spark_files").fetchall()[0][0]
    assert ledger == report["files_loaded"]

    duck, spark_results = _results(duck_root), _results(spark_root)
    assert duck, "the DuckDB cycle produced no check results"
    assert set(spark_results) == set(duck)
    differing = {k: (duck[k], spark_results[k]) for k in duck if duck[k] != spark_results[k]}
    assert not differing, differing
    assert any(st == "fail" for st in duck.values())  # the unit change is caught by both

    # AUC from the same score bins x labels: equal counts, equal AUC.
    dp, sp = _performance(duck_root), _performance(spark_root)
    assert set(dp) == set(sp)
    aucs = 0
    for batch, (n, labeled, positives, auc, brier) in dp.items():
        sn, slab, spos, sauc, sbrier = sp[batch]
        assert (n, labeled, positives) == (sn, slab, spos), batch
        if auc is not None:
            aucs += 1
            assert sauc == pytest.approx(auc, rel=1e-9), batch
            assert sbrier == pytest.approx(brier, rel=1e-9), batch
    assert aucs > 0

    # A second cycle reads no file twice.
    main(["--config", str(spark_cfg), "--root", str(spark_root), "run-once", "--json"])
    again = json.loads(capsys.readouterr().out)["summary"]
    assert again["files_loaded"] == 0 and again["batches_profiled"] == 0
