"""The model-adapter conformance suite: every adapter goes through the same tests.

Adapters under test: the built-in scikit-learn adapter on three datasets scikit-learn
ships offline (binary: breast cancer, a pipeline saved with skops; multiclass: wine, a
random forest; regression: diabetes, a pipeline saved with joblib) and the example's loan
adapter on its own trained model. Each must load a registered version (and refuse a file
changed after registration), score deterministically without touching its input, build a
training set from the live test set, train a candidate that is saved, registered-ready and
evaluated on a holdout, and evaluate with the task's metrics.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from core.adapter import (
    LABEL,
    PRIMARY_METRIC,
    AdapterError,
    ModelAdapter,
    ModelRef,
    TrainRequest,
    adapter_for,
    ref_of,
)
from core.clock import ManualClock
from core.config import ConfigError, VigilConfig, config_from_dict
from core.ids import sha256_file
from core.sklearn_adapter import SklearnAdapter, register_sklearn_version, save_estimator
from core.stores import OpsStore

REPO = Path(__file__).resolve().parents[2]
TS = "scored_at"


@dataclass
class Case:
    name: str
    adapter: ModelAdapter
    ref: ModelRef
    live: pd.DataFrame  # a live-test-set window: id, timestamp, served features, LABEL
    task: str
    ops: OpsStore
    root: Path
    train_config: str | None = None


def dataset_config(name: str, task: str, features: list[str], adapter: str | None = None) -> VigilConfig:
    model: dict[str, Any] = {"name": name, "task": task}
    if adapter:
        model["adapter"] = adapter
    return config_from_dict({
        "model": model,
        "predictions": {"source": {"path": "p"}, "id_column": "row_id", "timestamp_column": TS, "score_column": "score"},
        "features": [{"name": f, "type": "numeric"} for f in features],
        "etl_tables": [{"name": "outcomes", "source": {"path": "o"}, "timestamp_column": "at"}],
        "labels": {"table": "outcomes", "join_key": "row_id", "label_column": "y"},
    }, file=f"{name}.yaml")


def sklearn_case(tmp: Path, dataset: str) -> Case:
    from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    loader, task, estimator, file_name = {
        "breast_cancer": (load_breast_cancer, "classification",
                          make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)), "model.skops"),
        "wine": (load_wine, "classification", RandomForestClassifier(n_estimators=20, random_state=0), "model.joblib"),
        "diabetes": (load_diabetes, "regression", make_pipeline(StandardScaler(), Ridge(alpha=1.0)), "model.joblib"),
    }[dataset]
    bunch = loader(as_frame=True)
    X = bunch.data.rename(columns=lambda c: "f_" + "".join(ch if ch.isalnum() else "_" for ch in c))
    y = bunch.target
    rng = np.random.default_rng(0)
    order = rng.permutation(len(X))
    X, y = X.iloc[order].reset_index(drop=True), y.iloc[order].reset_index(drop=True)
    cut = len(X) // 2
    cfg = dataset_config(dataset, task, list(X.columns)).model_copy(update={"root_dir": str(tmp)})
    estimator.fit(X.iloc[:cut], y.iloc[:cut])
    holdout = X.iloc[cut:].copy()
    holdout[LABEL] = y.iloc[cut:].to_numpy()
    ops = OpsStore(tmp / "ops.sqlite")
    from core.registry import Registry  # the embedded registry

    registry = Registry(ops, ManualClock(datetime(2026, 1, 1)))
    mv = register_sklearn_version(registry, cfg, estimator, holdout, tmp / "v1", user="test", description=dataset,
                                  file_name=file_name)
    live = X.copy()
    live["row_id"] = [f"r{i}" for i in range(len(X))]
    live[TS] = pd.Timestamp("2026-01-01") + pd.to_timedelta(np.arange(len(X)), unit="h")
    live[LABEL] = y.to_numpy().astype(float)
    kind = "regression" if task == "regression" else ("multiclass" if y.nunique() > 2 else "binary")
    return Case(dataset, adapter_for(cfg), ref_of(mv), live, kind, ops, tmp)


def loan_case(tmp: Path) -> Case:
    from baseline_model.demo import ensure_example

    root = tmp / "loan"
    ops = OpsStore(root / "ops.sqlite")
    train_cfg = yaml.safe_load((REPO / "baseline_model" / "configs" / "train_logreg.yaml").read_text())
    (tmp / "train.yaml").write_text(yaml.safe_dump(train_cfg))
    mv = ensure_example(root, ops, config_path=tmp / "train.yaml", today=date(2026, 3, 31), history_days=30,
                        snapshot_days=14, snapshot_volume=250, seed=3, progress=False,
                        clock=ManualClock(datetime(2026, 3, 31)))
    data = yaml.safe_load((REPO / "baseline_model" / "configs" / "monitor.yaml").read_text())
    cfg = config_from_dict(data, file="monitor.yaml", root=root)
    live = pd.read_parquet(root / "training" / "reference.parquet")
    live[LABEL] = live["defaulted"].astype(float)
    live["fallback"] = False
    return Case("loan", adapter_for(cfg), ref_of(mv), live, "binary", ops, root, str(tmp / "train.yaml"))


CASES: dict[str, Callable[[Path], Case]] = {
    "sklearn-binary-skops": lambda tmp: sklearn_case(tmp, "breast_cancer"),
    "sklearn-multiclass": lambda tmp: sklearn_case(tmp, "wine"),
    "sklearn-regression": lambda tmp: sklearn_case(tmp, "diabetes"),
    "loan": loan_case,
}


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Case:
    return CASES[request.param](tmp_path_factory.mktemp(request.param))


def test_loads_a_registered_version_and_refuses_a_changed_file(case: Case, tmp_path: Path) -> None:
    model = case.adapter.load(case.ref)
    assert model is not None
    copy = tmp_path / Path(case.ref.uri).name
    shutil.copy2(case.ref.uri, copy)
    with copy.open("ab") as fh:
        fh.write(b"tampered")
    with pytest.raises(AdapterError, match="changed after registration"):
        case.adapter.load(ModelRef(case.ref.name, case.ref.version, str(copy), case.ref.sha256))
    with pytest.raises(AdapterError, match="missing"):
        case.adapter.load(ModelRef(case.ref.name, case.ref.version, str(tmp_path / "nope.joblib"), case.ref.sha256))


def test_scores_deterministically_without_touching_the_frame(case: Case) -> None:
    model = case.adapter.load(case.ref)
    frame = case.live.head(60)
    before = frame.copy()
    a, b = case.adapter.score(model, frame), case.adapter.score(model, frame)
    pd.testing.assert_frame_equal(frame, before)
    assert np.array_equal(a, b)
    assert len(a) == len(frame) and np.isfinite(a).all()
    if case.task == "binary":
        assert a.ndim == 1 and ((a >= 0) & (a <= 1)).all()
    elif case.task == "multiclass":
        assert a.ndim == 2 and np.allclose(a.sum(axis=1), 1.0)
    else:
        assert a.ndim == 1
    # Row order changes nothing but the order of the scores.
    reversed_scores = case.adapter.score(model, frame.iloc[::-1])
    assert np.allclose(reversed_scores[::-1], a)


def test_evaluates_with_the_task_metrics(case: Case) -> None:
    model = case.adapter.load(case.ref)
    metrics = case.adapter.evaluate(model, case.live)
    assert PRIMARY_METRIC[case.task] in metrics
    assert metrics["n"] == len(case.live)
    if case.task == "regression":
        assert 0 < metrics["mae"] <= metrics["rmse"]
    elif case.task == "binary":
        assert 0.5 < metrics["roc_auc"] <= 1.0
    else:
        assert 0.5 < metrics["accuracy"] <= 1.0


def test_training_set_holds_features_and_label(case: Case) -> None:
    before = case.live.copy()
    training = case.adapter.training_set(case.live, None)
    pd.testing.assert_frame_equal(case.live, before)
    assert LABEL in training.columns and len(training) > 0 and training[LABEL].notna().all()
    assert len(training) <= len(case.live)
    empty = case.adapter.training_set(case.live.iloc[0:0], None)
    assert len(empty) == 0 and LABEL in empty.columns


def test_trains_a_saved_evaluated_candidate(case: Case, tmp_path: Path) -> None:
    training = case.adapter.training_set(case.live, None)
    folder = case.root / "training" / "retrain" / f"conformance-{tmp_path.name}"
    request = TrainRequest(training=training, folder=folder, champion=case.ref, root=case.root, ops=case.ops,
                           clock=ManualClock(datetime(2026, 4, 1)), user="test", train_config=case.train_config)
    candidate = case.adapter.train(request)
    assert Path(candidate.artifact_path).exists()
    assert sha256_file(candidate.artifact_path) == candidate.artifact_sha256
    assert candidate.evaluation["holdout_id"] and candidate.evaluation["metrics"]
    assert isinstance(candidate.holdout_start, datetime)
    # Evaluated on the champion's own holdout, so the registry compares like with like.
    assert candidate.evaluation["holdout_id"] == case.ref.evaluation["holdout_id"]
    reloaded = case.adapter.load(ModelRef(case.ref.name, 99, candidate.artifact_path, candidate.artifact_sha256))
    assert np.isfinite(case.adapter.score(reloaded, case.live.head(20))).all()


# ---- adapter-specific and loader behaviour ------------------------------------------------


def test_unknown_adapter_is_a_config_error_with_the_key() -> None:
    cfg = dataset_config("m", "regression", ["a"], adapter="core.nothing_here:Adapter")
    with pytest.raises(ConfigError, match=r"model.adapter: 'core.nothing_here:Adapter': cannot import module"):
        adapter_for(cfg)
    cfg = dataset_config("m", "regression", ["a"], adapter="core.adapter:LABEL_X")
    with pytest.raises(ConfigError, match="has no attribute 'LABEL_X'"):
        adapter_for(cfg)
    cfg = dataset_config("m", "regression", ["a"], adapter="core.sklearn_adapter:SklearnModel")
    with pytest.raises(ConfigError, match="does not implement ModelAdapter: missing evaluate, load"):
        adapter_for(cfg)


def test_the_default_adapter_is_scikit_learn() -> None:
    assert isinstance(adapter_for(dataset_config("m", "regression", ["a"])), SklearnAdapter)


def test_the_adapter_works_with_the_config_s_model_kind() -> None:
    """`model.task` is the kernel's ModelKind, the adapter's task too; a feature table has no model."""
    from core.adapter import AdapterError, model_task
    from core.model_kinds import ModelKind

    assert model_task(dataset_config("m", "classification", ["a"])) is ModelKind.BINARY
    assert SklearnAdapter(dataset_config("m", "regression", ["a"])).task is ModelKind.REGRESSION
    feature_table = dataset_config("m", "regression", ["a"])
    feature_table = feature_table.model_copy(update={"model": feature_table.model.model_copy(update={"task": ModelKind.NONE})})
    with pytest.raises(AdapterError, match=r"m.yaml: model.task 'none' is a feature table with no model to load"):
        adapter_for(feature_table)


def test_skops_refuses_types_outside_scikit_learn(tmp_path: Path) -> None:
    import skops.io as sio

    from core.sklearn_adapter import _load_skops

    path = tmp_path / "odd.skops"
    sio.dump({"when": date(2026, 1, 1)}, path)
    with pytest.raises(AdapterError, match="outside scikit-learn"):
        _load_skops(path)


def test_a_missing_feature_is_named(tmp_path: Path) -> None:
    from sklearn.linear_model import LinearRegression

    cfg = dataset_config("m", "regression", ["a", "b"])
    model = LinearRegression().fit(pd.DataFrame({"a": [1.0, 2, 3], "b": [1.0, 0, 1]}), [1.0, 2, 3])
    path = save_estimator(model, tmp_path / "m.joblib")
    adapter = SklearnAdapter(cfg)
    loaded = adapter.load(ModelRef("m", 1, str(path), sha256_file(str(path))))
    with pytest.raises(AdapterError, match=r"lacks the model's features \['b'\]"):
        adapter.score(loaded, pd.DataFrame({"a": [1.0]}))
