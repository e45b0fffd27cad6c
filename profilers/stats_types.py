"""Statistics types: what profilers compute and checks read (never raw rows).

Histogram convention: ``bin_edges`` are interior cut points c_1 < ... < c_m taken from
the reference; ``bin_counts`` has m + 1 entries: x <= c_1, c_1 < x <= c_2, ..., x > c_m.
Nulls, NaN and infinities are counted apart and are not in the histogram.

Categorical columns: ``categories`` holds the count of every value (as text) up to
CATEGORY_CAP distinct values, and ``min`` / ``max`` / ``mean`` / ``std`` describe the length
of the values (characters), so a high-cardinality column is still described.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

QUANTILES: tuple[float, ...] = (0.01, 0.05, 0.10, 0.25, 0.50, 0.75, 0.90, 0.95, 0.99)
OTHER = "__other__"
# Full category counts are kept per column and batch up to CATEGORY_CAP distinct values. Above
# it the column is high-cardinality in that batch: its categories are {HIGH_CARDINALITY: rows}
# and it is checked by distinct count, null rate and length statistics instead.
CATEGORY_CAP = 10_000
HIGH_CARDINALITY = "__high_cardinality__"

ColumnKind = Literal["numeric", "categorical", "boolean"]


@dataclass(frozen=True)
class ColumnStats:
    """One column of one batch (or of the reference, or of a reference chunk)."""

    source: str  # 'predictions' or an ETL table name
    column: str
    kind: ColumnKind
    batch: datetime | None  # batch start (naive UTC); None for the whole reference
    count: int  # rows, nulls included
    nulls: int = 0
    nan: int = 0
    inf: int = 0
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    std: float | None = None
    quantiles: dict[float, float] = field(default_factory=dict)
    bin_edges: tuple[float, ...] = ()
    bin_counts: tuple[int, ...] = ()
    categories: dict[str, int] = field(default_factory=dict)  # every value up to CATEGORY_CAP
    distinct: int | None = None

    @property
    def high_cardinality(self) -> bool:
        """More than CATEGORY_CAP distinct values: categories were not kept."""
        return HIGH_CARDINALITY in self.categories

    @property
    def valid(self) -> int:
        """Rows with a usable value (not null, NaN or infinite)."""
        return self.count - self.nulls - self.nan - self.inf

    @property
    def subject(self) -> str:
        return f"{self.source}.{self.column}"


@dataclass(frozen=True)
class ReferenceStats:
    """The whole reference for one column plus its batch-sized chunks (for calibration)."""

    whole: ColumnStats
    chunks: tuple[ColumnStats, ...] = ()


@dataclass(frozen=True)
class TableStats:
    """One ETL table (or the prediction log) in one batch."""

    source: str
    batch: datetime
    row_count: int
    newest: datetime | None = None  # newest event timestamp in the batch
    freshness_lag_seconds: float | None = None  # event-time 'now' minus newest
    duplicate_keys: int = 0
    columns: dict[str, str] = field(default_factory=dict)  # name -> type as ingested
    missing_columns: tuple[str, ...] = ()
    added_columns: tuple[str, ...] = ()
    retyped_columns: dict[str, str] = field(default_factory=dict)  # name -> 'expected->actual'
    renamed_columns: dict[str, str] = field(default_factory=dict)  # old -> new (best guess)


@dataclass(frozen=True)
class PerformanceStats:
    """The live test set of one batch: predictions joined with matured labels."""

    batch: datetime
    predictions: int  # rows scored in the batch
    labeled: int  # rows with a matured label
    matured: bool  # the batch's label window has passed
    positives: int = 0
    approved: int = 0
    approved_labeled: int = 0
    approved_positives: int = 0
    mean_score: float | None = None
    mean_label: float | None = None
    auc: float | None = None
    brier: float | None = None
    precision: float | None = None
    recall: float | None = None
    mae: float | None = None
    rmse: float | None = None
    estimated: dict[str, float] = field(default_factory=dict)  # from scores, before labels
    # Further label-based metrics and their standard errors (rmsle, mape, mae_se, log_loss, macro_auc ...).
    metrics: dict[str, float] = field(default_factory=dict)
    # Multiclass: per class, one-vs-rest statistics of the live test set and of the scores
    # (labeled, positives, predicted, tp, auc, precision, recall, estimated_* ...).
    classes: dict[str, dict[str, float]] = field(default_factory=dict)
