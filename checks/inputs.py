"""Inputs of checks that are not profiler statistics: the skew sample, heartbeat health and
one segment's test.

Plain data, computed at the edges (``checks.input_quality.skew_sample`` from the warehouse,
``incidents.heartbeat`` from the ops store, ``checks.segments.run`` from a batch's segment
statistics) and passed to pure checks.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class SkewStats:
    """Comparison of served and rebuilt features for a sample of one batch."""

    batch: datetime | None
    builder: str | None  # "module:function", None when the model has none
    rows_compared: int = 0
    mismatches: dict[str, int] = field(default_factory=dict)  # feature -> rows that differ
    max_abs_diff: dict[str, float] = field(default_factory=dict)
    unmatched: int = 0  # sampled predictions without upstream rows
    note: str | None = None  # why nothing could be compared


@dataclass(frozen=True)
class CycleHealth:
    model: str
    interval_s: float
    last_finished_at: str | None
    last_status: str | None
    last_error: str | None
    running_since: str | None
    age_s: float | None  # seconds since the last completed cycle (None: never)
    stale: bool

    @property
    def level(self) -> str:
        if self.last_finished_at is None:
            return "never"
        return "stale" if self.stale else "ok"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "level": self.level}


@dataclass(frozen=True)
class ScoringHealth:
    model: str
    monitored: bool  # scoring jobs are recorded in this store
    last_job: dict[str, Any] | None
    missed: bool
    failed: bool
    slow: bool
    usual_duration_s: float | None
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class HeartbeatStats:
    """Wall-clock health evaluated at ``batch`` (the wall-clock interval it falls in)."""

    batch: datetime
    cycle: CycleHealth
    scoring: ScoringHealth
    scoring_scheduled: bool  # an expected scoring interval is configured (a missed job is meaningful)
    stale_factor: float  # the cycle is stale after this many intervals


@dataclass
class SegmentTest:
    """One test of one segment (``checks.segments``): the statistic, its reference value, the
    effect in the harmful direction and a p-value from a tail fitted to the reference chunks.

    The family-wise decision over a batch's segment tests (Holm or Benjamini-Hochberg) fills
    ``adjusted_pvalue``, ``family_size``, ``alpha`` and ``correction``; a test judged alone is
    a family of one at the check's ``false_alarm_budget``.
    """

    check: str
    subject: str  # with its segment: 'model{ownership=RENT}'
    segment: str  # 'ownership=RENT'
    value: float
    expected: float
    effect: float  # in the harmful direction (or absolute, two-sided)
    pvalue: float
    rows: int
    labels: bool  # reads matured labels (the label family)
    what: str  # the metric in words
    evidence: dict[str, Any] = field(default_factory=dict)
    batch: datetime | None = None
    adjusted_pvalue: float | None = None
    family_size: int = 1
    alpha: float | None = None
    correction: str = "none"
