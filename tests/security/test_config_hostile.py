"""`config check` refuses what would break every cycle (finding 8), each rule with its exact message."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.cli import main
from core.config import ConfigError, config_from_dict
from tests.app.conftest import small_config

WINDOW_CASES = [
    ("0.0000001s", "m.yaml: batch.window: duration '0.0000001s' is shorter than one second (the shortest is 1s) "
                   "(hint: fix the value)"),
    (1e12, "m.yaml: batch.window: duration 1000000000000.0 is longer than ten years (the longest is 10y) "
           "(hint: fix the value)"),
    ("99999999999w", "m.yaml: batch.window: duration '99999999999w' is longer than ten years (the longest is 10y) "
                     "(hint: fix the value)"),
    (float("inf"), "m.yaml: batch.window: duration must be a finite number (got inf) (hint: fix the value)"),
    (float("-inf"), "m.yaml: batch.window: duration must be a finite number (got -inf) (hint: fix the value)"),
    (float("nan"), "m.yaml: batch.window: duration must be a finite number (got nan) (hint: fix the value)"),
    ("11y", "m.yaml: batch.window: duration '11y' is longer than ten years (the longest is 10y) (hint: fix the value)"),
]


@pytest.mark.parametrize(("window", "message"), WINDOW_CASES)
def test_hostile_windows_are_refused_with_their_message(window: Any, message: str) -> None:
    data = small_config()
    data["batch"] = {"window": window}
    with pytest.raises(ConfigError) as err:
        config_from_dict(data, file="m.yaml")
    assert str(err.value) == message


def test_bounds_themselves_are_accepted() -> None:
    for window in ("1s", "10y", 1, "3650d"):
        data = small_config()
        data["batch"] = {"window": window}
        config_from_dict(data, file="m.yaml")


def test_every_duration_key_is_bounded() -> None:
    data = small_config()
    data["schedule"] = {"interval": "0.001s"}
    with pytest.raises(ConfigError, match=r"^m.yaml: schedule.interval: duration '0.001s' is shorter than one second"):
        config_from_dict(data, file="m.yaml")


def test_features_differing_only_in_case_are_refused() -> None:
    data = small_config()
    data["features"].append(dict(copy.deepcopy(data["features"][0]), name="Income"))
    with pytest.raises(ConfigError) as err:
        config_from_dict(data, file="m.yaml")
    assert str(err.value) == (
        "m.yaml: (top level): feature names 'income' and 'Income' differ only in letter case; the warehouse "
        "(DuckDB) treats them as one name; rename one (hint: fix the value)"
    )


def test_tables_differing_only_in_case_are_refused() -> None:
    data = small_config()
    data["etl_tables"].append(dict(copy.deepcopy(data["etl_tables"][0]), name="Applications"))
    with pytest.raises(ConfigError) as err:
        config_from_dict(data, file="m.yaml")
    assert str(err.value) == (
        "m.yaml: (top level): etl_tables names 'applications' and 'Applications' differ only in letter case; the "
        "warehouse (DuckDB) treats them as one name; rename one (hint: fix the value)"
    )


@pytest.mark.parametrize("window", [".inf", "99999999999w", "0.0000001s", "1000000000000"])
def test_config_check_prints_the_message_not_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                         window: str) -> None:
    text = yaml.safe_dump(small_config(), sort_keys=False) + f"batch:\n  window: {window}\n"
    path = tmp_path / "monitor.yaml"
    path.write_text(text)
    code = main(["--config", str(path), "--root", str(tmp_path / "var"), "config", "check"])
    err = capsys.readouterr().err
    assert code == 2
    assert "batch.window: duration" in err and "Traceback" not in err and "OverflowError" not in err
