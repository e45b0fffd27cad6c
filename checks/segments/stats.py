"""The statistics of segment checks: a p-value from a tail fitted to reference-chunk values,
multiple-comparison control over a batch's family of tests, and Shapley decomposition.

P-values. A segment test's value is compared with the same metric on each batch-sized
chunk of the reference (rescaled to the batch's size). Empirical ranks cannot go below
1 / (chunks + 1), which no correction over hundreds of tests can use, so the chunk values
are summarised by a fitted Student t predictive distribution: mean m, sd s over k chunks,
t = (x - m) / (s * sqrt(1 + 1/k)) with k - 1 degrees of freedom (the distribution of a new
draw from the same normal when m and s are estimated). A known sampling error of the metric
at the batch's size floors s, so a reference whose chunks happen to agree does not make a
tiny change significant. Distance metrics (PSI) are fitted on their cube root, which is
close to normal for chi-square-like statistics (Wilson-Hilferty).

Family. Holm (default) keeps the probability of ANY false page in a batch within the
budget, for any dependence between the tests. Benjamini-Hochberg keeps the expected share of
false pages among the pages within it (more pages when many segments really break).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from itertools import combinations
from typing import Literal

from scipy.special import ndtr, stdtr

Direction = Literal["upper", "lower", "two-sided"]
MIN_CHUNKS = 3  # fewer chunk values: the sampling error alone (normal)


def tail_pvalue(value: float, chunk_values: Sequence[float], direction: Direction, floor_sd: float = 0.0,
                center: float | None = None) -> float:
    """P-value of ``value`` against a t (or, without enough chunks, normal) fitted to the chunk values.

    ``center`` overrides the fitted mean (deviation metrics: the chunks' deviations are centred
    on 0 by construction). Returns 1.0 for a value that cannot be judged (not finite)."""
    if not math.isfinite(value):
        return 1.0
    vals = [float(v) for v in chunk_values if math.isfinite(v)]
    k = len(vals)
    df = 0
    if k >= MIN_CHUNKS:
        m = sum(vals) / k
        mean = m if center is None else center
        sd = math.sqrt(sum((v - m) ** 2 for v in vals) / (k - 1)) * math.sqrt(1.0 + 1.0 / k)
        scale = max(sd, floor_sd)
        df = k - 1
    else:
        mean = center if center is not None else (sum(vals) / k if k else 0.0)
        scale = floor_sd
    if scale <= 0.0 or not math.isfinite(scale):
        return 1.0 if value == mean else (0.0 if _beyond(value, mean, direction) else 1.0)
    z = (value - mean) / scale

    def sf(x: float) -> float:  # upper tail of t(df), or of the standard normal
        return float(stdtr(df, -x)) if df else float(ndtr(-x))

    if direction == "upper":
        p = sf(z)
    elif direction == "lower":
        p = sf(-z)
    else:
        p = 2.0 * sf(abs(z))
    return min(1.0, max(0.0, p))


def _beyond(value: float, mean: float, direction: Direction) -> bool:
    if direction == "upper":
        return value > mean
    if direction == "lower":
        return value < mean
    return value != mean


_TOLERANCE = 1e-12  # relative: m * p and alpha * k / m round differently in floating point


def holm(pvalues: Sequence[float], alpha: float) -> list[bool]:
    """Holm's step-down rejections (the family-wise error rate stays within alpha): reject the
    smallest p-values while p_(i) <= alpha / (m - i + 1), i.e. while the adjusted p-value is <= alpha."""
    return [a <= alpha * (1 + _TOLERANCE) for a in adjusted_pvalues(pvalues, "holm")]


def benjamini_hochberg(pvalues: Sequence[float], alpha: float) -> list[bool]:
    """Benjamini-Hochberg step-up rejections (the false discovery rate stays within alpha): reject
    every p-value up to the largest p_(k) <= alpha * k / m."""
    return [a <= alpha * (1 + _TOLERANCE) for a in adjusted_pvalues(pvalues, "bh")]


def adjusted_pvalues(pvalues: Sequence[float], method: str) -> list[float]:
    """Holm or BH adjusted p-values (reject at alpha exactly when adjusted <= alpha)."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adj = [1.0] * m
    if method == "holm":
        running = 0.0
        for rank, i in enumerate(order):
            running = max(running, min(1.0, (m - rank) * pvalues[i]))
            adj[i] = running
    else:
        running = 1.0
        for rank in range(m - 1, -1, -1):
            i = order[rank]
            running = min(running, min(1.0, pvalues[i] * m / (rank + 1)))
            adj[i] = running
    return adj


def reject(pvalues: Sequence[float], alpha: float, method: str) -> list[bool]:
    return holm(pvalues, alpha) if method == "holm" else benjamini_hochberg(pvalues, alpha)


def shapley(players: Sequence[str], value: Callable[[frozenset[str]], float]) -> dict[str, float]:
    """Exact Shapley values of ``value`` (a function of the set of players whose change is
    applied): each player's average marginal contribution over every order. They sum to
    value(all) - value(none)."""
    n = len(players)
    cache: dict[frozenset[str], float] = {}

    def v(s: frozenset[str]) -> float:
        if s not in cache:
            cache[s] = value(s)
        return cache[s]

    weights = [math.factorial(k) * math.factorial(n - k - 1) / math.factorial(n) for k in range(n)]
    out = {}
    for p in players:
        others = [q for q in players if q != p]
        total = 0.0
        for k in range(n):
            for combo in combinations(others, k):
                s = frozenset(combo)
                total += weights[k] * (v(s | {p}) - v(s))
        out[p] = total
    return out


def one_at_a_time(players: Sequence[str], value: Callable[[frozenset[str]], float]) -> dict[str, float]:
    """Each player's change undone alone from the current state: value(all) - value(all - {p})."""
    everyone = frozenset(players)
    full = value(everyone)
    return {p: full - value(everyone - {p}) for p in players}
