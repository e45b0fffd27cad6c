"""Where did it break: a model-level change decomposed over segments by counterfactual swap.

The model's live table is the sum of its segments' tables: weight w_s (share of rows) times
the segment's distribution D_s (its cells per row). The reference gives w_s^ref and
D_s^ref. The players are each segment's within-segment change (D_s^ref -> D_s) and one
"mix" player (every w_s^ref -> w_s at once). For a set S of players whose change is applied,
the model-level metric is recomputed on sum_s w_s(S) D_s(S); the metric's change from the
reference mixture to the batch is split by Shapley values over the players (exact, so the
parts sum to the total) when there are at most ten segments, and beyond that by undoing one
player at a time from the batch, with the remainder reported as interaction.

Label-based metrics compare the reference on the live test set's selection: the reference's
labelled cells are weighted by the batch's label coverage of each decision group.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from checks.segments import live as lv
from checks.segments.stats import one_at_a_time, shapley

MIX = "(mix)"
MAX_SHAPLEY_SEGMENTS = 10
TOP_PARTS = 10  # parts kept in the evidence, largest first


@dataclass(frozen=True)
class Part:
    segment: str  # 'ownership=RENT'
    within: float  # this segment's within-segment share of the change
    segment_reference: float | None  # the metric inside the segment: reference
    segment_current: float | None  # and batch
    rows: int
    weight: float  # share of the batch's rows
    reference_weight: float


@dataclass(frozen=True)
class Decomposition:
    metric: str
    segmentation: str
    reference: float  # the metric on the reference mixture
    current: float  # on the batch
    change: float
    mix: float  # share of the change due to the segments' weights moving
    interaction: float  # what one-at-a-time leaves unexplained (0 for Shapley)
    method: str  # 'shapley' or 'one_at_a_time'
    parts: list[Part] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def sentence(self) -> str:
        return decomposition_sentence(self.to_dict())


def _normalised(t: lv.LiveTable) -> lv.LiveTable:
    return t.scaled(1.0 / t.rows) if t.rows > 0 else t


def decompose(
    metric_name: str,
    metric: Callable[[lv.LiveTable], float],
    segmentation: str,
    current: dict[str, lv.LiveTable],
    reference: dict[str, lv.LiveTable],
) -> Decomposition | None:
    """Decompose metric(batch) - metric(reference mixture) over one segmentation's labels."""
    labels = sorted(set(current) | set(reference))
    cur_rows = {lab: current[lab].rows if lab in current else 0.0 for lab in labels}
    ref_rows = {lab: reference[lab].rows if lab in reference else 0.0 for lab in labels}
    n_cur, n_ref = sum(cur_rows.values()), sum(ref_rows.values())
    if n_cur <= 0 or n_ref <= 0:
        return None
    d_cur: dict[str, lv.LiveTable] = {}
    d_ref: dict[str, lv.LiveTable] = {}
    for lab in labels:
        c = _normalised(current[lab]) if cur_rows[lab] > 0 else None
        r = _normalised(reference[lab]) if ref_rows[lab] > 0 else None
        either = c if c is not None else r
        assert either is not None  # a label comes from one side or the other
        d_cur[lab] = either
        d_ref[lab] = r if r is not None else either
    w_cur = {lab: cur_rows[lab] / n_cur for lab in labels}
    w_ref = {lab: ref_rows[lab] / n_ref for lab in labels}

    def value(applied: frozenset[str]) -> float:
        weights = w_cur if MIX in applied else w_ref
        total: lv.LiveTable | None = None
        for lab in labels:
            d = d_cur[lab] if lab in applied else d_ref[lab]
            part = d.scaled(weights[lab] * n_cur)
            total = part if total is None else total + part
        assert total is not None
        return metric(total)

    players = [*labels, MIX]
    everyone = frozenset(players)
    v_all, v_none = value(everyone), value(frozenset())
    if not (math.isfinite(v_all) and math.isfinite(v_none)):
        return None
    if len(labels) <= MAX_SHAPLEY_SEGMENTS:
        phi, method = shapley(players, value), "shapley"
    else:
        phi, method = one_at_a_time(players, value), "one_at_a_time"
    change = v_all - v_none
    interaction = change - sum(phi.values())
    parts = []
    for lab in labels:
        seg_cur = metric(current[lab]) if cur_rows[lab] > 0 else math.nan
        seg_ref = metric(reference[lab]) if ref_rows[lab] > 0 else math.nan
        parts.append(Part(f"{segmentation}={lab}", float(phi[lab]), _num(seg_ref), _num(seg_cur), int(cur_rows[lab]),
                          w_cur[lab], w_ref[lab]))
    parts.sort(key=lambda p: (-abs(p.within), p.segment))
    return Decomposition(metric_name, segmentation, float(v_none), float(v_all), float(change), float(phi[MIX]),
                         float(interaction if method == "one_at_a_time" else 0.0), method, parts)


