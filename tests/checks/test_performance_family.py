"""A model's performance checks share one false-alarm budget per batch (checks.performance.family)."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy.special import ndtr

from checks.performance.bounds import drop_bounds, drop_pvalue
from checks.performance.family import PerformanceFamily, decide_realized, holm_tails
from checks.performance.live_metrics import auc
from checks.registry import CHECKS, enabled_specs, params_for
from checks.result import CheckResult
from checks.runner import performance_family
from checks.segments.stats import holm
from core.config import config_from_dict
from profilers.stats_types import PerformanceStats

BATCH = datetime(2025, 6, 2)
pvalue_lists = st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=1, max_size=12)


@settings(max_examples=100, deadline=None)
@given(pvalue_lists, st.sampled_from([0.01, 0.05, 0.008]))
def test_equal_starting_tails_are_holm(pvalues: list[float], alpha: float) -> None:
    m = len(pvalues)
    # p exactly on a Holm threshold is where strict (<) and non-strict (<=) tests differ by definition
    assume(all(abs(p - alpha / k) > 1e-12 for p in pvalues for k in range(1, m + 1)))
    tails = holm_tails(pvalues, [alpha / m] * m)
    assert [p < t for p, t in zip(pvalues, tails, strict=True)] == holm(pvalues, alpha)


@settings(max_examples=100, deadline=None)
@given(pvalue_lists, st.data())
def test_weighted_holm_never_rejects_less_than_its_starting_tails_and_ignores_order(pvalues: list[float], data: st.DataObject) -> None:
    start = data.draw(st.lists(st.floats(1e-4, 0.01), min_size=len(pvalues), max_size=len(pvalues)))
    tails = holm_tails(pvalues, start)
    assert all(t >= s for t, s in zip(tails, start, strict=True))
    rejected = [p < t for p, t in zip(pvalues, tails, strict=True)]
    assert all(r for p, s, r in zip(pvalues, start, rejected, strict=True) if p < s)
    order = data.draw(st.permutations(range(len(pvalues))))
    shuffled = holm_tails([pvalues[i] for i in order], [start[i] for i in order])
    assert [p < t for p, t in zip([pvalues[i] for i in order], shuffled, strict=True)] == [rejected[i] for i in order]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_clean_batches_page_within_the_budget_for_the_whole_model(seed: int) -> None:
    """Clean batches: one estimate and four strongly correlated realized metrics (AUC, precision,
    recall, Brier move together). Per check at the whole budget the model pages several times
    the budget; as one family, at most the budget (Monte Carlo, 40,000 batches)."""
    rng = np.random.default_rng(seed)
    n, budget = 40_000, 0.01
    fam = PerformanceFamily(budget, estimated=1, realized=4)
    common = rng.normal(size=(n, 1))
    z = 0.5 * common + np.sqrt(0.75) * rng.normal(size=(n, 5))  # the realized z-scores correlate at 0.25
    p = ndtr(-z)
    est_rejected = p[:, 0] < fam.tail("estimated")
    start = np.full(4, fam.tail("realized"))
    pages = 0
    per_check_pages = int((p < budget).any(axis=1).sum())
    for i in np.flatnonzero(p.min(axis=1) < budget):  # no tail ever exceeds the budget: the others page nothing
        s = start.copy()
        if est_rejected[i]:
            s[0] += fam.tail("estimated")  # the estimate passes its tail to the realized AUC
        tails = holm_tails(list(p[i, 1:]), list(s))
        pages += bool(est_rejected[i] or any(p[i, 1 + k] < tails[k] for k in range(4)))
    assert per_check_pages / n > 3 * budget  # the old rule: each check at the whole budget
    assert pages / n <= budget * 1.15  # 40,000 batches: 1.15 x is about 1.5 sigma of the count


def _perf(value: float, positives: int = 200, labeled: int = 1000) -> PerformanceStats:
    return PerformanceStats(batch=BATCH, predictions=labeled, labeled=labeled, matured=True, positives=positives,
                            approved=labeled, approved_labeled=labeled, approved_positives=positives,
                            mean_score=0.2, mean_label=0.2, auc=value)


def test_a_check_fails_when_its_pvalue_is_below_its_tail_and_the_drop_is_material() -> None:
    params = {**params_for(CHECKS["auc"]), "expected": 0.80, "min_effect": 0.005}
    res = auc(None, _perf(0.75), params)  # a drop of 0.05 at ~0.021 noise: z ~ 2.4
    p = res.evidence["pvalue"]
    assert 0.005 < p < 0.02
    assert auc(None, _perf(0.75), {**params, "fail_tail": 0.02}).status == "fail"
    assert auc(None, _perf(0.75), {**params, "fail_tail": 0.005}).status != "fail"
    assert auc(None, _perf(0.75), {**params, "fail_tail": 0.02, "min_effect": 0.06}).status != "fail"
    b = drop_bounds(0.01, 0.0, 0.01, 0.0, tail=0.002)
    assert b.grade(b.fail_tolerance * 1.001) == "fail" and b.pvalue(b.fail_tolerance * 1.001) < 0.002
    assert drop_pvalue(0.0, 0.0) == 1.0 and drop_pvalue(0.1, 0.0) == 0.0


def test_the_realized_family_is_decided_by_holm_with_the_estimate_tail_passed_on() -> None:
    fam = PerformanceFamily(0.01, estimated=1, realized=4)

    def res(check: str, p: float, part: str = "realized", tail: float = 0.005) -> CheckResult:
        return CheckResult(check=check, family="performance", subject="model", batch=BATCH, status="ok",
                           severity="info", explanation=f"{check}.", evidence={"pvalue": p, "family_part": part, "tail": tail})

    realized = [res("auc", 0.003), res("precision", 0.5), res("recall", 0.4), res("brier", 0.2)]  # at 0.00125

    def rerun(i: int, tail: float) -> CheckResult:
        r = realized[i]
        return CheckResult(**{**r.__dict__, "status": "fail" if r.evidence["pvalue"] < tail else "ok"})

    alone = decide_realized(realized, fam, rerun)
    assert [r.status for r in alone] == ["ok"] * 4  # 0.003 > 0.005 / 4
    assert alone[0].evidence["tail"] == pytest.approx(0.00125) and alone[0].evidence["family_size"] == 5
    flagged = decide_realized(realized, fam, rerun, [res("estimated_performance", 1e-6, "estimated")])
    assert flagged[0].status == "fail" and flagged[0].evidence["tail"] == pytest.approx(0.00625)
    assert flagged[0].evidence["tail_passed_from_estimate"] == pytest.approx(0.005)
    assert "p = 0.003 < tail 0.0063" in flagged[0].explanation
    # an estimate that was not rejected passes nothing on
    assert decide_realized(realized, fam, rerun, [res("estimated_performance", 0.006, "estimated")])[0].status == "ok"
    assert [r.status for r in flagged[1:]] == ["ok"] * 3


def _cfg(**checks: object) -> object:
    return config_from_dict({
        "model": {"name": "m", "task": "binary", "threshold": 0.5},
        "predictions": {"source": {"path": "p"}, "id_column": "id", "timestamp_column": "ts", "score_column": "s"},
        "features": [{"name": "x", "type": "numeric"}],
        "kpis": [{"name": "approvals", "kind": "approval_rate", "lower": 0.1}],
        "checks": checks,
    }, file="m.yaml")


def test_the_family_counts_estimated_and_realized_checks_from_the_config_not_kpis() -> None:
    cfg = _cfg()
    fam = performance_family(cfg, enabled_specs(cfg))  # type: ignore[arg-type]
    assert (fam.estimated, fam.realized) == (1, 4)  # estimated_performance; auc, precision, recall, brier
    assert fam.tail("estimated") == pytest.approx(0.005) and fam.tail("realized") == pytest.approx(0.00125)
    cfg = _cfg(params={"precision": {"false_alarm_budget": 0.05}}, disabled=["brier"])
    fam = performance_family(cfg, enabled_specs(cfg))  # type: ignore[arg-type]
    assert (fam.estimated, fam.realized) == (1, 2)  # precision keeps its own budget, brier is off
    cfg = _cfg(disabled=["auc", "precision", "recall", "brier"])
    fam = performance_family(cfg, enabled_specs(cfg))  # type: ignore[arg-type]
    assert fam.tail("estimated") == pytest.approx(0.01)  # no realized check: the estimate has the whole budget
