"""CheckResult: what every check returns."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

Status = Literal["ok", "warn", "fail", "error", "skipped"]
Severity = Literal["info", "warning", "critical"]
STATUSES: tuple[str, ...] = ("ok", "warn", "fail", "error", "skipped")


@dataclass(frozen=True)
class CheckResult:
    check: str  # registered check name; runbooks/<check>.md exists
    family: str  # a checks.spec.Family value
    subject: str  # 'applications.income', 'predictions.score', or 'model'
    batch: datetime | None  # batch start (naive UTC)
    status: Status
    severity: Severity
    explanation: str  # one plain sentence for a human
    value: float | None = None
    lower: float | None = None
    upper: float | None = None
    evidence: dict[str, Any] = field(default_factory=dict)
    model: str = ""

    def __post_init__(self) -> None:
        # A Family member is stored as its plain value (tables, JSON and labels see a str).
        object.__setattr__(self, "family", str(self.family))

    @property
    def failed(self) -> bool:
        return self.status == "fail"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["batch"] = self.batch.isoformat() if self.batch else None
        for k in ("value", "lower", "upper"):
            v = d[k]
            if isinstance(v, float) and not math.isfinite(v):
                d[k] = None
        return d
