"""Segment checks are registered checks, and a within-segment shift into the model's uncertain
region is caught by the estimated AUC in its segment on its batch, before labels.

One scenario (tests/segments/uncertain_shift.py: data generated here, real ingest, profile and
runner) serves both: the estimate's page before labels, the realized AUC's once they land, and
the registry settings (``checks.disabled``, ``checks.params``) reaching the segment checks.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from app.cli import main
from checks.registry import CHECKS, config_errors, enabled_specs
from checks.segments.batch import enabled_segment_checks
from checks.segments.run import SEGMENT_CHECKS
from checks.spec import SEGMENT, Family
from core.model_kinds import BINARY, ModelKind
from tests.segments import uncertain_shift as us

SHIFT = 3


@pytest.fixture(scope="module")
def shifted(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("uncertain_shift")
    sc = us.Scenario(root, seed=0, shift_day=SHIFT)
    cfg = sc.config()
    wh, batches = sc.profile(cfg)
    before = us.check(cfg, wh, batches)  # the shifted day has no labels yet
    sc.deliver_labels()
    wh, relabelled = sc.profile(cfg)
    after = us.check(cfg, wh, relabelled)
    return sc, cfg, wh, before, after


def test_estimated_auc_pages_in_the_shifted_segment_on_its_batch_before_labels(shifted):
    sc, cfg, wh, before, after = shifted
    for i in range(SHIFT):  # clean batches: no segment pages
        assert not us.failed_segments(us.at(before, i)), i
    onset = us.at(before, SHIFT)
    assert not [r for r in onset if r.check in ("segment_auc", "segment_calibration")]  # no label yet
    failed = us.failed_segments(onset)
    assert ("segment_estimated_auc", us.SEGMENT) in failed
    assert {seg for _, seg in failed} == {us.SEGMENT}, failed  # only the shifted region
    est = next(r for r in onset if r.check == "segment_estimated_auc" and r.evidence["segment"] == us.SEGMENT)
    assert est.subject == f"model{{{us.SEGMENT}}}" and est.severity == "warning"
    assert est.value is not None and est.value < est.evidence["expected"] - 0.05
    # Under the model-level budget: Holm over every data-side segment test of the batch, at half the
    # budget (the other half is the label-side family's).
    assert est.evidence["correction"] == "holm" and est.evidence["family_size"] > 6
    assert est.evidence["alpha"] == pytest.approx(cfg.checks.false_alarm_budget / 2)
    assert est.evidence["adjusted_pvalue"] <= est.evidence["alpha"]
    # Once the labels land, the realized AUC confirms the estimate in the same segment.
    auc = {r.evidence["segment"]: r for r in us.at(after, SHIFT) if r.check == "segment_auc"}
    assert auc[us.SEGMENT].status == "fail"
    assert {s for s, r in auc.items() if r.status == "fail"} == {us.SEGMENT}
    assert auc[us.SEGMENT].value == pytest.approx(est.value, abs=0.05)


def test_segment_checks_are_registered_with_family_model_kinds_params_and_runbook():
    assert set(SEGMENT_CHECKS) <= set(CHECKS)
    for name in SEGMENT_CHECKS:
        spec = CHECKS[name]
        assert spec.inputs == SEGMENT and isinstance(spec.family, Family) and spec.runbook.exists()
        assert {"min_effect", "min_rows", "severity"} <= set(spec.params)
    assert CHECKS["segment_auc"].model_kinds == BINARY
    assert CHECKS["segment_mae"].model_kinds == {ModelKind.REGRESSION}
    assert not CHECKS["segment_auc"].applies("segment", None, "regression")
    assert CHECKS["segment_drift"].applies("segment", None, "none")
    # A multiclass model: the data checks and accuracy, realized and estimated, per segment.
    multiclass = {n for n in SEGMENT_CHECKS if CHECKS[n].applies("segment", None, "multiclass")}
    assert multiclass == {"segment_drift", "segment_null_rate", "segment_accuracy", "segment_estimated_accuracy"}


def test_vigil_checks_list_shows_the_segment_checks(shifted, capsys: pytest.CaptureFixture[str]):
    sc, *_ = shifted
    path = Path(sc.root) / "monitor.yaml"
    path.write_text(yaml.safe_dump(us.config_dict()))
    assert main(["checks", "list", "--json", "--config", str(path)]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["segment_auc"]["family"] == "performance" and rows["segment_auc"]["model_kinds"] == ["binary"]
    assert rows["segment_drift"]["family"] == "feature_drift" and "none" in rows["segment_drift"]["model_kinds"]
    assert all(rows[n]["runbook"] and rows[n]["description"] for n in SEGMENT_CHECKS)


def test_disabling_segment_auc_stops_it_running(shifted):
    sc, cfg, wh, before, after = shifted
    disabled = sc.config({"disabled": ["segment_auc"]})
    assert "segment_auc" not in enabled_segment_checks(disabled, enabled_specs(disabled))
    results = us.check(disabled, wh, [], [us.day(SHIFT)])  # the label-side checks of the shifted batch
    assert not [r for r in results if r.check == "segment_auc"]
    assert [r for r in results if r.check == "segment_calibration"]  # the others still run
    # Off for one check by its params too, and on only when listed in checks.enabled.
    off = sc.config({"params": {"segment_auc": {"enabled": False}}})
    assert "segment_auc" not in enabled_segment_checks(off, enabled_specs(off))
    only = sc.config({"enabled": ["auc", "segment_estimated_auc"]})
    assert set(enabled_segment_checks(only, enabled_specs(only))) == {"segment_estimated_auc"}


def test_a_param_override_changes_the_segment_verdict(shifted):
    sc, cfg, wh, before, after = shifted
    assert next(r for r in us.at(after, SHIFT)
                if r.check == "segment_auc" and r.evidence["segment"] == us.SEGMENT).status == "fail"
    lenient = sc.config({"params": {"segment_auc": {"min_effect": 0.5, "severity": "warning"}}})
    results = us.check(lenient, wh, [], [us.day(SHIFT)])
    auc = next(r for r in results if r.check == "segment_auc" and r.evidence["segment"] == us.SEGMENT)
    assert auc.status != "fail" and auc.evidence["min_effect"] == 0.5
    strict_rows = sc.config({"params": {"segment_auc": {"min_rows": 100_000}}})
    results = us.check(strict_rows, wh, [], [us.day(SHIFT)])
    auc = next(r for r in results if r.check == "segment_auc" and r.evidence["segment"] == us.SEGMENT)
    assert auc.status == "skipped" and auc.evidence["too_small"] and auc.evidence["min_rows"] == 100_000


def test_a_features_own_settings_reach_its_segment_checks(shifted):
    sc, cfg, wh, before, after = shifted

    def drift_of_x(results):
        return [r for r in results if r.check == "segment_drift" and r.subject.startswith("predictions.x{")]

    assert next(r for r in drift_of_x(us.at(before, SHIFT)) if r.evidence["segment"] == us.SEGMENT).status == "fail"
    off = sc.config(x_checks={"segment_drift": {"enabled": False}})
    results = us.check(off, wh, [us.day(SHIFT)], [])
    assert not drift_of_x(results) and [r for r in results if r.check == "segment_null_rate"]
    lenient = sc.config(x_checks={"segment_drift": {"min_effect": 50.0}})
    results = us.check(lenient, wh, [us.day(SHIFT)], [])
    drift = next(r for r in drift_of_x(results) if r.evidence["segment"] == us.SEGMENT)
    assert drift.status != "fail" and drift.evidence["min_effect"] == 50.0


def test_a_segment_check_takes_no_budget_of_its_own(shifted):
    sc, *_ = shifted
    cfg = sc.config({"params": {"segment_auc": {"false_alarm_budget": 0.05, "min_efect": 0.1}}})
    errors = config_errors(cfg)
    assert any(e.startswith("checks.params.segment_auc.false_alarm_budget: segment checks share the model's budget")
               for e in errors), errors
    assert any(e.startswith("checks.params.segment_auc.min_efect: unknown parameter (hint: one of min_effect")
               for e in errors), errors
