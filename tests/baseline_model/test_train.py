from __future__ import annotations

import json
import warnings
from pathlib import Path

import pandas as pd
import pytest

from baseline_model.artifact import ArtifactVersionWarning, load_model, save_model
from baseline_model.demo import register_run
from baseline_model.features import SERVED_FEATURES
from baseline_model.layout import reference_path
from baseline_model.train import TrainingError, load_train_config, reproduce, train
from core.registry import Registry
from core.runs import add_note, compare_runs, get_run, list_runs
from core.stores import OpsStore

from .conftest import CONFIGS, fast_config


def test_same_config_same_data_gives_same_metrics_and_artifact(example_root: Path, example_ops: OpsStore) -> None:
    a = train(CONFIGS / "train_gbm.yaml", example_root, example_ops, progress=False)
    b = train(CONFIGS / "train_gbm.yaml", example_root, example_ops, progress=False)
    assert a["run_id"] != b["run_id"]
    assert a["artifact_path"] != b["artifact_path"]
    assert a["artifact_sha256"] == b["artifact_sha256"]
    assert a["metrics"] == b["metrics"]
    assert a["baseline_metrics"] == b["baseline_metrics"]


def test_different_seed_gives_a_different_artifact(example_root: Path, example_ops: OpsStore, tmp_path: Path) -> None:
    gbm = CONFIGS / "train_gbm.yaml"
    import yaml

    data = yaml.safe_load(gbm.read_text())
    data["seed"] = 43
    data["model"]["params"]["max_features"] = 0.5  # makes the seed matter
    other = tmp_path / "gbm_seed.yaml"
    other.write_text(yaml.safe_dump(data))
    data["seed"] = 42
    same = tmp_path / "gbm_seed42.yaml"
    same.write_text(yaml.safe_dump(data))
    a = train(same, example_root, example_ops, progress=False)
    b = train(other, example_root, example_ops, progress=False)
    assert a["artifact_sha256"] != b["artifact_sha256"]


def test_manifest_records_provenance_and_metrics(example_root: Path, example_ops: OpsStore, tmp_path: Path) -> None:
    run = train(fast_config(tmp_path), example_root, example_ops, command="pytest", progress=False)
    manifest = json.loads(Path(run["manifest_path"]).read_text())
    for key in ("run_id", "git", "command", "params", "environment", "data", "seed", "artifact", "metrics",
                "baseline_metrics", "started_at", "duration_s", "config"):
        assert key in manifest, key
    assert manifest["command"] == "pytest"
    assert set(manifest["git"]) == {"commit", "dirty"}
    assert manifest["environment"]["packages"]["scikit-learn"]
    data = manifest["data"]
    assert data["rows"] == data["train_rows"] + data["holdout_rows"]
    assert data["window"]["start"] < data["holdout"]["start"] <= data["window"]["end"]  # time-based holdout
    assert len(data["sha256"]) == 64 and set(data["files"]) == {"applications.parquet", "bureau.parquet", "labels.parquet"}
    m, b = manifest["metrics"], manifest["baseline_metrics"]
    for metrics in (m, b):
        for key in ("roc_auc", "pr_auc", "brier", "calibration", "approval_rate", "default_rate_approved",
                    "expected_profit_per_application"):
            assert key in metrics
    assert len(m["calibration"]["bins"]) == 10
    # The model beats the non-ML credit-score rule on the same holdout.
    assert m["roc_auc"] > b["roc_auc"]
    assert 0.68 < m["roc_auc"] < 0.86
    assert manifest["artifact"]["sha256"] == run["artifact_sha256"]
    stored = get_run(example_ops, run["run_id"])
    assert stored["status"] == "ok" and stored["metrics"]["roc_auc"] == m["roc_auc"]


def test_reference_is_written_with_served_features_score_and_label(example_root: Path) -> None:
    ref = pd.read_parquet(reference_path(example_root))
    for col in (*SERVED_FEATURES, "score", "defaulted", "submitted_at", "scored_at", "application_id", "decision",
                "control"):
        assert col in ref.columns, col
    assert ref["score"].between(0, 1).all() and set(ref["defaulted"]) == {0, 1}


def test_runs_list_compare_and_notes(example_root: Path, example_ops: OpsStore, tmp_path: Path) -> None:
    a = train(fast_config(tmp_path), example_root, example_ops, progress=False)
    b = train(CONFIGS / "train_gbm.yaml", example_root, example_ops, progress=False)
    ids = [r["run_id"] for r in list_runs(example_ops, "loan_default")]
    assert a["run_id"] in ids and b["run_id"] in ids
    rows = {r["field"]: r for r in compare_runs(example_ops, a["run_id"], b["run_id"])}
    assert rows["model_type"]["a"] == "logistic_regression" and rows["model_type"]["b"] == "gradient_boosting"
    assert rows["data_sha256"]["same"]
    assert not rows["metrics.roc_auc"]["same"]
    add_note(example_ops, b["run_id"], "alice", "tried GBM: not better than logreg on 5k rows, too little data")
    notes = get_run(example_ops, b["run_id"][:10])["notes"]
    assert notes[0]["text"].startswith("tried GBM") and notes[0]["author"] == "alice"


