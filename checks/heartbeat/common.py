"""What the heartbeat checks share: a result with the stats' batch and the check's severity."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from checks.result import CheckResult
from checks.spec import Family

FAMILY = Family.HEARTBEAT


def sentence(text: str) -> str:
    """A problem line as one sentence (explanations end with a full stop)."""
    text = text.strip()
    return text if text.endswith(".") else text + "."


def heartbeat_result(
    check: str, subject: str, batch: datetime, failed: bool, explanation: str, params: dict[str, Any],
    value: float | None, evidence: dict[str, Any],
) -> CheckResult:
    return CheckResult(
        check=check,
        family=FAMILY,
        subject=subject,
        batch=batch,
        status="fail" if failed else "ok",
        severity=params.get("severity", "critical"),
        explanation=sentence(explanation),
        value=value,
        evidence=evidence,
    )
