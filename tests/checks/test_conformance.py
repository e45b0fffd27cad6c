"""Every registered check and heartbeat honours the same contract (the scikit-learn estimator-checks idea).

For each check: deterministic, does not modify its inputs, handles empty, all-null and
NaN input without raising, returns a well-formed CheckResult with a one-sentence
explanation, and has runbooks/<name>.md with every section using only real commands.
"""

from __future__ import annotations

import copy
import json
import math
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from checks.input_quality.quarantine import CYCLE_CHECKS
from checks.inputs import CycleHealth, HeartbeatStats, ScoringHealth, SegmentTest, SkewStats
from checks.registry import ALL_SPECS, CHECKS, HEARTBEATS, CheckSpec
from checks.result import STATUSES, CheckResult
from checks.segments.run import SEGMENT_CHECKS
from incidents.heartbeat import HEARTBEAT_CHECKS
from profilers.stats_types import ColumnStats, PerformanceStats, ReferenceStats, TableStats
from tests.checks.stats_factory import (
    categorical_reference,
    categorical_stats,
    numeric_reference,
    numeric_stats,
)
from tests.test_docs import command_exists

ROOT = Path(__file__).resolve().parents[2]
B = datetime(2026, 2, 1)
SECTIONS = ("Meaning", "Impact", "Diagnosis", "Mitigation", "Escalation", "Rollback")
PAGES = ("Overview", "Alerts", "Incidents", "Data", "Checks", "Model")

# Parameters the runner would fill from config / history for each check.
CONTEXT: dict[str, dict[str, Any]] = {
    "out_of_range": {"range": [-5.0, 5.0]},
    "unseen_category": {"allowed": ["a", "b"]},
    "volume": {"expected_rows": [100, 1000], "recent_rows": [500, 510, 490]},
    "freshness": {"expected_seconds": 86400.0},
    "decision_rate_shift": {"positive_decision": "a", "recent_rates": [0.5, 0.52, 0.49]},
    "fallback_rate": {"recent_rates": [0.01, 0.02, 0.01]},
    "auc": {"expected": 0.75}, "precision": {"expected": 0.3}, "recall": {"expected": 0.5},
    "brier": {"expected": 0.1}, "mae": {"expected": 1.0}, "rmse": {"expected": 1.5},
    "rmsle": {"expected": 0.1}, "mape": {"expected": 0.08},
    "macro_auc": {"expected": 0.8}, "log_loss": {"expected": 0.7},
    "class_auc": {"expected": 0.8, "class_name": "b"}, "class_precision": {"expected": 0.7, "class_name": "b"},
    "class_recall": {"expected": 0.6, "class_name": "b"},
    "estimated_performance": {"expected": 0.75},
    "multivariate_drift": {"batch": B},
    "kpi": {"kpi_name": "approval", "kind": "approval_rate", "lower": 0.3, "upper": 0.9},
}


def _rng() -> np.random.Generator:
    return np.random.default_rng(11)


def _column_kind(spec: CheckSpec) -> str:
    return "numeric" if "numeric" in spec.kinds else ("categorical" if "categorical" in spec.kinds else "boolean")


def _column_inputs(spec: CheckSpec) -> dict[str, tuple[Any, Any]]:
    rng = _rng()
    kind = _column_kind(spec)
    if kind == "numeric":
        values = rng.beta(2, 5, 4000) if spec.name in ("score_drift", "estimated_performance") else rng.normal(0, 1, 4000)
        ref = numeric_reference(values, 400)
        edges = ref.whole.bin_edges
        normal = numeric_stats(values[:500] + 0.01, edges, batch=B)
        empty = ColumnStats("predictions", "x", "numeric", B, 0, bin_edges=edges, bin_counts=(0,) * (len(edges) + 1))
        all_null = ColumnStats("predictions", "x", "numeric", B, 300, nulls=300, bin_edges=edges,
                               bin_counts=(0,) * (len(edges) + 1))
        with_nan = numeric_stats(np.r_[values[:400], [np.nan] * 50, [np.inf] * 5], edges, batch=B)
        nan_stats = ColumnStats("predictions", "x", "numeric", B, 300, nan=300, min=math.nan, max=math.nan,
                                mean=math.nan, std=math.nan, quantiles={0.5: math.nan}, bin_edges=edges,
                                bin_counts=(0,) * (len(edges) + 1))
        return {"normal": (ref, normal), "empty": (ref, empty), "all_null": (ref, all_null),
                "nan": (ref, with_nan), "all_nan": (ref, nan_stats), "no_reference": (None, normal)}
    cats = ["a", "b", "c"] if kind == "categorical" else [True, False]
    ref_values = list(rng.choice(cats, 4000))
    ref = categorical_reference(ref_values, 400, kind=kind)
    normal = categorical_stats(ref_values[:500], batch=B, kind=kind)
    empty = ColumnStats("predictions", "c", kind, B, 0)  # type: ignore[arg-type]
    all_null = ColumnStats("predictions", "c", kind, B, 200, nulls=200)  # type: ignore[arg-type]
    nan = categorical_stats(ref_values[:300] + ["nan"] * 20, batch=B, kind=kind)
    return {"normal": (ref, normal), "empty": (ref, empty), "all_null": (ref, all_null), "nan": (ref, nan),
            "no_reference": (None, normal)}


