from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd

from baseline_model.demo import build_demo_history, demo_incidents, ensure_example
from baseline_model.layout import etl_path
from core.runs import list_runs
from core.stores import OpsStore

from .conftest import fast_config


def test_ensure_example_is_idempotent(example_root: Path, example_ops: OpsStore) -> None:
    before = len(list_runs(example_ops))
    mv = ensure_example(example_root, example_ops, progress=False)
    assert mv.version == 1 and mv.approval_state == "approved" and mv.aliases == ("champion",)
    assert mv.approved_by == "system"
    assert len(list_runs(example_ops)) == before


def test_demo_history_has_its_incidents_and_runs_once(tmp_path: Path) -> None:
    root = tmp_path / "var"
    ops = OpsStore(root / "ops.sqlite")
    today = date(2026, 5, 31)
    ensure_example(root, ops, config_path=fast_config(tmp_path), today=today, history_days=18, snapshot_days=14,
                   snapshot_volume=200, progress=False)
    first = build_demo_history(root, ops, days=18, seed=7, volume=60, today=today, progress=False)
    assert not first["already_done"] and first["start"] == "2026-05-14"
    unit_day, null_day = (date.fromisoformat(i["day"]) for i in first["incidents"])
    assert (unit_day, null_day) == (date(2026, 5, 26), date(2026, 5, 29))
    income = pd.read_parquet(etl_path(root, "applications", unit_day))["income"]
    assert income.median() < 1000
    nulls = pd.read_parquet(etl_path(root, "bureau", null_day))["credit_score"].isna().mean()
    assert 0.15 < nulls < 0.6
    files = sorted(p.name for p in (root / "landing").rglob("*.parquet"))
    again = build_demo_history(root, ops, days=18, seed=7, volume=60, today=today, progress=False)
    assert again["already_done"] and sorted(p.name for p in (root / "landing").rglob("*.parquet")) == files
    assert [i.kind for i in demo_incidents()] == ["unit_change", "nulls"]
    assert demo_incidents()[0].day == 40 and demo_incidents()[1].day == 50


def test_registered_versions_carry_their_training_configs_promotion_rule(example_root: Path, example_ops: OpsStore) -> None:
    from baseline_model.demo import DEFAULT_TRAIN_CONFIG, promotion_rule_of
    from core.registry import PromotionRule

    assert promotion_rule_of(DEFAULT_TRAIN_CONFIG) == PromotionRule("roc_auc", 0.005)  # train_gbm.yaml
    assert promotion_rule_of(None) == PromotionRule("roc_auc", 0.0)
    mv = ensure_example(example_root, example_ops, progress=False)
    assert mv.promotion == promotion_rule_of(mv.config_path)


def test_the_example_contributes_its_day_simulator_by_entry_point() -> None:
    """`vigil schedule --simulate` finds it without the app importing baseline_model."""
    from baseline_model.simulation import simulate_next_day
    from core import plugins

    assert plugins.simulators()["baseline_model"] is simulate_next_day
