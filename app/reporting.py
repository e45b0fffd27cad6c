"""Human-readable text for the CLI: a cycle's summary, the status, the resolved config."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from app.cycle_report import CycleReport, alert_summary
from core.config import VigilConfig
from core.jsonable import jsonable


def cycle_text(report: CycleReport, max_failed: int = 50) -> str:
    counts = report.status_counts()
    lines = [
        f"cycle {report.cycle_id} ({report.model}): {report.status} in {report.duration_seconds or 0:.1f}s",
        f"  files: {report.files_loaded} loaded, {report.files_skipped} skipped, "
        f"{report.files_replaced} replaced, {len(report.quarantined)} quarantined",
        f"  batches profiled: {len(report.batches_profiled)}"
        + (f" ({report.batches_profiled[0]:%Y-%m-%d} .. {report.batches_profiled[-1]:%Y-%m-%d})"
           if report.batches_profiled else ""),
        "  checks: " + (", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none run"),
    ]
    alerts = alert_summary(report.alerts)
    if alerts:
        lines.append("  alerts: " + ", ".join(f"{k} {v}" for k, v in sorted(alerts.items())))
    failed = report.failed_checks
    if failed:
        lines.append(f"  failed checks ({len(failed)}):")
        for r in failed[:max_failed]:
            batch = f"{r.batch:%Y-%m-%d %H:%M}" if r.batch else "-"
            lines.append(f"    {batch}  {r.check:<26} {r.subject:<32} {r.explanation}")
        if len(failed) > max_failed:
            lines.append(f"    ... and {len(failed) - max_failed} more (`vigil run-once --json` or the Checks page)")
    return "\n".join(lines)


def status_text(status: dict[str, Any], colour: Callable[[str], str] = lambda s: s) -> str:
    lines = [f"model: {status['model']}   storage: {status['root']}"]
    cycle = status.get("last_cycle")
    if cycle:
        age = status.get("last_cycle_age_seconds")
        age_text = format_age(age) if age is not None else "unknown"
        line = f"last cycle: {cycle['status']} at {cycle.get('finished_at') or cycle['started_at']} ({age_text} ago)"
        if status.get("stale"):
            line = colour(line + f"  STALE: expected every {status['interval']}")
        lines.append(line)
        if cycle.get("error"):
            lines.append(colour(f"  error: {cycle['error']}"))
    else:
        lines.append(colour("last cycle: none yet (hint: `vigil run-once` or `vigil schedule`)"))
    sched = status.get("scheduler")
    if sched:
        state = "stopped" if sched.get("stopped_at") else ("running" if sched.get("alive") else "not beating")
        line = f"scheduler: {state} (pid {sched['pid']} on {sched['host']}, last beat {sched['beat_at']})"
        lines.append(line if state == "running" else colour(line))
    else:
        lines.append("scheduler: never started (hint: `vigil schedule`)")
    for key, label in (("firing_alerts", "firing alerts"), ("open_incidents", "open incidents")):
        value = status.get(key)
        lines.append(f"{label}: {value if value is not None else 'n/a (incidents package not available)'}")
    scoring = status.get("scoring_job")
    if scoring:
        problems = scoring.get("problems") or []
        line = "scoring job: " + ("; ".join(problems) if problems else "healthy")
        lines.append(colour(line) if problems else line)
    champion = status.get("champion")
    lines.append(f"champion: {champion if champion else 'none registered'}")
    latest = status.get("latest_batch")
    if latest:
        lines.append(f"latest batch: {latest['batch']}  " + ", ".join(f"{k} {v}" for k, v in latest["status"].items()))
    return "\n".join(lines)


def format_age(seconds: float) -> str:
    seconds = max(seconds, 0)
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    if seconds < 172800:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def resolved_config(cfg: VigilConfig) -> dict[str, Any]:
    """The config with every default filled in and durations as text (for `config show`)."""
    from core.config import format_duration

    data = cfg.model_dump(mode="python", by_alias=True)

    def convert(obj: Any) -> Any:
        from datetime import timedelta

        if isinstance(obj, timedelta):
            return format_duration(obj)
        if isinstance(obj, dict):
            return {k: convert(v) for k, v in obj.items()}
        if isinstance(obj, list | tuple):
            return [convert(v) for v in obj]
        return obj

    out: dict[str, Any] = json.loads(json.dumps(jsonable(convert(data))))
    out["resolved_paths"] = {
        "root": str(cfg.root),
        "warehouse": str(cfg.warehouse_path),
        "ops": str(cfg.ops_path),
    }
    return out
