"""The runner's entry to segments: read a batch's segment statistics, run the segment checks,
and attach the decomposition over segments to the model-level results that moved."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import duckdb

from checks.registry import AnySpec, params_for
from checks.result import CheckResult
from checks.segments import live as lv
from checks.segments.decomposition import Decomposition, decompose, score_psi_metric, trimmed
from checks.segments.run import Enabled, SegmentChecks, SegmentInputs, segment_results
from checks.spec import SEGMENT, Params
from core.config import VigilConfig
from core.model_kinds import BINARY, MULTICLASS, REGRESSION, model_kind
from profilers import stats_store
from profilers.segments import SegmentDef, load_definitions, load_score_edges

MOVED = ("warn", "fail")


@dataclass
class SegmentReferences:
    """What does not change between batches of one run: the cut and the reference side."""

    definitions: list[SegmentDef]
    references: dict[stats_store.SegmentKey, dict[str, Any]]
    reference_live: dict[stats_store.SegmentKey, dict[int, list[tuple[Any, ...]]]]
    n_bins: int
    cache: dict[Any, Any] = field(default_factory=dict)  # reference-side values shared by a run's batches


def load_references(conn: duckdb.DuckDBPyConnection, cfg: VigilConfig) -> SegmentReferences | None:
    defs = load_definitions(conn, cfg)
    if not defs:
        return None
    # The cells' bins: score bins, or a multiclass model's predicted class (profilers.multiclass).
    n_bins = len(cfg.predictions.class_scores or {}) if model_kind(cfg.model.task) in MULTICLASS \
        else len(load_score_edges(conn)) + 1
    return SegmentReferences(defs, stats_store.load_segment_references(conn), stats_store.load_segment_reference_live(conn),
                             n_bins)


def load_inputs(conn: duckdb.DuckDBPyConnection, refs: SegmentReferences, batch: datetime) -> SegmentInputs:
    live, matured = stats_store.load_segment_live(conn, batch)
    segments = [(d.name, label, d.min_rows) for d in refs.definitions for label in d.labels]
    return SegmentInputs(segments, stats_store.load_segment_column_stats(conn, batch), refs.references, live, matured,
                         refs.reference_live, refs.n_bins, {d.name: d.column for d in refs.definitions}, refs.cache)


def enabled_segment_checks(cfg: VigilConfig, specs: list[AnySpec]) -> SegmentChecks:
    """The segment checks among the enabled ``specs`` that apply to the model's kind, with their
    parameters (defaults <- checks.params.<check>; ``enabled: false`` there turns one off), and
    each feature's own (<- features[].checks.<check>) where it sets some."""
    out: dict[str, Params] = {}
    by_feature: dict[tuple[str, str], Params] = {}
    for spec in specs:
        if spec.inputs != SEGMENT or not spec.applies("segment", None, cfg.model.task):
            continue
        params = params_for(spec, cfg)
        if params.get("enabled", True):
            out[spec.name] = params
            for f in cfg.features:
                if spec.name in f.checks:
                    by_feature[(spec.name, f.name)] = params_for(spec, cfg, f)
    return SegmentChecks(out, by_feature)


def segment_batch(
    conn: duckdb.DuckDBPyConnection, cfg: VigilConfig, refs: SegmentReferences | None, batch: datetime,
    include_data: bool, model_results: list[CheckResult], checks: Enabled | None = None,
) -> list[CheckResult]:
    """Segment results of the batch (the enabled segment checks ``checks``; by default every one of
    the model's kind), and the model-level results with their decomposition added."""
    if refs is None:
        return model_results
    inputs = load_inputs(conn, refs, batch)
    if not inputs.current and not inputs.live:
        # No segment statistics for this batch at all (every row has a segment, so an engine that
        # does not compute them, e.g. profile.engine: spark): nothing to judge, nothing "too small".
        return model_results
    out = [attach_decomposition(cfg, inputs, refs, r) for r in model_results]
    return out + segment_results(cfg, inputs, batch, include_data, checks)