def test_reproduce_matches_field_by_field(example_root: Path, example_ops: OpsStore) -> None:
    result = reproduce(example_root, example_ops, "loan_default", 1, progress=False)
    assert result["match"], [f for f in result["fields"] if not f["match"]]
    fields = {f["field"] for f in result["fields"]}
    assert {"data.sha256", "artifact.sha256", "metrics.roc_auc"} <= fields
    assert get_run(example_ops, result["reproduce_run_id"])["kind"] == "reproduce"


def test_reproduce_reports_a_data_mismatch(example_root: Path, example_ops: OpsStore) -> None:
    labels = example_root / "training" / "snapshot" / "labels.parquet"
    frame = pd.read_parquet(labels)
    frame.loc[frame.index[-50:], "defaulted"] = 1 - frame.loc[frame.index[-50:], "defaulted"]
    frame.to_parquet(labels, index=False)
    result = reproduce(example_root, example_ops, "loan_default", 1, progress=False)
    assert not result["match"]
    bad = {f["field"] for f in result["fields"] if not f["match"]}
    assert "data.sha256" in bad and "metrics.roc_auc" in bad


def test_loading_under_another_sklearn_version_warns(example_root: Path, example_ops: OpsStore, tmp_path: Path) -> None:
    mv = Registry(example_ops).champion("loan_default")
    assert mv is not None
    artifact = load_model(mv.artifact_path)
    artifact.sklearn_version = "0.0.1"
    old = tmp_path / "old.joblib"
    save_model(artifact, old)
    with pytest.warns(ArtifactVersionWarning, match="scikit-learn 0.0.1"):
        load_model(old)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_model(mv.artifact_path)


def test_registered_version_records_the_evaluation(example_root: Path, example_ops: OpsStore, tmp_path: Path) -> None:
    run = train(fast_config(tmp_path), example_root, example_ops, progress=False)
    mv = register_run(Registry(example_ops), run, user="alice")
    v1 = Registry(example_ops).get("loan_default", 1)
    assert mv.evaluation["holdout_id"] == v1.evaluation["holdout_id"]  # same snapshot, same holdout
    assert mv.evaluation["metrics"]["roc_auc"] == run["metrics"]["roc_auc"]
    assert mv.data_version == run["data_sha256"] and mv.approval_state == "pending"


def test_config_errors_name_the_file_and_key(tmp_path: Path, example_root: Path, example_ops: OpsStore) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nmodel: {type: svm}\ndecision: {threshold: 0.2}\nfeatures: [income, shoe_size]\n")
    with pytest.raises(TrainingError) as err:
        load_train_config(bad)
    text = str(err.value)
    assert f"{bad}: model.type" in text and "shoe_size" in text
    with pytest.raises(TrainingError, match="file not found"):
        load_train_config(tmp_path / "missing.yaml")
    cfg = fast_config(tmp_path, data={"snapshot": "training/nowhere"})
    with pytest.raises(TrainingError, match="snapshot file missing"):
        train(cfg, example_root, example_ops, progress=False)
    failed = [r for r in list_runs(example_ops) if r["status"] == "failed"]
    assert failed and "snapshot file missing" in failed[0]["error"]


def test_reference_decisions_follow_the_serving_rule(example_root: Path) -> None:
    from baseline_model.scorer import is_control

    ref = pd.read_parquet(reference_path(example_root))
    assert (ref["control"] == ref["application_id"].map(is_control)).all()
    expected = ref["control"] | (ref["score"] < 0.2)
    assert ((ref["decision"] == "approve") == expected).all()


def test_business_metrics_by_hand() -> None:
    import numpy as np

    from baseline_model.train import BusinessSection, evaluate

    loans = pd.DataFrame({"loan_amount": [10_000.0, 10_000.0, 5_000.0], "interest_rate": [10.0, 10.0, 20.0],
                          "term_months": [36, 36, 60]})
    y = np.array([0, 1, 0])
    m = evaluate(y, np.array([0.1, 0.9, 0.5]), np.array([True, True, False]), loans, BusinessSection())
    # good 36-month loan: 0.5 margin x 10% x 3 years x half balance x 10k = 750; default: -0.6 x 10k
    assert m["expected_profit_per_application"] == round((750 - 6000) / 3, 4)
    assert m["approval_rate"] == round(2 / 3, 6) and m["default_rate_approved"] == 0.5
    assert m["roc_auc"] == 1.0 and m["brier"] == round((0.01 + 0.01 + 0.25) / 3, 6)
