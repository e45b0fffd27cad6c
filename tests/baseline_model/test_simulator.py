from __future__ import annotations

import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from baseline_model.layout import etl_path, predictions_path
from baseline_model.simulator import (
    Incident,
    SimulationError,
    generate_day,
    parse_incident,
    simulate_history,
    truth_path,
)
from core.stores import OpsStore

from .conftest import START


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted((root / "landing").rglob("*.parquet"))}


def test_same_call_gives_byte_identical_landing_files(example_root: Path, tmp_path: Path) -> None:
    import shutil

    other = tmp_path / "other"
    shutil.copytree(example_root, other)
    for root in (example_root, other):
        simulate_history(root, START, 16, seed=11, volume=120, ops=OpsStore(root / "ops.sqlite"),
                         incidents=[Incident("nulls", 3)])
    a, b = _files(example_root), _files(other)
    assert len(a) == 16 * 3 + 2  # applications, bureau, predictions each day; outcomes from day 14
    assert a == b


def test_different_seeds_differ() -> None:
    a = generate_day(START, seed=1, volume=200)
    b = generate_day(START, seed=2, volume=200)
    assert not a.applications["income"].equals(b.applications["income"])


def test_twenty_days_of_300_simulate_and_score_in_a_few_seconds(example_root: Path, example_ops: OpsStore) -> None:
    t0 = time.perf_counter()
    reports = simulate_history(example_root, START, 20, seed=5, volume=300, ops=example_ops)
    elapsed = time.perf_counter() - t0
    assert all(r.scored > 0 for r in reports)
    assert elapsed < 15, f"20 days x 300 took {elapsed:.1f}s"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_distributions_are_realistic(seed: int) -> None:
    days = [generate_day(START + timedelta(days=i), seed, 2000) for i in range(7)]
    apps = pd.concat([d.applications for d in days])
    bureau = pd.concat([d.bureau for d in days if d.bureau is not None])
    truth = pd.concat([d.truth for d in days])
    assert 50_000 < apps["income"].median() < 70_000
    assert abs(bureau["credit_score"].mean() - 680) < 5
    assert bureau["credit_score"].between(300, 850).all()
    assert set(apps["term_months"]) == {36, 60}
    assert bureau["utilisation"].between(0, 1).all()
    assert 0.08 < truth["defaulted"].mean() < 0.18
    # Weekly seasonality: a weekend day is quieter than a weekday.
    volumes = {d.day.weekday(): len(d.applications) for d in days}
    assert volumes[6] < 0.85 * volumes[0]


def test_default_depends_on_features_like_a_credit_business() -> None:
    from sklearn.metrics import roc_auc_score

    days = [generate_day(START + timedelta(days=i), 4, 1500) for i in range(10)]
    truth = pd.concat([d.truth for d in days])
    credit = pd.concat([d.bureau for d in days if d.bureau is not None])["credit_score"]
    # The true risk ranks defaults well, but not perfectly (unobserved risk exists).
    assert 0.75 < roc_auc_score(truth["defaulted"], truth["p_default"]) < 0.9
    assert 0.65 < roc_auc_score(truth["defaulted"], -credit.to_numpy()) < 0.8


def test_unit_change_divides_income_by_1000_on_that_day_only(example_root: Path, example_ops: OpsStore, tmp_path: Path) -> None:
    clean_root = tmp_path / "clean"
    simulate_history(clean_root, START, 5, seed=9, volume=100, score=False)
    simulate_history(example_root, START, 5, seed=9, volume=100, ops=example_ops,
                     incidents=[Incident("unit_change", day=2)])
    for i in range(5):
        day = START + timedelta(days=i)
        hit = pd.read_parquet(etl_path(example_root, "applications", day))
        clean = pd.read_parquet(etl_path(clean_root, "applications", day))
        assert list(hit["application_id"]) == list(clean["application_id"])
        expected = clean["income"] / 1000 if i == 2 else clean["income"]
        np.testing.assert_allclose(hit["income"], expected, rtol=1e-12)
        # The world did not change: the truth is the same with or without the reporting fault.
        pd.testing.assert_frame_equal(pd.read_parquet(truth_path(example_root, day)), pd.read_parquet(truth_path(clean_root, day)))
    preds = pd.read_parquet(predictions_path(example_root, START + timedelta(days=2)))
    # Thousands-income is still in the validated range: it is scored (and looks risky), not refused.
    assert not preds["fallback"].any()
    assert preds["income"].median() < 200


