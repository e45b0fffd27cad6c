"""What one cycle did (``CycleReport``) and its JSON form (``vigil run-once --json``)."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from checks.result import CheckResult
from core.clock import iso
from core.jsonable import jsonable


@dataclasses.dataclass
class CycleReport:
    """What one cycle did; ``to_dict()`` is the JSON of ``vigil run-once --json``."""

    cycle_id: str
    model: str
    started_at: datetime
    finished_at: datetime | None = None
    status: str = "running"  # running, ok, failed
    error: str | None = None
    files_loaded: int = 0
    files_skipped: int = 0
    files_replaced: int = 0
    quarantined: list[Any] = dataclasses.field(default_factory=list)
    quarantined_rows: list[Any] = dataclasses.field(default_factory=list)  # rows set aside (bad timestamps)
    batches_profiled: list[datetime] = dataclasses.field(default_factory=list)
    performance_batches: list[datetime] = dataclasses.field(default_factory=list)
    results: list[CheckResult] = dataclasses.field(default_factory=list)
    alerts: Any = None  # the incidents package's AlertReport, kept as is
    heartbeats: list[CheckResult] = dataclasses.field(default_factory=list)
    heartbeat_alerts: Any = None
    queued_notifications: Any = None  # outbox messages this cycle decided to send
    notifications: Any = None  # the delivery run's outcomes (after the cycle lock is released)
    step_seconds: dict[str, float] = dataclasses.field(default_factory=dict)

    @property
    def failed_checks(self) -> list[CheckResult]:
        """Failed data / model checks and failed heartbeats of this cycle."""
        return [r for r in self.results + self.heartbeats if r.status == "fail"]

    @property
    def anything_quarantined(self) -> bool:
        """A file or a row was set aside this cycle (exit code 1, like a failed check)."""
        return bool(self.quarantined or self.quarantined_rows)

    @property
    def duration_seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    def status_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for r in self.results:
            counts[r.status] = counts.get(r.status, 0) + 1
        return counts

    def summary(self) -> dict[str, Any]:
        """Counts stored in ``cycles.summary`` (small: the full results live in the warehouse)."""
        return {
            "files_loaded": self.files_loaded,
            "files_skipped": self.files_skipped,
            "files_replaced": self.files_replaced,
            "quarantined": len(self.quarantined),
            "quarantined_rows": sum(int(getattr(q, "rows", 0)) for q in self.quarantined_rows),
            "batches_profiled": len(self.batches_profiled),
            "performance_batches": len(self.performance_batches),
            "checks": len(self.results),
            "check_status": self.status_counts(),
            "failed_checks": len(self.failed_checks),
            "alerts": alert_summary(self.alerts),
            "duration_seconds": self.duration_seconds,
            "step_seconds": self.step_seconds,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "cycle_id": self.cycle_id,
            "model": self.model,
            "status": self.status,
            "error": self.error,
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at) if self.finished_at else None,
            "summary": jsonable(self.summary()),
            "quarantined": jsonable(self.quarantined),
            "quarantined_rows": jsonable(self.quarantined_rows),
            "batches_profiled": [b.isoformat() for b in sorted(self.batches_profiled)],
            "performance_batches": [b.isoformat() for b in sorted(self.performance_batches)],
            "results": [r.to_dict() for r in self.results],
            "alerts": jsonable(self.alerts),
            "heartbeats": [r.to_dict() for r in self.heartbeats],
            "heartbeat_alerts": jsonable(self.heartbeat_alerts),
            "queued_notifications": [
                {"idempotency_key": m.key, "receiver": m.receiver, "status": m.status}
                for m in (self.queued_notifications or [])
            ],
            "notifications": jsonable(self.notifications),
        }


def alert_summary(report: Any) -> dict[str, int]:
    """Counts from an AlertReport whatever its exact shape: every list-valued field's length."""
    if report is None:
        return {}
    data = jsonable(report)
    if not isinstance(data, dict):
        return {}
    return {k: len(v) for k, v in data.items() if isinstance(v, list)} | {
        k: v for k, v in data.items() if isinstance(v, int) and not isinstance(v, bool)
    }
