"""Detect and name a unit change from the shape of the change.

A unit change maps every value through the same function: y = a x (a rescale), or, for the
exact temperature conversions only, y = a x + b. So the batch's quantiles, divided by the
reference's, give one factor across the whole distribution. The test:

1. Fit the factor: for a discrete column (at most DISCRETE_DISTINCT values) the ratio of the
   means, whose standard error is honest; otherwise least squares through the origin over the
   stored quantiles (p = 1% .. 99%), each weighted by its noise.
2. Each quantile's noise (quantile_noise) is the larger of the sd of chunk-minus-reference
   quantiles over the reference chunks (rescaled to the batch's size) and the asymptotic sd
   sqrt(p (1 - p) (1/n + 1/N)) / density, the density read off the reference's own quantile
   function; a discrete column's is that density term with a floor of a quarter step (its
   chunks' spread is how often a quantile flips to the next value, not a normal sd).
3. A hypothesis (a factor, or an exact temperature conversion) fits when every quantile of the
   batch sits on the reference's converted quantile within SHAPE_Z: each gap is measured as the
   root of the binomial deviance of the quantile's rank (rank_z), which stays normal at
   the 1% and 99% quantiles of a small batch and on bounded supports, where a gap in sds read
   as normal does not; a gap within the floor counts as none, and a discrete column may see
   two quantiles flip to a neighbouring value.
4. Each catalogue conversion (checks.unit_change.conversions) within five standard errors of
   the fitted factor is tested: of those that fit, the one closest over all quantiles (sum of
   squared gaps) is named (with its exact factor) and pages. On a zero-inflated column that is
   not discrete (match_zeros: the first histogram bin, x <= 0, holds its zeros) "closest" is
   measured on the non-zero part at matched levels: the batch's p-quantile against the
   reference's quantile at the same level u = (p - zeros) / (1 - zeros) of its non-zero values
   (interpolated between the stored quantiles), with the same rank noise at u over the non-zero
   rows. A rescale keeps zeros at zero, and a chance swing in the batch's share of zeros moves
   every non-zero quantile's rank one way: compared at the same rank, it could favour a
   conversion 15% away (x2.2046 for x2.54). A conversion fits such a column when it fits both
   the plain quantiles and the non-zero part at matched levels (each within SHAPE_Z). And since
   a rescale keeps zeros at zero, where both shares of zeros can be read a batch whose share of
   zeros moved from the reference's by more than ZERO_SHARE_Z binomial sds (zero_share_z) is no
   rescale at all, by any factor, catalogue or not: a mixture that moves part of the rows, zeros
   included, can look stretched at every stored quantile when the new share of zeros falls
   between two of them (15% -> 10% zeros: the 10% quantile stays 0). Only the exact temperature
   conversions, which move the zeros, are still tried. A clean factor not in the catalogue pages
   as "rescaled by x4.7" only when it is far from 1 (outside [1/3, 3]) and the column is not
   centred near zero (its 5%-95% range does not straddle zero): a narrower or wider zero-centred column is drift. The exact temperature
   conversions (C <-> F, K <-> C) are tried as affine maps (first, when the unit is a
   temperature).

A location shift, a spread change on a column away from zero, a mixture, a tail change or
a truncation bends the quantile ratio (it is not one factor everywhere), so it is never a
unit change; the drift checks report it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
from scipy.stats import chi2, norm

from checks.calibration import size_scale
from checks.distributions import DISCRETE_DISTINCT, spread
from checks.result import CheckResult
from checks.spec import Family
from checks.unit_change.conversions import (
    AFFINE,
    MULTIPLICATIVE,
    TEMPERATURE_UNITS,
    UnitConversion,
    name_factor,
)
from checks.verdict import result, skipped
from profilers.stats_types import QUANTILES, ColumnStats, ReferenceStats

FAMILY = Family.UNIT_CHANGE
FIT_QUANTILES: tuple[float, ...] = QUANTILES
# Catalogue factors within 5 standard errors of the fitted one (at least 2%, at most 25%) are
# tested against every quantile.
MIN_CANDIDATE_WINDOW, MAX_CANDIDATE_WINDOW = 0.02, 0.25
WINDOW_SE = 5.0  # standard errors of the fitted factor (the mean ratio's, or the weighted fit's)
# A quantile misfit beyond this many sds (rank_z) bends the change: not one factor. The largest of
# nine: a clean rescale misses it about once in 50,000 batches (at 4, once in 1,500).
SHAPE_Z = 5.0
MIN_NOISE_SD = 0.01  # floor of a quantile's noise, in reference standard deviations
DISCRETE_STEP_NOISE = 0.25  # floor for a discrete column, in steps between its values
DISCRETE_FLIPS = 2  # quantiles of a discrete column allowed to sit on a neighbouring value
TAIL_POWER_MAX = 2.0  # steepest tail of the extrapolated 1% / 99% slopes (a Pareto tail of index 1)
RANK_EPS = 1e-12  # ranks are clipped inside (0, 1): a gap past the reference's range is huge, not infinite
RANK_Z_CAP = 1e6  # a gap over a quantile with no sampling noise at all (a plateau of ties)
# A stored quantile within the lowest tenth of the non-zero values sits where the quantile
# function bends most (next to the zeros): not used to interpolate the non-zero part.
MIN_KNOT_LEVEL = 0.1
MIN_NONZERO_ROWS = 30  # a zero-inflated column is compared on its non-zero part with this many on each side
MEAN_Z = 10.0  # a batch whose mean moved by more standard errors than this has changed
# A rescale keeps zeros at zero: a batch whose share of zeros moved from the reference's by more
# binomial sds than this (the quantiles' tolerance) is not a rescale (zero_share_z).
ZERO_SHARE_Z = SHAPE_Z
UNKNOWN_RANGE = (1 / 3, 3.0)  # clean factors inside this range are drift, not a unit change


@dataclass(frozen=True)
class UnitChangeFinding:
    conversion: UnitConversion | None  # named catalogue conversion, None when none qualifies
    factor: float  # fitted factor (median quantile ratio), or the affine conversion's factor
    offset: float
    shape_error: float  # largest quantile misfit of the rescale, in each quantile's noise sds
    unchanged_error: float  # largest quantile gap with no change at all, in noise sds
    tolerance: float  # the misfit allowed (SHAPE_Z)
    clean: bool  # one factor explains every quantile (and, when readable, keeps the share of zeros)
    zero_centred: bool
    zero_share_z: float | None = None  # the share of zeros' move in binomial sds (zero_share_z), None: unread

    @property
    def unknown_rescale(self) -> bool:
        lo, hi = UNKNOWN_RANGE
        return (self.conversion is None and self.clean and not self.zero_centred
                and math.isfinite(self.factor) and self.factor > 0 and not lo <= self.factor <= hi)


def _quantiles(stats: ColumnStats) -> np.ndarray:
    return np.asarray([stats.quantiles.get(q, math.nan) for q in FIT_QUANTILES], dtype=float)


def quantile_factor(ref: np.ndarray, cur: np.ndarray, scale: float) -> float | None:
    """Median ratio of the batch's quantiles to the reference's, over quantiles away from zero."""
    keep = np.isfinite(ref) & np.isfinite(cur) & (np.abs(ref) > 0.1 * scale)
    if keep.sum() < 3:
        return None
    return float(np.median(cur[keep] / ref[keep]))


def weighted_factor(ref: np.ndarray, cur: np.ndarray, noise: QuantileNoise) -> tuple[float, float] | None:
    """Least-squares factor through the origin, each quantile weighted by 1 / its noise variance
    (the precise central quantiles count most), and its relative standard error."""
    keep = np.isfinite(ref) & np.isfinite(cur) & (ref != 0)
    if keep.sum() < 3:
        return None
    w = 1.0 / noise.total[keep] ** 2
    denom = float(np.sum(w * ref[keep] ** 2))
    if denom <= 0:
        return None
    a = float(np.sum(w * ref[keep] * cur[keep]) / denom)
    # The batch's quantile noise scales with the factor: se(a) = a / sqrt(sum w ref^2).
    return (a, 1.0 / math.sqrt(denom)) if a > 0 else None


def mean_factor(reference: ColumnStats, current: ColumnStats) -> tuple[float, float] | None:
    """Ratio of the means and its relative standard error: the fit for a discrete column, whose
    quantiles jump between values while its mean moves smoothly."""
    if reference.mean is None or current.mean is None or reference.mean == 0 or current.valid <= 0:
        return None
    a = float(current.mean) / float(reference.mean)
    if not math.isfinite(a) or a <= 0:
        return None
    cv = float(reference.std or 0.0) / abs(float(reference.mean))
    return a, cv * math.sqrt(1 / current.valid + 1 / max(reference.valid, 1))


@lru_cache(maxsize=1)
def _normal_quantile_sd() -> np.ndarray:
    """sqrt(p (1 - p)) / pdf(z_p) of each fitted quantile p: its sd in units of sd / sqrt(n), normal data."""
    p = np.asarray(FIT_QUANTILES)
    out: np.ndarray = np.sqrt(p * (1 - p)) / norm.pdf(norm.ppf(p))
    return out


@lru_cache(maxsize=64)
def _chi2_lower_10(df: int) -> float:
    """chi2 10% quantile (cached: scipy's ppf costs more than the rest of the check)."""
    return float(chi2.ppf(0.10, df))


def quantile_slopes(q: np.ndarray) -> np.ndarray:
    """dQ/dp at each stored quantile, read off the reference's own quantile function: the smaller
    of the slopes to its two neighbours (a bimodal column's empty gap does not inflate the
    quantiles beside it; a tie's plateau gives 0), and at the 1% and 99% quantiles the last
    slope extrapolated into the tail as a power of the tail probability, fitted to the last two
    slopes (exact for uniform, exponential and Pareto tails; a normal's is overstated by a fifth)."""
    p = np.asarray(FIT_QUANTILES)
    seg = np.diff(q) / np.diff(p)
    seg = np.where(np.isfinite(seg), seg, math.nan)
    out: np.ndarray = np.fmin(np.concatenate([[math.nan], seg]), np.concatenate([seg, [math.nan]]))
    mid = (p[:-1] + p[1:]) / 2
    for end, inner, outer, tail in ((0, seg[1], seg[0], (mid[1], mid[0], p[0])),
                                    (-1, seg[-2], seg[-1], (1 - mid[-2], 1 - mid[-1], 1 - p[-1]))):
        if inner > 0 and outer > 0:
            t_in, t_out, t_end = tail
            power = min(max(math.log(outer / inner) / math.log(t_in / t_out), 0.0), TAIL_POWER_MAX)
            out[end] = outer * (t_out / t_end) ** power
    return out


def density_noise(whole: ColumnStats, n_current: int) -> np.ndarray:
    """Sampling sd of each stored quantile of a batch against the reference from the asymptotic
    formula sqrt(p (1 - p) (1/n + 1/N)) / density, the density read off the reference's quantile
    function (quantile_slopes). Distribution-free and with no chunk-to-chunk luck in it: a floor
    under the chunks' estimate, which from ten chunks is now and then a third of the truth."""
    p = np.asarray(FIT_QUANTILES)
    sd = np.sqrt(p * (1 - p) * (1 / max(n_current, 1) + 1 / max(whole.valid, 1))) * quantile_slopes(_quantiles(whole))
    return np.nan_to_num(sd, nan=0.0)


@dataclass(frozen=True)
class QuantileNoise:
    """How far each stored quantile of a batch may sit from its target by chance alone."""

    sd: np.ndarray  # sampling sd of each quantile (batch against the whole reference), value units
    floor: np.ndarray  # a gap this size is always within tolerance (ties, steps): value units
    rank_var: float  # 1/n + 1/N: a quantile's rank variance is p (1 - p) times this
    # The level each gap's rank is judged at: the stored quantile's p, or for a zero-inflated
    # column its level within the non-zero part (match_zeros), whose rank variance is then
    # u (1 - u) (1/n_nonzero + 1/N_nonzero).
    levels: np.ndarray = field(default_factory=lambda: np.asarray(FIT_QUANTILES))

    def scaled(self, factor: float) -> QuantileNoise:
        """The same noise after the column is multiplied by factor (a unit hypothesis)."""
        return QuantileNoise(self.sd * abs(factor), self.floor * abs(factor), self.rank_var, self.levels)

    @property
    def total(self) -> np.ndarray:
        return np.maximum(self.sd, self.floor)


def quantile_noise(reference: ReferenceStats, n_current: int) -> QuantileNoise:
    """Sampling sd of each stored quantile of a batch of n_current rows against the whole reference:
    the larger of the sd of (chunk quantile - reference quantile) over the reference chunks,
    rescaled to the batch's size (without chunks, the normal approximation
    sqrt(p (1 - p) / n) / pdf(z_p) sds), and the asymptotic sd from the reference's own density
    (density_noise). Its floor: 1% of a standard deviation (a quantile stuck on one value, e.g.
    zeros), and for a discrete column a quarter of the step between its values."""
    whole = reference.whole
    ref_q, scale = _quantiles(whole), spread(whole)
    rank_var = 1 / max(n_current, 1) + 1 / max(whole.valid, 1)
    density = density_noise(whole, n_current)
    if _discrete(whole):
        # A discrete column's quantiles move by whole steps between its values: the floor below
        # (a quarter step) and the flips _misfit allows are its noise. Its chunks' sd is the
        # frequency of such flips (half a step at a quantile near a jump), which read as a
        # normal sd would let a gap of several steps pass.
        steps = np.diff(np.unique(ref_q[np.isfinite(ref_q)]))
        step = float(steps.min()) if steps.size else 0.0
        floor = max(MIN_NOISE_SD * scale, DISCRETE_STEP_NOISE * step)
        return QuantileNoise(density, np.full_like(density, floor), rank_var)
    rows = []
    for chunk in reference.chunks:
        s = size_scale(n_current, chunk.valid, whole.valid)
        if s is None or chunk.valid < 30:
            continue
        rows.append((_quantiles(chunk) - ref_q) * math.sqrt(s))
    if len(rows) >= 5:
        # An sd from a handful of chunks is itself uncertain: take its upper 90% confidence
        # bound, so a batch is not held to a lucky low estimate.
        k = len(rows)
        sd = np.nanstd(np.asarray(rows), axis=0, ddof=1) * math.sqrt((k - 1) / _chi2_lower_10(k - 1))
    else:
        sd = scale * _normal_quantile_sd() * math.sqrt(rank_var)
    sd = np.fmax(np.nan_to_num(sd, nan=scale), density)
    return QuantileNoise(sd, np.full_like(sd, MIN_NOISE_SD * scale), rank_var)


def _discrete(stats: ColumnStats) -> bool:
    return stats.distinct is not None and stats.distinct <= DISCRETE_DISTINCT


def rank_z(z: np.ndarray, rank_var: float, levels: np.ndarray | None = None) -> np.ndarray:
    """A quantile's gap of z sds (signed), as the root of the binomial deviance of its rank.

    A batch's p-quantile sitting z sds above the reference's means a share p of the batch lies
    below a value under which the reference holds r = p + z sqrt(p (1 - p) (1/n + 1/N)). How
    surprising that is depends on which way it went: the count below is binomial, skewed at the
    1% and 99% quantiles (2 rows of a 200-row batch), so z read as normal is a 4-sd "misfit" in
    one example in a few hundred on clean data, and the ratio cannot exceed 1 on bounded
    supports. sqrt(2 KL(p || r) / (1/n + 1/N)) is normal to the far tail at any p and n. levels:
    the p of each gap (default the stored quantiles'; a zero-inflated column's non-zero levels)."""
    p = np.asarray(FIT_QUANTILES) if levels is None else levels
    r = np.clip(p + z * np.sqrt(p * (1 - p) * rank_var), RANK_EPS, 1 - RANK_EPS)
    kl = p * np.log(p / r) + (1 - p) * np.log((1 - p) / (1 - r))
    out: np.ndarray = np.sqrt(2 * np.maximum(kl, 0.0) / rank_var)
    return out


def _gaps(cur: np.ndarray, target: np.ndarray, noise: QuantileNoise, discrete: bool) -> np.ndarray:
    """Gaps between batch and target quantiles, in normal sds of each quantile (rank_z), a gap
    within the floor counting as none, sorted. A discrete column (counts, codes) may see a
    quantile or two flip to the next value in any batch, so its two largest are dropped."""
    keep = np.isfinite(cur) & np.isfinite(target)
    gap = cur - target
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(gap == 0, 0.0, gap / noise.sd)
        within_floor = np.where(gap == 0, 0.0, np.abs(gap) / noise.floor)
    stat = rank_z(np.nan_to_num(z, nan=0.0, posinf=RANK_Z_CAP, neginf=-RANK_Z_CAP), noise.rank_var, noise.levels)
    gaps = np.sort(np.fmin(stat, within_floor)[keep])
    return gaps[:-DISCRETE_FLIPS] if discrete and gaps.size >= 7 else gaps


def _misfit(cur: np.ndarray, target: np.ndarray, noise: QuantileNoise, discrete: bool = False) -> float:
    """Largest gap between batch and target quantiles (_gaps), in normal sds of each quantile."""
    gaps = _gaps(cur, target, noise, discrete)
    return float(gaps[-1]) if gaps.size else math.inf


def zero_share(stats: ColumnStats) -> float | None:
    """Share of exact zeros of a column whose smallest value is 0, read off its histogram: the
    cut points are the reference's deciles (deduplicated), so when a tenth or more of the
    reference is zeros its first cut is 0 and the first bin (x <= 0) counts exactly the zeros of
    a column with no negative value. None when that cannot be read."""
    if (stats.min is None or stats.min < 0 or not stats.bin_edges or stats.bin_edges[0] != 0.0
            or len(stats.bin_counts) != len(stats.bin_edges) + 1 or stats.valid <= 0):
        return None
    return stats.bin_counts[0] / stats.valid


def zero_share_z(whole: ColumnStats, current: ColumnStats) -> float | None:
    """How far the batch's share of zeros sits from the reference's, in binomial sds
    sqrt(z (1 - z) (1/n + 1/N)) at the pooled share z; None when either cannot be read (zero_share)
    or the reference has no zeros. A rescale keeps zeros at zero, so a batch that changed unit has
    the reference's share of zeros up to that noise; a mixture that moves part of the rows (zeros
    included) lowers it, and on a column with 15% or 45% zeros no stored quantile crosses the
    move (the 10% and 25% quantiles stay 0 and positive), so the quantiles alone cannot see it."""
    z_r, z_b = zero_share(whole), zero_share(current)
    if z_r is None or z_b is None or z_r <= 0:
        return None
    pooled = (z_r * whole.valid + z_b * current.valid) / (whole.valid + current.valid)
    sd = math.sqrt(pooled * (1 - pooled) * (1 / current.valid + 1 / whole.valid))
    return abs(z_b - z_r) / sd if sd > 0 else (0.0 if z_b == z_r else math.inf)


@dataclass(frozen=True)
class ZeroMatch:
    """A zero-inflated column seen through its non-zero part (match_zeros)."""

    ref: np.ndarray  # the reference's quantile at each batch quantile's matched level (NaN: among the zeros)
    noise: QuantileNoise  # each matched gap's noise, at its level within the non-zero part


def match_zeros(whole: ColumnStats, current: ColumnStats, ref: np.ndarray, cur: np.ndarray,
                noise: QuantileNoise) -> ZeroMatch | None:
    """A rescale leaves zeros at zero, so it keeps the share of zeros, and it rescales the non-zero
    part. A chance swing of the batch's share of zeros (z_b against the reference's z_r) moves the
    rank of every non-zero quantile the same way, which compared at the same rank can favour a
    conversion 15% away. So: the batch's p-quantile (p > z_b) is the non-zero part's quantile at
    u = (p - z_b) / (1 - z_b), compared with the reference's quantile at the same u, i.e. at level
    z_r + u (1 - z_r), interpolated between its stored non-zero quantiles (linearly; past the 99%
    by its tail slope, below the first by its first segment for at most half of it; never from
    or into the lowest MIN_KNOT_LEVEL of the non-zero values, where the quantile function bends
    most). Its noise is the same rank noise as a stored quantile's, on the non-zero part: the reference's
    value-per-rank slope there (the stored quantiles' noise sd over their rank sd) times
    (1 - z_r) sqrt(u (1 - u) (1/n_nonzero + 1/N_nonzero)), judged by rank_z at u.

    Used to rank the catalogue conversions that fit, and as a second test of whether one fits
    (on top of the plain comparison, never instead of it: the plain one is honest about the
    swing, a quantile's binomial rank noise includes it, while the matched one leans on
    interpolation; on a column with 75% zeros a tail change or a truncation of the few hundred
    non-zero rows can pass the plain quantiles and not the matched ones). None when the shares
    cannot be read (zero_share), either side has fewer than
    MIN_NONZERO_ROWS non-zero values or fewer than two batch quantiles can be matched."""
    z_r, z_b = zero_share(whole), zero_share(current)
    if z_r is None or z_b is None or z_r <= 0:
        return None
    n_r, n_b = whole.valid * (1 - z_r), current.valid * (1 - z_b)
    p = np.asarray(FIT_QUANTILES)
    knots = np.isfinite(ref) & (ref > 0) & (p - z_r >= MIN_KNOT_LEVEL * (1 - z_r))
    if min(n_r, n_b) < MIN_NONZERO_ROWS or knots.sum() < 2 or not knots[-1]:
        return None
    kp, kq = p[knots], ref[knots]
    u = np.clip((p - z_b) / (1 - z_b), 1 / n_b, 1 - 1 / n_b)
    level = z_r + u * (1 - z_r)
    # Below the first knot, half a segment at most and never into the lowest tenth of the non-zeros.
    lowest = max(kp[0] - (kp[1] - kp[0]) / 2, z_r + MIN_KNOT_LEVEL * (1 - z_r))
    matched = np.isfinite(cur) & (cur > 0) & (level >= lowest)
    if matched.sum() < 2:
        return None
    tail = quantile_slopes(ref)[-1]
    top = tail if math.isfinite(tail) and tail > 0 else (kq[-1] - kq[-2]) / (kp[-1] - kp[-2])
    bottom = (kq[1] - kq[0]) / (kp[1] - kp[0])
    target = np.interp(level, kp, kq)
    target = np.where(level > kp[-1], kq[-1] + top * (level - kp[-1]), target)
    target = np.where(level < kp[0], kq[0] + bottom * (level - kp[0]), target)
    rank_sd = np.sqrt(p * (1 - p) * noise.rank_var)
    per_rank = np.interp(level, kp, (noise.sd / rank_sd)[knots])  # value per unit of the reference's rank
    rank_var = 1 / n_b + 1 / n_r
    sd = per_rank * (1 - z_r) * np.sqrt(u * (1 - u) * rank_var)
    return ZeroMatch(np.where(matched, target, math.nan), QuantileNoise(sd, noise.floor, rank_var, u))


def _mean_shift_z(reference: ColumnStats, current: ColumnStats) -> float:
    """The mean's change in standard errors (a coarse column, e.g. two values, hides a rescale
    from its quantiles' step noise but not from its mean)."""
    if reference.mean is None or current.mean is None or not reference.std or current.valid <= 0:
        return 0.0
    se = float(reference.std) * math.sqrt(1 / current.valid + 1 / max(reference.valid, 1))
    return abs(float(current.mean) - float(reference.mean)) / se if se > 0 else 0.0


def _affine(ref: np.ndarray, cur: np.ndarray, noise: QuantileNoise, discrete: bool, unchanged: float,
            zero_centred: bool) -> UnitChangeFinding | None:
    """The exact temperature conversions: affine maps with a known offset (noise scales with the factor)."""
    for conv in AFFINE:
        err = _misfit(cur, conv.factor * ref + conv.offset, noise.scaled(conv.factor), discrete)
        if err <= SHAPE_Z:
            return UnitChangeFinding(conv, conv.factor, conv.offset, err, unchanged, SHAPE_Z, True, zero_centred)
    return None


def find_unit_change(reference: ReferenceStats, current: ColumnStats, unit: str | None) -> UnitChangeFinding:
    whole = reference.whole
    ref, cur = _quantiles(whole), _quantiles(current)
    if int((np.isfinite(ref) & np.isfinite(cur)).sum()) < 5:
        raise ValueError(f"{current.subject}: need at least 5 quantiles in both reference and batch statistics")
    scale = spread(whole)
    q05, q95 = whole.quantiles.get(0.05), whole.quantiles.get(0.95)
    zero_centred = q05 is not None and q95 is not None and q05 < 0 < q95
    noise = quantile_noise(reference, current.valid)
    discrete = _discrete(whole)
    unchanged = _misfit(cur, ref, noise, discrete)
    if unchanged <= SHAPE_Z and _mean_shift_z(whole, current) <= MEAN_Z:
        return UnitChangeFinding(None, 1.0, 0.0, unchanged, unchanged, SHAPE_Z, False, zero_centred)
    temperature = (unit or "").strip().lower() in TEMPERATURE_UNITS
    if temperature:  # the unit says temperature: its exact conversions are the first hypotheses
        found = _affine(ref, cur, noise, discrete, unchanged, zero_centred)
        if found is not None:
            return found
    fit = mean_factor(whole, current) if discrete else weighted_factor(ref, cur, noise)
    if fit is None:
        fit = weighted_factor(ref, cur, noise)
    factor, rel_se = fit if fit is not None else (quantile_factor(ref, cur, scale), 0.0)
    valid = factor is not None and math.isfinite(factor) and factor > 0
    # A rescale keeps zeros at zero: when the share of zeros moved beyond noise, no factor is a
    # unit change (an exact temperature conversion moves the zeros, so it is still tried).
    zeros_z = zero_share_z(whole, current)
    zeros_kept = zeros_z is None or zeros_z <= ZERO_SHARE_Z
    if valid and zeros_kept:
        assert factor is not None
        # Five standard errors: the mean ratio's (discrete columns) is honest, and a clean rescale
        # falls outside five of them about once in a million batches (at three, one in 370
        # integer-count columns lost its factor); the weighted fit's understates, hence as many.
        window = min(MAX_CANDIDATE_WINDOW, max(MIN_CANDIDATE_WINDOW, WINDOW_SE * rel_se))
        # Catalogue factors near the fitted one are hypotheses: of those that fit every quantile
        # within noise, the one whose quantiles sit closest overall (sum of squared gaps; the fit
        # can land between two conversions 15% apart, e.g. when a zero-inflated column's share of
        # zeros moves every other quantile one way) is named, with its exact factor.
        # A zero-inflated column's candidates are ranked on its non-zero part at matched levels
        # (match_zeros): a swing of the batch's share of zeros tilts the plain gaps one way. They
        # must fit there too (within SHAPE_Z), besides on the plain quantiles.
        zeros = None if discrete else match_zeros(whole, current, ref, cur, noise)
        best: tuple[float, float, float, UnitConversion] | None = None  # (squares, distance, misfit, conversion)
        for conv in MULTIPLICATIVE:
            distance = abs(math.log(conv.factor / factor))
            if distance > math.log(1 + window):
                continue
            named = name_factor(conv.factor, unit, 1e-9)
            gaps = _gaps(cur, conv.factor * ref, noise.scaled(conv.factor), discrete)
            misfit = float(gaps[-1]) if gaps.size else math.inf
            ranked = gaps if zeros is None else _gaps(cur, conv.factor * zeros.ref, zeros.noise.scaled(conv.factor),
                                                      discrete)
            candidate = (float(np.sum(ranked**2)), distance, misfit, named)
            judged = misfit if zeros is None else max(misfit, float(ranked[-1]) if ranked.size else math.inf)
            if named is not None and judged <= SHAPE_Z and (best is None or candidate[:2] < best[:2]):
                best = (candidate[0], distance, misfit, named)
        if best is not None:
            return UnitChangeFinding(best[3], factor, 0.0, best[2], unchanged, SHAPE_Z, True, zero_centred)
    found = None if temperature else _affine(ref, cur, noise, discrete, unchanged, zero_centred)
    if found is not None:
        return found
    if not valid:
        return UnitChangeFinding(None, math.nan, 0.0, math.inf, unchanged, SHAPE_Z, False, zero_centred, zeros_z)
    assert factor is not None
    err = _misfit(cur, factor * ref, noise.scaled(factor), discrete)
    return UnitChangeFinding(None, factor, 0.0, err, unchanged, SHAPE_Z, err <= SHAPE_Z and zeros_kept, zero_centred,
                             zeros_z)


def unit_change(reference: ReferenceStats | None, current: ColumnStats, params: dict[str, Any]) -> CheckResult:
    """Did this numeric column change unit? Names the conversion and its fitted factor, or says why not."""
    name, subject, batch = "unit_change", current.subject, current.batch
    if reference is None:
        return skipped(name, FAMILY, subject, batch, "no reference statistics for this column")
    min_rows = int(params["min_rows"])
    if current.valid < min_rows:
        return skipped(name, FAMILY, subject, batch, f"only {current.valid} valid values (need {min_rows})")
    if reference.whole.valid < min_rows:
        return skipped(name, FAMILY, subject, batch, f"the reference has only {reference.whole.valid} valid values")
    unit = params.get("unit")
    f = find_unit_change(reference, current, unit)
    evidence: dict[str, Any] = {
        "unit": unit,
        "estimated_factor": f.factor if math.isfinite(f.factor) else None,
        "estimated_offset": f.offset,
        "shape_error": f.shape_error if math.isfinite(f.shape_error) else None,
        "unchanged_error": f.unchanged_error,
        "shape_tolerance": f.tolerance,
        "clean_rescale": f.clean,
        "zero_centred": f.zero_centred,
        "zero_share_z": f.zero_share_z,
        "reference_quantiles": {str(q): reference.whole.quantiles.get(q) for q in FIT_QUANTILES},
        "current_quantiles": {str(q): current.quantiles.get(q) for q in FIT_QUANTILES},
    }
    if f.conversion is not None:
        conv = f.conversion
        evidence.update({"conversion": conv.name, "conversion_kind": conv.kind, "factor": conv.factor,
                         "offset": conv.offset})
        how = f"fitted factor {f.factor:.4g}" + (f", offset {f.offset:.4g}" if conv.offset else "")
        sentence = (f"{subject} changed unit: {conv.name} ({how}; every quantile is the reference's converted, "
                    f"misfit {f.shape_error:.3f} sd within noise {f.tolerance:.3f}).")
        return result(name, FAMILY, subject, batch, "fail", sentence, params, value=conv.factor, lower=1.0,
                      upper=1.0, evidence=evidence)
    if f.unknown_rescale:
        evidence.update({"conversion": None, "factor": f.factor})
        sentence = (f"{subject} was rescaled by x{f.factor:.2g}: every quantile is the reference's times that "
                    f"factor, which is not in the catalogue of unit conversions; check the upstream definition.")
        return result(name, FAMILY, subject, batch, "fail", sentence, params, value=f.factor, lower=1.0, upper=1.0,
                      evidence=evidence)
    if f.clean:
        why = "the column is centred near zero" if f.zero_centred else "the factor is close to 1"
        sentence = (f"No unit change in {subject}: a clean rescale by x{f.factor:.3g}, but {why}, so it is "
                    "treated as drift (see the drift checks).")
    elif f.unchanged_error <= f.tolerance:
        sentence = f"No unit change in {subject} (quantiles match the reference within noise)."
    elif f.zero_share_z is not None and f.zero_share_z > ZERO_SHARE_Z:
        sentence = (f"No unit change in {subject}: its share of zeros moved by {f.zero_share_z:.3g} sd (noise "
                    f"{ZERO_SHARE_Z:.3g}), and a rescale keeps zeros at zero; a shift or shape change is drift.")
    else:
        sentence = (f"No unit change in {subject}: the change is not one factor across the distribution "
                    f"(misfit {f.shape_error:.3g} sd, noise {f.tolerance:.3g}); a shift or shape change is drift.")
    return result(name, FAMILY, subject, batch, "ok", sentence, params, value=1.0, lower=1.0, upper=1.0,
                  evidence=evidence)
