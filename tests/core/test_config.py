"""Config validation: every rule has a test asserting its exact message."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from core.config import ConfigError, config_from_dict, load_config, parse_duration


def minimal() -> dict[str, Any]:
    return {
        "model": {"name": "m"},
        "predictions": {
            "source": {"path": "landing/predictions"},
            "id_column": "id",
            "timestamp_column": "ts",
            "score_column": "score",
        },
        "features": [{"name": "x", "type": "numeric", "lineage": "t.x"}],
        "etl_tables": [{"name": "t", "source": {"path": "landing/t"}, "timestamp_column": "ts"}],
    }


def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    p = tmp_path / "monitor.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


def error_of(tmp_path: Path, data: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as exc:
        load_config(write(tmp_path, data), root=tmp_path)
    return str(exc.value)


def test_minimal_config_loads_with_defaults(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, minimal()), root=tmp_path / "var")
    assert cfg.batch.window == timedelta(days=1)
    assert cfg.warehouse_path == (tmp_path / "var" / "warehouse.duckdb").absolute()
    assert cfg.ops_path.name == "ops.sqlite"
    assert cfg.feature("x").lineage == "t.x"


def test_unknown_key_names_file_path_and_hint(tmp_path: Path) -> None:
    data = minimal()
    data["features"][0]["unitz"] = "USD"
    msg = error_of(tmp_path, data)
    p = tmp_path / "monitor.yaml"
    assert msg == (
        f"{p}: features[0].unitz: Extra inputs are not permitted "
        "(hint: unknown key: check its spelling or remove it (see README 'Config reference'))"
    )


def test_missing_key(tmp_path: Path) -> None:
    data = minimal()
    del data["predictions"]["id_column"]
    msg = error_of(tmp_path, data)
    assert msg.endswith("predictions.id_column: Field required (hint: this key is required: add it)")
    # The score column is required by the model kind (not for model.task none): tests/core/test_model_kinds.py.


def test_wrong_type_literal(tmp_path: Path) -> None:
    data = minimal()
    data["features"][0]["type"] = "float"
    msg = error_of(tmp_path, data)
    assert "features[0].type: Input should be 'numeric', 'categorical' or 'boolean'" in msg
    assert "(hint: use one of the allowed values)" in msg


def test_impossible_range(tmp_path: Path) -> None:
    data = minimal()
    data["features"][0]["range"] = [10, 1]
    msg = error_of(tmp_path, data)
    assert "features[0]: range lower bound 10.0 is above upper bound 1.0" in msg


def test_lineage_must_name_a_known_table(tmp_path: Path) -> None:
    data = minimal()
    data["features"][0]["lineage"] = "nowhere.x"
    msg = error_of(tmp_path, data)
    assert "lineage 'nowhere.x' names table 'nowhere', which is not in etl_tables (t)" in msg


def test_bad_duration(tmp_path: Path) -> None:
    data = minimal()
    data["batch"] = {"window": "1 fortnight"}
    msg = error_of(tmp_path, data)
    assert "batch.window: not a duration: '1 fortnight' (use a number and a unit: 30m, 1h, 1d, 2w)" in msg


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text("model:\n  name: m\n bad: [\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: YAML syntax error at line \d+, column \d+"):
        load_config(p)


def test_missing_file() -> None:
    with pytest.raises(ConfigError, match="nope.yaml: file not found"):
        load_config("nope.yaml")


def test_secrets_are_env_names_not_values(tmp_path: Path) -> None:
    data = minimal()
    data["alerts"] = {"receivers": [{"name": "slack", "url_env": "https://hooks.example/xyz"}]}
    msg = error_of(tmp_path, data)
    assert "alerts.receivers[0].url_env: String should match pattern" in msg


def test_route_must_name_a_receiver() -> None:
    data = minimal()
    data["alerts"] = {"routes": [{"receiver": "pager"}]}
    with pytest.raises(ConfigError, match="route receiver 'pager' is not among alerts.receivers"):
        config_from_dict(data)


@pytest.mark.parametrize(("text", "seconds"), [("30m", 1800), ("1h", 3600), ("1d", 86400), ("2w", 1209600), (90, 90)])
def test_parse_duration(text: object, seconds: int) -> None:
    assert parse_duration(text).total_seconds() == seconds


def test_example_config_is_valid() -> None:
    path = Path(__file__).resolve().parents[2] / "baseline_model" / "configs" / "monitor.yaml"
    if not path.exists():
        pytest.skip("example config not written yet")
    cfg = load_config(path)
    assert cfg.labels is not None
