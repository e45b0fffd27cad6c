"""MLflow as Vigil's registry, against a real local MLflow store (SQLite tracking store in a
temporary folder; models logged with MLflow's own API). No mock: alias moves are read back
from MLflow, and the scorer follows them."""

from __future__ import annotations

import socket
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from core.clock import ManualClock
from core.config import config_from_dict
from core.registries import registry_for
from core.scoring import score_with_champion
from core.stores import OpsStore

mlflow = pytest.importorskip("mlflow")

NAME = "diabetes_ridge"


def config(root: Path, uri: str) -> Any:
    from sklearn.datasets import load_diabetes

    features = list(load_diabetes(as_frame=True).data.columns)
    return config_from_dict({
        "model": {"name": NAME, "task": "regression", "registry_name": NAME},
        "predictions": {"source": {"path": "p"}, "id_column": "row_id", "timestamp_column": "ts", "score_column": "y_hat"},
        "features": [{"name": f, "type": "numeric"} for f in features],
        "registry": {"kind": "mlflow", "tracking_uri": uri},
    }, file="mlflow.yaml", root=root)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two versions of a regression model logged and registered with MLflow's own API."""
    import mlflow.sklearn
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge

    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    models = {1: Ridge(alpha=10.0).fit(X, y), 2: Ridge(alpha=0.1).fit(X, y)}
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    # Artifacts in the test's folder, not ./mlruns of the folder pytest runs in.
    mlflow.create_experiment("diabetes", artifact_location=(root / "artifacts").resolve().as_uri())
    mlflow.set_experiment("diabetes")
    for model in models.values():
        with mlflow.start_run():
            mlflow.log_metrics({"mae": float(np.mean(np.abs(model.predict(X) - y))), "rmse": 1.0})
            mlflow.set_tag("holdout_id", "diabetes-all")
            # Requirements given: MLflow would otherwise infer them in a subprocess (~10 s a model).
            mlflow.sklearn.log_model(model, name="model", registered_model_name=NAME, pip_requirements=["scikit-learn"])
    return {"root": root, "uri": uri, "X": X, "models": models}


def test_versions_metrics_and_aliases_are_read_from_mlflow(store: dict[str, Any], tmp_path: Path) -> None:
    cfg = config(tmp_path, store["uri"])
    registry = registry_for(cfg, OpsStore(tmp_path / "ops.sqlite"))
    versions = registry.versions(NAME)
    assert [v.version for v in versions] == [1, 2]
    assert versions[0].evaluation["holdout_id"] == "diabetes-all"
    assert versions[1].evaluation["metrics"]["mae"] < versions[0].evaluation["metrics"]["mae"]
    assert all(v.approval_state == "pending" for v in versions)


