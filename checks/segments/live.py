"""The live test set of a segment as a table of cells, and the model metrics computed from it.

A table holds counts and sums per (score bin, labelled, positive, approved) cell
(profilers.segments.live_cells_sql); a multiclass model's per (predicted class, labelled,
right, -) cell (profilers.multiclass.top_class_inner). Tables add: the model's table is the sum of its
segments' tables, so a model-level metric can be recomputed with one segment's cells
replaced by its reference cells (the counterfactual swap of the decomposition).

AUC from binned scores counts pairs in the same bin as half: with 50 reference-quantile
bins it is a close, slightly low approximation of the exact AUC, the same for the reference
and the batch, so differences are comparable.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class LiveTable:
    """Arrays of shape (bins + 1, 2, 2, 2): [score bin + 1 (0: no score), labelled, positive, approved]."""

    n: np.ndarray
    s: np.ndarray  # sum of scores
    y: np.ndarray  # sum of outcomes
    ae: np.ndarray  # sum of absolute errors
    se: np.ndarray  # sum of squared errors

    @classmethod
    def empty(cls, n_bins: int) -> LiveTable:
        shape = (n_bins + 1, 2, 2, 2)
        return cls(*(np.zeros(shape) for _ in range(5)))

    @classmethod
    def from_cells(cls, cells: Iterable[Sequence[Any]], n_bins: int) -> LiveTable:
        """Cells: (bin, labeled, positive, approved, n, sum_score, sum_y, sum_abs_err, sum_sq_err)."""
        t = cls.empty(n_bins)
        rows = list(cells)
        if not rows:
            return t
        a = np.nan_to_num(np.array(rows, dtype=float))  # a None sum (no labelled row) is NaN: 0
        index = (np.minimum(a[:, 0].astype(int) + 1, n_bins), a[:, 1].astype(int), a[:, 2].astype(int),
                 a[:, 3].astype(int))
        for arr, col in ((t.n, 4), (t.s, 5), (t.y, 6), (t.ae, 7), (t.se, 8)):
            np.add.at(arr, index, a[:, col])
        return t

    def __add__(self, other: LiveTable) -> LiveTable:
        return LiveTable(self.n + other.n, self.s + other.s, self.y + other.y, self.ae + other.ae, self.se + other.se)

    def scaled(self, k: float) -> LiveTable:
        return LiveTable(self.n * k, self.s * k, self.y * k, self.ae * k, self.se * k)

    @property
    def rows(self) -> float:
        return float(self.n.sum())

    @property
    def labelled(self) -> float:
        return float(self.n[1:, 1].sum())

    def with_coverage(self, approved: float, other: float) -> LiveTable:
        """Labelled cells weighted by the live label coverage of their decision group, so a
        reference (every row labelled) is compared with the live test set on the same selection."""
        w = np.ones(self.n.shape)
        w[:, 1, :, 1] = approved
        w[:, 1, :, 0] = other
        return LiveTable(self.n * w, self.s * w, self.y * w, self.ae * w, self.se * w)

    def coverage(self) -> tuple[float, float] | None:
        """(labelled share of approved rows, labelled share of the others); None without labels."""
        lab = self.n[:, 1]
        a, o = float(self.n[..., 1].sum()), float(self.n[..., 0].sum())
        if float(lab.sum()) <= 0:
            return None
        return (float(lab[..., 1].sum()) / a if a else 0.0, float(lab[..., 0].sum()) / o if o else 0.0)


Metric = Callable[[LiveTable], float]


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else math.nan


def approval_rate(t: LiveTable) -> float:
    return _ratio(float(t.n[..., 1].sum()), t.rows)


def mean_score(t: LiveTable) -> float:
    return _ratio(float(t.s[1:].sum()), float(t.n[1:].sum()))


def label_rate(t: LiveTable, approved_only: bool = False) -> float:
    lab = t.n[:, 1, :, 1:] if approved_only else t.n[:, 1]
    return _ratio(float(lab[:, 1].sum()), float(lab.sum()))


def calibration_gap(t: LiveTable) -> float:
    """Mean outcome minus mean score on labelled rows with a score (0 when calibrated)."""
    return _ratio(float(t.y[1:, 1].sum() - t.s[1:, 1].sum()), float(t.n[1:, 1].sum()))


def mae(t: LiveTable) -> float:
    return _ratio(float(t.ae[1:, 1].sum()), float(t.n[1:, 1].sum()))


def _binned_auc(pos: np.ndarray, neg: np.ndarray) -> float:
    p, q = float(pos.sum()), float(neg.sum())
    if p <= 0 or q <= 0:
        return math.nan
    below = np.concatenate(([0.0], np.cumsum(neg)[:-1]))
    return float((pos * (below + 0.5 * neg)).sum() / (p * q))


def auc(t: LiveTable) -> float:
    """Realized ROC AUC of the labelled rows (pairs within a score bin count half)."""
    lab = t.n[1:, 1].sum(axis=-1)  # [bin, positive]
    return _binned_auc(lab[:, 1], lab[:, 0])


def estimated_auc(t: LiveTable) -> float:
    """The AUC calibrated scores predict (CBPE): each row a positive with probability s."""
    n = t.n[1:].sum(axis=(1, 2, 3))
    s = t.s[1:].sum(axis=(1, 2, 3))
    return _binned_auc(s, np.clip(n - s, 0.0, None))


def auc_se(a: float, positives: float, negatives: float) -> float:
    """Hanley-McNeil standard error of an AUC."""
    if not (math.isfinite(a) and positives > 0 and negatives > 0):
        return 0.0
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    var = (a * (1 - a) + (positives - 1) * (q1 - a * a) + (negatives - 1) * (q2 - a * a)) / (positives * negatives)
    return math.sqrt(max(var, 0.0))


# A multiclass model's table (profilers.multiclass.top_class_inner): the bin is the predicted
# class, "positive" is "the prediction is right", the score the predicted class's probability.


def accuracy(t: LiveTable) -> float:
    """Multiclass: share of the labelled rows whose predicted class is the true class."""
    return label_rate(t)


def estimated_accuracy(t: LiveTable) -> float:
    """Multiclass, before labels: mean probability of the predicted class (what a calibrated
    model's confidence predicts its accuracy to be; CBPE's estimated precision, row-weighted)."""
    return mean_score(t)


def positives_negatives(t: LiveTable) -> tuple[float, float]:
    lab = t.n[1:, 1]
    return float(lab[:, 1].sum()), float(lab[:, 0].sum())
