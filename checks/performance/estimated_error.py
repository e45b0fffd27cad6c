"""Regression error estimated before labels (direct loss estimation, profilers.expected_error).

The profiler stores, per batch, the MAE and RMSE its expected-error model predicts from the
batch's features and predictions, and the same estimate over batch-sized chunks of the
reference (cross-fitted): their mean is what a batch like the reference should show, their
spread how much the estimate moves when nothing changed. A batch fails when its estimate is
worse than the reference's by more than both the calibrated spread (z at the check's tail,
its share of the model's false-alarm budget (checks.performance.family), times the margin)
and the minimum effect (relative: min_effect x the reference
value). Once labels mature the realized mae / rmse checks judge the same batch; the
realized value is kept as evidence.
"""

from __future__ import annotations

import math
from typing import Any

from checks.calibration import z_upper
from checks.performance.bounds import drop_pvalue, fail_tail
from checks.result import CheckResult
from checks.spec import Family
from checks.verdict import finite, result, skipped
from profilers.stats_types import PerformanceStats

FAMILY = Family.PERFORMANCE


def _estimated(name: str, metric: str, label: str, current: PerformanceStats, params: dict[str, Any]) -> CheckResult:
    batch = current.batch
    est = current.estimated.get(metric)
    expected = current.estimated.get(f"reference_{metric}")
    if not finite(est) or not finite(expected):
        return skipped(name, FAMILY, "model", batch,
                       "no expected-error model: the reference file needs the label column, the features and the "
                       "prediction (and at least 200 rows)", {"estimated": True})
    assert est is not None and expected is not None
    rows = int(current.estimated.get("estimated_rows", current.predictions))
    min_rows = int(params["min_rows"])
    if rows < min_rows:
        return skipped(name, FAMILY, "model", batch, f"only {rows} predictions in this batch (need {min_rows})",
                       {"estimated": True})
    sd = float(current.estimated.get(f"reference_{metric}_sd", 0.0))
    # The warning stays at the budget (it does not page); the failure at the check's tail.
    z_warn, z_fail = z_upper(float(params["false_alarm_budget"])), z_upper(fail_tail(params))
    margin = float(params["margin"])
    min_effect = float(params["min_effect"]) * abs(expected)
    sd = sd if math.isfinite(sd) else 0.0
    fail_at = max(margin * z_fail * sd, min_effect)
    warn_at = min(fail_at, max(z_warn * sd, min_effect / 2))
    worse_by = est - expected
    status = "fail" if worse_by > fail_at else ("warn" if worse_by > warn_at else "ok")
    sentence = {
        "ok": f"Estimated {label} before labels is {est:.3f} (reference estimate {expected:.3f}).",
        "warn": f"Estimated {label} before labels rose to {est:.3f} against {expected:.3f} on the reference.",
        "fail": (f"Estimated {label} before labels rose to {est:.3f} against {expected:.3f} on the reference "
                 f"(bound {expected + fail_at:.3f}); confirm when labels mature."),
    }[status]
    realized = current.mae if metric == "mae" else current.rmse
    evidence = {"estimated": True, f"estimated_{metric}": est, "reference_estimate": expected,
                "reference_estimate_sd": sd, "reference_chunks": current.estimated.get("reference_chunks"),
                "warn_upper": expected + warn_at, "fail_upper": expected + fail_at, "min_effect": min_effect,
                # Noise scale margin x chunk sd: the check fails exactly when p < tail and the rise is material.
                "sigma": margin * sd, "tail": fail_tail(params), "pvalue": drop_pvalue(worse_by, margin * sd),
                "method": "direct loss estimation (expected-error model fitted on the reference)",
                f"realized_{metric}": realized if current.matured else None}
    if current.matured and finite(realized):
        assert realized is not None
        evidence["estimate_error"] = est - realized  # the estimate's error, once labels matured
    return result(name, FAMILY, "model", batch, status, sentence, params, value=est, upper=expected + fail_at,
                  evidence=evidence)


def estimated_mae(reference: None, current: PerformanceStats, params: dict[str, Any]) -> CheckResult:
    """MAE of a regression model estimated before labels, against the same estimate on the reference."""
    return _estimated("estimated_mae", "mae", "MAE", current, params)


def estimated_rmse(reference: None, current: PerformanceStats, params: dict[str, Any]) -> CheckResult:
    """RMSE of a regression model estimated before labels, against the same estimate on the reference."""
    return _estimated("estimated_rmse", "rmse", "RMSE", current, params)
