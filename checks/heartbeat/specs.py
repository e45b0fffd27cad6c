"""The heartbeat checks' specs, apart from ``checks.registry`` so that ``incidents.heartbeat``
imports no warehouse check (``checks.registry.ALL_SPECS`` includes them).

Wall-clock health, run by ``incidents.heartbeat`` (not by the warehouse runner): always on.
"""

from __future__ import annotations

from typing import Any

from checks.heartbeat import cycle, scoring
from checks.inputs import HeartbeatStats
from checks.spec import HEARTBEAT, CheckFn, CheckSpec, Family
from core.model_kinds import ALL_MODEL_KINDS, MODELS, ModelKind


def _heartbeat(name: str, fn: CheckFn[None, HeartbeatStats], severity: str, model_kinds: frozenset[ModelKind],
               summary: str) -> CheckSpec[None, HeartbeatStats]:
    return CheckSpec(name, Family.HEARTBEAT, "model", HEARTBEAT, frozenset({"heartbeat"}), fn,
                     defaults={"severity": severity}, model_kinds=model_kinds, summary=summary)


_SPECS: tuple[CheckSpec[None, HeartbeatStats], ...] = (
    _heartbeat("cycle_heartbeat", cycle.cycle_heartbeat, "critical", ALL_MODEL_KINDS,
               "The last completed check cycle is older than its schedule allows."),
    _heartbeat("scoring_job_missed", scoring.scoring_job_missed, "critical", MODELS,
               "No scoring job started within its expected interval."),
    _heartbeat("scoring_job_failed", scoring.scoring_job_failed, "critical", MODELS,
               "The latest scoring job failed."),
    _heartbeat("scoring_job_slow", scoring.scoring_job_slow, "warning", MODELS,
               "The latest scoring job ran far longer than its recent successful runs."),
)
HEARTBEATS: dict[str, CheckSpec[Any, Any]] = {s.name: s for s in _SPECS}