def _table_inputs() -> dict[str, tuple[Any, Any]]:
    return {
        "normal": (None, TableStats("apps", B, 500, newest=B, freshness_lag_seconds=3600.0, columns={"x": "DOUBLE"})),
        "empty": (None, TableStats("apps", B, 0)),
        "all_null": (None, TableStats("apps", B, 0, newest=None, freshness_lag_seconds=None)),
        "nan": (None, TableStats("apps", B, 500, freshness_lag_seconds=math.nan)),
    }


def _performance_inputs() -> dict[str, tuple[Any, Any]]:
    normal = PerformanceStats(B, predictions=2000, labeled=1200, matured=True, positives=150, approved=1500,
                              approved_labeled=1100, approved_positives=110, mean_score=0.12, mean_label=0.11,
                              auc=0.77, brier=0.09, precision=0.3, recall=0.55, mae=1.1, rmse=1.6,
                              estimated={"expected_approved_positive_rate": 0.1, "mae": 1.2, "rmse": 1.7,
                                         "reference_mae": 1.1, "reference_mae_sd": 0.05, "reference_rmse": 1.6,
                                         "reference_rmse_sd": 0.07, "estimated_rows": 2000.0},
                              metrics={"rmsle": 0.11, "mape": 0.09, "mae_se": 0.03, "rmse_se": 0.05,
                                       "rmsle_se": 0.004, "mape_se": 0.003, "macro_auc": 0.79, "log_loss": 0.75,
                                       "log_loss_se": 0.02},
                              classes={c: {"positives": 400.0, "negatives": 800.0, "predicted": 600.0,
                                           "predicted_labeled": 380.0, "tp": 260.0, "auc": 0.8, "precision": 0.68,
                                           "recall": 0.65, "estimated_precision": 0.7} for c in ("a", "b", "c")})
    nan = PerformanceStats(B, predictions=2000, labeled=1200, matured=True, positives=150, approved=1500,
                           approved_labeled=1100, approved_positives=110, mean_score=math.nan, mean_label=math.nan,
                           auc=math.nan, brier=math.nan, precision=math.nan, recall=math.nan, mae=math.nan,
                           rmse=math.nan, estimated={"mae": math.nan, "reference_mae": 1.0},
                           metrics={"rmsle": math.nan, "mape": math.nan, "macro_auc": math.nan, "log_loss": math.nan},
                           classes={"b": {"positives": 400.0, "negatives": 800.0, "predicted_labeled": 380.0,
                                          "auc": math.nan, "precision": math.nan, "recall": math.nan}})
    return {
        "normal": (None, normal),
        "empty": (None, PerformanceStats(B, predictions=0, labeled=0, matured=True)),
        "all_null": (None, PerformanceStats(B, predictions=500, labeled=0, matured=False)),
        "nan": (None, nan),
    }


