from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pytest

from app.cli import main
from baseline_model.layout import predictions_path

from .conftest import CONFIGS, START, fast_config


def vigil(root: Path, argv: Sequence[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """`vigil` (global options first) through the command kernel."""
    code = main(["--config", str(CONFIGS / "monitor.yaml"), "--root", str(root), "--user", "alice", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_train_register_approve_promote_rollback_revert(example_root: Path, capsys: pytest.CaptureFixture[str],
                                                        tmp_path: Path) -> None:
    code, out, _ = vigil(example_root, ["train", "--config", str(fast_config(tmp_path)), "--register", "--json"], capsys)
    assert code == 0
    result = json.loads(out)
    assert result["registered_version"] == 2 and result["metrics"]["roc_auc"] > 0.6
    code, _, err = vigil(example_root, ["registry", "promote", "2", "--reason", "try"], capsys)
    assert code == 2 and "pending, not approved" in err
    assert vigil(example_root, ["registry", "approve", "2", "--reason", "reviewed"], capsys)[0] == 0
    code, out, _ = vigil(example_root, ["registry", "promote", "2", "--reason", "same model, retrained", "--json"], capsys)
    assert code == 0 and json.loads(out)["to_version"] == 2
    code, out, _ = vigil(example_root, ["registry", "rollback", "--reason", "drill", "--json"], capsys)
    rollback = json.loads(out)
    assert (rollback["from_version"], rollback["to_version"], rollback["actor"]) == (2, 1, "alice")
    code, out, _ = vigil(example_root, ["registry", "revert", str(rollback["event_id"]), "--reason", "undo drill"], capsys)
    assert code == 0 and "champion: v1 -> v2" in out
    code, out, _ = vigil(example_root, ["registry", "list", "--json"], capsys)
    versions = {v["version"]: v for v in json.loads(out)}
    assert versions[2]["aliases"] == ["champion"]
    code, out, _ = vigil(example_root, ["registry", "history"], capsys)
    assert "revert champion: v1 -> v2 by alice: undo drill" in out.splitlines()[0]
    code, out, _ = vigil(example_root, ["registry", "show", "2", "--json"], capsys)
    assert json.loads(out)["approved_by"] == "alice"


def test_runs_commands(example_root: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    vigil(example_root, ["train", "--config", str(fast_config(tmp_path, "a"))], capsys)
    vigil(example_root, ["train", "--config", str(fast_config(tmp_path, "b", seed=1, model={
        "type": "logistic_regression", "params": {"C": 0.05}}))], capsys)
    code, out, _ = vigil(example_root, ["runs", "list", "--json"], capsys)
    runs = json.loads(out)
    assert code == 0 and [r["config_name"] for r in runs[:2]] == ["b", "a"]
    a, b = runs[1]["run_id"], runs[0]["run_id"]
    code, out, _ = vigil(example_root, ["runs", "compare", a, b], capsys)
    assert code == 0 and "params.model_params.C" in out and "metrics.roc_auc" in out
    assert vigil(example_root, ["runs", "note", b, "tried C=0.05: worse, under-fits"], capsys)[0] == 0
    code, out, _ = vigil(example_root, ["runs", "show", b, "--json"], capsys)
    assert json.loads(out)["notes"][0]["text"] == "tried C=0.05: worse, under-fits"
    code, _, err = vigil(example_root, ["runs", "show", "run-nope"], capsys)
    assert code == 2 and "no run 'run-nope'" in err


def test_simulate_with_incident_then_lineage_and_reproduce(example_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = vigil(example_root, ["simulate", "--days", "2", "--start", START.isoformat(), "--volume", "50",
                                        "--incident", "nulls:1:credit_score:1.0", "--json"], capsys)
    assert code == 0
    days = json.loads(out)
    assert days[1]["fallback"] == days[1]["applications"] and days[0]["fallback"] == 0
    pid = str(pd.read_parquet(predictions_path(example_root, START))["application_id"].iloc[0])
    code, out, _ = vigil(example_root, ["lineage", pid, "--json"], capsys)
    info = json.loads(out)
    assert info["model_version"]["version"] == 1 and info["run"]["config_name"] == "logreg_test"
    assert info["run"]["data"]["sha256"] == info["model_version"]["data_version"]
    assert info["scoring_job"]["status"] == "ok"
    code, out, _ = vigil(example_root, ["reproduce", "1"], capsys)
    assert code == 0 and "MATCH" in out
    code, _, err = vigil(example_root, ["simulate", "--incident", "bogus:1"], capsys)
    assert code == 2 and "unknown incident kind" in err
