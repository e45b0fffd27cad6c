from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sklearn
from sklearn.linear_model import LogisticRegression

from baseline_model.artifact import ModelArtifact, save_model
from core.config import VigilConfig, config_from_dict
from core.ids import sha256_file
from core.registry import Registry
from core.stores import OpsStore, Warehouse
from incidents.alerts import process_results
from incidents.decisions import (
    DecisionError,
    Evidence,
    approve,
    carry_out,
    decisions_for,
    excluded_windows,
    gather_evidence,
    recommend,
    recommend_action,
    reverse,
)
from tests.incidents.conftest import result

T0 = datetime(2026, 3, 1)
FEATURES = ["x1", "x2"]


def decision_config(root: Path) -> VigilConfig:
    return config_from_dict(
        {
            "model": {"name": "loan_default", "adapter": "baseline_model.adapter:LoanModelAdapter"},
            "predictions": {
                "source": {"path": "p"},
                "id_column": "application_id",
                "timestamp_column": "scored_at",
                "score_column": "score",
                "model_version_column": "model_version",
            },
            "features": [{"name": "x1", "type": "numeric", "lineage": "applications.x1"}, {"name": "x2", "type": "numeric"}],
            "etl_tables": [
                {"name": "applications", "source": {"path": "a"}, "timestamp_column": "submitted_at"},
                {"name": "outcomes", "source": {"path": "o"}, "timestamp_column": "observed_at"},
            ],
            "labels": {"table": "outcomes", "join_key": "application_id", "label_column": "defaulted"},
        },
        file="decisions.yaml",
        root=root,
    )


def make_data(rng: np.random.Generator, n: int) -> tuple[pd.DataFrame, np.ndarray]:
    x = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n)})
    y = (x["x1"] + 0.5 * rng.normal(size=n) > 0).astype(int).to_numpy()
    return x, y


def register(reg: Registry, tmp_path: Path, name: str, model: Any) -> int:
    path = tmp_path / f"{name}.joblib"
    save_model(ModelArtifact(model, FEATURES, 0.5, "logreg", name, sklearn.__version__), path)
    mv = reg.register(
        "loan_default",
        run_id=name,
        data_version="d",
        environment={},
        evaluation={"holdout_id": "h1", "metrics": {"roc_auc": 0.8}},  # both pass the same holdout gate
        artifact_path=str(path),
        artifact_sha256=sha256_file(str(path)),
        user="ana",
    )
    reg.approve("loan_default", mv.version, "ana", "holdout ok")
    return int(mv.version)


@pytest.fixture(params=[0, 1, 2])
def world(request, tmp_path: Path, clock):
    """A good v1, a v2 trained on a stale relation promoted on day 8, 12 days of scored predictions and outcomes."""
    rng = np.random.default_rng(request.param)
    cfg = decision_config(tmp_path)
    ops = OpsStore(tmp_path / "ops.sqlite")
    wh = Warehouse(tmp_path / "warehouse.duckdb")
    x, y = make_data(rng, 2000)
    good = LogisticRegression().fit(x, y)
    stale = LogisticRegression().fit(x, 1 - y)  # passes the recorded holdout gate, wrong on today's data
    reg = Registry(ops, clock)
    v1 = register(reg, tmp_path, "v1", good)
    reg.set_alias("loan_default", "champion", v1, "ana", "first model")
    v2 = register(reg, tmp_path, "v2", stale)
    reg.promote("loan_default", v2, "bo", "new training window")
    frames, outcomes = [], []
    for d in range(12):
        xd, yd = make_data(rng, 300)
        version, model = (v1, good) if d < 8 else (v2, stale)
        ids = [f"a{d}_{i}" for i in range(len(xd))]
        frames.append(
            xd.assign(
                application_id=ids,
                scored_at=[T0 + timedelta(days=d, seconds=i) for i in range(len(xd))],
                model_version=version,
                score=model.predict_proba(xd[FEATURES])[:, 1],
            )
        )
        outcomes.append(pd.DataFrame({"application_id": ids, "observed_at": T0 + timedelta(days=d + 14), "defaulted": yd}))
    predictions, labels = pd.concat(frames), pd.concat(outcomes)
    with wh.write() as conn:
        conn.register("predictions_df", predictions)
        conn.register("outcomes_df", labels)
        conn.execute("CREATE TABLE predictions AS SELECT * FROM predictions_df")
        conn.execute("CREATE TABLE etl_outcomes AS SELECT * FROM outcomes_df")
    return cfg, ops, wh, reg, v1, v2