def _feature_inputs() -> dict[str, tuple[Any, Any]]:
    rng = _rng()
    refs: dict[str, ReferenceStats] = {}
    curs: dict[str, ColumnStats] = {}
    for name in ("x", "y"):
        values = rng.normal(0, 1, 4000)
        refs[name] = numeric_reference(values, 400, column=name)
        curs[name] = numeric_stats(values[:500], refs[name].whole.bin_edges, column=name, batch=B)
    refs["c"] = categorical_reference(list(rng.choice(["a", "b"], 4000)), 400)
    curs["c"] = categorical_stats(list(rng.choice(["a", "b"], 500)), batch=B)
    nulls = {k: ColumnStats("predictions", k, v.kind, B, 100, nulls=100) for k, v in curs.items()}
    nan = {k: numeric_stats(np.full(100, np.nan), refs[k].whole.bin_edges, column=k, batch=B) for k in ("x", "y")}
    return {"normal": (refs, curs), "empty": (refs, {}), "all_null": (refs, nulls), "nan": (refs, nan),
            "no_reference": (None, curs)}


def _skew_inputs() -> dict[str, tuple[Any, Any]]:
    return {
        "normal": (None, SkewStats(B, "pkg.mod:build", rows_compared=200, mismatches={"x": 0, "y": 3},
                                   max_abs_diff={"x": 0.0, "y": 1.5})),
        "empty": (None, SkewStats(B, "pkg.mod:build")),
        "all_null": (None, SkewStats(B, None)),
        "nan": (None, SkewStats(B, "pkg.mod:build", rows_compared=200, mismatches={"x": 0},
                                max_abs_diff={"x": math.nan})),
    }


def _heartbeat_inputs() -> dict[str, tuple[Any, Any]]:
    def stats(cycle: CycleHealth, scoring: ScoringHealth, scheduled: bool = True) -> HeartbeatStats:
        return HeartbeatStats(B, cycle, scoring, scoring_scheduled=scheduled, stale_factor=1.5)

    job = {"job_id": "score-1", "batch_date": "2026-01-31", "status": "failed", "error": "boom",
           "started_at": "2026-02-01T00:00:00+00:00", "duration_s": 40.0}
    cycle = CycleHealth("m", 3600.0, "2026-02-01T00:00:00+00:00", "ok", None, None, 7200.0, True)
    scoring = ScoringHealth("m", True, job, True, True, True, 10.0,
                            ["no scoring job started since 2026-02-01T00:00:00+00:00; expected one every 1 day",
                             "scoring job score-1 for 2026-01-31 failed: boom", "scoring job score-1 took 40.0s, usually 10.0s"])
    never = CycleHealth("m", 3600.0, None, None, None, None, None, True)
    unmonitored = ScoringHealth("m", False, None, False, False, False, None, ["no scoring_jobs table"])
    no_jobs = ScoringHealth("m", True, None, False, False, False, None, [])
    nan_cycle = CycleHealth("m", 3600.0, "2026-02-01T00:00:00+00:00", "ok", None, None, math.nan, False)
    return {
        "normal": (None, stats(cycle, scoring)),
        "empty": (None, stats(never, no_jobs, scheduled=False)),
        "all_null": (None, stats(never, unmonitored)),
        "nan": (None, stats(nan_cycle, ScoringHealth("m", True, job, False, False, False, math.nan, []))),
    }


def _segment_inputs() -> dict[str, tuple[Any, Any]]:
    def test(value: float, pvalue: float, rows: int, adjusted: float | None = None) -> SegmentTest:
        return SegmentTest("segment_auc", "model{ownership=RENT}", "ownership=RENT", value, 0.75, 0.75 - value, pvalue,
                           rows, True, "AUC", {"reference_chunks": 20}, batch=B, adjusted_pvalue=adjusted,
                           family_size=40 if adjusted is not None else 1, alpha=0.005 if adjusted is not None else None,
                           correction="holm" if adjusted is not None else "none")

    return {
        "normal": (None, test(0.70, 1e-4, 400, adjusted=0.004)),
        "empty": (None, test(math.nan, math.nan, 0)),
        "all_null": (None, test(math.nan, math.nan, 300)),
        "nan": (None, test(math.nan, 0.5, 300)),
    }


def inputs_for(spec: CheckSpec[Any, Any]) -> dict[str, tuple[Any, Any]]:
    return {
        "column": lambda: _column_inputs(spec),
        "table": _table_inputs,
        "performance": _performance_inputs,
        "features": _feature_inputs,
        "skew": _skew_inputs,
        "heartbeat": _heartbeat_inputs,
        "segment": _segment_inputs,
    }[spec.reads]()