# ---- decomposition of model-level results ------------------------------------------------------

_BY_CHECK: dict[str, tuple[str, Callable[[lv.LiveTable], float], bool]] = {
    "auc": ("auc", lv.auc, True),
    "estimated_performance": ("estimated_auc", lv.estimated_auc, False),
    "decision_rate_shift": ("approval_rate", lv.approval_rate, False),
    "calibration_drift": ("calibration_gap", lv.calibration_gap, True),
    "mae": ("mae", lv.mae, True),
}


def _metric_of(cfg: VigilConfig, r: CheckResult) -> tuple[str, Callable[[lv.LiveTable], float] | None, bool] | None:
    if "{" in r.subject or model_kind(cfg.model.task) not in BINARY | REGRESSION:
        return None  # a multiclass model's cells are over its predicted class: no score to decompose
    if r.check in _BY_CHECK:
        return _BY_CHECK[r.check]
    if r.check == "score_drift":
        return ("score_psi", None, False)
    if r.check == "kpi":
        name = r.subject.split(".", 1)[-1]
        kpi = next((k for k in cfg.kpis if k.name == name), None)
        if kpi is None:
            return None
        if kpi.kind == "approval_rate":
            return ("approval_rate", lv.approval_rate, False)
        if kpi.kind == "mean_score":
            return ("mean_score", lv.mean_score, False)
        approved = kpi.decision is not None and str(kpi.decision) == str(cfg.predictions.positive_decision)
        return ("label_rate", lambda t: lv.label_rate(t, approved), True)
    return None


def decompositions(cfg: VigilConfig, inputs: SegmentInputs, refs: SegmentReferences, metric_name: str,
                   metric: Callable[[lv.LiveTable], float] | None, labels: bool) -> list[Decomposition]:
    """The decomposition over each segmentation, the most concentrated first."""
    overall = inputs.live.get(("", ""))
    if not overall:
        return []
    coverage = lv.LiveTable.from_cells(overall, inputs.n_bins).coverage() if labels else None
    if labels and coverage is None:
        return []
    out = []
    for d in refs.definitions:
        cur: dict[str, lv.LiveTable] = {}
        ref: dict[str, lv.LiveTable] = {}
        for label in d.labels:
            cells = inputs.live.get((d.name, label))
            if cells:
                cur[label] = lv.LiveTable.from_cells(cells, inputs.n_bins)
            whole = inputs.reference_live.get((d.name, label), {}).get(-1)
            if whole:
                t = lv.LiveTable.from_cells(whole, inputs.n_bins)
                ref[label] = t.with_coverage(*coverage) if coverage is not None else t
        if not cur or not ref:
            continue
        fn = metric
        if fn is None:  # score PSI: against the reference mixture of this segmentation
            total = None
            for t in ref.values():
                total = t if total is None else total + t
            assert total is not None
            fn = score_psi_metric(total)
        found = decompose(metric_name, fn, d.name, cur, ref)
        if found is not None:
            out.append(found)
    out.sort(key=lambda x: -max((abs(p.within) for p in x.parts), default=0.0) / max(abs(x.change), 1e-12))
    return out


def attach_decomposition(cfg: VigilConfig, inputs: SegmentInputs, refs: SegmentReferences, r: CheckResult) -> CheckResult:
    if r.status not in MOVED:
        return r
    found = _metric_of(cfg, r)
    if found is None:
        return r
    name, metric, labels = found
    if labels and not inputs.matured:
        return r
    ds = decompositions(cfg, inputs, refs, name, metric, labels)
    if not ds or not math.isfinite(ds[0].change):
        return r
    evidence = {**r.evidence, "decomposition": [trimmed(d) for d in ds]}
    return replace(r, evidence=evidence, explanation=f"{r.explanation} Where: {ds[0].sentence()}")
