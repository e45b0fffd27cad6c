"""Fixtures for the incidents tests: a small config with lineage, a store, a manual clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from checks.result import CheckResult
from core.clock import ManualClock
from core.config import VigilConfig, config_from_dict
from core.stores import OpsStore

T0 = datetime(2026, 3, 1)  # event time: batch starts (naive UTC)
WALL0 = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)


def base_config(root: Path, schedule: dict[str, Any] | None = None, **alerts: Any) -> VigilConfig:
    data: dict[str, Any] = {
        "model": {"name": "loan_default"},
        "predictions": {
            "source": {"path": "landing/predictions"},
            "id_column": "application_id",
            "timestamp_column": "scored_at",
            "score_column": "score",
        },
        "features": [
            {"name": "income", "type": "numeric", "lineage": "applications.income", "owner": "team-apps"},
            {"name": "loan_amount", "type": "numeric", "lineage": "applications.loan_amount"},
            {"name": "credit_score", "type": "numeric", "lineage": "bureau.credit_score"},
        ],
        "etl_tables": [
            {"name": "applications", "source": {"path": "landing/etl/applications"}, "timestamp_column": "submitted_at", "owner": "team-apps"},
            {"name": "bureau", "source": {"path": "landing/etl/bureau"}, "timestamp_column": "reported_at", "owner": "team-bureau"},
            {"name": "outcomes", "source": {"path": "landing/etl/outcomes"}, "timestamp_column": "observed_at"},
        ],
        "labels": {"table": "outcomes", "join_key": "application_id", "label_column": "defaulted"},
        "alerts": alerts,
        "schedule": schedule or {},
    }
    return config_from_dict(data, file="test.yaml", root=root)


@pytest.fixture
def cfg(tmp_path: Path) -> VigilConfig:
    return base_config(tmp_path)


@pytest.fixture
def ops(tmp_path: Path) -> OpsStore:
    return OpsStore(tmp_path / "ops.sqlite")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(WALL0)


def day(n: int) -> datetime:
    return T0 + timedelta(days=n)


def result(
    check: str,
    subject: str,
    batch: int,
    status: str = "fail",
    *,
    family: str | None = None,
    severity: str = "critical",
    value: float | None = 1.0,
    model: str = "loan_default",
) -> CheckResult:
    families = {
        "null_rate": "input_quality",
        "unit_change": "unit_change",
        "psi": "feature_drift",
        "score_psi": "prediction",
        "kpi_default_rate": "performance",
        "freshness": "etl",
    }
    return CheckResult(
        check=check,
        family=family or families.get(check, "input_quality"),
        subject=subject,
        batch=day(batch),
        status=status,  # type: ignore[arg-type]
        severity=severity,  # type: ignore[arg-type]
        explanation=f"{check} on {subject} is {status}",
        value=value,
        lower=0.0,
        upper=0.5,
        evidence={"n": 100},
        model=model,
    )


ResultFactory = Callable[..., CheckResult]
