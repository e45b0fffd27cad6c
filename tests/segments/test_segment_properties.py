"""Property tests of the segment statistics: the p-value, Holm / Benjamini-Hochberg, the
Shapley decomposition (parts sum to the total) and the live-table metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checks.segments import live as lv
from checks.segments.decomposition import MIX, decompose, decomposition_sentence, trimmed
from checks.segments.stats import (
    adjusted_pvalues,
    benjamini_hochberg,
    holm,
    one_at_a_time,
    shapley,
    tail_pvalue,
)

finite = st.floats(-1e3, 1e3, allow_nan=False)
chunks = st.lists(finite, min_size=0, max_size=30)
pvals = st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=1, max_size=60)


@settings(max_examples=200, deadline=None)
@given(finite, finite, chunks, st.sampled_from(["upper", "lower", "two-sided"]), st.floats(0, 10))
def test_pvalue_is_a_probability_and_monotone(x, dx, values, direction, floor):
    p = tail_pvalue(x, values, direction, floor_sd=floor)
    assert 0.0 <= p <= 1.0
    q = tail_pvalue(x + abs(dx), values, direction, floor_sd=floor)
    if direction == "upper":
        assert q <= p + 1e-12
    elif direction == "lower":
        assert q >= p - 1e-12


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(-5, 5, allow_nan=False), min_size=3, max_size=30), st.floats(0.01, 5))
def test_two_sided_pvalue_is_symmetric_around_the_center(values, d):
    assert tail_pvalue(d, values, "two-sided", center=0.0, floor_sd=0.1) == pytest.approx(
        tail_pvalue(-d, values, "two-sided", center=0.0, floor_sd=0.1))


def test_pvalue_is_uniform_for_a_new_draw_from_the_chunks_distribution():
    """The t predictive tail is exact for normal chunks: P(p < a) = a, across seeds."""
    for seed in range(3):
        rng = np.random.default_rng(seed)
        ps = np.array([tail_pvalue(float(rng.normal()), rng.normal(size=12).tolist(), "upper") for _ in range(4000)])
        for a in (0.01, 0.05, 0.2):
            assert abs(float((ps < a).mean()) - a) < 3 * math.sqrt(a * (1 - a) / 4000) + 0.003


def test_pvalue_goes_far_below_the_rank_limit_of_the_chunks():
    assert tail_pvalue(10.0, [0.1, -0.2, 0.0, 0.3, -0.1], "upper") < 1 / 6 / 100


@settings(max_examples=300, deadline=None)
@given(pvals, st.floats(0.001, 0.2))
def test_holm_and_bh_bracket_bonferroni_and_match_their_adjusted_pvalues(ps, alpha):
    h, b = holm(ps, alpha), benjamini_hochberg(ps, alpha)
    bonferroni = [p * len(ps) <= alpha for p in ps]
    assert all(hh or not bo for hh, bo in zip(h, bonferroni, strict=True))  # Holm rejects at least Bonferroni's
    assert all(bb or not hh for bb, hh in zip(b, h, strict=True))  # BH rejects at least Holm's
    for method, rej in (("holm", h), ("bh", b)):
        adj = adjusted_pvalues(ps, method)
        assert [a <= alpha * (1 + 1e-12) for a in adj] == rej
        assert all(a >= p - 1e-12 for a, p in zip(adj, ps, strict=True))
    if any(h):  # step-down: the smallest p-value is always among Holm's rejections
        assert h[int(np.argmin(ps))]
    # Against the procedures written out step by step.
    order = sorted(range(len(ps)), key=lambda i: ps[i])
    step_down = [False] * len(ps)
    for rank, i in enumerate(order):
        if ps[i] * (len(ps) - rank) > alpha * (1 + 1e-12):
            break
        step_down[i] = True
    assert step_down == h
    k = max((r + 1 for r, i in enumerate(order) if ps[i] * len(ps) <= alpha * (r + 1) * (1 + 1e-12)), default=0)
    assert b == [order.index(j) < k for j in range(len(ps))]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(-10, 10, allow_nan=False), min_size=1, max_size=6), st.floats(-5, 5, allow_nan=False))
def test_shapley_values_sum_to_the_total_and_credit_additive_parts_exactly(weights, interaction):
    players = [f"p{i}" for i in range(len(weights))]
    w = dict(zip(players, weights, strict=True))

    def additive(s: frozenset[str]) -> float:
        return sum(w[p] for p in s)

    def with_interaction(s: frozenset[str]) -> float:
        return additive(s) + (interaction if {"p0"} <= s and len(s) > 1 else 0.0)

    phi = shapley(players, additive)
    assert phi == pytest.approx(w)
    phi2 = shapley(players, with_interaction)
    assert sum(phi2.values()) == pytest.approx(with_interaction(frozenset(players)) - with_interaction(frozenset()))
    assert one_at_a_time(players, additive) == pytest.approx(w)


def _table(rng: np.random.Generator, n: int, p_shift: float, n_bins: int = 8) -> lv.LiveTable:
    cells = []
    for b in range(n_bins):
        s = (b + 0.5) / n_bins
        for lab in (0, 1):
            for app in (0, 1):
                count = int(rng.integers(0, n))
                pos = int(rng.binomial(count, min(max(s + p_shift, 0.0), 1.0))) if lab else 0
                cells.append((b, lab, 1, app, pos, pos * s, pos, pos * (1 - s), pos * (1 - s) ** 2))
                cells.append((b, lab, 0, app, count - pos, (count - pos) * s, 0, (count - pos) * s,
                              (count - pos) * s * s))
    return lv.LiveTable.from_cells(cells, n_bins)


METRICS = [lv.auc, lv.estimated_auc, lv.approval_rate, lv.mean_score, lv.calibration_gap,
           lambda t: lv.label_rate(t, True), lv.mae]


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from([1, 2, 3, 5, 11, 14]), st.integers(0, len(METRICS) - 1))
def test_decomposition_parts_and_mix_sum_to_the_total_change(seed, n_segments, m):
    rng = np.random.default_rng(seed)
    current = {f"s{i}": _table(rng, 40, float(rng.normal(0, 0.1))) for i in range(n_segments)}
    reference = {f"s{i}": _table(rng, 40, 0.0) for i in range(n_segments)}
    d = decompose("m", METRICS[m], "seg", current, reference)
    if d is None:
        return
    total = sum(p.within for p in d.parts) + d.mix + d.interaction
    assert total == pytest.approx(d.change, abs=1e-9)
    assert d.method == ("shapley" if n_segments <= 10 else "one_at_a_time")
    assert decomposition_sentence(trimmed(d)).endswith(".")
    assert len(trimmed(d)["parts"]) <= 11


def test_a_change_inside_one_segment_is_attributed_to_it_and_not_to_the_mix():
    rng = np.random.default_rng(0)
    reference = {s: _table(rng, 60, 0.0) for s in ("a", "b", "c")}
    current = {s: _table(rng, 60, 0.0) for s in ("a", "b")} | {"c": _table(rng, 60, 0.3)}
    d = decompose("calibration_gap", lv.calibration_gap, "seg", current, reference)
    assert d is not None and d.parts[0].segment == "seg=c"
    assert abs(d.parts[0].within) > 0.7 * abs(d.change) and abs(d.mix) < 0.2 * abs(d.change)
    assert MIX not in [p.segment for p in d.parts]


def test_binned_auc_matches_the_exact_auc_without_ties():
    rng = np.random.default_rng(1)
    scores = rng.random(500)
    y = (rng.random(500) < scores).astype(int)
    order = np.argsort(scores)
    cells = [(int(rank), 1, int(y[i]), 1, 1, float(scores[i]), float(y[i]), 0.0, 0.0) for rank, i in enumerate(order)]
    t = lv.LiveTable.from_cells(cells, 500)
    from sklearn.metrics import roc_auc_score

    assert lv.auc(t) == pytest.approx(roc_auc_score(y, scores))
