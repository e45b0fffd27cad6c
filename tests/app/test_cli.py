"""The `vigil` CLI: exit codes, --json validity, config errors with file, key and hint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.cli import main, parse
from core.config import ConfigError, load_config
from tests.app.conftest import small_config, write_config

APP_COMMANDS = ["run-once", "schedule", "app", "demo", "config", "checks", "report", "status"]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_help_lists_every_app_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for command in APP_COMMANDS:
        assert command in out


def test_no_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys)
    assert code == 2
    assert "usage: vigil" in out


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["no-such-command"])
    assert exc.value.code == 2


def test_config_check_ok(config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "config", "check")
    assert code == 0
    assert f"{config_file}: ok (model loans, 2 features, 1 ETL tables" in out


def test_config_check_json_accepts_global_options_after_the_command(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "config", "check", "--json", "--config", str(config_file))
    assert code == 0
    assert json.loads(out) == {
        "ok": True,
        "file": str(config_file),
        "model": "loans",
        "root": str(Path(config_file).parent / "var"),
    }


def test_config_check_bad_key_exits_2_with_the_config_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = small_config()
    data["features"][0]["unitz"] = "USD"
    path = write_config(tmp_path / "bad", data)
    with pytest.raises(ConfigError) as expected:
        load_config(path)
    code, out, err = run(capsys, "--config", str(path), "config", "check")
    assert code == 2
    assert out == ""
    assert err.strip() == str(expected.value)
    assert f"{path}: features[0].unitz: Extra inputs are not permitted (hint: unknown key" in err


def test_missing_config_file_exits_2_with_hint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.yaml"
    code, _, err = run(capsys, "--config", str(missing), "status")
    assert code == 2
    assert err.strip().startswith(f"{missing}: file not found (hint: pass --config PATH or set $VIGIL_CONFIG")


def test_config_show_prints_defaults_and_resolved_paths(config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--json", "config", "show")
    assert code == 0
    shown = json.loads(out)
    assert shown["schedule"]["interval"] == "1s"
    assert shown["batch"]["window"] == "1d"  # a default filled in
    assert shown["alerts"]["for_batches"] == 1
    assert shown["resolved_paths"]["warehouse"] == str(tmp_path / "var" / "warehouse.duckdb")
    code, text, _ = run(capsys, "config", "show")
    assert code == 0 and "window: 1d" in text


def test_root_flag_overrides_environment(config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = tmp_path / "elsewhere"
    code, out, _ = run(capsys, "--json", "--root", str(other), "config", "show")
    assert code == 0
    assert json.loads(out)["resolved_paths"]["root"] == str(other)


def test_bad_batch_is_a_usage_error_with_hint(config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "checks", "show", "yesterday")
    assert code == 2
    assert "batch 'yesterday' is not a date or ISO timestamp (hint: use YYYY-MM-DD" in err


def test_checks_show_without_results_is_a_usage_error(config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "checks", "show", "2024-03-01")
    assert code == 2
    assert "no check results for batch 2024-03-01T00:00:00" in err
    assert "run `vigil run-once` first" in err


def test_status_before_any_cycle(config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "status")
    assert code == 0
    assert "last cycle: none yet (hint: `vigil run-once`" in out
    assert "scheduler: never started" in out
    code, out, _ = run(capsys, "status", "--json")
    data = json.loads(out)
    assert data["model"] == "loans"
    assert data["last_cycle"] is None and data["stale"] is True


def test_subcommand_group_without_subcommand_exits_2(config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "config")
    assert code == 2
    assert "`vigil config` needs a subcommand (hint: `vigil config --help`)" in err


def test_every_documented_command_parses() -> None:
    for argv in (
        ["run-once", "--json"],
        ["schedule", "--simulate"],
        ["app", "--port", "8600"],
        ["demo", "--no-serve"],
        ["config", "check"],
        ["config", "show"],
        ["checks", "list"],
        ["checks", "show", "2024-03-01"],
        ["report", "2024-03-01", "--out", "r.html"],
        ["status"],
    ):
        command, _args = parse(argv)
        assert callable(command.handler), argv


def test_report_of_a_batch_without_rows_is_a_usage_error(config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from datetime import date

    from core.config import load_config
    from core.stores import stores_for
    from profilers.ingest import ingest_all
    from tests.app.builders import write_history

    cfg = load_config(config_file)
    write_history(cfg.root, date(2024, 3, 1), days=1, n=50)
    ingest_all(cfg, stores_for(cfg)[0])
    code, _, err = run(capsys, "report", "2030-01-01", "--out", str(cfg.root / "r.html"))
    assert code == 2
    assert "no predictions in batch 2030-01-01T00:00:00 (hint:" in err
    assert not (cfg.root / "r.html").exists()


def test_config_check_rejects_an_unknown_check_name_with_its_key_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = small_config()
    data["checks"] = {"params": {"aucc": {"min_effect": 0.1}}}
    path = write_config(tmp_path / "bad", data)
    code, out, err = run(capsys, "--config", str(path), "config", "check")
    assert code == 2 and out == ""
    assert err.startswith(f"{path}: checks.params.aucc: unknown check 'aucc' (hint: one of auc? every name: ")
