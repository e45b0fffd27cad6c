"""Batch scorer (serving): score one day's applications with the current champion.

- The champion is looked up in the registry at the start of every job, so a rollback
  takes effect on the next batch.
- Features come from `baseline_model.features.build_features`, the same code as training.
- Every record is validated against `ScoringRecord` (required fields, types, ranges,
  allowed categories). An invalid record never reaches the model. Fallback rule
  FALLBACK_RULE: refer the application to manual review (decision 'refer', score null,
  fallback true, fallback_reason = rule + the validation errors).
- A random control slice (CONTROL_FRACTION of applications, chosen by a hash of the
  id) is approved regardless of score so outcomes exist for an unbiased live test set.
- The prediction log is written atomically (temp file + rename): a failed job leaves
  no file. Each job is recorded in the ops table `scoring_jobs` (`core.scoring_jobs`).

Prediction-log schema (fixed, in this order): application_id, scored_at, model_name,
model_version, score, decision, fallback, fallback_reason, control, then
SERVED_FEATURES.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections import Counter
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from threadpoolctl import threadpool_limits

from baseline_model.artifact import load_artifact
from baseline_model.features import CATEGORICAL_FEATURES, SERVED_FEATURES, build_features
from baseline_model.layout import etl_path, predictions_path, write_parquet_atomic
from core.clock import Clock, SystemClock, iso
from core.ids import new_id, sha256_file
from core.registry import Registry
from core.scoring_jobs import ScoringJob, recent_jobs, record_job
from core.stores import OpsStore

log = logging.getLogger("vigil.scorer")

CONTROL_FRACTION = 0.05
FALLBACK_RULE = "refer_to_manual_review"
PREDICTION_COLUMNS: tuple[str, ...] = (
    "application_id",
    "scored_at",
    "model_name",
    "model_version",
    "score",
    "decision",
    "fallback",
    "fallback_reason",
    "control",
    *SERVED_FEATURES,
)

PREDICTION_SCHEMA = pa.schema(
    [
        ("application_id", pa.string()),
        ("scored_at", pa.timestamp("us")),
        ("model_name", pa.string()),
        ("model_version", pa.int64()),
        ("score", pa.float64()),
        ("decision", pa.string()),
        ("fallback", pa.bool_()),
        ("fallback_reason", pa.string()),
        ("control", pa.bool_()),
        *[(f, pa.string() if f in CATEGORICAL_FEATURES else pa.float64()) for f in SERVED_FEATURES],
    ]
)


class ScoringError(RuntimeError):
    """A scoring job could not run (no champion, no input extract, ...)."""


class ScoringRecord(BaseModel):
    """One application as served to the model. Income's upper bound is deliberately wide
    (10M): an income reported in thousands is still a valid number and gets scored,
    which is exactly why monitoring must catch unit changes."""

    model_config = ConfigDict(extra="ignore")

    application_id: str = Field(min_length=1)
    submitted_at: datetime
    income: float = Field(ge=0, le=10_000_000, allow_inf_nan=False)
    loan_amount: float = Field(gt=0, le=1_000_000, allow_inf_nan=False)
    term_months: Literal[36, 60]
    interest_rate: float = Field(ge=0, le=40, allow_inf_nan=False)
    employment_years: float = Field(ge=0, le=70, allow_inf_nan=False)
    home_ownership: Literal["RENT", "OWN", "MORTGAGE"]
    purpose: Literal["debt_consolidation", "credit_card", "home_improvement", "car", "other"]
    credit_score: float = Field(ge=300, le=850, allow_inf_nan=False)
    credit_history_years: float = Field(ge=0, le=80, allow_inf_nan=False)
    utilisation: float = Field(ge=0, le=1, allow_inf_nan=False)
    delinquencies: int = Field(ge=0, le=100)
    open_accounts: int = Field(ge=0, le=200)
    loan_to_income: float = Field(ge=0, allow_inf_nan=False)


# Jobs this process has started: the first is cold (imports, model load) and judged apart.
_jobs_started = 0

def is_control(application_id: str) -> bool:
    """Deterministic random control slice: the same id is always in or out."""
    h = int(hashlib.sha256(str(application_id).encode()).hexdigest()[:8], 16)
    return h / 0x1_0000_0000 < CONTROL_FRACTION


def _clean(value: Any) -> Any:
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return value  # pydantic's lax int accepts whole floats (term_months 36.0)
    return value


def validation_reason(err: ValidationError) -> str:
    parts = []
    for e in err.errors():
        loc = ".".join(str(x) for x in e["loc"])
        got = e.get("input")
        parts.append(f"{loc}: {'missing' if got is None else e['msg'].lower()}")
    return f"{FALLBACK_RULE}: invalid input ({'; '.join(parts)})"


def validate_records(features: pd.DataFrame) -> tuple[np.ndarray, list[str | None]]:
    """Which rows are valid, and for the others the fallback reason."""
    valid = np.zeros(len(features), dtype=bool)
    reasons: list[str | None] = []
    columns = list(features.columns)
    for i, row in enumerate(features.itertuples(index=False, name=None)):
        record = {c: _clean(v) for c, v in zip(columns, row, strict=True)}
        try:
            ScoringRecord.model_validate(record)
        except ValidationError as err:
            reasons.append(validation_reason(err))
            continue
        valid[i] = True
        reasons.append(None)
    return valid, reasons


def _read_extract(root: Path, table: str, day: date) -> pd.DataFrame | None:
    path = etl_path(root, table, day)
    return pd.read_parquet(path) if path.exists() else None


def predictions_frame(
    features: pd.DataFrame,
    scores: np.ndarray,
    valid: np.ndarray,
    reasons: list[str | None],
    *,
    model_name: str,
    model_version: int,
    threshold: float,
) -> pd.DataFrame:
    """The prediction log rows, in PREDICTION_COLUMNS order."""
    control = features["application_id"].map(is_control).to_numpy(dtype=bool)
    refer = np.where(valid, scores >= threshold, True)
    decision = np.where(valid & (control | ~refer), "approve", "refer")
    out = pd.DataFrame(
        {
            "application_id": features["application_id"].astype(str).to_numpy(),
            "scored_at": pd.to_datetime(features["submitted_at"]).astype("datetime64[us]").to_numpy(),
            "model_name": model_name,
            "model_version": np.full(len(features), model_version, dtype="int64"),
            "score": np.where(valid, scores, np.nan),
            "decision": decision.astype(object),
            "fallback": ~valid,
            "fallback_reason": pd.Series(reasons, dtype=object).to_numpy(),
            "control": control,
        }
    )
    for col in SERVED_FEATURES:
        out[col] = features[col].to_numpy()
    return out[list(PREDICTION_COLUMNS)]


def _reason_key(reason: str) -> str:
    # Group reasons by the failing fields, not by the exact messages.
    inner = reason.split("(", 1)[-1].rstrip(")")
    return ", ".join(sorted({part.split(":")[0].strip() for part in inner.split(";")}))


def score_day(
    root: str | Path,
    day: date,
    ops: OpsStore,
    model_name: str = "loan_default",
    *,
    score_shift: float = 0.0,
    clock: Clock | None = None,
    writer: Callable[[pa.Table, str], None] | None = None,
) -> ScoringJob:
    """Score the applications extract of `day` and write predictions_<day>.parquet.

    score_shift: added to every score (the simulator's prediction_shift incident).
    writer: parquet writer override (tests use it to make the write fail).
    Raises ScoringError (job recorded as failed, no output file) when it cannot run.
    """
    root = Path(root)
    clock = clock or SystemClock()
    global _jobs_started
    job = ScoringJob(job_id=new_id("score"), model_name=model_name, batch_date=day, cold=_jobs_started == 0)
    _jobs_started += 1
    started_at = iso(clock.now())
    t0 = time.perf_counter()
    record_job(ops, job, started_at, None, None)
    try:
        champion = Registry(ops, clock).champion(model_name)
        if champion is None:
            raise ScoringError(
                f"model {model_name!r} has no champion (hint: `vigil registry promote VERSION` or run the demo)"
            )
        job.model_version = champion.version
        artifact = load_artifact(champion)
        applications = _read_extract(root, "applications", day)
        if applications is None:
            raise ScoringError(f"{etl_path(root, 'applications', day)}: applications extract missing for {day}")
        bureau = _read_extract(root, "bureau", day)
        if bureau is None:
            log.warning("bureau extract missing for %s: bureau features are null, records fall back", day)
            bureau = pd.DataFrame({"application_id": pd.Series([], dtype=str)})
        features = build_features(applications, bureau)
        job.rows_in = len(features)
        valid, reasons = validate_records(features)
        scores = np.full(len(features), np.nan)
        if valid.any():
            with threadpool_limits(limits=1):  # see train.py: no OpenMP oversubscription
                raw = artifact.predict_default_proba(features.loc[valid])
            scores[valid] = np.clip(raw + score_shift, 0.0, 1.0)
        out = predictions_frame(
            features, scores, valid, reasons, model_name=model_name, model_version=champion.version,
            threshold=artifact.threshold,
        )
        path = predictions_path(root, day)
        write_parquet_atomic(out, path, writer=writer, schema=PREDICTION_SCHEMA)
        job.scored = int(valid.sum())
        job.fallback = int((~valid).sum())
        job.fallback_reasons = dict(Counter(_reason_key(r) for r in reasons if r))
        job.output_path = str(path)
        job.status = "ok"
        job.duration_s = round(time.perf_counter() - t0, 4)
        record_job(ops, job, started_at, iso(clock.now()), sha256_file(str(path)))
        log.info("scoring job %s", json.dumps(job.to_dict(), sort_keys=True))
        return job
    except Exception as err:
        job.status = "failed"
        job.errors = max(1, job.errors)
        job.error = f"{type(err).__name__}: {err}"
        job.output_path = None
        job.duration_s = round(time.perf_counter() - t0, 4)
        record_job(ops, job, started_at, iso(clock.now()), None)
        log.error("scoring job %s", json.dumps(job.to_dict(), sort_keys=True))
        if isinstance(err, ScoringError):
            raise
        raise ScoringError(f"scoring {model_name} for {day} failed: {job.error}") from err


def scoring_jobs(ops: OpsStore, model_name: str, limit: int = 50) -> list[dict[str, Any]]:
    """Recent scoring jobs, newest first (for the app and job-health checks)."""
    return recent_jobs(ops, model_name, limit)


def score_with_version(ops: OpsStore, model_name: str, version: int, features: pd.DataFrame) -> np.ndarray:
    """P(default) of each row under a registered version (shadow evaluation).

    `features` holds the served features (e.g. the live test set read back from the
    prediction log). Rows that fail ScoringRecord validation get NaN, as in serving.
    """
    mv = Registry(ops).get(model_name, version)
    artifact = load_artifact(mv)
    frame = features.copy()
    if "application_id" not in frame.columns:
        frame["application_id"] = [f"row-{i}" for i in range(len(frame))]
    if "submitted_at" not in frame.columns:
        frame["submitted_at"] = pd.Timestamp("1970-01-01")
    valid, _ = validate_records(frame[["application_id", "submitted_at", *SERVED_FEATURES]])
    scores = np.full(len(frame), np.nan)
    if valid.any():
        with threadpool_limits(limits=1):
            scores[valid] = artifact.predict_default_proba(frame.loc[valid])
    return scores
