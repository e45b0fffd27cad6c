from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from app.cli import main
from core.clock import ManualClock
from core.stores import OpsStore
from incidents.alerts import process_results
from tests.incidents.conftest import WALL0, result


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    data = {
        "model": {"name": "loan_default"},
        "predictions": {"source": {"path": "p"}, "id_column": "id", "timestamp_column": "ts", "score_column": "score"},
        "features": [{"name": "income", "type": "numeric", "lineage": "applications.income"}],
        "etl_tables": [{"name": "applications", "source": {"path": "a"}, "timestamp_column": "ts"}],
        "storage": {"root": str(tmp_path / "var")},
    }
    path = tmp_path / "monitor.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def run(config_file: Path, capsys, *argv: str, clock: ManualClock | None = None) -> tuple[int, str, str]:
    """`vigil ARGV --config F --user ana` through the command kernel, with an injected clock."""
    code = main(list(argv) + ["--config", str(config_file), "--user", "ana"], extra={"clock": clock or ManualClock(WALL0)})
    out = capsys.readouterr()
    return code, out.out, out.err


def seed(config_file: Path, tmp_path: Path) -> OpsStore:
    from core.config import load_config

    cfg = load_config(config_file)
    ops = OpsStore(cfg.ops_path)
    rs = [result("unit_change", "applications.income", 1), result("psi", "predictions.income", 1)]
    process_results(cfg, ops, rs, ManualClock(WALL0))
    return ops


def test_alerts_list_show_ack(config_file, tmp_path, capsys):
    seed(config_file, tmp_path)
    code, out, _ = run(config_file, capsys, "alerts", "list")
    assert code == 0 and "unit_change" in out and "inhibited by unit_change on applications.income" in out
    code, out, _ = run(config_file, capsys, "alerts", "list", "--json", "--check", "psi")
    rows = json.loads(out)
    assert [r["check_name"] for r in rows] == ["psi"] and rows[0]["inhibited_by_check"] == "unit_change"
    fp = rows[0]["fingerprint"]
    code, out, _ = run(config_file, capsys, "alerts", "show", fp[:6])
    assert code == 0 and "runbook: runbooks/psi.md" in out and "inactive -> firing" in out
    code, out, _ = run(config_file, capsys, "alerts", "ack", fp)
    assert code == 0 and "acknowledged by ana" in out
    code, out, err = run(config_file, capsys, "alerts", "ack", "zzzz")
    assert code == 2 and "no alert matches 'zzzz'" in err


def test_silence_commands_and_their_errors(config_file, tmp_path, capsys):
    seed(config_file, tmp_path)
    code, _, err = run(config_file, capsys, "silence", "add", "--match", "check=unit_change", "--comment", "backfill")
    assert code == 2 and "a silence needs an end" in err
    code, _, err = run(config_file, capsys, "silence", "add", "--match", "check=unit_change", "--ends", "2h")
    assert code == 2 and "a silence needs a comment" in err
    code, out, _ = run(config_file, capsys, "silence", "add", "--match", "check=unit_change", "--ends", "2h", "--comment", "backfill", "--json")
    silence = json.loads(out)
    assert code == 0 and silence["author"] == "ana" and silence["state"] == "active"
    code, out, _ = run(config_file, capsys, "silence", "expire", silence["silence_id"])
    assert code == 0
    code, out, _ = run(config_file, capsys, "silence", "list", "--json")
    assert [s["state"] for s in json.loads(out)] == ["expired"]


def test_incident_commands(config_file, tmp_path, capsys):
    seed(config_file, tmp_path)
    code, out, _ = run(config_file, capsys, "incidents", "list", "--json")
    incidents = json.loads(out)
    assert code == 0 and len(incidents) == 1
    incident_id = incidents[0]["incident_id"]
    assert run(config_file, capsys, "incidents", "roles", incident_id, "--commander", "ana", "--scribe", "bo")[0] == 0
    assert run(config_file, capsys, "incidents", "status", incident_id, "investigating", "--note", "looking")[0] == 0
    assert run(config_file, capsys, "incidents", "note", incident_id, "income is in thousands")[0] == 0
    code, _, err = run(config_file, capsys, "incidents", "status", incident_id, "triage")
    assert code == 2 and "can only move forward" in err
    code, out, _ = run(config_file, capsys, "incidents", "show", incident_id)
    assert "runbooks: runbooks/unit_change.md, runbooks/psi.md" in out
    assert "income is in thousands" in out and "Status triage -> investigating: looking" in out
    code, out, _ = run(config_file, capsys, "incidents", "open", "--title", "manual drill", "--severity", "SEV4", "--json")
    assert code == 0 and json.loads(out)["incident_id"].startswith("inc-")
    code, _, err = run(config_file, capsys, "incidents", "show", "inc-nope")
    assert code == 2 and "no incident 'inc-nope'" in err


def test_wired_into_the_vigil_cli_if_present(config_file, tmp_path, capsys):
    app_cli = pytest.importorskip("app.cli")
    seed(config_file, tmp_path)
    code = app_cli.main(["--config", str(config_file), "alerts", "list", "--json"])
    assert code == 0 and len(json.loads(capsys.readouterr().out)) == 2


def test_postmortem_and_decision_commands(config_file, tmp_path, capsys):
    seed(config_file, tmp_path)
    incident_id = json.loads(run(config_file, capsys, "incidents", "list", "--json")[1])[0]["incident_id"]
    code, out, _ = run(config_file, capsys, "postmortem", "create", incident_id)
    assert code == 0 and "revision 1" in out
    code, out, _ = run(config_file, capsys, "postmortem", "edit", incident_id, "went_well", "caught on the first batch")
    assert code == 0 and "saved revision 2" in out
    code, _, err = run(config_file, capsys, "postmortem", "edit", incident_id, "blame", "x")
    assert code == 2 and "unknown postmortem field(s) blame" in err
    code, out, _ = run(config_file, capsys, "postmortem", "action", incident_id, "--title", "unit contract", "--owner", "team-apps",
                       "--type", "prevent", "--due", "2026-04-01")
    assert code == 0
    out_file = tmp_path / "pm.md"
    code, out, _ = run(config_file, capsys, "postmortem", "export", incident_id, "--out", str(out_file))
    text = out_file.read_text()
    assert code == 0 and "caught on the first batch" in text and "| unit contract | prevent | team-apps |" in text
    code, out, _ = run(config_file, capsys, "decisions", "recommend", incident_id, "--json")
    decision = json.loads(out)
    assert code == 0 and decision["action"] == "fix_upstream" and decision["state"] == "recommended"
    code, _, err = run(config_file, capsys, "decisions", "carry-out", decision["decision_id"])
    assert code == 2 and "must be approved" in err
    assert run(config_file, capsys, "decisions", "approve", decision["decision_id"], "--reason", "upstream owns it")[0] == 0
    code, out, _ = run(config_file, capsys, "decisions", "carry-out", decision["decision_id"], "--reason", "ticket filed")
    assert code == 0 and "[carried_out]" in out
    code, out, _ = run(config_file, capsys, "decisions", "list", incident_id, "--json")
    assert [d["state"] for d in json.loads(out)] == ["carried_out"]
