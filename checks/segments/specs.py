"""The segment checks as registered checks: one ``CheckSpec`` each, judged one segment test at a time.

A segment check's input is one ``SegmentTest`` (``checks.inputs``): the statistic of one
segment in one batch, its reference value and a p-value from a tail fitted to the reference
chunks of that segment (``checks.segments.run`` builds them from the batch's segment
statistics). The family-wise decision over the batch's tests (Holm or Benjamini-Hochberg)
fills the test's adjusted p-value; the verdict below then reads it with the check's
parameters from ``checks.params.<name>`` like every other check: ``min_effect`` (a test
pages only when its effect reaches it, never on a p-value alone), ``severity`` of a failure,
``min_rows`` (rows a segment needs for this check; the larger of it and the segmentation's
``min_rows`` applies) and ``enabled``. The budget is the model's (``checks.false_alarm_budget``),
shared by every segment test of a batch, so it is not a per-check parameter here.
"""

from __future__ import annotations

import math
from typing import Any

from checks.inputs import SegmentTest
from checks.result import CheckResult
from checks.spec import SEGMENT, CheckFn, CheckSpec, Family, Params, Scope, Severity
from checks.verdict import skipped
from core.model_kinds import ALL_MODEL_KINDS, BINARY, MULTICLASS, REGRESSION, ModelKind

SEGMENT_DRIFT = "segment_drift"
SEGMENT_NULL_RATE = "segment_null_rate"
SEGMENT_SCORE_DRIFT = "segment_score_drift"
SEGMENT_CALIBRATION = "segment_calibration"
SEGMENT_KPI = "segment_kpi"
SEGMENT_AUC = "segment_auc"
SEGMENT_ESTIMATED_AUC = "segment_estimated_auc"
SEGMENT_MAE = "segment_mae"
SEGMENT_ACCURACY = "segment_accuracy"
SEGMENT_ESTIMATED_ACCURACY = "segment_estimated_accuracy"
_TOLERANCE = 1e-12  # as checks.segments.stats: alpha * k / m and m * p round differently
# Kinds whose live test set is judged on labels per segment (calibration, AUC, MAE, label KPIs,
# multiclass accuracy).
LABEL_MODEL_KINDS: frozenset[ModelKind] = BINARY | REGRESSION | MULTICLASS
# Parameters a segment check does not take: its budget is the model's (checks.false_alarm_budget).
MODEL_LEVEL_PARAMS = ("false_alarm_budget",)


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def segment_verdict(name: str, family: Family, relative: bool = False) -> CheckFn[None, SegmentTest]:
    """The verdict of check ``name`` on one segment test: fail when the family-wise correction
    rejects it (adjusted p-value within the family's budget) and its effect reaches ``min_effect``
    (relative to the reference value when ``relative``); warn when significant alone with half
    the effect; else ok. No p-value (an empty or degenerate segment) is skipped."""

    def verdict(reference: None, test: SegmentTest, params: Params) -> CheckResult:
        del reference  # a segment test carries its reference side
        alpha = float(test.alpha if test.alpha is not None else params["false_alarm_budget"])
        evidence: dict[str, Any] = {**test.evidence, "segment": test.segment, "rows": test.rows}
        if test.rows <= 0 or not math.isfinite(test.pvalue):
            return skipped(name, str(family), test.subject, test.batch,
                           f"segment {test.segment} has no testable {test.what} in this batch", evidence)
        adjusted = test.adjusted_pvalue if test.adjusted_pvalue is not None else test.pvalue
        min_effect = float(params["min_effect"])
        effect = test.effect / abs(test.expected) if relative and test.expected else test.effect
        if not math.isfinite(effect):
            effect = 0.0
        if adjusted <= alpha * (1 + _TOLERANCE) and effect >= min_effect:
            status = "fail"
        elif test.pvalue <= alpha and effect >= min_effect / 2:
            status = "warn"
        else:
            status = "ok"
        if test.correction in ("holm", "bh"):
            method = "Holm" if test.correction == "holm" else "Benjamini-Hochberg"
            how = f"{method}-adjusted {adjusted:.2g} over {test.family_size} segment tests at budget {alpha:.3g}"
        else:
            how = f"judged alone at budget {alpha:.3g}"
        sentence = (
            f"In segment {test.segment} ({test.rows} rows), the {test.what} is {_fmt(test.value)} against "
            f"{_fmt(test.expected)} in the reference (p = {test.pvalue:.2g}, {how}; minimum effect {min_effect:g})."
        )
        segmentation, _, label = test.segment.partition("=")
        evidence.update({
            "segmentation": segmentation, "segment_label": label, "expected": test.expected, "effect": test.effect,
            "pvalue": test.pvalue, "adjusted_pvalue": adjusted, "correction": test.correction,
            "family_size": test.family_size, "alpha": alpha, "min_effect": min_effect, "labels": test.labels,
        })
        severity: Severity = params["severity"] if status == "fail" else ("warning" if status == "warn" else "info")
        return CheckResult(
            check=name, family=str(family), subject=test.subject, batch=test.batch, status=status,  # type: ignore[arg-type]
            severity=severity, explanation=sentence, value=test.value if math.isfinite(test.value) else None,
            evidence=evidence,
        )

    verdict.__name__ = name
    return verdict