def test_degradation_after_promotion_recommends_roll_back_then_carries_out_and_reverses(world, clock):
    cfg, ops, wh, reg, v1, v2 = world
    kpi = [result("kpi_default_rate", "model", d, "fail" if d >= 8 else "ok", family="performance") for d in range(10)]
    report = process_results(cfg, ops, kpi, clock)
    incident_id = report.incidents_opened[0]
    decision = recommend(cfg, ops, clock, incident_id, wh=wh, registry=reg)
    assert decision.action == "roll_back" and decision.state == "recommended" and decision.target_version == v1
    evidence = decision.history[0]["evidence"]
    assert evidence["promotion"]["from_version"] == v1 and evidence["promotion"]["to_version"] == v2
    scores = {s["version"]: s for s in evidence["shadow"]}
    assert scores[v1]["roc_auc"] > 0.75 > 0.25 > scores[v2]["roc_auc"] and scores[v1]["n"] == 600
    with pytest.raises(DecisionError, match="must be approved before it is carried out"):
        carry_out(cfg, ops, clock, decision.decision_id, "ana", "now", registry=reg)
    with pytest.raises(DecisionError, match="approved by a person, not by vigil"):
        approve(ops, clock, decision.decision_id, "vigil", "auto")
    with pytest.raises(DecisionError, match="needs a reason"):
        approve(ops, clock, decision.decision_id, "ana", " ")
    approve(ops, clock, decision.decision_id, "ana", "v1 better on live data")
    # An MLflow that cannot be reached is a store that is unavailable (exit 3), not a refusal
    # (a DecisionError, exit 2): the decision stays approved and nothing moved.
    from core.mlflow_registry import MlflowRegistry, MlflowUnavailable
    from tests.core.test_mlflow_registry import closed_port

    down = MlflowRegistry(f"http://127.0.0.1:{closed_port()}", ops, clock)
    with pytest.raises(MlflowUnavailable, match="nothing was changed"):
        carry_out(cfg, ops, clock, decision.decision_id, "ana", "roll back to v1", registry=down)
    assert decisions_for(ops, incident_id)[0].state == "approved"
    done = carry_out(cfg, ops, clock, decision.decision_id, "ana", "roll back to v1", registry=reg)
    assert done.state == "carried_out" and reg.champion("loan_default").version == v1
    assert reg.event(done.registry_event_id).kind == "rollback"
    undone = reverse(ops, clock, decision.decision_id, "bo", "rollback was wrong", registry=reg)
    assert undone.state == "reversed" and reg.champion("loan_default").version == v2
    assert [h["kind"] for h in undone.history] == ["recommended", "approved", "carried_out", "reversed"]
    kinds = [r["kind"] for r in ops.query("SELECT kind FROM incident_timeline WHERE incident_id = ? ORDER BY entry_id", (incident_id,))]
    assert kinds.count("decision") == 4
    import sqlite3

    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        with ops.transaction() as conn:
            conn.execute("UPDATE decisions SET actor = 'x'")


def test_upstream_problem_recommends_fix_upstream_and_records_the_window(world, clock):
    cfg, ops, wh, reg, v1, v2 = world
    rs = [result("unit_change", "applications.x1", 9), result("kpi_default_rate", "model", 9, family="performance")]
    incident_id = process_results(cfg, ops, rs, clock).incidents_opened[0]
    decision = recommend(cfg, ops, clock, incident_id, wh=wh, registry=reg)
    assert decision.action == "fix_upstream"
    # The KPI was never inhibited: it notified with the unit change as its possible cause.
    assert "model alerts with this upstream problem as their possible cause: kpi_default_rate" in decision.history[0]["reason"]
    assert excluded_windows(ops) == [("2026-03-10T00:00:00", "2026-03-11T00:00:00")]
    assert [d.decision_id for d in decisions_for(ops, incident_id)] == [decision.decision_id]