def test_promote_and_rollback_move_mlflow_aliases_and_the_scorer_follows(store: dict[str, Any], tmp_path: Path) -> None:
    from mlflow import MlflowClient

    cfg = config(tmp_path, store["uri"])
    ops = OpsStore(tmp_path / "ops.sqlite")
    clock = ManualClock(datetime(2026, 5, 1, 9, 0))
    registry = registry_for(cfg, ops, clock)
    client = MlflowClient(tracking_uri=store["uri"], registry_uri=store["uri"])
    X = store["X"].head(25)

    with pytest.raises(Exception, match="not approved"):
        registry.promote(NAME, 1, "ana", "first champion", metric="mae")
    registry.approve(NAME, 1, "ana", "reviewed")
    registry.approve(NAME, 2, "ana", "reviewed")
    registry.promote(NAME, 1, "ana", "first champion", metric="mae")
    assert int(client.get_model_version_by_alias(NAME, "champion").version) == 1
    first = score_with_champion(cfg, ops, X, clock=clock)
    assert first.version == 1 and first.uri == f"models:/{NAME}@champion"
    assert np.allclose(first.scores, store["models"][1].predict(X))

    registry.set_alias(NAME, "challenger", 2, "ana", "candidate")
    event = registry.promote(NAME, 2, "ana", "v2 has the lower MAE", metric="mae")
    assert (event.kind, event.from_version, event.to_version) == ("promote", 1, 2)
    assert int(client.get_model_version_by_alias(NAME, "champion").version) == 2
    assert int(client.get_model_version_by_alias(NAME, "challenger").version) == 1, "the old champion is kept warm"
    assert np.allclose(score_with_champion(cfg, ops, X).scores, store["models"][2].predict(X))

    back = registry.rollback(NAME, "bo", "v2 degraded in production")
    assert (back.kind, back.from_version, back.to_version) == ("rollback", 2, 1)
    assert int(client.get_model_version_by_alias(NAME, "champion").version) == 1
    assert np.allclose(score_with_champion(cfg, ops, X).scores, store["models"][1].predict(X))

    # Every move is in Vigil's registry events and audit trail.
    kinds = [e.kind for e in registry.events(NAME)]
    assert kinds[:3] == ["rollback", "alias_set", "promote"] and kinds.count("approve") == 2
    audit = ops.query("SELECT actor, action, target FROM audit_log WHERE action LIKE 'registry.%' ORDER BY entry_id")
    assert ("bo", "registry.rollback", f"{NAME}@champion") in {(a["actor"], a["action"], a["target"]) for a in audit}

    # Reverting the rollback moves the alias back, again in MLflow.
    registry.revert(back.event_id, "ana", "rollback was a mistake")
    assert int(client.get_model_version_by_alias(NAME, "champion").version) == 2
    registry.rollback(NAME, "ana", "restore v1 for the next test", to_version=1)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_mlflow_is_a_clear_error_and_changes_nothing(tmp_path: Path) -> None:
    from core.mlflow_registry import MlflowUnavailable

    uri = f"http://127.0.0.1:{closed_port()}"
    cfg = config(tmp_path, uri)
    ops = OpsStore(tmp_path / "ops.sqlite")
    registry = registry_for(cfg, ops)
    before = ops.query("SELECT count(*) AS n FROM audit_log")[0]["n"]
    with pytest.raises(MlflowUnavailable, match=r"MLflow at http://127\.0\.0\.1:\d+ failed .*nothing was changed"):
        registry.rollback(NAME, "ana", "try", to_version=1)
    with pytest.raises(MlflowUnavailable):
        registry.champion(NAME)
    assert ops.query("SELECT count(*) AS n FROM registry_events")[0]["n"] == 0
    assert ops.query("SELECT count(*) AS n FROM audit_log")[0]["n"] == before


def test_register_logs_a_scikit_learn_artifact_as_a_new_version(store: dict[str, Any], tmp_path: Path) -> None:
    from sklearn.linear_model import Ridge

    from core.ids import sha256_file
    from core.sklearn_adapter import save_estimator

    cfg = config(tmp_path, store["uri"])
    ops = OpsStore(tmp_path / "ops.sqlite")
    registry = registry_for(cfg, ops)
    X = store["X"]
    fitted = Ridge(alpha=1.0).fit(X, X["bmi"] * 3)
    path = save_estimator(fitted, tmp_path / "m.joblib")
    mv = registry.register(NAME, run_id="run-x", data_version="d1", environment={},
                           evaluation={"holdout_id": "diabetes-all", "metrics": {"mae": 1.5}},
                           artifact_path=str(path), artifact_sha256=sha256_file(str(path)), user="ana")
    assert mv.version == 3 and mv.approval_state == "pending" and mv.evaluation["metrics"] == {"mae": 1.5}
    assert registry.events(NAME)[0].kind == "register"
    frame = pd.DataFrame(X.head(3))
    from core.adapter import adapter_for, ref_of

    adapter = adapter_for(cfg)
    assert np.allclose(adapter.score(adapter.load(ref_of(mv)), frame), fitted.predict(frame))


# ---- `vigil registry ...` goes through the configured registry (MLflow here) ----------------------

CLI_NAME = "diabetes_cli"


def cli_config(root: Path, uri: str) -> Path:
    import yaml
    from sklearn.datasets import load_diabetes

    path = root / "monitor.yaml"
    path.write_text(yaml.safe_dump({
        "model": {"name": CLI_NAME, "task": "regression", "registry_name": CLI_NAME},
        "predictions": {"source": {"path": "p"}, "id_column": "row_id", "timestamp_column": "ts", "score_column": "y_hat"},
        "features": [{"name": f, "type": "numeric"} for f in load_diabetes(as_frame=True).data.columns],
        "registry": {"kind": "mlflow", "tracking_uri": uri},
    }))
    return path


