"""Label-based metrics of a multiclass model on one matured batch: macro and per-class ROC AUC,
per-class precision and recall, log loss.

The statistics are the profiler's (profilers.multiclass: per class one-vs-rest counts and the
exact AUC of the class's probability). Each metric is compared with the same metric on the
reference rows (or the registered evaluation) like the binary metrics: it fails only when
materially worse (minimum effect) and significantly worse (the interval of the live value,
widened by the reference's own sampling error, excludes the expected value).
"""

from __future__ import annotations

import math
from typing import Any

from checks.performance.live_metrics import compare_metric, hanley_mcneil_se, proportion_se, readiness
from checks.result import CheckResult
from checks.spec import Family
from checks.verdict import skipped
from profilers.stats_types import PerformanceStats

FAMILY = Family.PERFORMANCE


def _class(name: str, current: PerformanceStats, params: dict[str, Any]) -> tuple[str, dict[str, float]] | CheckResult:
    cls = params.get("class_name")
    subject = f"model.{cls}" if cls is not None else "model"
    why = readiness(name, current, params, need_both_classes=False)
    if why:
        return skipped(name, FAMILY, subject, current.batch, why)
    if cls is None or str(cls) not in current.classes:
        return skipped(name, FAMILY, subject, current.batch, f"no statistics for class {cls!r} in the live test set")
    return str(cls), current.classes[str(cls)]


def _named(res: CheckResult, cls: str) -> CheckResult:
    from dataclasses import replace

    return replace(res, subject=f"model.{cls}", evidence={**res.evidence, "class": cls})


def class_auc(reference: None, current: PerformanceStats, params: dict[str, Any]) -> CheckResult:
    """One class's ROC AUC (its probability against the rest) on the live test set."""
    found = _class("class_auc", current, params)
    if isinstance(found, CheckResult):
        return found
    cls, d = found
    pos, neg, min_pos = int(d.get("positives", 0)), int(d.get("negatives", 0)), int(params["min_positives"])
    if pos < min_pos or neg < min_pos:
        return _named(skipped("class_auc", FAMILY, "model", current.batch,
                              f"{pos} labels of class {cls!r} and {neg} of the others (need {min_pos} of each)"), cls)
    value = d.get("auc")
    se = hanley_mcneil_se(value, pos, neg) if value is not None and math.isfinite(value) else 0.0
    return _named(compare_metric("class_auc", f"ROC AUC of class {cls!r}", value, se, current, params, True), cls)


def class_precision(reference: None, current: PerformanceStats, params: dict[str, Any]) -> CheckResult:
    """Share of the labelled rows predicted as the class that belong to it."""
    found = _class("class_precision", current, params)
    if isinstance(found, CheckResult):
        return found
    cls, d = found
    flagged, value = int(d.get("predicted_labeled", 0)), d.get("precision")
    if flagged < int(params["min_flagged"]):
        return _named(skipped("class_precision", FAMILY, "model", current.batch,
                              f"only {flagged} labelled rows predicted as {cls!r} (need {int(params['min_flagged'])})"), cls)
    se = proportion_se(value, flagged, params.get("expected")) if value is not None and math.isfinite(value) else 0.0
    return _named(compare_metric("class_precision", f"Precision of class {cls!r}", value, se, current, params, True), cls)


def class_recall(reference: None, current: PerformanceStats, params: dict[str, Any]) -> CheckResult:
    """Share of the labelled rows of the class that were predicted as it."""
    found = _class("class_recall", current, params)
    if isinstance(found, CheckResult):
        return found
    cls, d = found
    pos, value = int(d.get("positives", 0)), d.get("recall")
    if pos < int(params["min_positives"]):
        return _named(skipped("class_recall", FAMILY, "model", current.batch,
                              f"only {pos} labels of class {cls!r} (need {int(params['min_positives'])})"), cls)
    se = proportion_se(value, pos, params.get("expected")) if value is not None and math.isfinite(value) else 0.0
    return _named(compare_metric("class_recall", f"Recall of class {cls!r}", value, se, current, params, True), cls)


def macro_auc(reference: None, current: PerformanceStats, params: dict[str, Any]) -> CheckResult:
    """Unweighted mean of the per-class ROC AUCs (one-vs-rest) on the live test set."""
    why = readiness("macro_auc", current, params, need_both_classes=False)
    if why:
        return skipped("macro_auc", FAMILY, "model", current.batch, why)
    value = current.metrics.get("macro_auc")
    parts = []
    for d in current.classes.values():
        auc, pos, neg = d.get("auc"), int(d.get("positives", 0)), int(d.get("negatives", 0))
        if auc is not None and math.isfinite(auc) and pos and neg:
            parts.append(hanley_mcneil_se(auc, pos, neg) ** 2)
    se = math.sqrt(sum(parts)) / len(parts) if parts else 0.0
    return compare_metric("macro_auc", "Macro ROC AUC", value, se, current, params, higher_is_better=True)


def log_loss(reference: None, current: PerformanceStats, params: dict[str, Any]) -> CheckResult:
    """Mean of -ln p(true class) on the live test set (relative minimum effect)."""
    why = readiness("log_loss", current, params, need_both_classes=False)
    if why:
        return skipped("log_loss", FAMILY, "model", current.batch, why)
    se = float(current.metrics.get("log_loss_se", 0.0))
    return compare_metric("log_loss", "Log loss", current.metrics.get("log_loss"), se, current,
                          {**params, "relative": True}, higher_is_better=False)
