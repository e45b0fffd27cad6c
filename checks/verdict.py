"""Small helpers every check uses to build its CheckResult the same way."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, cast

from checks.result import STATUSES, CheckResult, Severity, Status


def finite(value: float | None) -> bool:
    return value is not None and isinstance(value, int | float) and math.isfinite(value)


def severity_for(status: Status, params: dict[str, Any]) -> Severity:
    """A failure carries the check's configured severity; a warning is always 'warning'."""
    if status == "fail":
        sev = params.get("severity", "warning")
        return sev if sev in ("info", "warning", "critical") else "warning"
    if status in ("warn", "error"):
        return "warning"
    return "info"


def result(
    check: str,
    family: str,
    subject: str,
    batch: datetime | None,
    status_text: str,
    explanation: str,
    params: dict[str, Any],
    *,
    value: float | None = None,
    lower: float | None = None,
    upper: float | None = None,
    evidence: dict[str, Any] | None = None,
) -> CheckResult:
    if status_text not in STATUSES:
        raise ValueError(f"{check}: invalid status {status_text!r}")
    status = cast(Status, status_text)
    return CheckResult(
        check=check,
        family=family,
        subject=subject,
        batch=batch,
        status=status,
        severity=severity_for(status, params),
        explanation=explanation,
        value=value if finite(value) else None,
        lower=lower if finite(lower) else None,
        upper=upper if finite(upper) else None,
        evidence=dict(evidence or {}),
    )


def skipped(
    check: str,
    family: str,
    subject: str,
    batch: datetime | None,
    reason: str,
    evidence: dict[str, Any] | None = None,
) -> CheckResult:
    """A check that could not judge this batch, with the reason (too few rows, no reference...)."""
    ev = {"reason": reason, **(evidence or {})}
    return CheckResult(check, family, subject, batch, "skipped", "info", f"Skipped: {reason}.", evidence=ev)


def error_result(check: str, family: str, subject: str, batch: datetime | None, err: BaseException) -> CheckResult:
    """An exception inside a check becomes a result, so one bad column never stops the cycle."""
    text = f"{type(err).__name__}: {err}"
    return CheckResult(
        check, family, subject, batch, "error", "warning",
        f"The check could not run: {text}.", evidence={"error": text},
    )


def pct(x: float) -> str:
    return f"{100 * x:.2f}%"
