"""The runner against a warehouse built by the real profilers from landing files."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from checks import queries
from checks.registry import CHECKS
from checks.result import CheckResult
from checks.runner import run_checks, safely
from tests.checks.warehouse_fixture import DAY0, build_history


def _thousands(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(income=df["income"] / 1000)


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    root = tmp_path_factory.mktemp("runner")
    cfg, wh, batches = build_history(root, days=12, incidents={9: _thousands})
    results = run_checks(cfg, wh, batches, batches, model_evaluation={"auc": 0.7})
    return cfg, wh, batches, results


def test_every_result_is_stored_and_sorted_by_batch(history):
    cfg, wh, batches, results = history
    assert [r.batch for r in results] == sorted(r.batch for r in results)
    assert {r.batch for r in results} == set(batches)
    assert all(r.model == "toy" for r in results)
    with wh.read() as conn:
        n = conn.execute("SELECT count(*) FROM check_results").fetchone()[0]
    assert n == len(results)


def test_unit_change_fires_on_the_incident_day_only(history):
    _, _, batches, results = history
    fails = {(r.subject, r.batch) for r in results if r.check == "unit_change" and r.status == "fail"}
    day9 = DAY0 + timedelta(days=9)
    assert fails == {("predictions.income", day9), ("apps.income", day9)}
    r = next(r for r in results if r.check == "unit_change" and r.subject == "apps.income" and r.batch == day9)
    assert r.evidence["conversion"] == "x0.001"
    assert r.severity == "critical"


def test_clean_days_raise_no_failure(history):
    _, _, _, results = history
    day9 = DAY0 + timedelta(days=9)
    clean_fails = [(r.check, r.subject, r.batch, r.explanation) for r in results
                   if r.status == "fail" and r.batch != day9]
    assert clean_fails == []
    assert not [r for r in results if r.status == "error"], [r.explanation for r in results if r.status == "error"]


def test_subjects_cover_features_lineage_score_tables_and_model(history):
    _, _, _, results = history
    subjects = {(r.check, r.subject) for r in results}
    for expected in [("null_rate", "predictions.income"), ("null_rate", "apps.income"), ("psi", "predictions.cat"),
                     ("score_drift", "predictions.score"), ("volume", "apps"), ("freshness", "apps"),
                     ("schema", "predictions"), ("multivariate_drift", "predictions"), ("auc", "model"),
                     ("kpi", "model.default_rate_approved"), ("training_serving_skew", "predictions"),
                     ("estimated_performance", "model"), ("decision_rate_shift", "predictions.decision"),
                     ("fallback_rate", "predictions.fallback")]:
        assert expected in subjects, expected
    assert ("psi", "apps.income") not in subjects  # drift runs on served features only


def test_fallback_rate_is_read_even_when_the_profilers_skip_the_column(history):
    _, _, batches, results = history
    fb = [r for r in results if r.check == "fallback_rate"]
    assert len(fb) == len(batches)
    assert all(r.status in ("ok", "skipped") for r in fb)
    assert fb[-1].status == "ok" and fb[-1].evidence["rows"] == 600


def test_label_checks_run_once_labels_matured(history):
    _, _, batches, results = history
    auc = {r.batch: r for r in results if r.check == "auc"}
    assert auc[batches[0]].status in ("ok", "warn", "fail")
    assert auc[batches[-1]].status == "skipped" and "matured" in auc[batches[-1]].explanation
    skew = [r for r in results if r.check == "training_serving_skew"]
    assert all(r.status == "ok" for r in skew), [r.explanation for r in skew]


def test_rerun_replaces_rows_and_queries_read_them(history):
    cfg, wh, batches, results = history
    again = run_checks(cfg, wh, batches[-2:], [])
    with wh.read() as conn:
        assert conn.execute("SELECT count(*) FROM check_results").fetchone()[0] == len(results)
        rows = queries.results_for_batch(conn, batches[9])
        assert rows[0]["status"] == "fail"
        hist = queries.check_history(conn, "unit_change", "apps.income")
        assert [h["batch"] for h in hist] == batches
        assert hist[9]["evidence"]["conversion"] == "x0.001"
        summary = queries.checked_batches(conn)
        assert len(summary) == len(batches)
        assert any(r["check_name"] == "unit_change" for r in queries.latest_failures(conn))
    assert again


def test_config_disables_and_overrides(tmp_path):
    cfg, wh, batches = build_history(
        tmp_path, days=2,
        checks={"disabled": ["ks"], "params": {"psi": {"min_effect": 0.5}}},
    )
    results = run_checks(cfg, wh, batches, [])
    assert not [r for r in results if r.check == "ks"]
    psi = [r for r in results if r.check == "psi"]
    assert psi and all(r.upper >= 0.5 for r in psi if r.status != "skipped")


def test_a_crashing_check_becomes_an_error_result():
    def boom(reference, current, params):
        raise RuntimeError("bad stats")

    spec = CHECKS["psi"].__class__(**{**CHECKS["psi"].__dict__, "fn": boom})
    res = safely(spec, "predictions.x", DAY0, None, None, {}, "toy")
    assert isinstance(res, CheckResult)
    assert res.status == "error" and "bad stats" in res.explanation and res.model == "toy"


def test_performance_checks_compare_with_the_reference_on_the_live_selection(tmp_path):
    """Live AUC covers approved rows only; the expectation is the reference AUC on the same selection."""
    import numpy as np
    from sklearn.metrics import roc_auc_score

    from checks.live_reference import expected_values, reference_selection_metrics
    from core.config import config_from_dict
    from tests.checks.warehouse_fixture import config_dict

    rng = np.random.default_rng(0)
    s = rng.beta(2, 6, 5000)
    y = (rng.random(5000) < s).astype(int)
    decision = np.where(s < 0.3, "approve", "refer")
    import pandas as pd

    pd.DataFrame({"score": s, "y": y, "decision": decision}).to_parquet(tmp_path / "ref.parquet")
    cfg = config_from_dict(config_dict(), file="toy.yaml", root=tmp_path)
    # Labels only for approved rows (coverage 100% / 0%): the expectation uses those rows only.
    live = reference_selection_metrics(cfg, coverage=(1.0, 0.0))
    approved = decision == "approve"
    assert live["auc"] == pytest.approx(roc_auc_score(y[approved], s[approved]))
    assert live["auc"] < roc_auc_score(y, s)  # selection lowers AUC: why the full-holdout AUC is the wrong yardstick
    assert live["rows"] == approved.sum()
    ctx = expected_values("auc", live, {"roc_auc": 0.9})
    assert ctx == {"expected": live["auc"], "expected_se": live["auc_se"],
                   "expected_basis": "reference rows with the live selection", "registered": 0.9,
                   # the AUC's spread over reference chunks, for calibrated bounds (issue 11)
                   "chunk_sd": live["auc_chunk_sd"], "chunk_rows": live["chunk_rows"]}
    assert 0 < live["auc_se"] < 0.05
    # The estimate: the registered AUC, plus the same estimate on every reference score (issue 11).
    est = expected_values("estimated_performance", live, {"roc_auc": 0.9})
    assert est["expected"] == 0.9 and est["reference_estimated_auc"] == live["estimated_auc"]
    assert {"reference_estimated_auc_chunk_sd", "reference_estimated_auc_unit_sd"} <= set(est)
    assert expected_values("estimated_performance", {}, {"roc_auc": 0.9}) == {"expected": 0.9}
    assert expected_values("auc", {}, {"roc_auc": 0.9})["expected_basis"] == "registered evaluation"
    assert expected_values("auc", {}, None) == {}


def test_a_batch_whose_labels_matured_reruns_only_the_label_based_checks(history):
    cfg, wh, batches, results = history
    again = run_checks(cfg, wh, [], [batches[0]], model_evaluation={"auc": 0.7})
    assert again and {r.family for r in again} == {"performance", "prediction"}
    est = next(r for r in again if r.check == "estimated_performance")
    assert est.evidence["estimated"] is True and est.evidence["realized_auc"] is not None
    assert {r.check for r in again} >= {"auc", "kpi", "estimated_performance", "calibration_drift"}
    assert "score_drift" not in {r.check for r in again}
    with wh.read() as conn:
        assert conn.execute("SELECT count(*) FROM check_results").fetchone()[0] == len(results)


def test_a_batch_whose_checking_fails_is_that_batchs_error_and_the_others_are_checked(tmp_path, monkeypatch):
    from checks import runner

    cfg, wh, batches = build_history(tmp_path, days=3)
    real = runner.check_batch

    def broken_on_the_middle_batch(conn, cfg, specs, batch, *args):  # type: ignore[no-untyped-def]
        if batch == batches[1]:
            raise RuntimeError("Could not convert Timestamp to higher precision")
        return real(conn, cfg, specs, batch, *args)

    monkeypatch.setattr(runner, "check_batch", broken_on_the_middle_batch)
    results = run_checks(cfg, wh, batches, [])
    errors = [r for r in results if r.check == "batch_checks"]
    assert [(r.batch, r.status, r.family) for r in errors] == [(batches[1], "error", "monitoring")]
    assert "higher precision" in errors[0].explanation and errors[0].model == cfg.model.name
    assert {r.batch for r in results if r.check != "batch_checks"} == {batches[0], batches[2]}
    with wh.read() as conn:
        stored = conn.execute("SELECT status FROM check_results WHERE check_name = 'batch_checks'").fetchall()
    assert stored == [("error",)]
