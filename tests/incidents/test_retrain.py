"""`vigil retrain` on a simulated production history with an upstream incident in it."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import yaml

from app.cli import main
from baseline_model.demo import ensure_example
from baseline_model.simulator import Incident, simulate_history
from checks.result import CheckResult
from core.clock import ManualClock
from core.config import VigilConfig, config_from_dict
from core.registry import CHALLENGER, Registry, compare_evaluations
from core.runs import get_run
from core.stores import OpsStore, Warehouse, stores_for
from incidents.alerts import process_results
from incidents.decisions import excluded_windows, recommend
from incidents.queries import list_incidents
from incidents.retrain import RetrainError, outside_windows, recommendation, retrain
from incidents.shadow import VersionScore
from profilers.ingest import ingest_all

REPO = Path(__file__).resolve().parents[2]
START = date(2026, 3, 2)
DAYS = 24
BROKEN_DAY = 8  # income reported in thousands that day
VOLUME = 300


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[VigilConfig, ManualClock]:
    root = tmp_path_factory.mktemp("retrain-world")
    clock = ManualClock(datetime(2026, 4, 2, 12, 0))
    ops = OpsStore(root / "ops.sqlite")
    ensure_example(root, ops, today=START + timedelta(days=DAYS - 1), history_days=DAYS, snapshot_days=20,
                   snapshot_volume=VOLUME, seed=6, clock=clock, progress=False)
    simulate_history(root, START, DAYS, 6, volume=VOLUME, ops=ops,
                     incidents=[Incident("unit_change", day=BROKEN_DAY, column="income", size=0.001)])
    data = yaml.safe_load((REPO / "baseline_model" / "configs" / "monitor.yaml").read_text())
    (root / "monitor.yaml").write_text(yaml.safe_dump(data))
    cfg = config_from_dict(data, file=str(root / "monitor.yaml"), root=root)
    wh, _ = stores_for(cfg)
    ingest_all(cfg, wh)
    # The upstream incident as the checks report it; its fix_upstream decision records the window.
    broken = datetime.combine(START + timedelta(days=BROKEN_DAY), datetime.min.time())
    unit = CheckResult("unit_change", "unit_change", "applications.income", broken, "fail", "critical",
                       "applications.income changed unit: x0.001", evidence={"factor": 0.001}, model="loan_default")
    incident_id = process_results(cfg, ops, [unit], clock).incidents_opened[0]
    assert recommend(cfg, ops, clock, incident_id, wh=wh).action == "fix_upstream"
    return cfg, clock


def test_retrain_excludes_incident_windows_registers_a_challenger_and_compares(world: tuple[VigilConfig, ManualClock]) -> None:
    cfg, clock = world
    wh, ops = stores_for(cfg)
    registry = Registry(ops, clock)
    champion = registry.champion("loan_default")
    assert champion is not None
    window = excluded_windows(ops)
    broken = START + timedelta(days=BROKEN_DAY)
    assert window == [(f"{broken}T00:00:00", f"{broken + timedelta(days=1)}T00:00:00")]

    incident_id = list_incidents(ops)[0]["incident_id"]
    report = retrain(cfg, ops, wh, window_days=DAYS + 5, user="ana", clock=clock, incident_id=incident_id)

    # Trained on production rows with matured labels, none from the broken day.
    snapshot = cfg.root / report.snapshot
    apps = pd.read_parquet(snapshot / "applications.parquet")
    labels = pd.read_parquet(snapshot / "labels.parquet")
    assert len(apps) == len(labels) == report.training_rows > 1000
    assert report.excluded_rows > 100
    assert not ((apps["submitted_at"] >= pd.Timestamp(broken)) & (apps["submitted_at"] < pd.Timestamp(broken + timedelta(days=1)))).any()
    assert apps["income"].min() > 1000, "the thousands-reported incomes of the incident were not trained on"
    newest_label_day = START + timedelta(days=DAYS - 1 - 14)
    assert apps["submitted_at"].max() < pd.Timestamp(newest_label_day + timedelta(days=1))
    assert set(labels["defaulted"]) == {0, 1}

    # Registered as challenger, pending approval; the champion did not move.
    candidate = registry.get("loan_default", report.candidate_version)
    assert candidate.approval_state == "pending" and CHALLENGER in candidate.aliases
    assert registry.champion("loan_default").version == champion.version == report.champion_version
    assert get_run(ops, report.run_id)["kind"] == "retrain"

    # The holdout gate compares on the champion's own holdout rows (same id, real numbers).
    assert candidate.evaluation["holdout_id"] == champion.evaluation["holdout_id"]
    assert candidate.evaluation["own_holdout"]["holdout_id"] != champion.evaluation["holdout_id"]
    ok, why = compare_evaluations(candidate.evaluation, champion.evaluation, "roc_auc", 0.005)
    assert report.holdout_gate_ok == ok and report.holdout_gate == why

    # Shadow evaluation on rows after the training cutoff, the same rows for both versions.
    cand, champ = (VersionScore(**s) for s in report.shadow)
    assert (cand.version, champ.version) == (report.candidate_version, champion.version)
    assert cand.n == champ.n > 200 and cand.positives == champ.positives
    assert datetime.fromisoformat(report.shadow_window[0]) > datetime.fromisoformat(report.window[0])
    assert report.recommend_promotion == recommendation(ok, why, [cand, champ])[0]
    assert any("live test set" in r and "ROC AUC" in r for r in report.reasons)
    entry = ops.query("SELECT * FROM incident_timeline WHERE incident_id = ? AND kind = 'decision' AND text LIKE 'Retrain candidate%'", (incident_id,))
    assert len(entry) == 1 and entry[0]["actor"] == "ana" and f"candidate v{report.candidate_version}" in entry[0]["text"]


def test_recommendation_rules() -> None:
    good, bad = VersionScore(2, 500, 50, 0.72, 0.3, 0.08), VersionScore(1, 500, 50, 0.70, 0.31, 0.08)
    assert recommendation(True, "ok", [good, bad])[0] is True
    assert recommendation(False, "worse on the holdout", [good, bad])[0] is False
    assert recommendation(True, "ok", [bad, good])[0] is False
    empty = VersionScore(2, 0, 0, None, None, None)
    promote, reasons = recommendation(True, "ok", [empty, empty])
    assert promote is False and "no labelled rows" in reasons[-1]


def test_outside_windows() -> None:
    ts = pd.Series(pd.to_datetime(["2026-03-01 23:59", "2026-03-02 00:00", "2026-03-02 12:00", "2026-03-03 00:00"]))
    keep = outside_windows(ts, [(datetime(2026, 3, 2), datetime(2026, 3, 3))])
    assert keep.tolist() == [True, False, False, True]


def test_bad_input_is_refused_with_a_hint(world: tuple[VigilConfig, ManualClock], tmp_path: Path) -> None:
    cfg, clock = world
    wh, ops = stores_for(cfg)
    with pytest.raises(RetrainError, match="no incident 'inc-nope'"):
        retrain(cfg, ops, wh, clock=clock, incident_id="inc-nope")
    with pytest.raises(RetrainError, match="--window-days must be >= 1"):
        retrain(cfg, ops, wh, window_days=0, clock=clock)
    with pytest.raises(RetrainError, match=r"only \d+ labelled rows .* hint: --window-days 2"):
        retrain(cfg, ops, wh, window_days=1, clock=clock)
    other = yaml.safe_load((REPO / "baseline_model" / "configs" / "train_logreg.yaml").read_text())
    other["model_name"] = "churn"
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(other))
    with pytest.raises(RetrainError, match="model_name 'churn' is not the monitored model 'loan_default'"):
        retrain(cfg, ops, wh, train_config=tmp_path / "train.yaml", clock=clock)
    empty = cfg.model_copy(update={"root_dir": str(tmp_path / "empty")})
    with pytest.raises(RetrainError, match="no warehouse yet"):
        retrain(empty, OpsStore(tmp_path / "ops.sqlite"), Warehouse(empty.warehouse_path), clock=clock)


def test_cli_json(world: tuple[VigilConfig, ManualClock], capsys: pytest.CaptureFixture[str]) -> None:
    cfg, _ = world
    before = len(Registry(OpsStore(cfg.ops_path)).versions("loan_default"))
    code = main(["--config", str(cfg.source_file), "--root", str(cfg.root), "--json", "retrain",
                 "--config", str(REPO / "baseline_model" / "configs" / "train_logreg.yaml"), "--window-days", "20"])
    out = capsys.readouterr().out
    assert code == 0, out
    report = json.loads(out)
    assert report["candidate_version"] == before + 1
    assert isinstance(report["recommend_promotion"], bool) and report["shadow"][0]["n"] > 0
    assert main(["--config", str(cfg.source_file), "--root", str(cfg.root), "retrain", "--window-days", "0"]) == 2
    assert "--window-days must be >= 1" in capsys.readouterr().err