def test_registry_commands_move_mlflow_aliases_audited(store: dict[str, Any], tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """`vigil registry approve / promote / rollback` with `registry.kind: mlflow`: the aliases move in
    MLflow (read back with MLflow's own client), each move is a Vigil registry event and an audit row,
    and the embedded registry is not touched. Versions logged straight to MLflow carry no promotion
    rule: a regression model is promoted on MAE, its kind's primary metric."""
    import json

    import mlflow.sklearn
    from mlflow import MlflowClient
    from sklearn.linear_model import Ridge

    from app.cli import main

    X = store["X"].head(120)
    y = X["bmi"] * 300 + X["s5"] * 200
    mlflow.set_tracking_uri(store["uri"])
    mlflow.set_registry_uri(store["uri"])
    mlflow.set_experiment("diabetes")
    for alpha in (5.0, 0.01):  # v1 worse, v2 better on MAE
        model = Ridge(alpha=alpha).fit(X, y)
        with mlflow.start_run():
            mlflow.log_metric("mae", float(np.mean(np.abs(model.predict(X) - y))))
            mlflow.set_tag("holdout_id", "diabetes-cli")
            mlflow.sklearn.log_model(model, name="model", registered_model_name=CLI_NAME, pip_requirements=["scikit-learn"])
    config_path = cli_config(tmp_path, store["uri"])
    client = MlflowClient(tracking_uri=store["uri"], registry_uri=store["uri"])

    def vigil(*argv: str) -> tuple[int, str, str]:
        code = main(["--config", str(config_path), "--root", str(tmp_path), "--user", "ana", *argv])
        out = capsys.readouterr()
        return code, out.out, out.err

    def champion() -> int:
        return int(client.get_model_version_by_alias(CLI_NAME, "champion").version)

    code, out, _ = vigil("registry", "list", "--json")
    assert code == 0 and [(v["version"], v["approval_state"]) for v in json.loads(out)] == [(1, "pending"), (2, "pending")]
    code, _, err = vigil("registry", "promote", "1", "--reason", "first")
    assert code == 2 and "pending, not approved" in err
    for version in ("1", "2"):
        assert vigil("registry", "approve", version, "--reason", "reviewed")[0] == 0
    assert vigil("registry", "promote", "1", "--reason", "first champion")[0] == 0
    assert champion() == 1
    code, out, _ = vigil("registry", "promote", "2", "--reason", "lower MAE", "--json")
    event = json.loads(out)
    assert code == 0 and event["details"]["metric"] == "mae" and event["details"]["registry"] == "mlflow"
    assert champion() == 2
    code, out, _ = vigil("registry", "rollback", "--reason", "v2 degraded")
    assert code == 0 and "champion: v2 -> v1 (MLflow) by ana: v2 degraded" in out
    assert champion() == 1

    code, out, _ = vigil("registry", "history", "--json")
    kinds = [(e["kind"], e["actor"], e["details"].get("registry")) for e in json.loads(out)]
    assert kinds[:3] == [("rollback", "ana", "mlflow"), ("promote", "ana", "mlflow"), ("promote", "ana", "mlflow")]
    from core.config import load_config
    from core.stores import stores_for

    ops = stores_for(load_config(config_path, root=tmp_path))[1]
    audit = {(a["actor"], a["action"], a["target"]) for a in ops.query("SELECT actor, action, target FROM audit_log")}
    assert {("ana", "registry.promote", f"{CLI_NAME}@champion"), ("ana", "registry.rollback", f"{CLI_NAME}@champion"),
            ("ana", "registry.approve", f"{CLI_NAME} v2")} <= audit
    assert ops.query("SELECT count(*) AS n FROM model_aliases")[0]["n"] == 0, "the embedded registry is not used"

    # An MLflow that cannot be reached: exit 3 (a store is unavailable), the URI and a hint; nothing recorded.
    events = ops.query("SELECT count(*) AS n FROM registry_events")[0]["n"]
    config_path = cli_config(tmp_path, f"http://127.0.0.1:{closed_port()}")
    code, _, err = vigil("registry", "rollback", "--to", "1", "--reason", "try")
    assert code == 3 and "MLflow at http://127.0.0.1:" in err and "nothing was changed" in err
    assert ops.query("SELECT count(*) AS n FROM registry_events")[0]["n"] == events