def _segment_spec(name: str, family: Family, scope: Scope, min_effect: float, severity: Severity,
                  model_kinds: frozenset[ModelKind], summary: str, relative: bool = False) -> CheckSpec[None, SegmentTest]:
    return CheckSpec(name, family, scope, SEGMENT, frozenset({"segment"}), segment_verdict(name, family, relative),
                     defaults={"min_effect": min_effect, "severity": severity, "min_rows": 0},
                     model_kinds=model_kinds, summary=summary)


_SPECS: tuple[CheckSpec[None, SegmentTest], ...] = (
    _segment_spec(SEGMENT_DRIFT, Family.FEATURE_DRIFT, "column", 0.1, "warning", ALL_MODEL_KINDS,
                  "PSI of a feature within one segment against the segment's reference."),
    _segment_spec(SEGMENT_NULL_RATE, Family.INPUT_QUALITY, "column", 0.02, "critical", ALL_MODEL_KINDS,
                  "Null rate of a feature rose within one segment (absolute rise)."),
    _segment_spec(SEGMENT_SCORE_DRIFT, Family.PREDICTION, "column", 0.1, "critical", BINARY | REGRESSION,
                  "PSI of the score within one segment against the segment's reference."),
    _segment_spec(SEGMENT_CALIBRATION, Family.PREDICTION, "model", 0.03, "critical", BINARY,
                  "Mean outcome minus mean score moved within one segment."),
    # KPIs are cut over one score's bins: binary and regression models.
    _segment_spec(SEGMENT_KPI, Family.PERFORMANCE, "model", 0.02, "critical", BINARY | REGRESSION,
                  "A configured KPI moved within one segment (absolute change)."),
    _segment_spec(SEGMENT_AUC, Family.PERFORMANCE, "model", 0.03, "critical", BINARY,
                  "ROC AUC on the live test set fell within one segment."),
    _segment_spec(SEGMENT_ESTIMATED_AUC, Family.PERFORMANCE, "model", 0.02, "warning", BINARY,
                  "AUC estimated from calibrated scores (before labels) fell within one segment."),
    _segment_spec(SEGMENT_MAE, Family.PERFORMANCE, "model", 0.1, "critical", REGRESSION,
                  "Mean absolute error rose within one segment (relative rise).", relative=True),
    # Multiclass: the live test set per segment is cut over the predicted class (right or wrong).
    _segment_spec(SEGMENT_ACCURACY, Family.PERFORMANCE, "model", 0.03, "critical", MULTICLASS,
                  "Accuracy (predicted class = true class) on the live test set fell within one segment."),
    _segment_spec(SEGMENT_ESTIMATED_ACCURACY, Family.PERFORMANCE, "model", 0.02, "warning", MULTICLASS,
                  "Accuracy estimated from the predicted class's probability (before labels) fell within one segment."),
)
SEGMENT_SPECS: dict[str, CheckSpec[None, SegmentTest]] = {s.name: s for s in _SPECS}
