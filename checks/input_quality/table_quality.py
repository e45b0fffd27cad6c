"""Table-level input quality: schema, duplicate ids, volume and freshness of each batch."""

from __future__ import annotations

import statistics
from typing import Any

from checks.result import CheckResult
from checks.spec import Family
from checks.verdict import pct, result, skipped
from profilers.stats_types import TableStats

FAMILY = Family.INPUT_QUALITY


def schema(reference: None, current: TableStats, params: dict[str, Any]) -> CheckResult:
    """Missing, renamed and retyped columns fail; added columns warn (the config does not use them)."""
    subject, batch = current.source, current.batch
    missing = sorted(set(current.missing_columns) - set(current.renamed_columns))
    changes: dict[str, Any] = {
        "missing": missing,
        "renamed": dict(sorted(current.renamed_columns.items())),
        "retyped": dict(sorted(current.retyped_columns.items())),
        "added": sorted(set(current.added_columns) - set(current.renamed_columns.values())),
    }
    broken = bool(changes["missing"] or changes["renamed"] or changes["retyped"])
    status = "fail" if broken else ("warn" if changes["added"] else "ok")
    parts = []
    if changes["missing"]:
        parts.append("missing " + ", ".join(changes["missing"]))
    if changes["renamed"]:
        parts.append("renamed " + ", ".join(f"{a} -> {b}" for a, b in changes["renamed"].items()))
    if changes["retyped"]:
        parts.append("retyped " + ", ".join(f"{a} ({t})" for a, t in changes["retyped"].items()))
    if changes["added"]:
        parts.append("added " + ", ".join(changes["added"]))
    sentence = (
        f"The schema of {subject} matches the config." if status == "ok"
        else f"The schema of {subject} changed: {'; '.join(parts)}."
    )
    n_changes = len(changes["missing"]) + len(changes["renamed"]) + len(changes["retyped"]) + len(changes["added"])
    return result("schema", FAMILY, subject, batch, status, sentence, params,
                  value=float(n_changes), upper=0.0, evidence={**changes, "columns": dict(current.columns)})


def duplicate_ids(reference: None, current: TableStats, params: dict[str, Any]) -> CheckResult:
    """Rows repeating a key (id): any duplicate warns, more than max_share fails."""
    subject, batch = current.source, current.batch
    if current.row_count <= 0:
        return skipped("duplicate_ids", FAMILY, subject, batch, "no rows in this batch")
    share = current.duplicate_keys / current.row_count
    max_share = float(params["max_share"])
    status = "fail" if share > max_share else ("warn" if current.duplicate_keys > 0 else "ok")
    sentence = {
        "ok": f"No duplicate keys in {subject}.",
        "warn": f"{current.duplicate_keys} duplicate keys in {subject} ({pct(share)} of rows).",
        "fail": f"{current.duplicate_keys} rows of {subject} repeat a key ({pct(share)} of rows, limit {pct(max_share)}).",
    }[status]
    return result("duplicate_ids", FAMILY, subject, batch, status, sentence, params, value=share, lower=0.0,
                  upper=max_share, evidence={"rows": current.row_count, "duplicate_keys": current.duplicate_keys})


def volume(reference: None, current: TableStats, params: dict[str, Any]) -> CheckResult:
    """Rows in the batch against the configured expected range and the median of recent batches."""
    subject, batch, rows = current.source, current.batch, current.row_count
    expected = params.get("expected_rows")
    recent = [int(r) for r in params.get("recent_rows") or [] if r is not None and r > 0]
    min_recent = int(params["min_recent_batches"])
    evidence: dict[str, Any] = {"rows": rows, "expected_rows": expected, "recent_rows": recent}
    problems_fail: list[str] = []
    problems_warn: list[str] = []
    lower = upper = None
    if expected is not None:
        lower, upper = float(expected[0]), float(expected[1])
        if rows < lower or rows > upper:
            problems_fail.append(f"{rows} rows is outside the expected {int(lower)}-{int(upper)}")
    if len(recent) >= min_recent:
        median = statistics.median(recent)
        ratio = rows / median if median > 0 else float("inf")
        evidence.update({"recent_median": median, "ratio_to_recent": ratio})
        drop_fail, drop_warn = float(params["fail_ratio_low"]), float(params["warn_ratio_low"])
        rise_fail, rise_warn = float(params["fail_ratio_high"]), float(params["warn_ratio_high"])
        if lower is None:
            lower, upper = median * drop_fail, median * rise_fail
        # Warnings also need the batch to be outside what recent batches already showed, so a
        # quiet weekend day (about 0.7x a weekday) does not warn every week.
        seen_low, seen_high = min(recent) * 0.9, max(recent) * 1.1
        if ratio < drop_fail or ratio > rise_fail:
            problems_fail.append(f"{rows} rows is {ratio:.2f}x the recent median of {median:.0f}")
        elif (ratio < drop_warn and rows < seen_low) or (ratio > rise_warn and rows > seen_high):
            problems_warn.append(f"{rows} rows is {ratio:.2f}x the recent median of {median:.0f}")
    if expected is None and len(recent) < min_recent:
        return skipped("volume", FAMILY, subject, batch,
                       f"no expected_rows configured and only {len(recent)} recent batches (need {min_recent})",
                       evidence)
    if problems_fail:
        status, sentence = "fail", f"Volume of {subject} is abnormal: {'; '.join(problems_fail)}."
    elif problems_warn:
        status, sentence = "warn", f"Volume of {subject} is unusual: {'; '.join(problems_warn)}."
    else:
        status, sentence = "ok", f"{rows} rows in {subject}, as expected."
    return result("volume", FAMILY, subject, batch, status, sentence, params, value=float(rows),
                  lower=lower, upper=upper, evidence=evidence)


def freshness(reference: None, current: TableStats, params: dict[str, Any]) -> CheckResult:
    """Lag of the newest event in the table against its expected freshness (config etl_tables[].freshness)."""
    subject, batch = current.source, current.batch
    expected = params.get("expected_seconds")
    if expected is None:
        return skipped("freshness", FAMILY, subject, batch, f"no expected freshness configured for {subject}")
    lag = current.freshness_lag_seconds
    if lag is None:
        return skipped("freshness", FAMILY, subject, batch, f"no event timestamps in {subject} for this batch")
    expected = float(expected)
    warn_at = expected * float(params["warn_fraction"])
    status = "fail" if lag > expected else ("warn" if lag > warn_at else "ok")
    hours, exp_h = lag / 3600, expected / 3600
    sentence = {
        "ok": f"{subject} is fresh: newest row {hours:.1f} h old (allowed {exp_h:.1f} h).",
        "warn": f"{subject} is getting stale: newest row {hours:.1f} h old (allowed {exp_h:.1f} h).",
        "fail": f"{subject} is stale: newest row is {hours:.1f} h old, more than the allowed {exp_h:.1f} h.",
    }[status]
    return result("freshness", FAMILY, subject, batch, status, sentence, params, value=lag, lower=0.0,
                  upper=expected, evidence={"lag_seconds": lag, "expected_seconds": expected,
                                            "newest": current.newest.isoformat() if current.newest else None})
