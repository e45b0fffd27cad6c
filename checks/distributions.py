"""Distances between two distributions, computed from stored statistics only.

Numeric columns: the histogram over the reference's bin edges and the quantiles.
Categorical and boolean columns: every category's count (up to CATEGORY_CAP values), with
long-tail pooling defined once from the reference (category_bins).
"""

from __future__ import annotations

import math

import numpy as np

from profilers.stats_types import CATEGORY_CAP, QUANTILES, ColumnStats

# PSI needs a share for an empty bin (log of zero). An empty bin in a sample of n rows says
# only that the bin's share is below about 1/n, so it gets half a row: 0.5 / n. A fixed
# share (Evidently's get_binned_data fills 1e-4) makes PSI jump when a bin whose expected
# count is a few rows happens to be empty: at 400 rows a category holding 0.9% of the
# reference is empty in 2% of clean batches and adds 0.042 to PSI, far beyond the
# chi-square noise floor the bounds use (PSI ~ (1/n + 1/N) chi2(k - 1), which assumes
# every bin filled). Half a row keeps that term on the scale of the sampling noise, and the
# two tools still agree exactly whenever no bin is empty.
EMPTY_BIN_ROWS = 0.5


class StatsMismatch(ValueError):
    """Reference and current statistics cannot be compared (different bins, no data)."""


def _shares_with_empty_bins_filled(counts: np.ndarray) -> np.ndarray:
    counts = counts.astype(float)
    total = float(counts.sum())
    if total <= 0:
        return counts
    shares = counts / total
    shares[counts <= 0] = EMPTY_BIN_ROWS / total
    return shares


def binned_counts(reference: ColumnStats, current: ColumnStats) -> tuple[np.ndarray, np.ndarray]:
    """Aligned counts per bin (numeric) or per category (categorical / boolean)."""
    if reference.kind == "numeric" and current.kind == "numeric":
        if not reference.bin_counts or not current.bin_counts:
            raise StatsMismatch(f"{current.subject}: no histogram in the statistics")
        if len(reference.bin_counts) != len(current.bin_counts) or tuple(reference.bin_edges) != tuple(
            current.bin_edges
        ):
            raise StatsMismatch(
                f"{current.subject}: current histogram has {len(current.bin_counts)} bins, reference "
                f"{len(reference.bin_counts)}, or different edges (hint: re-profile the batch after the reference)"
            )
        ref = np.asarray(reference.bin_counts, dtype=float)
        cur = np.asarray(current.bin_counts, dtype=float)
    else:
        _, ref, cur = category_counts(reference, current)
    if ref.sum() <= 0 or cur.sum() <= 0:
        raise StatsMismatch(f"{current.subject}: no valid values to compare")
    return ref, cur


def binned_shares(reference: ColumnStats, current: ColumnStats) -> tuple[np.ndarray, np.ndarray]:
    """Aligned shares per bin (numeric) or per category (categorical / boolean), without zero filling."""
    ref, cur = binned_counts(reference, current)
    return ref / ref.sum(), cur / cur.sum()


# Long-tail pooling, defined once from the reference and applied identically to every batch
# (and to every reference chunk): reference categories holding less than this share of the
# reference are counted together in one RARE bin; values the reference never held are
# counted in one UNSEEN bin. Every other category keeps its own bin.
POOL_BELOW_SHARE = 0.005
RARE = "__rare__"
UNSEEN = "__unseen__"


def category_bins(reference: ColumnStats) -> tuple[list[str], set[str]]:
    """(categories with a bin of their own, pooled rare reference categories), from the reference only."""
    total = sum(reference.categories.values())
    if total <= 0:
        return [], set()
    own = sorted(k for k, v in reference.categories.items() if v / total >= POOL_BELOW_SHARE)
    rare = set(reference.categories) - set(own)
    return own, rare


