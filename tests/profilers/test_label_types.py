"""A label column of the wrong type for the model kind is quarantined with a clear reason, never
silently read as no labels; the same text labels load for a multiclass model."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pandas as pd

from core.config import VigilConfig, config_from_dict
from core.stores import Warehouse
from profilers.ingest import ingest_all
from tests.profilers.conftest import DAY0, day_frame, toy_config_dict, write_predictions


def _text_outcomes(root: Path) -> Path:
    preds = day_frame(0)
    df = pd.DataFrame({"id": preds["id"], "observed_at": DAY0 + timedelta(days=1, hours=1),
                       "y": ["default" if s > 0.5 else "repaid" for s in preds["score"]]})
    folder = root / "landing" / "outcomes"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "outcomes_01.jsonl"
    df.to_json(path, orient="records", lines=True, date_format="iso")
    return path


def test_text_labels_for_a_binary_model_are_quarantined_with_the_column_named(toy_cfg: VigilConfig, tmp_path: Path) -> None:
    write_predictions(toy_cfg.root, 0)
    _text_outcomes(toy_cfg.root)
    report = ingest_all(toy_cfg, Warehouse(toy_cfg.warehouse_path, memory_limit="512MB"))
    assert [(q.source, q.reason) for q in report.quarantined] == [("outcomes", "wrong_types")]
    detail = report.quarantined[0].detail
    assert "column 'y'" in detail and "expects numeric" in detail
    assert "'default'" in detail or "'repaid'" in detail  # an example of the offending value


def test_the_same_text_labels_load_for_a_multiclass_model(tmp_path: Path) -> None:
    data = toy_config_dict()
    data["model"] = {"name": "toy", "task": "multiclass"}
    frame = day_frame(0)
    frame["p_default"], frame["p_repaid"] = frame["score"], 1 - frame["score"]
    data["predictions"] = {**data["predictions"], "class_scores": {"default": "p_default", "repaid": "p_repaid"}}
    del data["predictions"]["score_column"], data["predictions"]["positive_decision"]
    cfg = config_from_dict(data, file="toy.yaml", root=tmp_path)
    write_predictions(cfg.root, 0, frame.drop(columns=["score"]))
    _text_outcomes(cfg.root)
    report = ingest_all(cfg, Warehouse(cfg.warehouse_path, memory_limit="512MB"))
    assert report.quarantined == [] and report.loaded == 2
