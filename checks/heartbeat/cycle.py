"""``cycle_heartbeat``: the last completed check cycle is older than its schedule allows."""

from __future__ import annotations

import math
from typing import Any

from checks.heartbeat.common import FAMILY, heartbeat_result
from checks.inputs import HeartbeatStats
from checks.result import CheckResult
from checks.verdict import skipped

SUBJECT = "scheduler"


def cycle_heartbeat(reference: None, current: HeartbeatStats, params: dict[str, Any]) -> CheckResult:
    cycle = current.cycle
    if cycle.last_finished_at is None:  # a first-ever cycle has nothing to be late against
        return skipped("cycle_heartbeat", FAMILY, SUBJECT, current.batch, "no check cycle has finished yet")
    age = cycle.age_s if cycle.age_s is not None and math.isfinite(cycle.age_s) else 0.0
    text = (
        f"The last check cycle finished {age / 60:.0f} min ago, more than {current.stale_factor} x the "
        f"{cycle.interval_s / 60:.0f} min interval."
        if cycle.stale
        else f"The last check cycle finished {age / 60:.0f} min ago, within its interval."
    )
    return heartbeat_result("cycle_heartbeat", SUBJECT, current.batch, cycle.stale, text, params, age, cycle.to_dict())
