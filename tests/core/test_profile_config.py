"""profile.engine and profile.spark: validated, with the key named in the error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from core.config import ConfigError, config_from_dict, load_config

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "baseline_model" / "configs" / "monitor.yaml"


def _with(profile: Any) -> dict[str, Any]:
    data = yaml.safe_load(EXAMPLE.read_text())
    data["profile"] = profile
    return data


def test_default_engine_is_duckdb() -> None:
    assert config_from_dict(yaml.safe_load(EXAMPLE.read_text()), file="m.yaml").profile.engine == "duckdb"


def test_the_spark_example_config_loads() -> None:
    cfg = load_config(REPO / "baseline_model" / "configs" / "monitor_spark.yaml")
    assert cfg.profile.engine == "spark" and cfg.profile.spark.master == "local[2]"
    assert cfg.profile.spark.sample_rows == 10_000


def test_unknown_engine_names_the_key() -> None:
    with pytest.raises(ConfigError) as err:
        config_from_dict(_with({"engine": "dask"}), file="m.yaml")
    assert str(err.value) == "m.yaml: profile.engine: Input should be 'duckdb' or 'spark' (hint: use one of the allowed values)"


def test_spark_conf_keys_must_be_spark_settings() -> None:
    with pytest.raises(ConfigError, match=r"m.yaml: profile.spark.conf: .*not a Spark setting: fs.s3a.key; "
                       r"Spark settings start with 'spark.'"):
        config_from_dict(_with({"engine": "spark", "spark": {"conf": {"fs.s3a.key": "x"}}}), file="m.yaml")


def test_unknown_spark_key_is_rejected() -> None:
    with pytest.raises(ConfigError, match=r"profile.spark.mastr: Extra inputs are not permitted"):
        config_from_dict(_with({"engine": "spark", "spark": {"mastr": "local[1]"}}), file="m.yaml")


def test_sample_rows_is_bounded() -> None:
    with pytest.raises(ConfigError, match=r"profile.spark.sample_rows"):
        config_from_dict(_with({"engine": "spark", "spark": {"sample_rows": -1}}), file="m.yaml")


def test_the_spark_example_is_the_example_on_spark() -> None:
    """monitor_spark.yaml is monitor.yaml plus its profile section: the two must not drift apart."""
    duck = yaml.safe_load(EXAMPLE.read_text())
    spark = yaml.safe_load((REPO / "baseline_model" / "configs" / "monitor_spark.yaml").read_text())
    assert spark.pop("profile")["engine"] == "spark"
    assert duck.pop("profile", {"engine": "duckdb"})["engine"] == "duckdb"
    assert spark == duck
