"""model.task (binary / multiclass / regression / none) and source-column mapping: config rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from core.config import config_from_dict
from tests.core.test_config import error_of, minimal


def _multiclass() -> dict[str, Any]:
    data = minimal()
    data["model"]["task"] = "multiclass"
    del data["predictions"]["score_column"]
    data["predictions"]["class_scores"] = {"cat": "p_cat", "dog": "p_dog", "bird": "p_bird"}
    return data


def test_classification_is_an_alias_of_binary(tmp_path: Path) -> None:
    from core.model_kinds import ModelKind

    data = minimal()
    data["model"]["task"] = "classification"
    assert config_from_dict(data, root=tmp_path).model.task is ModelKind.BINARY
    assert config_from_dict(minimal(), root=tmp_path).model.task == "binary"


def test_unknown_task_lists_the_kinds(tmp_path: Path) -> None:
    data = minimal()
    data["model"]["task"] = "ranking"
    assert error_of(tmp_path, data).endswith(
        "model.task: Input should be 'binary', 'multiclass', 'regression' or 'none' (hint: use one of the allowed values)"
    )


@pytest.mark.parametrize("task", ["binary", "regression"])
def test_score_column_required_by_binary_and_regression(tmp_path: Path, task: str) -> None:
    data = minimal()
    data["model"]["task"] = task
    del data["predictions"]["score_column"]
    assert error_of(tmp_path, data) == (
        f"{tmp_path / 'monitor.yaml'}: predictions.score_column: Field required for model.task {task!r} "
        "(hint: name the model's output column, or set model.task: none for a feature table without one)"
    )


def test_none_needs_no_score_and_rejects_model_outputs(tmp_path: Path) -> None:
    data = minimal()
    data["model"]["task"] = "none"
    del data["predictions"]["score_column"]
    cfg = config_from_dict(data, root=tmp_path)
    assert cfg.score_columns == {}
    data["predictions"]["decision_column"] = "decision"
    assert error_of(tmp_path, data) == (
        f"{tmp_path / 'monitor.yaml'}: predictions.decision_column: model.task 'none' (a feature table) has no "
        "model outputs (hint: remove the key, or set model.task to the model's kind)"
    )
    del data["predictions"]["decision_column"]
    data["model"]["threshold"] = 0.5
    assert error_of(tmp_path, data) == (
        f"{tmp_path / 'monitor.yaml'}: model.threshold: model.task 'none' (a feature table) has no score "
        "(hint: remove the key)"
    )


def test_multiclass_takes_class_scores(tmp_path: Path) -> None:
    cfg = config_from_dict(_multiclass(), root=tmp_path)
    assert cfg.score_columns == {"cat": "p_cat", "dog": "p_dog", "bird": "p_bird"}
    data = _multiclass()
    data["predictions"]["score_column"] = "score"
    assert error_of(tmp_path, data) == (
        f"{tmp_path / 'monitor.yaml'}: predictions.score_column: not used by model.task 'multiclass' (hint: give one "
        "probability column per class in predictions.class_scores: {class: column})"
    )
    data = _multiclass()
    data["predictions"]["class_scores"] = {"cat": "p_cat"}
    assert error_of(tmp_path, data) == (
        f"{tmp_path / 'monitor.yaml'}: predictions.class_scores: model.task 'multiclass' needs at least two classes "
        "(hint: {class: probability column}, one entry per class)"
    )
    data["predictions"]["class_scores"] = {"cat": "p", "dog": "p"}
    assert error_of(tmp_path, data) == (
        f"{tmp_path / 'monitor.yaml'}: predictions.class_scores: two classes name the same column "
        "(hint: each class needs its own probability column)"
    )


def test_class_scores_only_for_multiclass(tmp_path: Path) -> None:
    data = minimal()
    data["predictions"]["class_scores"] = {"a": "p_a", "b": "p_b"}
    assert error_of(tmp_path, data) == (
        f"{tmp_path / 'monitor.yaml'}: predictions.class_scores: only for model.task 'multiclass', not 'binary' "
        "(hint: set model.task: multiclass or remove class_scores)"
    )


def test_feature_maps_a_source_column_with_any_characters(tmp_path: Path) -> None:
    data = minimal()
    data["features"] = [{"name": "order_value", "column": "Order Value (USD)", "type": "numeric",
                         "lineage": "t.Order Value (USD)"}]
    cfg = config_from_dict(data, root=tmp_path)
    assert cfg.column_map == {"Order Value (USD)": "order_value"}
    data["features"][0]["name"] = "Order Value (USD)"
    assert error_of(tmp_path, data) == (
        f"{tmp_path / 'monitor.yaml'}: features[0].name: String should match pattern '^[A-Za-z_][A-Za-z0-9_]*$' "
        "(hint: the value does not have the expected form)"
    )
    data = minimal()
    data["features"] = [{"name": "a", "column": "Value", "type": "numeric"},
                        {"name": "b", "column": "Value", "type": "numeric"}]
    assert error_of(tmp_path, data) == (
        f"{tmp_path / 'monitor.yaml'}: features: two features read the same source column 'Value' "
        "(hint: each feature maps its own column)"
    )
