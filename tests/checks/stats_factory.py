"""Build the statistics dataclasses from numpy samples, the way the profilers define them.

Tests use this so checks are exercised on realistic stats without the warehouse.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime

import numpy as np

from profilers.stats_types import (
    CATEGORY_CAP,
    HIGH_CARDINALITY,
    OTHER,
    QUANTILES,
    ColumnStats,
    ReferenceStats,
)

DAY0 = datetime(2026, 1, 1)


def reference_edges(values: np.ndarray, n_bins: int = 10) -> tuple[float, ...]:
    v = values[np.isfinite(values)]
    cuts = np.unique(np.quantile(v, np.linspace(0, 1, n_bins + 1)[1:-1]))
    return tuple(float(c) for c in cuts)


def numeric_stats(
    values: Sequence[float] | np.ndarray,
    edges: tuple[float, ...],
    *,
    source: str = "predictions",
    column: str = "x",
    batch: datetime | None = DAY0,
    nulls: int = 0,
) -> ColumnStats:
    arr = np.asarray(values, dtype=float)
    nan = int(np.isnan(arr).sum())
    inf = int(np.isinf(arr).sum())
    v = arr[np.isfinite(arr)]
    count = int(arr.size) + nulls
    if v.size == 0:
        return ColumnStats(source, column, "numeric", batch, count, nulls=nulls, nan=nan, inf=inf,
                           bin_edges=edges, bin_counts=tuple(0 for _ in range(len(edges) + 1)))
    idx = np.searchsorted(np.asarray(edges), v, side="left")  # x <= c_1 -> bin 0
    counts = np.bincount(idx, minlength=len(edges) + 1)
    return ColumnStats(
        source, column, "numeric", batch, count, nulls=nulls, nan=nan, inf=inf,
        min=float(v.min()), max=float(v.max()), mean=float(v.mean()),
        std=float(v.std(ddof=1)) if v.size > 1 else 0.0,
        quantiles={q: float(np.quantile(v, q)) for q in QUANTILES},
        bin_edges=edges, bin_counts=tuple(int(c) for c in counts),
        distinct=int(np.unique(v).size),
    )


def categorical_stats(
    values: Sequence[object],
    *,
    source: str = "predictions",
    column: str = "c",
    batch: datetime | None = DAY0,
    kind: str = "categorical",
    top_k: int | None = None,
) -> ColumnStats:
    """Category counts as the profilers keep them: every value up to CATEGORY_CAP (then the
    high-cardinality marker); top_k truncates to the old top-k-plus-other form."""
    nulls = sum(1 for v in values if v is None)
    counts = Counter(str(v) for v in values if v is not None)
    if len(counts) > CATEGORY_CAP:
        top = {HIGH_CARDINALITY: sum(counts.values())}
    else:
        top = dict(counts.most_common(top_k))
    rest = sum(counts.values()) - sum(top.values())
    if rest:
        top[OTHER] = rest
    return ColumnStats(source, column, kind, batch, len(values), nulls=nulls,  # type: ignore[arg-type]
                       categories=top, distinct=len(counts))


def numeric_reference(
    values: np.ndarray, chunk_rows: int, *, source: str = "predictions", column: str = "x", n_bins: int = 10
) -> ReferenceStats:
    edges = reference_edges(values, n_bins)
    whole = numeric_stats(values, edges, source=source, column=column, batch=None)
    chunks = tuple(
        numeric_stats(values[i:i + chunk_rows], edges, source=source, column=column, batch=None)
        for i in range(0, len(values) - chunk_rows + 1, chunk_rows)
    )
    return ReferenceStats(whole=whole, chunks=chunks)


def categorical_reference(values: list[object], chunk_rows: int, *, source: str = "predictions",
                          column: str = "c", kind: str = "categorical") -> ReferenceStats:
    whole = categorical_stats(values, source=source, column=column, batch=None, kind=kind)
    chunks = tuple(
        categorical_stats(values[i:i + chunk_rows], source=source, column=column, batch=None, kind=kind)
        for i in range(0, len(values) - chunk_rows + 1, chunk_rows)
    )
    return ReferenceStats(whole=whole, chunks=chunks)
