"""Prediction-distribution and live-test-set checks."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from checks.performance.estimated import estimate, estimated_performance
from checks.performance.kpi import kpi
from checks.performance.live_metrics import auc, brier, hanley_mcneil_se, mae, precision, recall
from checks.prediction.outputs import calibration_drift, decision_rate_shift, fallback_rate, score_drift
from checks.registry import CHECKS
from profilers.stats_types import PerformanceStats
from tests.checks.stats_factory import categorical_stats, numeric_reference, numeric_stats

B = datetime(2026, 3, 1)


def P(name: str, **kw):  # noqa: N802
    return {**CHECKS[name].params, **kw}


def test_score_drift_fires_on_a_prediction_shift_only():
    rng = np.random.default_rng(0)
    ref = numeric_reference(rng.beta(2, 12, 20000), 1000, column="score")
    same = numeric_stats(rng.beta(2, 12, 2000), ref.whole.bin_edges, column="score")
    assert score_drift(ref, same, P("score_drift")).status == "ok"
    shifted = numeric_stats(rng.beta(3, 10, 2000), ref.whole.bin_edges, column="score")
    res = score_drift(ref, shifted, P("score_drift"))
    assert res.status == "fail" and res.family == "prediction" and res.check == "score_drift"


def test_decision_rate_shift_against_recent_batches():
    rng = np.random.default_rng(1)
    recent = [0.80, 0.81, 0.79, 0.80, 0.82]
    ok = categorical_stats(list(rng.choice(["approve", "refer"], 2000, p=[0.8, 0.2])), column="decision")
    params = P("decision_rate_shift", positive_decision="approve", recent_rates=recent)
    assert decision_rate_shift(None, ok, params).status == "ok"
    low = categorical_stats(list(rng.choice(["approve", "refer"], 2000, p=[0.6, 0.4])), column="decision")
    res = decision_rate_shift(None, low, params)
    assert res.status == "fail" and "fell" in res.explanation
    assert decision_rate_shift(None, low, P("decision_rate_shift", positive_decision="approve")).status == "skipped"


def test_fallback_rate_rise():
    rng = np.random.default_rng(2)
    ok = categorical_stats([bool(x) for x in rng.random(2000) < 0.002], column="fallback", kind="boolean")
    assert fallback_rate(None, ok, P("fallback_rate", recent_rates=[0.002, 0.001, 0.003])).status == "ok"
    bad = categorical_stats([bool(x) for x in rng.random(2000) < 0.08], column="fallback", kind="boolean")
    res = fallback_rate(None, bad, P("fallback_rate", recent_rates=[0.002, 0.001, 0.003]))
    assert res.status == "fail" and res.value == pytest.approx(0.08, abs=0.02)


def _perf(**kw) -> PerformanceStats:
    base = dict(batch=B, predictions=2000, labeled=1400, matured=True, positives=140, approved=1600,
                approved_labeled=1300, approved_positives=110, mean_score=0.1, mean_label=0.1, auc=0.78,
                brier=0.08, precision=0.3, recall=0.6,
                estimated={"expected_approved_positive_rate": 0.085})
    base.update(kw)
    return PerformanceStats(**base)


def test_hanley_mcneil_matches_the_known_formula_scale():
    se = hanley_mcneil_se(0.8, 100, 900)
    assert 0.02 < se < 0.03  # textbook value ~0.023 for these sizes


def test_auc_drop_fails_only_when_material_and_significant():
    params = P("auc", expected=0.78)
    assert auc(None, _perf(), params).status == "ok"
    res = auc(None, _perf(auc=0.65), params)
    assert res.status == "fail" and res.evidence["ci"][1] < 0.78
    small = _perf(auc=0.74, labeled=150, positives=25)
    assert auc(None, small, params).status in ("warn", "ok")
    assert auc(None, _perf(matured=False), params).status == "skipped"
    assert auc(None, _perf(positives=5), params).status == "skipped"
    assert "registered evaluation" in auc(None, _perf(), P("auc")).explanation


def test_precision_recall_brier():
    assert precision(None, _perf(precision=0.15), P("precision", expected=0.3)).status == "fail"
    assert recall(None, _perf(recall=0.3), P("recall", expected=0.6)).status == "fail"
    assert recall(None, _perf(), P("recall", expected=0.6)).status == "ok"
    assert brier(None, _perf(brier=0.14), P("brier", expected=0.08)).status == "fail"
    assert brier(None, _perf(), P("brier", expected=0.08)).status == "ok"


def test_regression_metrics_use_a_relative_tolerance():
    perf = _perf(mae=12.0, positives=0)
    assert mae(None, perf, P("mae", expected=10.0)).status == "fail"
    assert mae(None, _perf(mae=10.5), P("mae", expected=10.0)).status == "ok"


def test_calibration_drift_on_approved_rows():
    assert calibration_drift(None, _perf(), P("calibration_drift")).status == "ok"
    drifted = _perf(approved_positives=200)  # 15% observed vs 8.5% predicted
    res = calibration_drift(None, drifted, P("calibration_drift"))
    assert res.status == "fail" and "under-estimate" in res.explanation


def test_kpi_bounds_and_readiness():
    label = dict(kpi_name="default_rate_approved", kind="label_rate", decision="approve", upper=0.14, min_rows=100)
    res = kpi(None, _perf(), P("kpi", **label))
    assert res.status == "ok" and res.subject == "model.default_rate_approved"
    res = kpi(None, _perf(approved_positives=250), P("kpi", **label))
    assert res.status == "fail" and res.value == pytest.approx(250 / 1300)
    assert kpi(None, _perf(matured=False), P("kpi", **label)).status == "skipped"
    approval = dict(kpi_name="approval_rate", kind="approval_rate", lower=0.5, upper=0.95)
    assert kpi(None, _perf(matured=False), P("kpi", **approval)).status == "ok"
    assert kpi(None, _perf(approved=800), P("kpi", **approval)).status == "fail"


def test_estimated_auc_agrees_with_the_realized_auc_of_calibrated_scores():
    rng = np.random.default_rng(5)
    scores = rng.beta(2, 8, 50000)
    labels = rng.random(50000) < scores  # calibrated by construction
    edges = numeric_reference(scores, 5000).whole.bin_edges
    est = estimate(numeric_stats(scores, edges))
    assert est["auc"] == pytest.approx(roc_auc_score(labels, scores), abs=0.01)
    assert est["brier"] == pytest.approx(float(np.mean((scores - labels) ** 2)), abs=0.005)
    ref = numeric_reference(scores, 5000)
    res = estimated_performance(ref, numeric_stats(rng.beta(2, 8, 2000), edges), P("estimated_performance"))
    assert res.status == "ok" and res.evidence["estimated"] is True
    flat = numeric_stats(rng.beta(20, 80, 2000), edges)  # scores squeezed together: little ranking power
    res = estimated_performance(ref, flat, P("estimated_performance"))
    assert res.status == "fail" and "estimated" in res.explanation.lower()


def test_a_noisy_auc_dip_on_a_small_live_test_set_stays_quiet():
    small = _perf(auc=0.70, labeled=300, positives=30)
    assert auc(None, small, P("auc", expected=0.74)).status == "ok"
    # The expectation's own sampling error (measured on the reference) widens the interval.
    big = _perf(auc=0.70, labeled=20000, positives=2000)
    assert auc(None, big, P("auc", expected=0.74)).status == "fail"
    res = auc(None, big, P("auc", expected=0.74, expected_se=0.03))
    assert res.status != "fail" and res.evidence["expected_se"] == 0.03


def test_expected_precision_and_recall_carry_the_reference_sampling_error():
    """A small reference (600 rows, as scikit-learn's digits gives) leaves its expected recall a few
    points uncertain: that error joins the live one, so a clean 200-row batch does not page on it."""
    from checks.live_reference import expected_values, weighted_metrics

    rng = np.random.default_rng(3)
    s = rng.beta(2, 2, 600)
    y = (rng.random(600) < s).astype(float)
    ref = weighted_metrics(s, y, np.ones(600), 0.5)
    flagged, pos = s >= 0.5, y == 1
    assert ref["precision_se"] == pytest.approx(np.sqrt(ref["precision"] * (1 - ref["precision"]) / flagged.sum()))
    assert ref["recall_se"] == pytest.approx(np.sqrt(ref["recall"] * (1 - ref["recall"]) / pos.sum()))
    assert 0.015 < ref["recall_se"] < 0.04
    ctx = expected_values("recall", ref, None)
    assert ctx["expected_se"] == ref["recall_se"]
    # The clean digits batch of the real-data bench (seed 3): recall 0.667 on 90 positives against 0.785.
    batch = _perf(labeled=200, positives=90, recall=60 / 90, precision=0.75)
    alone = recall(None, batch, P("recall", expected=0.785))
    assert alone.status == "fail"  # the live error alone: the reference's own error was missing
    both = recall(None, batch, P("recall", expected=0.785, expected_se=0.0245))
    assert both.status != "fail", both.explanation
    assert both.evidence["expected_se"] == 0.0245


def test_the_reference_estimate_error_joins_the_live_estimate_error():
    from checks.live_reference import reference_estimate

    rng = np.random.default_rng(4)
    s = rng.beta(2, 5, 3000)
    ref = reference_estimate(s)
    assert ref["estimated_auc_se"] == pytest.approx(ref["estimated_auc_unit_sd"] / np.sqrt(3000))
    edges = numeric_reference(s, 300).whole.bin_edges
    batch = numeric_stats(rng.beta(2, 5, 1000), edges)
    params = P("estimated_performance", estimated_auc_exact=ref["estimated_auc"] - 0.004, scored_rows=1000,
               reference_estimated_auc=ref["estimated_auc"], reference_estimated_auc_unit_sd=ref["estimated_auc_unit_sd"],
               reference_estimated_auc_se=ref["estimated_auc_se"])
    res = estimated_performance(None, batch, params)
    live = ref["estimated_auc_unit_sd"] / np.sqrt(1000)
    assert res.evidence["own_sampling_error"] == pytest.approx(np.hypot(live, ref["estimated_auc_se"]))