def category_counts(reference: ColumnStats, current: ColumnStats) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(bin labels, reference counts, current counts) over the reference's bins: its own
    categories, RARE (when the reference has a long tail) and UNSEEN (when the batch has new values)."""
    if reference.high_cardinality or current.high_cardinality:
        raise StatsMismatch(f"{current.subject}: high-cardinality column (more than {CATEGORY_CAP:,} distinct "
                            "values): no category counts to compare")
    own, rare = category_bins(reference)
    known = set(own) | rare
    labels = list(own)
    ref = [float(reference.categories.get(k, 0)) for k in own]
    cur = [float(current.categories.get(k, 0)) for k in own]
    if rare:
        labels.append(RARE)
        ref.append(float(sum(v for k, v in reference.categories.items() if k in rare)))
        cur.append(float(sum(v for k, v in current.categories.items() if k in rare)))
    unseen = float(sum(v for k, v in current.categories.items() if k not in known))
    if unseen > 0:
        labels.append(UNSEEN)
        ref.append(0.0)
        cur.append(unseen)
    return labels, np.asarray(ref), np.asarray(cur)


def n_category_bins(reference: ColumnStats, current: ColumnStats) -> int:
    """Bins that hold some mass on either side (the noise floor's degrees of freedom + 1)."""
    try:
        _, ref, cur = category_counts(reference, current)
    except StatsMismatch:
        return 1
    return int(np.count_nonzero((ref + cur) > 0))


def psi_from_counts(ref: np.ndarray, cur: np.ndarray) -> float:
    """PSI = sum (r - c) ln(r / c) over the shares; an empty bin counts half a row of its side."""
    r, c = _shares_with_empty_bins_filled(ref), _shares_with_empty_bins_filled(cur)
    both_empty = (ref <= 0) & (cur <= 0)
    r, c = r[~both_empty], c[~both_empty]
    return float(np.sum((r - c) * np.log(r / c)))


def js_distance_from_shares(ref: np.ndarray, cur: np.ndarray) -> float:
    """Jensen-Shannon distance, base 2 (0 identical, 1 disjoint)."""
    m = 0.5 * (ref + cur)

    def kl(p: np.ndarray) -> float:
        mask = p > 0
        return float(np.sum(p[mask] * np.log2(p[mask] / m[mask])))

    return math.sqrt(max(0.0, 0.5 * kl(ref) + 0.5 * kl(cur)))


def psi(reference: ColumnStats, current: ColumnStats) -> float:
    return psi_from_counts(*binned_counts(reference, current))


def js_distance(reference: ColumnStats, current: ColumnStats) -> float:
    return js_distance_from_shares(*binned_shares(reference, current))


def ks_from_shares(ref: np.ndarray, cur: np.ndarray) -> float:
    return float(np.max(np.abs(np.cumsum(ref) - np.cumsum(cur))))


def ks_binned(reference: ColumnStats, current: ColumnStats) -> float:
    """Largest gap between the two CDFs evaluated at the reference bin edges."""
    return ks_from_shares(*binned_shares(reference, current))


def total_variation_from_shares(ref: np.ndarray, cur: np.ndarray) -> float:
    return float(0.5 * np.abs(ref - cur).sum())


def total_variation(reference: ColumnStats, current: ColumnStats) -> float:
    """Total variation distance: half the sum of the share differences per bin (or category)."""
    return total_variation_from_shares(*binned_shares(reference, current))


def quantile_function(stats: ColumnStats) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities, values) of the stored quantiles, with min and max at 0 and 1 when known."""
    probs = [p for p in QUANTILES if p in stats.quantiles and math.isfinite(stats.quantiles[p])]
    if not probs:
        raise StatsMismatch(f"{stats.subject}: no quantiles in the statistics")
    ps = list(probs)
    vs = [float(stats.quantiles[p]) for p in probs]
    if stats.min is not None and math.isfinite(stats.min):
        ps.insert(0, 0.0)
        vs.insert(0, min(float(stats.min), vs[0]))
    if stats.max is not None and math.isfinite(stats.max):
        ps.append(1.0)
        vs.append(max(float(stats.max), vs[-1]))
    # Approximate quantiles may be very slightly non-monotone: enforce order.
    return np.asarray(ps), np.maximum.accumulate(np.asarray(vs))


# Interior grid: the extreme 1% at each end (driven by single min / max rows) is left out,
# so one outlier in a small batch does not look like drift.
_GRID = np.linspace(QUANTILES[0], QUANTILES[-1], 393)


def wasserstein_from_quantiles(reference: ColumnStats, current: ColumnStats) -> float:
    """W1 over the central 98%: mean over p in [0.01, 0.99] of |Q_ref(p) - Q_cur(p)|.

    The quantile functions are piecewise linear through the stored quantiles.
    """
    rp, rv = quantile_function(reference)
    cp, cv = quantile_function(current)
    q_ref = np.interp(_GRID, rp, rv)
    q_cur = np.interp(_GRID, cp, cv)
    return float(np.trapezoid(np.abs(q_ref - q_cur), _GRID) / (_GRID[-1] - _GRID[0]))


# A column with at most this many distinct values (or whose decile cuts collapsed) is
# treated as discrete: its quantiles jump between values, so interpolating them invents mass.
DISCRETE_DISTINCT = 50


def is_discrete(stats: ColumnStats) -> bool:
    if stats.distinct is not None and stats.distinct <= DISCRETE_DISTINCT:
        return True
    return 0 < len(stats.bin_edges) < 9


def wasserstein_binned(reference: ColumnStats, current: ColumnStats) -> float:
    """W1 from the histogram: sum over edges of |F_ref - F_cur| times the gap to the next edge.

    Exact when the values sit on the bin edges (discrete columns: the reference's cuts are
    its values). Mass above the last edge is placed at the reference's 99th percentile, as
    the quantile-based distance ignores the outer 1%: one large count must not dominate.
    """
    ref, cur = binned_shares(reference, current)
    edges = list(reference.bin_edges)
    q99 = reference.quantiles.get(0.99)
    top = max(edges[-1], q99 if q99 is not None and math.isfinite(q99) else edges[-1])
    points = edges + [top]
    gaps = np.diff(np.asarray(points, dtype=float))
    cdf_gap = np.abs(np.cumsum(ref) - np.cumsum(cur))[: len(gaps)]
    return float(np.sum(cdf_gap * gaps))


def spread(stats: ColumnStats) -> float:
    """Scale of a numeric column for normalising: std, else IQR / 1.349, else 1e-3."""
    if stats.std is not None and math.isfinite(stats.std) and stats.std > 0:
        return float(stats.std)
    q25, q75 = stats.quantiles.get(0.25), stats.quantiles.get(0.75)
    if q25 is not None and q75 is not None and q75 > q25:
        return float(q75 - q25) / 1.349
    return 1e-3


def category_shares(stats: ColumnStats) -> dict[str, float]:
    total = sum(stats.categories.values())
    if total <= 0:
        return {}
    return {k: v / total for k, v in stats.categories.items()}


def true_share(stats: ColumnStats) -> float | None:
    """Share of true values in a boolean (or 0/1) column, from categories or the mean."""
    if stats.categories:
        total = sum(stats.categories.values())
        if total <= 0:
            return None
        trues = sum(v for k, v in stats.categories.items() if str(k).strip().lower() in ("true", "1", "t", "yes"))
        return trues / total
    if stats.mean is not None and math.isfinite(stats.mean):
        return float(stats.mean)
    return None
