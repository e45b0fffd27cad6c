"""A drift metric of every reference chunk against the whole reference, computed once per reference.

Calibration compares each reference chunk with the whole reference (checks.calibration).
Those values depend on the reference only, never on the batch being checked, yet the
checks of one cycle ask for them once per batch, per column and per metric: on a table
of 1,000 columns with ten chunks that is tens of thousands of small computations for
each batch. Here they are computed the first time a reference object is asked about and
kept while that object lives (the runner loads each reference once per cycle).

The binned metrics (PSI, Jensen-Shannon, KS, total variation) share one alignment of
the chunk's bins with the whole's (``binned_counts``), also computed once per chunk.
Values are exactly what ``metric(whole, chunk)`` returns; a chunk without valid values,
or that cannot be compared (``ValueError``), is None.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from checks.distributions import (
    binned_counts,
    js_distance,
    js_distance_from_shares,
    ks_binned,
    ks_from_shares,
    psi,
    psi_from_counts,
    total_variation,
    total_variation_from_shares,
)
from profilers.stats_types import ColumnStats, ReferenceStats

Metric = Callable[[ColumnStats, ColumnStats], float]
Counts = tuple[np.ndarray, np.ndarray]

# (id of the reference, what) -> (weak reference to it, per-chunk values). The weak reference
# proves the id still names the same object; its callback drops the entry when it dies.
_CACHE: dict[tuple[int, Any], tuple[weakref.ref[ReferenceStats], list[Any]]] = {}


def _cached(reference: ReferenceStats, what: Any, compute: Callable[[], list[Any]]) -> list[Any]:
    key = (id(reference), what)
    hit = _CACHE.get(key)
    if hit is not None and hit[0]() is reference:
        return hit[1]
    values = compute()

    def forget(_dead: weakref.ref[ReferenceStats]) -> None:
        _CACHE.pop(key, None)

    _CACHE[key] = (weakref.ref(reference, forget), values)
    return values


def _each_chunk(reference: ReferenceStats, fn: Callable[[ColumnStats], Any]) -> list[Any]:
    out: list[Any] = []
    for chunk in reference.chunks:
        if chunk.valid <= 0:
            out.append(None)
            continue
        try:
            out.append(fn(chunk))
        except ValueError:
            out.append(None)
    return out


def chunk_counts(reference: ReferenceStats) -> list[Counts | None]:
    """``binned_counts(whole, chunk)`` of every chunk (None: empty or not comparable)."""
    return _cached(reference, "counts", lambda: _each_chunk(reference, lambda c: binned_counts(reference.whole, c)))


def _shares(counts: Counts) -> Counts:
    ref, cur = counts
    return ref / ref.sum(), cur / cur.sum()  # as binned_shares


# Metrics that are a function of the aligned counts alone: metric -> the same of (reference
# counts, chunk counts).
FROM_COUNTS: dict[Metric, Callable[[np.ndarray, np.ndarray], float]] = {
    psi: psi_from_counts,
    js_distance: lambda r, c: js_distance_from_shares(*_shares((r, c))),
    ks_binned: lambda r, c: ks_from_shares(*_shares((r, c))),
    total_variation: lambda r, c: total_variation_from_shares(*_shares((r, c))),
}


def chunk_values(metric: Metric, reference: ReferenceStats) -> list[float | None]:
    """``metric(whole, chunk)`` of every chunk, aligned with ``reference.chunks``."""
    from_counts = FROM_COUNTS.get(metric)
    if from_counts is not None:
        return _cached(
            reference, metric,
            lambda: [None if c is None else from_counts(*c) for c in chunk_counts(reference)],
        )
    return _cached(reference, metric, lambda: _each_chunk(reference, lambda c: metric(reference.whole, c)))