def evidence(**kw: Any) -> Evidence:
    return Evidence(incident_id="inc-1", model="m", **kw)


@pytest.mark.parametrize(
    ("kw", "action"),
    [
        ({"monitoring_alerts": ["cycle_heartbeat on scheduler"], "upstream_alerts": ["unit_change on a.b"]}, "fix_monitoring"),
        ({"upstream_alerts": ["unit_change on a.b"], "degradation_alerts": ["kpi on model"]}, "fix_upstream"),
        ({"degradation_alerts": ["kpi"], "promotion": {"from_version": 1, "to_version": 2}, "previous_better": True}, "roll_back"),
        ({"degradation_alerts": ["kpi"], "promotion": {"from_version": 1, "to_version": 2}, "previous_better": False,
          "degraded_batches": 1, "labelled_rows": 500}, "hold_and_watch"),
        ({"degradation_alerts": ["kpi"], "degraded_batches": 4, "labelled_rows": 500}, "retrain"),
        ({"degradation_alerts": ["kpi"], "degraded_batches": 4, "labelled_rows": 20}, "hold_and_watch"),
        ({"drift_alerts": ["psi on predictions.x1"]}, "hold_and_watch"),
    ],
)
def test_rules(kw, action):
    assert recommend_action(evidence(**kw)).action == action


def test_sustained_degradation_on_clean_inputs_retrains_and_promotes_only_a_better_candidate(world, clock, tmp_path):
    cfg, ops, wh, reg, v1, v2 = world
    kpi = [result("kpi_default_rate", "model", d, family="performance") for d in range(8, 12)]
    incident_id = process_results(cfg, ops, kpi, clock).incidents_opened[0]
    e = gather_evidence(cfg, ops, clock, incident_id, wh=wh, registry=reg)
    # v2 served the whole window and the one before it mostly: a promotion 0 batches before the start counts.
    assert e.degraded_batches == 4 and e.labelled_rows == 1200
    assert e.promotion is not None and e.previous_better is True  # here rolling back is right
    e.promotion, e.previous_better = None, None  # what if nobody had promoted anything?
    assert recommend_action(e).action == "retrain"


def test_retrain_candidate_must_beat_the_champion(world, clock, tmp_path):
    cfg, ops, wh, reg, v1, v2 = world
    kpi = [result("kpi_default_rate", "model", d, family="performance") for d in range(1, 5)]  # v1 era: no promotion
    incident_id = process_results(cfg, ops, kpi, clock).incidents_opened[0]
    decision = recommend(cfg, ops, clock, incident_id, wh=wh, registry=reg)
    assert decision.action == "retrain" and decision.history[0]["evidence"]["promotion"] is None
    approve(ops, clock, decision.decision_id, "ana", "retrain on the recent window")
    with pytest.raises(DecisionError, match="retrain needs a candidate"):
        carry_out(cfg, ops, clock, decision.decision_id, "ana", "go", registry=reg)
    rng = np.random.default_rng(7)
    x, y = make_data(rng, 1000)
    worse = register(reg, tmp_path, "v3", LogisticRegression().fit(x, 1 - y))
    reg.set_alias("loan_default", "champion", v1, "ana", "test: the good model is champion")
    with pytest.raises(DecisionError, match=f"candidate v{worse} does not beat champion v{v1}"):
        carry_out(cfg, ops, clock, decision.decision_id, "ana", "go", candidate_version=worse, wh=wh, registry=reg)
    assert reg.champion("loan_default").version == v1
    reg.set_alias("loan_default", "champion", v2, "ana", "test: the stale model is champion again")
    better_one = register(reg, tmp_path, "v4", LogisticRegression().fit(x, y))
    done = carry_out(cfg, ops, clock, decision.decision_id, "ana", "go", candidate_version=better_one, wh=wh, registry=reg)
    assert done.state == "carried_out" and reg.champion("loan_default").version == better_one
    assert done.history[-1]["evidence"]["shadow"][0]["version"] == better_one
