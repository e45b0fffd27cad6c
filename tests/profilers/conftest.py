"""A small monitored model built by the tests: a prediction log, two ETL tables, labels."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from core.config import VigilConfig, config_from_dict
from core.stores import Warehouse

DAY0 = datetime(2024, 3, 1)


def toy_config_dict() -> dict[str, Any]:
    return {
        "model": {"name": "toy", "task": "classification", "threshold": 0.5},
        "predictions": {
            "source": {"path": "landing/predictions", "glob": "*.parquet"},
            "id_column": "id",
            "timestamp_column": "ts",
            "score_column": "score",
            "decision_column": "decision",
            "positive_decision": "approve",
        },
        "features": [
            {"name": "x", "type": "numeric", "lineage": "apps.x"},
            {"name": "cat", "type": "categorical", "lineage": "apps.cat"},
            {"name": "flag", "type": "boolean"},
        ],
        "etl_tables": [
            {
                "name": "apps",
                "source": {"path": "landing/apps", "glob": "*.csv"},
                "timestamp_column": "ts",
                "key": "id",
            },
            {
                "name": "outcomes",
                "source": {"path": "landing/outcomes", "glob": "*.jsonl"},
                "timestamp_column": "observed_at",
                "key": "id",
            },
        ],
        "labels": {"table": "outcomes", "join_key": "id", "label_column": "y", "maturity": "2d"},
        "batch": {"window": "1d"},
        "reference": {"kind": "file", "path": "ref.parquet"},
    }


@pytest.fixture
def toy_cfg(tmp_path: Path) -> VigilConfig:
    return config_from_dict(toy_config_dict(), file="toy.yaml", root=tmp_path)


@pytest.fixture
def toy_wh(toy_cfg: VigilConfig) -> Warehouse:
    return Warehouse(toy_cfg.warehouse_path, memory_limit="512MB")


def day_frame(day: int, n: int = 200, seed: int = 0, id_prefix: str = "") -> pd.DataFrame:
    """Predictions of one day: ids unique across days."""
    rng = np.random.default_rng(seed * 1000 + day)
    ts = [DAY0 + timedelta(days=day, seconds=int(s)) for s in rng.integers(0, 86400, n)]
    score = rng.uniform(0, 1, n)
    return pd.DataFrame(
        {
            "id": [f"{id_prefix}d{day}-{i}" for i in range(n)],
            "ts": pd.to_datetime(ts),
            "score": score,
            "decision": np.where(score < 0.5, "approve", "refer"),
            "x": rng.normal(50, 10, n),
            "cat": rng.choice(["a", "b", "c"], n),
            "flag": rng.integers(0, 2, n).astype(bool),
        }
    )


def write_predictions(root: Path, day: int, df: pd.DataFrame | None = None, name: str | None = None) -> Path:
    df = day_frame(day) if df is None else df
    folder = root / "landing" / "predictions"
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / (name or f"predictions_{day:02d}.parquet")
    df.to_parquet(p, index=False)
    return p


def write_apps(root: Path, day: int, df: pd.DataFrame | None = None, name: str | None = None) -> Path:
    df = day_frame(day)[["id", "ts", "x", "cat"]] if df is None else df
    folder = root / "landing" / "apps"
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / (name or f"apps_{day:02d}.csv")
    df.to_csv(p, index=False)
    return p


def write_outcomes(root: Path, day: int, of_day: int, seed: int = 0, name: str | None = None) -> Path:
    """Labels observed on `day` for the predictions of `of_day`."""
    preds = day_frame(of_day, seed=seed)
    rng = np.random.default_rng(of_day + 77)
    y = (rng.uniform(0, 1, len(preds)) < preds["score"]).astype(int)
    df = pd.DataFrame({"id": preds["id"], "observed_at": DAY0 + timedelta(days=day, hours=1), "y": y})
    folder = root / "landing" / "outcomes"
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / (name or f"outcomes_{day:02d}.jsonl")
    df.to_json(p, orient="records", lines=True, date_format="iso")
    return p


def write_reference(root: Path, n: int = 2000, seed: int = 5) -> Path:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "score": rng.uniform(0, 1, n),
            "x": rng.normal(50, 10, n),
            "cat": rng.choice(["a", "b", "c"], n),
            "flag": rng.integers(0, 2, n).astype(bool),
        }
    )
    p = root / "ref.parquet"
    df.to_parquet(p, index=False)
    return p
