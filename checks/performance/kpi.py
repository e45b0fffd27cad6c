"""Business KPIs defined in config (core.config.Kpi), on the live test set of a batch."""

from __future__ import annotations

import math
from typing import Any

from checks.calibration import z_upper
from checks.result import CheckResult
from checks.spec import Family
from checks.verdict import result, skipped
from profilers.stats_types import PerformanceStats

FAMILY = Family.PERFORMANCE


def kpi_value(kind: str, decision: str | None, current: PerformanceStats) -> tuple[float | None, int, bool]:
    """(value, rows it is computed on, needs matured labels) for a KPI kind."""
    if kind == "approval_rate":
        n = current.predictions
        return (current.approved / n if n else None), n, False
    if kind == "label_rate":
        if decision:
            n = current.approved_labeled
            return (current.approved_positives / n if n else None), n, True
        n = current.labeled
        return (current.positives / n if n else None), n, True
    if kind == "mean_score":
        return current.mean_score, current.predictions, False
    raise ValueError(f"unknown KPI kind {kind!r} (hint: approval_rate, label_rate or mean_score)")


def wilson(p: float, n: int, z: float) -> tuple[float, float]:
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return centre - half, centre + half


def kpi(reference: None, current: PerformanceStats, params: dict[str, Any]) -> CheckResult:
    """A configured KPI (params: kpi_name, kind, decision, lower, upper, min_rows) against its bounds."""
    kpi_name = str(params.get("kpi_name") or params.get("kind") or "kpi")
    subject, batch = f"model.{kpi_name}", current.batch
    kind = params.get("kind")
    if kind is None:
        return skipped("kpi", FAMILY, subject, batch, "no KPI kind configured (kpis[].kind)")
    value, n, needs_labels = kpi_value(str(kind), params.get("decision"), current)
    if needs_labels and not current.matured:
        return skipped("kpi", FAMILY, subject, batch, f"KPI {kpi_name}: the labels of this batch have not matured yet")
    min_rows = int(params["min_rows"])
    if value is None or n < min_rows:
        return skipped("kpi", FAMILY, subject, batch, f"KPI {kpi_name}: only {n} rows (need {min_rows})")
    lower, upper = params.get("lower"), params.get("upper")
    z = z_upper(float(params["false_alarm_budget"]))
    ci = wilson(value, n, z) if 0 <= value <= 1 else (value, value)
    below = lower is not None and value < float(lower)
    above = upper is not None and value > float(upper)
    # The bounds are the business's tolerance (the minimum effect); a failure also needs the
    # one-sided confidence interval at the false-alarm budget to clear the bound, so a small
    # live test set does not fail on noise. Outside but not yet conclusive: a warning.
    significant = (below and ci[1] < float(lower or 0.0)) or (above and ci[0] > float(upper or 0.0))
    status = "fail" if significant else ("warn" if (below or above) else "ok")
    bounds_text = f"[{'-inf' if lower is None else f'{float(lower):.4g}'}, {'inf' if upper is None else f'{float(upper):.4g}'}]"
    sentence = {
        "ok": f"KPI {kpi_name} is {value:.4g}, inside {bounds_text}.",
        "warn": f"KPI {kpi_name} is {value:.4g}, {'below' if below else 'above'} its bound {bounds_text}, but its confidence interval ({ci[0]:.4g}-{ci[1]:.4g}, {n} rows) still reaches the bound.",
        "fail": f"KPI {kpi_name} is {value:.4g}, {'below' if below else 'above'} its bound {bounds_text} (CI {ci[0]:.4g}-{ci[1]:.4g}, {n} rows).",
    }[status]
    return result("kpi", FAMILY, subject, batch, status, sentence, params, value=value,
                  lower=float(lower) if lower is not None else None, upper=float(upper) if upper is not None else None,
                  evidence={"kpi": kpi_name, "kind": kind, "decision": params.get("decision"), "rows": n,
                            "ci": list(ci)})
