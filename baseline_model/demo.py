"""The shipped example: train and register the loan-default model, simulate its history.

Both functions are idempotent, so `make run` can call them on every start.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from baseline_model.layout import snapshot_dir
from baseline_model.simulator import Incident, make_training_snapshot, simulate_history
from baseline_model.train import TrainingError, evaluation_of, load_train_config, train
from core.clock import Clock, SystemClock
from core.config import VigilConfig
from core.registry import CHAMPION, ModelVersion, PromotionRule, Registry
from core.stores import OpsStore, stores_for

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
DEFAULT_TRAIN_CONFIG = CONFIG_DIR / "train_gbm.yaml"
MODEL_NAME = "loan_default"
DEMO_DAYS = 60
SNAPSHOT_DAYS = 60


def history_start(days: int, today: date) -> date:
    return today - timedelta(days=days - 1)


def register_run(registry: Registry, run: dict[str, Any], user: str = "system", description: str | None = None) -> ModelVersion:
    """Register a finished training run as a new (pending) version."""
    if run.get("status") != "ok":
        raise ValueError(f"run {run.get('run_id')} is {run.get('status')}: only successful runs can be registered")
    manifest = run["manifest"] if "manifest" in run else json.loads(Path(run["manifest_path"]).read_text())
    return registry.register(
        run["model_name"],
        run_id=run["run_id"],
        data_version=manifest["data"]["sha256"],
        environment=manifest["environment"],
        evaluation=evaluation_of(run),
        artifact_path=run["artifact_path"],
        artifact_sha256=run["artifact_sha256"],
        config_path=run["config_path"],
        description=description or f"{run['config_name']} trained by run {run['run_id']}",
        user=user,
        promotion=promotion_rule_of(run["config_path"]),
    )


def promotion_rule_of(config_path: str | Path | None) -> PromotionRule:
    """The training config's ``promotion:`` rule, stored with the version it registers."""
    if config_path:
        try:
            rule = load_train_config(config_path).promotion
            return PromotionRule(metric=rule.metric, margin=rule.margin)
        except TrainingError:
            pass
    return PromotionRule()


def ensure_example(
    root: str | Path,
    ops: OpsStore,
    *,
    config_path: str | Path = DEFAULT_TRAIN_CONFIG,
    today: date | None = None,
    history_days: int = DEMO_DAYS,
    snapshot_days: int = SNAPSHOT_DAYS,
    snapshot_volume: int = 1000,
    seed: int = 7,
    clock: Clock | None = None,
    progress: bool = True,
) -> ModelVersion:
    """The champion of the example model; trains, registers and approves v1 if there is none.

    The training snapshot covers the `snapshot_days` before the simulated history starts.
    """
    root = Path(root)
    registry = Registry(ops, clock)
    name = load_train_config(config_path).model_name
    current = registry.champion(name)
    if current is not None:
        return current
    today = today or (clock or SystemClock()).now().astimezone(UTC).date()
    if not (snapshot_dir(root) / "labels.parquet").exists():
        make_training_snapshot(
            root, history_start(history_days, today), days=snapshot_days, volume=snapshot_volume, seed=seed + 1000
        )
    run = train(config_path, root, ops, command="vigil demo (ensure_example)", update_reference=True,
                progress=progress, clock=clock)
    mv = register_run(registry, run, description="example model v1 (trained by the demo)")
    registry.approve(name, mv.version, "system", "example model: approved automatically on first start")
    registry.set_alias(name, CHAMPION, mv.version, "system", "first version of the example model")
    champion = registry.champion(name)
    assert champion is not None
    return champion


def demo_incidents(days: int = DEMO_DAYS) -> list[Incident]:
    """Two upstream incidents: income in thousands (~day 40), bureau credit_score nulls (~day 50)."""
    return [
        Incident("unit_change", day=int(days * 2 / 3), column="income", size=0.001),
        Incident("nulls", day=int(days * 5 / 6), column="credit_score", size=0.35),
    ]


def _marker(root: Path) -> Path:
    return root / "simulator" / "demo_history.json"


def build_demo_history(
    root: str | Path,
    ops: OpsStore,
    days: int = DEMO_DAYS,
    seed: int = 7,
    *,
    volume: int = 2000,
    today: date | None = None,
    clock: Clock | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Simulate `days` days ending today with the demo incidents; does nothing if already done."""
    root = Path(root)
    marker = _marker(root)
    if marker.exists():
        return {**json.loads(marker.read_text()), "already_done": True}
    today = today or (clock or SystemClock()).now().astimezone(UTC).date()
    ensure_example(root, ops, today=today, history_days=days, seed=seed, clock=clock, progress=progress)
    start = history_start(days, today)
    incidents = demo_incidents(days)
    reports = simulate_history(
        root, start, days, seed, volume=volume, incidents=incidents, ops=ops, model_name=MODEL_NAME,
        progress=progress,
    )
    summary = {
        "start": start.isoformat(),
        "days": days,
        "seed": seed,
        "volume": volume,
        "incidents": [
            {"kind": i.kind, "day": i.first_day(start).isoformat(), "column": i.column} for i in incidents
        ],
        "applications": sum(r.applications for r in reports),
        "fallback": sum(r.fallback for r in reports),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return {**summary, "already_done": False}


def prepare_history(cfg: VigilConfig, days: int = DEMO_DAYS, clock: Clock | None = None) -> dict[str, Any]:
    """`vigil demo` steps 1-2; idempotent: a second run reuses the registered model and the landed history."""
    _, ops = stores_for(cfg)
    cfg.root.mkdir(parents=True, exist_ok=True)
    print(f"example model and {days} days of history (two injected incidents) under {cfg.root} ...", flush=True)
    ensure_example(cfg.root, ops, history_days=days, clock=clock)
    history: dict[str, Any] = build_demo_history(cfg.root, ops, days=days, clock=clock)
    if history.get("already_done"):
        print(f"history already simulated ({history.get('start')}, {history.get('days')} days); reusing it", flush=True)
    return history
