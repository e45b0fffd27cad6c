"""Segments localise a change the overall checks miss, on the loan simulator's population.

Statistics level: landing files -> real ingest, reference, profile and the checks runner
(no alerts, no full cycles). The simulator's `concept_drift` among renters (+1.0 log-odds of
default, labels only) and a 0.5 sd shift of credit score among renters (inputs).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from baseline_model.simulator import Incident
from checks.result import CheckResult
from checks.segments.batch import decompositions, load_inputs, load_references
from checks.segments.live import approval_rate, calibration_gap
from tests.segments import loan_fixture as lf

ONSET = 3
RENT = "home_ownership=RENT"


def _at(results: list[CheckResult], i: int) -> list[CheckResult]:
    return [r for r in results if r.batch == lf.day(i)]


def _onset_inputs(cfg, wh):  # type: ignore[no-untyped-def]
    """The stored references and the onset batch's segment inputs."""
    with wh.read() as conn:
        refs = load_references(conn, cfg)
        assert refs is not None
        return refs, load_inputs(conn, refs, lf.day(ONSET))


def _failed_segments(results: list[CheckResult]) -> set[tuple[str, str]]:
    return {(r.check, r.evidence["segment"]) for r in results if r.check.startswith("segment_") and r.status == "fail"}


@pytest.fixture(scope="module")
def concept(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("concept")
    cfg, wh, batches = lf.build(root, days=ONSET + 2, seed=3, volume=1200, reference_days=14,
                                incidents=[Incident("concept_drift", day=ONSET)])
    return cfg, wh, batches, lf.check_all(cfg, wh, batches)


def test_concept_change_among_renters_is_caught_in_its_segment_on_its_first_matured_batch(concept):
    cfg, wh, batches, results = concept
    for i in range(ONSET):  # clean batches: no segment pages
        assert not _failed_segments(_at(results, i)), i
    onset = _at(results, ONSET)
    failed = _failed_segments(onset)
    # Purpose segments hold renters too: only the ownership segmentation must single one out.
    assert {seg for _, seg in failed if seg.startswith("home_ownership=")} == {RENT}, failed
    assert failed & {("segment_calibration", RENT), ("segment_kpi", RENT)}
    # Labels only: the inputs and scores of renters did not move.
    assert not [r for r in onset if r.check in ("segment_drift", "segment_score_drift") and r.status == "fail"]
    # The overall AUC and KPI stay within their (failure) bounds: only the segment pages, and says where.
    overall = {r.check: r.status for r in onset if r.check in ("auc", "kpi") and "{" not in r.subject}
    assert set(overall) == {"auc", "kpi"} and set(overall.values()) <= {"ok", "warn"}, overall
    # Its alert is its own: the segment is in the subject (own fingerprint), the model in the labels.
    seg = next(r for r in onset if r.status == "fail" and r.evidence["segment"] == RENT)
    assert seg.subject.endswith("{home_ownership=RENT}") and seg.model == cfg.model.name
    assert 0 < seg.evidence["adjusted_pvalue"] <= cfg.checks.false_alarm_budget / 2


def test_decomposition_puts_most_of_the_change_within_renters(concept):
    cfg, wh, batches, results = concept
    refs, inputs = _onset_inputs(cfg, wh)
    found = {d.segmentation: d for d in decompositions(cfg, inputs, refs, "calibration_gap", calibration_gap, True)}
    d = found["home_ownership"]
    assert d.change > 0.01
    assert d.parts[0].segment == RENT and d.parts[0].within > 0.6 * d.change
    assert abs(d.mix) < 0.2 * d.change
    assert sum(p.within for p in d.parts) + d.mix == pytest.approx(d.change)
    assert "within home_ownership=RENT" in d.sentence()
    # Attached to the model-level result that moved, when one did.
    moved = [r for r in _at(results, ONSET) if "decomposition" in r.evidence]
    for r in moved:
        assert r.explanation.count("Where:") == 1 and r.evidence["decomposition"][0]["sentence"]


def test_covariate_shift_among_renters_is_caught_in_its_segment_on_its_batch(tmp_path: Path):
    def shift(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        rent = frame["home_ownership"] == "RENT"
        frame.loc[rent, "credit_score"] = frame.loc[rent, "credit_score"] - 0.5 * 60.0  # 0.5 sd of credit score
        return frame

    cfg, wh, batches = lf.build(tmp_path, days=ONSET + 1, seed=5, volume=1200, reference_days=14,
                                mutate={ONSET: shift})
    results = lf.check_all(cfg, wh, batches)
    for i in range(ONSET):
        assert not _failed_segments(_at(results, i)), i
    failed = _failed_segments(_at(results, ONSET))
    assert ("segment_drift", RENT) in failed
    assert {seg for _, seg in failed if seg.startswith("home_ownership=")} == {RENT}, failed
    drift = next(r for r in _at(results, ONSET) if r.check == "segment_drift" and r.subject == f"predictions.credit_score{{{RENT}}}")
    assert drift.status == "fail" and drift.value is not None and drift.value >= 0.1
    # Before any label: the approval rate moved, and the decomposition puts most of it among renters.
    refs, inputs = _onset_inputs(cfg, wh)
    found = {d.segmentation: d for d in decompositions(cfg, inputs, refs, "approval_rate", approval_rate, False)}
    d = found["home_ownership"]
    assert d.change < 0 and d.parts[0].segment == RENT and d.parts[0].within < 0.6 * d.change
