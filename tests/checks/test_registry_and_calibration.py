"""Registry and config wiring; calibrated bounds."""

from __future__ import annotations

import numpy as np
import pytest

from checks.calibration import rate_upper_bounds, size_scale, upper_bounds
from checks.registry import CHECKS, CheckConfigError, enabled_specs, params_for
from core.config import config_from_dict
from tests.checks.warehouse_fixture import config_dict

STABLE_NAMES = {
    "null_rate", "nan_inf", "out_of_range", "unseen_category", "schema", "duplicate_ids", "volume", "freshness",
    "training_serving_skew", "unit_change", "psi", "jensen_shannon", "wasserstein", "ks", "multivariate_drift",
    "score_drift", "decision_rate_shift", "fallback_rate", "calibration_drift", "auc", "precision", "recall",
    "brier", "mae", "rmse", "kpi", "estimated_performance",
    # model kinds (issue 12): regression metrics and error estimated before labels
    "rmsle", "mape", "estimated_mae", "estimated_rmse",
    # multiclass: realized per class and overall
    "macro_auc", "class_auc", "class_precision", "class_recall", "log_loss",
    # segments (issue 18): one test per segment under the model's family-wise budget
    "segment_drift", "segment_null_rate", "segment_score_drift", "segment_calibration", "segment_kpi",
    "segment_auc", "segment_estimated_auc", "segment_mae",
    # multiclass per segment: accuracy realized on matured labels, estimated before them
    "segment_accuracy", "segment_estimated_accuracy",
}


def _cfg(**overrides):
    return config_from_dict(config_dict(**overrides), file="toy.yaml", root="/tmp/unused")


def test_check_names_are_stable():
    """Alert rules, the end-to-end test and runbooks refer to these names."""
    assert set(CHECKS) == STABLE_NAMES
    families = {s.family for s in CHECKS.values()}
    assert families == {"input_quality", "unit_change", "feature_drift", "prediction", "performance"}


def test_enabled_and_disabled():
    assert [s.name for s in enabled_specs(_cfg())] == list(CHECKS)
    cfg = _cfg(checks={"enabled": ["psi", "unit_change", "null_rate"], "disabled": ["psi"]})
    assert [s.name for s in enabled_specs(cfg)] == ["null_rate", "unit_change"]


def test_unknown_check_or_parameter_is_rejected_with_the_key_path():
    with pytest.raises(CheckConfigError) as e:
        enabled_specs(_cfg(checks={"disabled": ["psy"]}))
    assert "toy.yaml: checks.disabled: unknown check 'psy' (hint: one of " in str(e.value)
    with pytest.raises(CheckConfigError) as e:
        enabled_specs(_cfg(checks={"params": {"psi": {"min_efect": 0.1}}}))
    assert "toy.yaml: checks.params.psi.min_efect: unknown parameter" in str(e.value)
    d = config_dict()
    d["features"][0]["checks"] = {"unit_change": {"tolerence": 0.1}}
    with pytest.raises(CheckConfigError, match=r"features\[0\]\.checks\.unit_change\.tolerence: unknown parameter"):
        enabled_specs(config_from_dict(d, file="toy.yaml", root="/tmp/unused"))


def test_params_precedence_defaults_context_global_feature():
    d = config_dict(checks={"params": {"psi": {"min_effect": 0.2}}, "false_alarm_budget": 0.02})
    d["features"][0]["checks"] = {"psi": {"min_effect": 0.3}}
    cfg = config_from_dict(d, file="toy.yaml", root="/tmp/unused")
    spec = CHECKS["psi"]
    assert params_for(spec)["min_effect"] == 0.05
    assert params_for(spec, cfg)["min_effect"] == 0.2
    assert params_for(spec, cfg)["false_alarm_budget"] == 0.02
    assert params_for(spec, cfg, cfg.features[0])["min_effect"] == 0.3
    assert params_for(spec, cfg, cfg.features[1], {"min_effect": 0.9})["min_effect"] == 0.2


def test_bounds_follow_the_chunk_spread_and_respect_the_minimum_effect():
    rng = np.random.default_rng(0)
    values = rng.gamma(2, 0.01, 30)
    b = upper_bounds(values, budget=0.01, min_effect=0.001)
    assert b.warn >= np.quantile(values, 0.99) - 1e-12
    assert b.fail == pytest.approx(1.5 * b.warn)
    big = upper_bounds(values, budget=0.01, min_effect=0.5)
    assert big.fail == 0.5 and big.warn == 0.25
    assert upper_bounds([], 0.01, 0.1, noise_floor=0.02).fail == 0.1
    with pytest.raises(ValueError, match="false_alarm_budget"):
        upper_bounds(values, budget=0.7, min_effect=0.1)


def test_looser_budget_gives_tighter_bounds():
    values = np.random.default_rng(1).gamma(2, 0.01, 30)
    assert upper_bounds(values, 0.05, 0.0).warn < upper_bounds(values, 0.001, 0.0).warn


def test_size_scale_accounts_for_chunks_inside_the_reference():
    # A chunk of 1000 out of 20000 vs an independent batch of 1000 rows.
    s = size_scale(1000, 1000, 20000)
    assert s == pytest.approx((1 / 1000 + 1 / 20000) / (1 / 1000 - 1 / 20000))
    assert size_scale(1000, 20000, 20000) is None
    assert size_scale(100_000, 1000, 20000) < 0.1  # a big batch is far less noisy than a chunk


def test_rate_bounds():
    b = rate_upper_bounds(0.0, 2000, 0.01, 0.005)
    assert b.fail == pytest.approx(0.005, abs=1e-3)
    b = rate_upper_bounds(0.05, 1000, 0.01, 0.005)
    assert b.warn > 0.05 + 0.01


def test_unknown_check_name_in_params_names_its_key_path_and_the_close_names():
    from checks.registry import config_errors, validate_checks_config

    with pytest.raises(CheckConfigError) as e:
        validate_checks_config(_cfg(checks={"params": {"aucc": {"min_effect": 0.1}}}))
    every = ", ".join(sorted(CHECKS))
    assert str(e.value) == f"toy.yaml: checks.params.aucc: unknown check 'aucc' (hint: one of auc? every name: {every})"
    # A name close to nothing lists every check.
    assert config_errors(_cfg(checks={"disabled": ["zzz"]})) == [f"checks.disabled: unknown check 'zzz' (hint: one of {every})"]


def test_badly_typed_check_parameter_is_rejected_with_its_key_path():
    from checks.registry import config_errors

    errors = config_errors(_cfg(checks={"params": {"psi": {"min_effect": "a lot", "severity": "loud"}}}))
    assert errors == [
        "checks.params.psi.min_effect: Input should be a valid number, unable to parse string as a number "
        "(hint: default 0.05)",
        "checks.params.psi.severity: Input should be 'info', 'warning' or 'critical' (hint: default 'warning')",
    ]
    assert config_errors(_cfg(checks={"params": {"psi": {"min_effect": 1, "severity": "critical"}}})) == []