def _num(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def score_psi_metric(reference_total: lv.LiveTable) -> Callable[[lv.LiveTable], float]:
    """PSI of a table's score-bin distribution against the reference mixture's."""
    ref = reference_total.n[1:].sum(axis=(1, 2, 3))
    p = np.clip(ref / max(ref.sum(), 1e-12), 1e-4, None)

    def metric(t: lv.LiveTable) -> float:
        cur = t.n[1:].sum(axis=(1, 2, 3))
        if cur.sum() <= 0:
            return math.nan
        q = np.clip(cur / cur.sum(), 1e-4, None)
        return float(((q - p) * np.log(q / p)).sum())

    return metric


METRIC_WORDS = {"auc": "AUC", "estimated_auc": "estimated AUC", "approval_rate": "approval rate",
                "label_rate": "label rate", "mean_score": "mean score", "calibration_gap": "calibration gap",
                "score_psi": "score PSI", "mae": "MAE"}


def decomposition_sentence(d: dict[str, Any]) -> str:
    """'AUC fell 0.021 (0.780 -> 0.759); 0.017 of it is within ownership=RENT, whose AUC fell
    0.090; mix shift 0.001.' from a Decomposition's dict (evidence, payloads, postmortems)."""
    word = METRIC_WORDS.get(str(d.get("metric")), str(d.get("metric")))
    change = float(d.get("change") or 0.0)
    verb = "rose" if change > 0 else ("fell" if change < 0 else "did not move")
    text = f"{word} {verb} {abs(change):.3f} ({float(d.get('reference') or 0):.3f} -> {float(d.get('current') or 0):.3f})"
    parts = list(d.get("parts") or [])
    if parts:
        top = parts[0]
        text += f"; {float(top['within']):+.3f} of it is within {top['segment']}"
        sr, sc = top.get("segment_reference"), top.get("segment_current")
        if sr is not None and sc is not None:
            delta = float(sc) - float(sr)
            text += f", whose {word} {'rose' if delta > 0 else 'fell'} {abs(delta):.3f}"
        for p in parts[1:3]:
            text += f"; {float(p['within']):+.3f} within {p['segment']}"
    text += f"; mix shift {float(d.get('mix') or 0.0):+.3f}"
    if d.get("method") == "one_at_a_time":
        text += f"; interaction {float(d.get('interaction') or 0.0):+.3f}"
    return text + "."


def trimmed(d: Decomposition) -> dict[str, Any]:
    """The evidence form: the largest parts only (the rest summed as '(rest)')."""
    out = d.to_dict()
    parts = out["parts"]
    if len(parts) > TOP_PARTS:
        rest = parts[TOP_PARTS:]
        out["parts"] = parts[:TOP_PARTS] + [{"segment": f"({len(rest)} more segments)",
                                             "within": float(sum(p["within"] for p in rest)),
                                             "segment_reference": None, "segment_current": None,
                                             "rows": int(sum(p["rows"] for p in rest)),
                                             "weight": float(sum(p["weight"] for p in rest)),
                                             "reference_weight": float(sum(p["reference_weight"] for p in rest))}]
    out["sentence"] = decomposition_sentence(out)
    return out