def test_affine_unit_change_celsius_to_fahrenheit_style() -> None:
    clean = generate_day(START, 3, 100)
    hit = generate_day(START, 3, 100, [Incident("unit_change", 0, column="interest_rate", size=1.8, offset=32)], START)
    np.testing.assert_allclose(hit.applications["interest_rate"], clean.applications["interest_rate"] * 1.8 + 32)


def test_outcomes_only_for_approved_and_control_and_only_after_the_delay(example_root: Path, example_ops: OpsStore) -> None:
    delay = 5
    simulate_history(example_root, START, 12, seed=2, volume=200, ops=example_ops, label_delay_days=delay)
    outcome_files = sorted((example_root / "landing" / "etl" / "outcomes").glob("*.parquet"))
    assert [p.stem for p in outcome_files] == [f"outcomes_{START + timedelta(days=i)}" for i in range(delay, 12)]
    for i in range(delay, 12):
        day = START + timedelta(days=i)
        outcomes = pd.read_parquet(etl_path(example_root, "outcomes", day))
        preds = pd.read_parquet(predictions_path(example_root, day - timedelta(days=delay)))
        approved = set(preds.loc[preds["decision"] == "approve", "application_id"])
        assert set(outcomes["application_id"]) == approved
        assert (outcomes["observed_at"].dt.date == day).all()
        merged = outcomes.merge(preds, on="application_id")
        assert ((merged["observed_at"] - merged["scored_at"]) == pd.Timedelta(days=delay)).all()
        # Control rows are approved regardless of score (unless their input was invalid).
        control = preds[preds["control"] & ~preds["fallback"]]
        assert (control["decision"] == "approve").all()
        assert set(control["application_id"]) <= set(outcomes["application_id"])
    all_preds = pd.concat(pd.read_parquet(p) for p in sorted((example_root / "landing" / "predictions").glob("*.parquet")))
    assert 0.02 < all_preds["control"].mean() < 0.09
    # Some control rows are approved despite a score above the threshold.
    assert ((all_preds["control"]) & (all_preds["score"] >= 0.2) & (all_preds["decision"] == "approve")).any()


def test_reporting_incidents_change_the_extract() -> None:
    def day(*incidents: Incident) -> object:
        return generate_day(START, 8, 400, list(incidents), START)

    nulls = day(Incident("nulls", 0, size=0.5))
    assert 0.4 < nulls.bureau["credit_score"].isna().mean() < 0.6  # type: ignore[attr-defined]
    assert "employment_years" not in day(Incident("dropped_column", 0)).applications.columns  # type: ignore[attr-defined]
    renamed = day(Incident("renamed_column", 0, value="annual_income")).applications  # type: ignore[attr-defined]
    assert "annual_income" in renamed.columns and "income" not in renamed.columns
    retyped = day(Incident("retyped_column", 0)).applications  # type: ignore[attr-defined]
    assert isinstance(retyped["income"].iloc[0], str)
    assert day(Incident("stale_table", 0)).bureau is None  # type: ignore[attr-defined]
    stale = day(Incident("stale_table", 0, size=3)).bureau  # type: ignore[attr-defined]
    assert (stale["reported_at"].dt.date < START).all()
    clean = day()
    dup = day(Incident("duplicates", 0, size=0.1)).applications  # type: ignore[attr-defined]
    assert len(dup) == len(clean.applications) + round(0.1 * len(clean.applications))  # type: ignore[attr-defined]
    assert dup["application_id"].duplicated().sum() > 0
    dropped = day(Incident("volume_drop", 0, size=0.3)).applications  # type: ignore[attr-defined]
    assert len(dropped) < 0.4 * len(clean.applications)  # type: ignore[attr-defined]
    newcat = day(Incident("new_category", 0)).applications  # type: ignore[attr-defined]
    assert (newcat["purpose"] == "crypto").mean() > 0.08


