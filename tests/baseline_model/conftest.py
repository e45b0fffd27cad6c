"""Fixtures: a small trained example (template built once per session, copied per test)."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest
import yaml

from baseline_model.demo import ensure_example
from core.stores import OpsStore

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "baseline_model" / "configs"
# Simulated history of the tests starts here; the training snapshot ends the day before.
START = date(2026, 3, 2)  # a Monday
SNAPSHOT_DAYS = 21
SNAPSHOT_VOLUME = 250


def fast_config(tmp: Path, name: str = "logreg_test", **overrides: object) -> Path:
    """The shipped logistic-regression config, renamed (fast to train)."""
    data = yaml.safe_load((CONFIGS / "train_logreg.yaml").read_text())
    data["name"] = name
    data.update(overrides)
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(scope="session")
def template_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("template")
    ops = OpsStore(root / "ops.sqlite")
    ensure_example(
        root, ops, config_path=fast_config(root), today=date(2026, 3, 31), history_days=30,
        snapshot_days=SNAPSHOT_DAYS, snapshot_volume=SNAPSHOT_VOLUME, seed=3, progress=False,
    )
    return root


@pytest.fixture
def example_root(template_root: Path, tmp_path: Path) -> Path:
    """A private copy of the trained example: registry with v1 champion, snapshot, reference."""
    root = tmp_path / "var"
    shutil.copytree(template_root, root)
    return root


@pytest.fixture
def example_ops(example_root: Path) -> OpsStore:
    return OpsStore(example_root / "ops.sqlite")
