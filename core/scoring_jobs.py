"""The record of batch scoring jobs (ops table ``scoring_jobs``): any scorer writes it, the heartbeat reads it.

A scorer records a job when it starts (status ``running``) and again when it ends (``ok`` or
``failed``, same ``job_id``); ``incidents.heartbeat`` derives missed / failed / slow jobs from
these rows without knowing which model or scorer wrote them. The table was created by
``core/migrations/ops/120_scoring_jobs.sql``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from core.stores import OpsStore

TABLE = "scoring_jobs"


@dataclass
class ScoringJob:
    job_id: str
    model_name: str
    batch_date: date
    model_version: int | None = None
    status: str = "running"  # running, ok, failed
    rows_in: int = 0
    scored: int = 0
    fallback: int = 0
    errors: int = 0
    duration_s: float = 0.0
    output_path: str | None = None
    fallback_reasons: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    cold: bool = False  # the first job of its process (imports, model load): judged only against cold jobs

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["batch_date"] = self.batch_date.isoformat()
        return d


def record_job(
    ops: OpsStore, job: ScoringJob, started_at: str, finished_at: str | None, output_sha256: str | None
) -> None:
    """Insert or update the job's row (one transaction)."""
    with ops.transaction() as conn:
        conn.execute(
            "INSERT INTO scoring_jobs (job_id, model_name, model_version, batch_date, started_at, finished_at, "
            "duration_s, status, rows_in, scored, fallback, errors, fallback_reasons, error, output_path, output_sha256, "
            "cold) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (job_id) DO UPDATE SET model_version = excluded.model_version, "
            "finished_at = excluded.finished_at, duration_s = excluded.duration_s, status = excluded.status, "
            "rows_in = excluded.rows_in, scored = excluded.scored, fallback = excluded.fallback, "
            "errors = excluded.errors, fallback_reasons = excluded.fallback_reasons, error = excluded.error, "
            "output_path = excluded.output_path, output_sha256 = excluded.output_sha256",
            (
                job.job_id, job.model_name, job.model_version, job.batch_date.isoformat(), started_at, finished_at,
                job.duration_s, job.status, job.rows_in, job.scored, job.fallback, job.errors,
                json.dumps(job.fallback_reasons, sort_keys=True), job.error, job.output_path, output_sha256,
                int(job.cold),
            ),
        )


def is_recorded(ops: OpsStore) -> bool:
    """Does the store have the jobs table (a store without it does not monitor scoring)?"""
    return bool(ops.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (TABLE,)))


def recent_jobs(ops: OpsStore, model_name: str, limit: int = 50) -> list[dict[str, Any]]:
    """The model's most recent jobs, newest first."""
    return ops.query(
        "SELECT * FROM scoring_jobs WHERE model_name = ? ORDER BY started_at DESC, rowid DESC LIMIT ?",
        (model_name, int(limit)),
    )


def successful_jobs_for(ops: OpsStore, model_name: str, batch_date: date, model_version: int) -> list[dict[str, Any]]:
    """Successful jobs that scored ``batch_date`` with ``model_version``, newest first (lineage)."""
    return ops.query(
        "SELECT job_id, status, started_at, duration_s, rows_in, scored, fallback, output_sha256 FROM scoring_jobs "
        "WHERE model_name = ? AND batch_date = ? AND model_version = ? AND status = 'ok' ORDER BY started_at DESC",
        (model_name, batch_date.isoformat(), model_version),
    )