def test_drift_incidents_change_the_world() -> None:
    base = [generate_day(START + timedelta(days=i), 6, 1500) for i in range(3)]
    drifted = [generate_day(START + timedelta(days=i), 6, 1500, [Incident("covariate_drift", 0)], START) for i in range(3)]
    b_cs = pd.concat([d.bureau for d in base if d.bureau is not None])["credit_score"]
    d_cs = pd.concat([d.bureau for d in drifted if d.bureau is not None])["credit_score"]
    assert d_cs.mean() < b_cs.mean() - 40  # -1 standard deviation, on every day (persistent)
    concept = [generate_day(START + timedelta(days=i), 6, 1500, [Incident("concept_drift", 0, size=1.5)], START)
               for i in range(3)]
    apps = pd.concat([d.applications for d in base])
    rent = (apps["home_ownership"] == "RENT").to_numpy()
    before = pd.concat([d.truth for d in base])["defaulted"].to_numpy()
    after = pd.concat([d.truth for d in concept])["defaulted"].to_numpy()
    assert after[rent].mean() > before[rent].mean() + 0.08
    assert abs(after[~rent].mean() - before[~rent].mean()) < 0.02
    # Inputs are unchanged under concept drift.
    pd.testing.assert_frame_equal(pd.concat([d.applications for d in concept]), apps)


def test_prediction_shift_moves_served_scores(example_root: Path, example_ops: OpsStore) -> None:
    simulate_history(example_root, START, 2, seed=1, volume=200, ops=example_ops,
                     incidents=[Incident("prediction_shift", 1, size=0.2)])
    clean = pd.read_parquet(predictions_path(example_root, START))
    shifted = pd.read_parquet(predictions_path(example_root, START + timedelta(days=1)))
    assert shifted["score"].mean() > clean["score"].mean() + 0.12


def test_parse_incident_and_errors() -> None:
    inc = parse_incident("nulls:5:credit_score:0.4")
    assert (inc.kind, inc.day, inc.column, inc.size) == ("nulls", 5, "credit_score", 0.4)
    assert parse_incident("unit_change:2026-03-04").day == date(2026, 3, 4)
    with pytest.raises(SimulationError, match="unknown incident kind 'bogus'"):
        parse_incident("bogus:1")
    with pytest.raises(SimulationError, match="KIND:DAY"):
        parse_incident("nulls")
    with pytest.raises(SimulationError, match="neither extract"):
        generate_day(START, 1, 50, [Incident("nulls", 0, column="shoe_size")], START)


def test_simulate_day_continues_a_history_exactly(example_root: Path, tmp_path: Path) -> None:
    import shutil

    from baseline_model.simulator import simulate_day

    other = tmp_path / "other"
    shutil.copytree(example_root, other)
    simulate_history(example_root, START, 4, seed=3, volume=80, ops=OpsStore(example_root / "ops.sqlite"),
                     label_delay_days=2)
    ops = OpsStore(other / "ops.sqlite")
    simulate_history(other, START, 2, seed=3, volume=80, ops=ops, label_delay_days=2)
    for i in (2, 3):
        simulate_day(other, START + timedelta(days=i), seed=3, volume=80, ops=ops, label_delay_days=2)
    assert _files(example_root) == _files(other)


def test_incident_values_from_the_cli_form() -> None:
    inc = parse_incident("concept_drift:3:purpose=credit_card:2.0")
    assert (inc.column, inc.label, inc.amount) == ("purpose", "credit_card", 2.0)
    assert parse_incident("renamed_column:0:income=annual_income").label == "annual_income"


def test_without_a_scorer_the_legacy_rule_and_control_decide_outcomes(tmp_path: Path) -> None:
    from baseline_model.scorer import is_control
    from baseline_model.simulator import LEGACY_CREDIT_SCORE_CUTOFF

    simulate_history(tmp_path, START, 4, seed=1, volume=100, score=False, label_delay_days=3)
    outcomes = pd.read_parquet(etl_path(tmp_path, "outcomes", START + timedelta(days=3)))
    bureau = pd.read_parquet(etl_path(tmp_path, "bureau", START))
    approved = bureau[(bureau["credit_score"] >= LEGACY_CREDIT_SCORE_CUTOFF) | bureau["application_id"].map(is_control)]
    assert set(outcomes["application_id"]) == set(approved["application_id"])
    assert not predictions_path(tmp_path, START).exists()