def params_of(spec: CheckSpec) -> dict[str, Any]:
    return {**spec.params, **CONTEXT.get(spec.name, {})}


def _fingerprint(obj: Any) -> str:
    return repr(obj)  # repr shows NaN as nan, so equal structures give equal strings


def _as_json(res: CheckResult) -> str:
    return json.dumps(res.to_dict(), sort_keys=True, default=str)


NAMES = sorted(ALL_SPECS)  # registered checks and heartbeats


@pytest.mark.parametrize("name", NAMES)
def test_normal_input_gives_a_well_formed_deterministic_result(name):
    spec = ALL_SPECS[name]
    reference, current = inputs_for(spec)["normal"]
    params = params_of(spec)
    before = _fingerprint((reference, current, params))
    first = spec.fn(reference, current, params)
    second = spec.fn(copy.deepcopy(reference), copy.deepcopy(current), copy.deepcopy(params))
    assert _fingerprint((reference, current, params)) == before, "the check modified its inputs"
    assert _as_json(first) == _as_json(second), "the check is not deterministic"
    _assert_well_formed(spec, first)
    assert first.status != "error"


def _cases(spec: CheckSpec) -> list[str]:
    base = ["empty", "all_null", "nan"]
    if spec.reads == "column":
        return base + (["all_nan"] if _column_kind(spec) == "numeric" else []) + ["no_reference"]
    if spec.reads == "features":
        return base + ["no_reference"]
    return base


DEGENERATE = [(n, c) for n in NAMES for c in _cases(ALL_SPECS[n])]


@pytest.mark.parametrize(("name", "case"), DEGENERATE, ids=[f"{n}-{c}" for n, c in DEGENERATE])
def test_degenerate_input_is_handled(name, case):
    spec = ALL_SPECS[name]
    reference, current = inputs_for(spec)[case]
    params = params_of(spec)
    before = _fingerprint((reference, current, params))
    res = spec.fn(reference, current, params)
    assert _fingerprint((reference, current, params)) == before
    _assert_well_formed(spec, res)
    assert res.status != "error", res.explanation
    # Without values a distribution check has nothing to judge; the rate checks still can
    # (all-null is a 100% null rate and a 0% NaN rate).
    if case in ("empty", "all_null") and spec.reads in ("column", "features") and name not in ("null_rate", "nan_inf"):
        assert res.status == "skipped", res.explanation


def _assert_well_formed(spec: CheckSpec, res: CheckResult) -> None:
    assert isinstance(res, CheckResult)
    assert res.check == spec.name
    assert res.family == spec.family
    assert res.status in STATUSES
    assert res.severity in ("info", "warning", "critical")
    assert res.batch == B
    assert isinstance(res.subject, str) and res.subject
    assert isinstance(res.explanation, str) and res.explanation.strip()
    assert res.explanation.rstrip().endswith("."), res.explanation
    for v in (res.value, res.lower, res.upper):
        assert v is None or (isinstance(v, float | int) and math.isfinite(v))
    if res.status == "skipped":
        assert res.evidence.get("reason")
    json.dumps(res.to_dict(), default=str)  # serialisable for the CLI's --json


@pytest.mark.parametrize("name", sorted({*NAMES, *HEARTBEAT_CHECKS, *CYCLE_CHECKS, *SEGMENT_CHECKS}))
def test_runbook_exists_with_every_section_and_real_commands(name):
    path = ROOT / "runbooks" / f"{name}.md"
    assert path.exists(), f"missing runbooks/{name}.md"
    text = path.read_text()
    headings = re.findall(r"^## (.+)$", text, flags=re.M)
    assert tuple(headings) == SECTIONS
    for section in re.split(r"^## ", text, flags=re.M)[1:]:
        assert len(section.split("\n", 1)[1].strip()) > 20, f"{name}: section {section.splitlines()[0]} is empty"
    commands = re.findall(r"`(vigil [^`]*)`", text)
    assert commands, f"{name}: Diagnosis must name vigil commands"
    for cmd in commands:
        ok, detail = command_exists([w for w in cmd.split()[1:] if not w.startswith("-")])
        assert ok, f"{name}: {cmd!r}: {detail}"
    assert any(f"{p} page" in text for p in PAGES)


