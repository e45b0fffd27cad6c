"""Every drill kind on the regression example (delivery ETA): incidents injected by config
into copies of its own landing files (CSV and JSON Lines, its own tables and columns),
re-scored with its own model through the scikit-learn adapter, caught by the checks, with
runbooks and a recommended decision. No example-specific code in the drills."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.cli import main
from app.cycle import run_cycle
from app.drills import DrillError, run_drill
from core.clock import ManualClock
from core.config import VigilConfig, load_config
from tests.fixtures.delivery_eta.generate import generate
from tests.fixtures.delivery_eta.model import CONFIG

REPO = Path(__file__).resolve().parents[2]

# kind, --column, a root-cause alert (check, subject) the drill must raise, the decision (None: no incident needed)
CASES = [
    ("unit_change", "orders.distance_km", ("unit_change", "orders.distance_km"), "fix_upstream"),
    ("nulls", "prep_minutes", ("null_rate", "orders.prep_minutes"), "fix_upstream"),
    ("dropped_column", "orders.basket_items", ("schema", "orders"), "fix_upstream"),
    ("renamed_column", "couriers.rating", ("schema", "couriers"), "fix_upstream"),
    ("retyped_column", "orders.prep_minutes", ("schema", "predictions"), "fix_upstream"),
    ("stale_table", "couriers", ("freshness", "couriers"), "fix_upstream"),
    ("duplicates", "orders", ("duplicate_ids", "orders"), None),
    ("volume-drop", None, ("volume", "orders"), "fix_upstream"),
    ("new-category", "city", ("unseen_category", "orders.city"), None),
    ("covariate_drift", "distance_km", ("psi", "predictions.distance_km"), "hold_and_watch"),
    ("prediction_shift", None, ("score_drift", "predictions.eta_minutes"), None),
    ("concept_drift", None, ("mae", "model"), None),
]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> VigilConfig:
    root = tmp_path_factory.mktemp("eta-drills")
    generate(root, days=5, volume=300, model=True)  # scored by its own model (v1, registered on first use)
    cfg = load_config(CONFIG, root=root)
    run_cycle(cfg, clock=ManualClock(datetime.now(UTC)), notify=False)
    return cfg


@pytest.mark.parametrize(("kind", "column", "expected", "action"), CASES, ids=[c[0] for c in CASES])
def test_every_drill_kind_is_caught_on_the_regression_example(
    world: VigilConfig, tmp_path: Path, kind: str, column: str | None, expected: tuple[str, str], action: str | None
) -> None:
    report = run_drill(world, kind, column, clock=ManualClock(datetime.now(UTC)), sandbox_dir=tmp_path)
    roots = {(a.check, a.subject) for a in report.alerts if a.inhibited_by is None}
    assert expected in roots, (report.scoring, roots)
    assert all((REPO / a.runbook).exists() for a in report.alerts)
    if action is not None:
        assert action in {i["action"] for i in report.incidents}, report.incidents
    if kind != "prediction_shift":
        assert "with v1" in report.scoring, report.scoring  # re-scored by the champion through the adapter
    if kind == "concept_drift":  # a copy of a matured batch; the adapter evaluates the champion on its new outcomes
        assert report.copied_from == "2024-05-04T00:00:00" and "champion v1 mae on the drilled outcomes" in report.scoring
    assert report.sandbox is None and not list(tmp_path.iterdir())


def test_bad_drills_are_refused_with_a_hint(world: VigilConfig, tmp_path: Path) -> None:
    with pytest.raises(DrillError, match="concept_drift changes outcomes, and this config has no labels"):
        run_drill(world.model_copy(update={"labels": None}), "concept-drift", sandbox_dir=tmp_path)
    with pytest.raises(DrillError, match="'orders.tip' is in neither extract"):
        run_drill(world, "nulls", "orders.tip", sandbox_dir=tmp_path)
    with pytest.raises(DrillError, match="'payments' is not a table here"):
        run_drill(world, "stale_table", "payments", sandbox_dir=tmp_path)
    with pytest.raises(DrillError, match="unknown incident kind 'meteor'"):
        run_drill(world, "meteor", sandbox_dir=tmp_path)
    assert not list(tmp_path.iterdir())


def test_cli_prints_alerts_runbooks_and_the_decision(world: VigilConfig, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--config", str(CONFIG), "--root", str(world.root), "drill", "unit-change", "--column", "orders.distance_km"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "ALERT CRITICAL unit_change on orders.distance_km" in out
    assert "runbooks/unit_change.md" in out and "FIX UPSTREAM" in out


def test_retrain_goes_through_the_scikit_learn_adapter(world: VigilConfig) -> None:
    """`vigil retrain` on the regression example: the champion's pipeline refitted on the clean
    window, registered as challenger, compared on the champion's holdout and on MAE."""
    from core.registries import registry_for
    from core.stores import stores_for
    from incidents.retrain import retrain

    wh, ops = stores_for(world)
    clock = ManualClock(datetime.now(UTC))
    report = retrain(world, ops, wh, window_days=10, user="ana", clock=clock)
    registry = registry_for(world, ops, clock)
    candidate = registry.get("delivery_eta", report.candidate_version)
    champion = registry.champion("delivery_eta")
    assert champion is not None and champion.version == report.champion_version == 1
    assert "challenger" in candidate.aliases and candidate.approval_state == "pending"
    assert candidate.evaluation["holdout_id"] == champion.evaluation["holdout_id"], "compared on the same rows"
    assert candidate.evaluation["metrics"]["mae"] > 0 and report.holdout_gate.startswith("mae ")
    assert report.training_rows >= 500 and all(s["mae"] is not None for s in report.shadow)
    assert any("MAE" in r for r in report.reasons)
