"""The profilers' CLI commands: ingest, quarantine list|show|retry, profile export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from app.cli import main
from tests.profilers.conftest import toy_config_dict, write_apps, write_predictions


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    data = toy_config_dict()
    data["storage"] = {"root": str(tmp_path)}
    p = tmp_path / "monitor.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_ingest_quarantine_and_export(
    config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = ["--config", str(config_file)]
    write_predictions(tmp_path, 0)
    write_apps(tmp_path, 0)
    bad = tmp_path / "landing" / "predictions" / "predictions_01.parquet"
    bad.write_text("id,ts\n1,2024-03-02\n")

    code, out, _ = run(capsys, *cfg, "--json", "ingest")
    report = json.loads(out)
    assert code == 1 and report["loaded"] == 2 and report["quarantined"][0]["reason"] == "wrong_format"

    code, out, _ = run(capsys, *cfg, "quarantine", "list")
    assert code == 0 and "wrong_format" in out and "predictions_01.parquet" in out
    code, out, _ = run(capsys, *cfg, "--json", "quarantine", "list")
    [entry] = json.loads(out)
    code, out, _ = run(capsys, *cfg, "quarantine", "show", entry["quarantine_id"])
    assert code == 0 and "not a Parquet file" in out
    code, _, err = run(capsys, *cfg, "quarantine", "show", "q-missing")
    assert code == 2 and "hint:" in err
    code, _, err = run(capsys, *cfg, "quarantine", "retry")
    assert code == 2 and "--all" in err

    write_predictions(tmp_path, 1, name="predictions_01.parquet")
    code, out, _ = run(capsys, *cfg, "quarantine", "retry", entry["quarantine_id"])
    assert code == 0 and "loaded 1 file(s)" in out
    code, out, _ = run(capsys, *cfg, "quarantine", "list")
    assert out.strip() == "quarantine is empty"

    from core.config import load_config
    from core.stores import Warehouse
    from profilers.profile import profile_batches

    c = load_config(config_file)
    profile_batches(c, Warehouse(c.warehouse_path))
    code, out, _ = run(
        capsys, *cfg, "--json", "profile", "export", "--out", str(tmp_path / "exp"), "--source", "predictions"
    )
    assert code == 0 and [Path(p).name for p in json.loads(out)] == [
        "predictions_2024-03-01T00-00.bin",
        "predictions_2024-03-02T00-00.bin",
    ]


def test_missing_subcommand_is_a_usage_error(config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--config", str(config_file), "quarantine")
    assert code == 2 and "needs a subcommand" in err
