"""Landing files for the app tests, written directly (no model training needed).

Matches tests/app/conftest.small_config: a prediction log with income and purpose, an
`applications` ETL extract feeding both, and a reference file.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

PURPOSES = ["car", "other"]


def _applications(day: date, n: int, seed: int, income_scale: float = 1.0) -> pd.DataFrame:
    rng = np.random.default_rng([seed, day.toordinal()])
    start = datetime.combine(day, time(0, 0))
    seconds = np.sort(rng.integers(0, 86_400, size=n))
    return pd.DataFrame(
        {
            "application_id": [f"{day:%Y%m%d}-{i:05d}" for i in range(n)],
            "submitted_at": [start + timedelta(seconds=int(s)) for s in seconds],
            "income": rng.lognormal(mean=11.0, sigma=0.4, size=n) * income_scale,
            "purpose": rng.choice(PURPOSES, size=n, p=[0.4, 0.6]),
        }
    )


def _scores(apps: pd.DataFrame, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    # Score from the true (dollar) income so a unit change upstream does not move it here.
    return np.clip(rng.beta(2, 8, size=len(apps)), 0.001, 0.999)


def write_day(root: Path, day: date, n: int = 300, seed: int = 1, income_scale: float = 1.0) -> None:
    """One day of extracts and predictions; income_scale=0.001 reports income in thousands."""
    apps = _applications(day, n, seed)
    scores = _scores(apps, seed + day.toordinal())
    served = apps.assign(income=apps["income"] * income_scale)
    app_dir = root / "landing" / "etl" / "applications"
    pred_dir = root / "landing" / "predictions"
    app_dir.mkdir(parents=True, exist_ok=True)
    pred_dir.mkdir(parents=True, exist_ok=True)
    served.to_parquet(app_dir / f"applications_{day.isoformat()}.parquet", index=False)
    predictions = pd.DataFrame(
        {
            "application_id": apps["application_id"],
            "scored_at": apps["submitted_at"],
            "score": scores,
            "decision": np.where(scores < 0.5, "approve", "refer"),
            "income": served["income"],
            "purpose": apps["purpose"],
        }
    )
    predictions.to_parquet(pred_dir / f"predictions_{day.isoformat()}.parquet", index=False)


def write_reference(root: Path, n: int = 3000, seed: int = 99) -> Path:
    frames = [_applications(date(2023, 12, 1) + timedelta(days=i), n // 10, seed) for i in range(10)]
    apps = pd.concat(frames, ignore_index=True)
    reference = pd.DataFrame(
        {"income": apps["income"], "purpose": apps["purpose"], "score": _scores(apps, seed)}
    )
    path = root / "training" / "reference.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    reference.to_parquet(path, index=False)
    return path


def write_history(root: Path, start: date, days: int, unit_change_day: date | None = None, n: int = 300) -> None:
    write_reference(root)
    for i in range(days):
        day = start + timedelta(days=i)
        write_day(root, day, n=n, income_scale=0.001 if day == unit_change_day else 1.0)
