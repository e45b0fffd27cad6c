"""Direct loss estimation on data nobody here generated: scikit-learn's diabetes set (offline).

A linear model is fitted on half the patients; the other half, with its predictions and
outcomes, is the reference. Batches drawn from patients where the model errs more (by a
feature, not by the label) must get a higher estimated MAE, close to the realized one,
and batches like the reference must not.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes
from sklearn.linear_model import LinearRegression

from core.config import config_from_dict
from profilers import expected_error


def _setup(tmp_path: Path, seed: int) -> tuple[object, pd.DataFrame]:
    data = load_diabetes(as_frame=True)
    frame = data.frame.copy()
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(frame))
    train, rest = frame.iloc[order[:150]], frame.iloc[order[150:]].reset_index(drop=True)
    features = [c for c in frame.columns if c != "target"]
    model = LinearRegression().fit(train[features], train["target"])
    rest["pred"] = model.predict(rest[features])
    ref = rest.iloc[:200]
    ref.to_parquet(tmp_path / "ref.parquet")
    cfg = config_from_dict({
        "model": {"name": "diabetes", "task": "regression"},
        "predictions": {"source": {"path": "p"}, "id_column": "id", "timestamp_column": "ts", "score_column": "pred"},
        "features": [{"name": f, "type": "numeric", "lineage": f"outcomes.{f}"} for f in features],
        "etl_tables": [{"name": "outcomes", "source": {"path": "o"}, "timestamp_column": "ts"}],
        "labels": {"table": "outcomes", "join_key": "id", "label_column": "target"},
        "reference": {"kind": "file", "path": "ref.parquet"},
    }, root=tmp_path)
    return cfg, rest


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_estimated_mae_follows_where_the_model_errs(tmp_path: Path, seed: int) -> None:
    cfg, rest = _setup(tmp_path, seed)
    model = expected_error.error_model(cfg)
    assert model is not None
    summary = model.reference_summary(50)
    assert summary["reference_chunks"] == 4 and summary["reference_mae_sd"] >= 0
    # The reference's own estimate is close to its realized MAE (cross-fitted, not in-sample).
    ref = rest.iloc[:200]
    realized_ref = float(np.abs(ref["target"] - ref["pred"]).mean())
    assert summary["reference_mae"] == pytest.approx(realized_ref, rel=0.15)
    # Patients with the largest predictions (where a linear fit errs more on this data).
    pool = rest.iloc[200:]
    high = pool.nlargest(60, "pred")
    low = pool.nsmallest(60, "pred")
    est_high, est_low = model.estimate(high)["mae"], model.estimate(low)["mae"]
    real_high = float(np.abs(high["target"] - high["pred"]).mean())
    real_low = float(np.abs(low["target"] - low["pred"]).mean())
    assert real_high > real_low  # the premise, measured on labels the estimator never saw
    assert est_high > est_low
    # Estimates never read the labels of the batch: dropping them changes nothing.
    assert model.estimate(high.drop(columns=["target"]))["mae"] == est_high


def test_no_model_without_a_labelled_reference(tmp_path: Path) -> None:
    cfg, rest = _setup(tmp_path, 0)
    rest.iloc[:200].drop(columns=["target"]).to_parquet(tmp_path / "ref.parquet")
    assert expected_error.error_model(cfg) is None
