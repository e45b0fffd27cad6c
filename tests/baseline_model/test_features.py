from __future__ import annotations

import importlib

import numpy as np
import pandas as pd
import pytest

from baseline_model.features import SERVED_FEATURES, build_features
from baseline_model.simulator import generate_day
from core.config import load_config

from .conftest import REPO, START


def _day() -> tuple[pd.DataFrame, pd.DataFrame]:
    data = generate_day(START, 1, 80)
    assert data.bureau is not None
    return data.applications, data.bureau


def test_joins_on_application_id_and_derives_loan_to_income() -> None:
    apps, bureau = _day()
    shuffled = bureau.sample(frac=1.0, random_state=0)  # join, not position
    out = build_features(apps, shuffled)
    assert list(out.columns) == ["application_id", "submitted_at", *SERVED_FEATURES]
    assert list(out["application_id"]) == list(apps["application_id"])
    merged = apps.merge(bureau, on="application_id")
    np.testing.assert_allclose(out["credit_score"], merged["credit_score"])
    np.testing.assert_allclose(out["loan_to_income"], apps["loan_amount"] / apps["income"])
    assert apps.equals(_day()[0])  # inputs are not modified


def test_missing_columns_and_rows_become_nulls_not_crashes() -> None:
    apps, bureau = _day()
    out = build_features(apps.drop(columns=["employment_years"]), bureau.iloc[10:])
    assert out["employment_years"].isna().all()
    assert out["credit_score"].iloc[:10].isna().all() and out["credit_score"].iloc[10:].notna().all()
    zero = apps.copy()
    zero.loc[0, "income"] = 0.0
    assert np.isnan(build_features(zero, bureau)["loan_to_income"].iloc[0])


def test_numbers_delivered_as_strings_are_parsed_and_junk_is_null() -> None:
    apps, bureau = _day()
    retyped = apps.assign(income=apps["income"].astype(str))
    retyped.loc[1, "income"] = "n/a"
    out = build_features(retyped, bureau)
    assert out["income"].iloc[0] == pytest.approx(apps["income"].iloc[0])
    assert np.isnan(out["income"].iloc[1])


def test_duplicated_extract_rows_give_one_feature_row() -> None:
    apps, bureau = _day()
    out = build_features(pd.concat([apps, apps.iloc[:5]]), pd.concat([bureau, bureau.iloc[:5]]))
    assert len(out) == len(apps) and out["application_id"].is_unique


def test_missing_key_is_a_clear_error() -> None:
    apps, bureau = _day()
    with pytest.raises(ValueError, match="no 'application_id' column"):
        build_features(apps.drop(columns=["application_id"]), bureau)


def test_monitor_config_is_valid_and_matches_the_business() -> None:
    cfg = load_config(REPO / "baseline_model" / "configs" / "monitor.yaml")
    assert [f.name for f in cfg.features] == list(SERVED_FEATURES)
    module, func = (cfg.model.feature_builder or "").split(":")
    assert getattr(importlib.import_module(module), func) is build_features
    apps, bureau = _day()
    tables = {"applications": apps, "bureau": bureau}
    for f in cfg.features:
        if f.lineage:  # every lineage points at a real upstream column
            table, column = f.lineage.split(".")
            assert column in tables[table].columns, f.lineage
    assert cfg.feature("loan_to_income").lineage is None
    assert cfg.labels is not None and cfg.labels.maturity.days == 14
    assert cfg.predictions.positive_decision == "approve"
    assert {k.kind for k in cfg.kpis} == {"approval_rate", "label_rate"}
