"""Fixtures for the app tests: a small monitored-model config in a tmp folder.

The config is a real YAML file (the CLI and the Streamlit pages load it through
$VIGIL_CONFIG exactly as in production); stores live under tmp_path/var.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from core.config import VigilConfig, load_config


def small_config(reference: str | None = "training/reference.parquet") -> dict[str, Any]:
    data: dict[str, Any] = {
        "model": {"name": "loans", "registry_name": "loans", "threshold": 0.5},
        "predictions": {
            "source": {"path": "landing/predictions"},
            "id_column": "application_id",
            "timestamp_column": "scored_at",
            "score_column": "score",
            "decision_column": "decision",
            "positive_decision": "approve",
        },
        "features": [
            {"name": "income", "type": "numeric", "unit": "USD", "range": [0, 1_000_000], "lineage": "applications.income"},
            {"name": "purpose", "type": "categorical", "allowed": ["car", "other"], "lineage": "applications.purpose"},
        ],
        "etl_tables": [
            {
                "name": "applications",
                "source": {"path": "landing/etl/applications"},
                "timestamp_column": "submitted_at",
                "key": "application_id",
            }
        ],
        "schedule": {"interval": "1s"},
    }
    if reference:
        data["reference"] = {"kind": "file", "path": reference, "chunk_rows": 300}
    return data


def write_config(folder: Path, data: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "monitor.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A valid config; $VIGIL_CONFIG / $VIGIL_ROOT point at it so the CLI and pages find it."""
    path = write_config(tmp_path, small_config())
    monkeypatch.setenv("VIGIL_CONFIG", str(path))
    monkeypatch.setenv("VIGIL_ROOT", str(tmp_path / "var"))
    monkeypatch.setenv("VIGIL_USER", "tester")
    return path


@pytest.fixture
def cfg(config_file: Path, tmp_path: Path) -> VigilConfig:
    return load_config(config_file, root=tmp_path / "var")
