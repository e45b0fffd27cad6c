"""Scoring-job health: ``scoring_job_missed``, ``scoring_job_failed``, ``scoring_job_slow``."""

from __future__ import annotations

from typing import Any

from checks.heartbeat.common import FAMILY, heartbeat_result
from checks.inputs import HeartbeatStats
from checks.result import CheckResult
from checks.verdict import skipped

SUBJECT = "scoring_job"


def _evidence(current: HeartbeatStats) -> dict[str, Any]:
    return {"last_job": current.scoring.last_job, "usual_duration_s": current.scoring.usual_duration_s}


def _problem(current: HeartbeatStats, marker: str, default: str, starts: bool = False) -> str:
    found = (p for p in current.scoring.problems if (p.startswith(marker) if starts else marker in p))
    return next(found, default)


def scoring_job_missed(reference: None, current: HeartbeatStats, params: dict[str, Any]) -> CheckResult:
    s = current.scoring
    if not s.monitored or not current.scoring_scheduled:
        return skipped("scoring_job_missed", FAMILY, SUBJECT, current.batch,
                       "no scoring interval configured (schedule.scoring_interval)")
    text = _problem(current, "no scoring job", "The scoring job ran on schedule.", starts=True)
    return heartbeat_result("scoring_job_missed", SUBJECT, current.batch, s.missed, text, params, None, _evidence(current))


def scoring_job_failed(reference: None, current: HeartbeatStats, params: dict[str, Any]) -> CheckResult:
    s = current.scoring
    if not s.monitored or s.last_job is None:
        return skipped("scoring_job_failed", FAMILY, SUBJECT, current.batch, "no scoring job recorded yet")
    text = _problem(current, "failed", "The latest scoring job succeeded.")
    return heartbeat_result("scoring_job_failed", SUBJECT, current.batch, s.failed, text, params, None, _evidence(current))


def scoring_job_slow(reference: None, current: HeartbeatStats, params: dict[str, Any]) -> CheckResult:
    s = current.scoring
    if not s.monitored or s.last_job is None:
        return skipped("scoring_job_slow", FAMILY, SUBJECT, current.batch, "no scoring job recorded yet")
    text = _problem(current, "took", "The latest scoring job ran in its usual time.")
    return heartbeat_result("scoring_job_slow", SUBJECT, current.batch, s.slow, text, params, None, _evidence(current))
