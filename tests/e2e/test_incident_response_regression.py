"""The end-to-end incident response for a regression model (the delivery-ETA example), once
with Vigil's embedded registry and once with an MLflow Model Registry (a real local store:
SQLite tracking store in a temporary folder).

1. Days 0-5 are scored by v1, the example's own model (trained and registered through the
   scikit-learn adapter). No alert.
2. v2, trained on an orders extract that reported miles as km (so it looks as good as v1 on
   its own holdout, from the same extract), is approved and made champion by hand (an
   emergency promotion that skipped the holdout gate: the holdouts differ). From day 6 it
   scores; once those deliveries land (1 day later) MAE fails on the live test set and an
   incident opens.
3. The recommended decision is "roll back": the prediction log shows v2 started serving
   right before the degradation, and v1 scores better on the same labelled rows (shadow
   evaluation through the adapter). A person approves it and carries it out: the champion
   alias moves back to v1 (in MLflow, `models:/delivery_eta@champion`).
4. The next days are scored by v1 (the scorer follows the alias) and the MAE alert resolves.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from app.cycle import run_cycle
from core.clock import ManualClock
from core.config import VigilConfig, load_config
from core.registries import registry_for
from core.stores import OpsStore, stores_for
from incidents.decisions import approve, carry_out, recommend
from incidents.queries import alerts_with_incidents
from tests.fixtures.delivery_eta.generate import generate
from tests.fixtures.delivery_eta.model import CONFIG, fit_and_register

# A dozen cycles on a shared machine: more than the suite's default per-test budget.
pytestmark = pytest.mark.timeout(1800)

NAME = "delivery_eta"
VOLUME = 300
PROMOTION_DAY = 6


def config(root: Path, registry: str) -> VigilConfig:
    cfg = load_config(CONFIG, root=root)
    if registry == "mlflow":
        pytest.importorskip("mlflow")
        spec = cfg.registry.model_copy(update={"kind": "mlflow", "tracking_uri": f"sqlite:///{root / 'mlflow.db'}"})
        cfg = cfg.model_copy(update={"registry": spec})
    return cfg


def served_versions(root: Path, day: int) -> set[int]:
    stamp = (datetime(2024, 5, 1) + timedelta(days=day)).strftime("%Y-%m-%d")
    frame = pd.read_json(root / "landing" / "predictions" / f"eta_{stamp}.jsonl", lines=True)
    return set(frame["model_version"].astype(int))


@pytest.mark.parametrize("registry_kind", ["embedded", "mlflow"])
def test_regression_model_rolls_back_after_a_bad_promotion(tmp_path: Path, registry_kind: str,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "eta"
    root.mkdir()
    cfg = config(root, registry_kind)
    # generate.py's scorer loads the monitoring config from disk: point it at this registry.
    monkeypatch.setattr("tests.fixtures.delivery_eta.generate.champion_scorer", _scorer_for(cfg))
    ops = OpsStore(cfg.ops_path)
    clock = ManualClock(datetime.now(UTC))
    wh, _ = stores_for(cfg)
    registry = registry_for(cfg, ops, clock)

    def day(k: int) -> Any:
        generate(root, days=1, offset=k, volume=VOLUME, model=True)
        clock.advance(timedelta(minutes=5))
        report = run_cycle(cfg, clock=clock, notify=False)
        assert report.status == "ok"
        return report

    def mae_alert() -> dict[str, Any]:
        found = alerts_with_incidents(ops, check="mae")
        assert len(found) == 1, [(a["check_name"], a["subject"], a["state"]) for a in alerts_with_incidents(ops)]
        return found[0]

    generate(root, days=PROMOTION_DAY, volume=VOLUME, model=True)
    run_cycle(cfg, clock=clock, notify=False)
    v1 = registry.champion(NAME)
    assert v1 is not None and v1.version == 1
    assert served_versions(root, 0) == {1}
    assert not alerts_with_incidents(ops, check="mae"), "v1 is healthy"

    # 2. The bad promotion, by hand, past the gate.
    v2 = fit_and_register(cfg, ops, distance_factor=1 / 1.609, clock=clock, description="v2: trained on a broken extract")
    registry.approve(NAME, v2.version, "dev", "looks fine")
    registry.set_alias(NAME, "champion", v2.version, "dev", "emergency promotion (gate skipped)")
    for k in range(PROMOTION_DAY, PROMOTION_DAY + 3):
        day(k)
    assert served_versions(root, PROMOTION_DAY) == {v2.version}
    alert = mae_alert()
    assert alert["state"] == "firing" and alert["incident_id"]

    # 3. The decision: roll back, measured by shadow evaluation through the adapter.
    decision = recommend(cfg, ops, clock, alert["incident_id"], wh=wh)
    assert decision.action == "roll_back", __import__("json").dumps(decision.history[0]["evidence"])[:1500]
    assert decision.target_version == 1
    shadow = {s["version"]: s for s in decision.history[0]["evidence"]["shadow"]}
    assert shadow[1]["mae"] < shadow[v2.version]["mae"] and shadow[1]["n"] == shadow[v2.version]["n"] > 100
    approve(ops, clock, decision.decision_id, "ana", "v1 is better on the live test set")
    done = carry_out(cfg, ops, clock, decision.decision_id, "ana", "roll back to v1", wh=wh)
    assert done.state == "carried_out" and done.registry_event_id is not None
    champion = registry.champion(NAME)
    assert champion is not None and champion.version == 1
    if registry_kind == "mlflow":
        from mlflow import MlflowClient

        uri = cfg.registry.tracking_uri
        assert int(MlflowClient(tracking_uri=uri, registry_uri=uri).get_model_version_by_alias(NAME, "champion").version) == 1
        assert champion.artifact_path == f"models:/{NAME}@champion"
    event = registry.events(NAME)[0]
    assert (event.kind, event.from_version, event.to_version, event.actor) == ("rollback", v2.version, 1, "ana")
    assert ops.query("SELECT count(*) AS n FROM audit_log WHERE action = 'registry.rollback' AND actor = 'ana'")[0]["n"] == 1

    # 4. v1 scores again; once its deliveries land, the MAE alert resolves.
    # v1 serves a few days, and one cycle checks them as their deliveries land (as a scheduler
    # catching up would).
    generate(root, days=4, offset=PROMOTION_DAY + 3, volume=VOLUME, model=True)
    clock.advance(timedelta(minutes=5))
    assert run_cycle(cfg, clock=clock, notify=False).status == "ok"
    assert all(served_versions(root, k) == {1} for k in range(PROMOTION_DAY + 3, PROMOTION_DAY + 7))
    with wh.read() as conn:
        mae = conn.execute("SELECT batch, status FROM check_results WHERE check_name = 'mae' ORDER BY batch").fetchall()
    assert mae_alert()["state"] == "resolved", [(str(b)[:10], s) for b, s in mae[5:]]


def _scorer_for(cfg: VigilConfig) -> Any:
    """generate.champion_scorer, bound to this test's config (its registry kind)."""
    import numpy as np

    from core.scoring import score_with_champion
    from tests.fixtures.delivery_eta.model import ensure_model

    def make(root: Path, seed: int = 7) -> Any:
        ops = OpsStore(cfg.ops_path)
        ensure_model(cfg, ops, seed=seed)

        def score(served: pd.DataFrame) -> tuple[Any, int]:
            scored = score_with_champion(cfg, ops, served)
            return np.round(scored.scores, 2), scored.version

        return score

    return make