def test_every_runbook_belongs_to_a_registered_check():
    names = {p.stem for p in (ROOT / "runbooks").glob("*.md") if p.stem.lower() != "readme"}
    assert names == set(CHECKS) | set(HEARTBEAT_CHECKS) | set(CYCLE_CHECKS) | set(SEGMENT_CHECKS)


# ---- each check on each model kind it declares ---------------------------------------------------

_CLASSES = {c: {"positives": 400.0, "negatives": 800.0, "predicted": 600.0, "predicted_labeled": 380.0, "tp": 260.0,
                "auc": 0.8, "precision": 0.68, "recall": 0.65} for c in ("a", "b", "c")}
KIND_PERFORMANCE: dict[str, PerformanceStats] = {
    "binary": PerformanceStats(B, predictions=2000, labeled=1200, matured=True, positives=150, approved=1500,
                               approved_labeled=1100, approved_positives=110, mean_score=0.12, mean_label=0.11,
                               auc=0.77, brier=0.09, precision=0.3, recall=0.55,
                               estimated={"expected_approved_positive_rate": 0.1}),
    "regression": PerformanceStats(B, predictions=2000, labeled=1200, matured=True, approved=1500, mean_score=31.0,
                                   mean_label=30.5, mae=1.1, rmse=1.6,
                                   metrics={"rmsle": 0.11, "mape": 0.09, "mae_se": 0.03, "rmse_se": 0.05},
                                   estimated={"mae": 1.2, "rmse": 1.7, "reference_mae": 1.1, "reference_mae_sd": 0.05,
                                              "reference_rmse": 1.6, "reference_rmse_sd": 0.07,
                                              "estimated_rows": 2000.0}),
    "multiclass": PerformanceStats(B, predictions=2000, labeled=1200, matured=True, approved=1500, auc=0.8,
                                   metrics={"macro_auc": 0.8, "log_loss": 0.75, "log_loss_se": 0.02},
                                   classes=_CLASSES),
}
KIND_PAIRS = [(n, k) for n in sorted(CHECKS) for k in sorted(CHECKS[n].model_kinds)]


@pytest.mark.parametrize(("name", "kind"), KIND_PAIRS, ids=[f"{n}-{k}" for n, k in KIND_PAIRS])
def test_check_judges_each_model_kind_it_declares(name, kind):
    """A check declaring a model kind returns a real verdict on that kind's statistics (not skipped)."""
    spec = CHECKS[name]
    reference, current = inputs_for(spec)["normal"]
    if spec.reads == "performance":
        current = KIND_PERFORMANCE[kind]
    params = params_of(spec)
    res = spec.fn(reference, current, params)
    _assert_well_formed(spec, res)
    assert res.status in ("ok", "warn", "fail"), f"{name} on {kind}: {res.explanation}"


def test_model_kinds_are_declared_and_performance_checks_need_a_model():
    from core.model_kinds import ModelKind

    # One vocabulary: the kernel's ModelKind, the type of config model.task too.
    assert all(isinstance(k, ModelKind) for s in CHECKS.values() for k in s.model_kinds)
    assert all(CHECKS[n].model_kinds and CHECKS[n].model_kinds <= {"binary", "multiclass", "regression", "none"} for n in CHECKS)
    for spec in CHECKS.values():
        if spec.family in ("performance", "prediction"):
            assert "none" not in spec.model_kinds, spec.name  # a feature table has no outputs to judge


@pytest.mark.parametrize("name", NAMES)
def test_spec_declares_its_contract(name):
    """Family from the one enum, a runbook path, model kinds, a params schema that takes its defaults."""
    from checks.spec import Family
    from core.model_kinds import ModelKind

    spec = ALL_SPECS[name]
    assert isinstance(spec.family, Family)
    assert spec.runbook == ROOT / "runbooks" / f"{name}.md" and spec.runbook.exists()
    assert spec.model_kinds and spec.model_kinds <= set(ModelKind)
    assert spec.params_schema.model_validate(params_of(spec))
    assert set(spec.context) <= set(spec.params_schema.model_fields)


def test_heartbeats_are_specs_outside_the_warehouse_checks():
    assert set(HEARTBEATS) == set(HEARTBEAT_CHECKS) and not set(HEARTBEATS) & set(CHECKS)
    assert {s.reads for s in HEARTBEATS.values()} == {"heartbeat"}
