"""The quarantine pages: files that could not be loaded and rows that could not be placed in a batch.

Not a registered per-batch check (a quarantined file has no batch): the cycle calls
``quarantine_results`` after ingestion, and the results go through the alert lifecycle with
the cycle's wall time as their batch, like the heartbeats. Per source, two subjects:

- ``<source>`` (the whole table): open quarantine entries (files), until retried or replaced;
- ``<source>.<timestamp column>``: rows set aside by this cycle's ingestion (null or
  implausible timestamps), while the rest of their file loaded.

A subject with nothing quarantined gets an ``ok`` result only while its alert is active
(so the alert resolves); a quiet cycle adds no results.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from checks.result import CheckResult
from checks.spec import Family

QUARANTINE_CHECK = "quarantine"
FAMILY = Family.INPUT_QUALITY
# Alert names the cycle produces outside the check registry (each has runbooks/<name>.md).
CYCLE_CHECKS: tuple[str, ...] = (QUARANTINE_CHECK, "batch_checks")


def files_result(source: str, entries: list[Mapping[str, Any]], severity: str = "critical") -> CheckResult:
    """One source's open quarantine entries (files) -> fail naming them, or ok."""
    if not entries:
        return CheckResult(QUARANTINE_CHECK, FAMILY, source, None, "ok", "info",
                           f"No file of {source} is in quarantine.", value=0.0, upper=0.0)
    reasons = Counter(str(e["reason"]) for e in entries)
    first = entries[0]
    text = (
        f"{len(entries)} file(s) of {source} are in quarantine and none of their rows is monitored "
        f"({', '.join(f'{r}: {n}' for r, n in sorted(reasons.items()))}); e.g. {first['path']}: {first['detail']}. "
        "Fix or redeliver the file, then `vigil quarantine retry`."
    )
    evidence = {
        "files": [{k: str(e.get(k)) for k in ("quarantine_id", "path", "reason", "detail")} for e in entries[:20]],
        "reasons": dict(reasons),
    }
    return CheckResult(QUARANTINE_CHECK, FAMILY, source, None, "fail", _severity(severity), text,
                       value=float(len(entries)), upper=0.0, evidence=evidence)


def rows_result(source: str, timestamp_column: str, groups: list[Mapping[str, Any]], severity: str = "critical") -> CheckResult:
    """One source's rows quarantined this cycle ({path, reason, rows, detail} per file and reason) -> fail, or ok."""
    subject = f"{source}.{timestamp_column}"
    total = sum(int(g["rows"]) for g in groups)
    if total == 0:
        return CheckResult(QUARANTINE_CHECK, FAMILY, subject, None, "ok", "info",
                           f"No row of {source} was quarantined by this cycle.", value=0.0, upper=0.0)
    reasons: Counter[str] = Counter()
    for g in groups:
        reasons[str(g["reason"])] += int(g["rows"])
    files = sorted({str(g["path"]) for g in groups})
    worst = max(groups, key=lambda g: int(g["rows"]))
    text = (
        f"{total} row(s) of {source} were quarantined because {timestamp_column!r} cannot place them in a batch "
        f"({', '.join(f'{r}: {n}' for r, n in sorted(reasons.items()))}) in {len(files)} file(s), e.g. {worst['path']}: "
        f"{worst['detail']}. The file's other rows loaded; the set-aside rows are in `vigil quarantine rows`."
    )
    evidence = {"rows": total, "reasons": dict(reasons), "files": files[:20],
                "groups": [{k: g[k] for k in ("path", "reason", "rows", "detail")} for g in groups[:20]]}
    return CheckResult(QUARANTINE_CHECK, FAMILY, subject, None, "fail", _severity(severity), text,
                       value=float(total), upper=0.0, evidence=evidence)


def _severity(severity: str) -> Any:
    return severity if severity in ("info", "warning", "critical") else "critical"


def quarantine_results(
    sources: Iterable[tuple[str, str]],
    open_files: Sequence[Mapping[str, Any]],
    quarantined_rows: Sequence[Mapping[str, Any]],
    model: str,
    active: Iterable[str] = (),
) -> list[CheckResult]:
    """Pure: (source, timestamp column) pairs, the open quarantine entries, this cycle's
    quarantined row groups and the subjects whose quarantine alert is active -> a failing
    result per subject with something quarantined, an ok result per active subject without."""
    from dataclasses import replace

    active = set(active)
    out: list[CheckResult] = []
    for source, ts in sources:
        files = [e for e in open_files if e["source"] == source]
        rows = [g for g in quarantined_rows if g["source"] == source]
        for res in (files_result(source, files), rows_result(source, ts, rows)):
            if res.status == "fail" or res.subject in active:
                out.append(replace(res, model=model))
    return out
