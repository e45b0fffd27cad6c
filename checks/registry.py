"""The one registry of checks, by name.

A check is a pure function ``(reference, current, params) -> CheckResult``. Its spec
says what it reads (column / table / performance statistics, the feature set, a skew
sample), which subjects it applies to (roles) and its default parameters. Config
enables checks (``checks.enabled`` / ``checks.disabled``) and overrides parameters
(``checks.params.<check>`` for every subject, ``features[].checks.<check>`` for one
feature; ``enabled: false`` there turns the check off for that feature). The segment checks
(``checks.segments.specs``) are registered here too and obey the same settings.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from checks.feature_drift import multivariate, univariate
from checks.heartbeat.specs import HEARTBEATS
from checks.input_quality import column_quality, skew, table_quality
from checks.performance import estimated, estimated_error, kpi, live_metrics, multiclass_metrics
from checks.prediction import outputs
from checks.segments.specs import MODEL_LEVEL_PARAMS, SEGMENT_SPECS
from checks.spec import (
    CATEGORICAL,
    COLUMN,
    FEATURES,
    NUMERIC,
    PERFORMANCE,
    SEGMENT,
    SKEW,
    TABLE,
    C,
    CheckFn,
    CheckSpec,
    Family,
    Inputs,
    R,
    Scope,
)
from checks.unit_change import detector
from core.config import ConfigError
from core.model_kinds import BINARY, CLASSIFIERS, MODELS, MULTICLASS, REGRESSION

# Roles of subjects the runner enumerates:
#   feature    predictions.<feature>          lineage    <etl table>.<column> behind a feature
#   score      predictions.<score column>     decision   predictions.<decision column>
#   fallback   predictions.<fallback column>  prediction_table  'predictions'
#   etl_table  <etl table>                    features   all features of the prediction log together
#   model      the model (live test set)      kpi        one configured KPI
#   class_score     predictions.<probability column of one class> (multiclass)
#   class_decision  predictions.<predicted class column>=<class> (multiclass)
#   class           model.<class>: one class of a multiclass model on the live test set
#   segment         <subject>{<segmentation>=<label>}: one segment of a configured segmentation
ROLES = frozenset({"feature", "lineage", "score", "decision", "fallback", "prediction_table", "etl_table",
                   "features", "model", "kpi", "class_score", "class_decision", "class", "heartbeat", "segment"})
#   heartbeat       the scheduler / scoring job (wall-clock health, evaluated by incidents.heartbeat)
_EXPECTED = ("expected", "expected_se", "expected_basis", "registered", "chunk_sd", "chunk_rows")

AnySpec = CheckSpec[Any, Any]


def _spec(name: str, family: Family, scope: Scope, inputs: Inputs[R, C], roles: set[str], fn: CheckFn[R, C],
          **kw: Any) -> CheckSpec[R, C]:
    return CheckSpec(name, family, scope, inputs, frozenset(roles), fn, **kw)


_COLUMN_INPUT = {"feature", "lineage"}
_SPECS: tuple[AnySpec, ...] = (
    # input quality
    _spec("null_rate", Family.INPUT_QUALITY, "column", COLUMN, _COLUMN_INPUT | {"score", "class_score"}, column_quality.null_rate,
          defaults={"min_effect": 0.005, "severity": "critical"}, summary="Share of null values rose."),
    _spec("nan_inf", Family.INPUT_QUALITY, "column", COLUMN, _COLUMN_INPUT | {"score", "class_score"}, column_quality.nan_inf,
          defaults={"min_effect": 0.001, "severity": "critical"}, kinds=NUMERIC,
          summary="NaN or infinite values appeared."),
    _spec("out_of_range", Family.INPUT_QUALITY, "column", COLUMN, _COLUMN_INPUT, column_quality.out_of_range,
          defaults={"max_share": 0.01, "severity": "critical"}, kinds=NUMERIC, context=("range",),
          summary="Values outside the feature's expected range."),
    _spec("unseen_category", Family.INPUT_QUALITY, "column", COLUMN, _COLUMN_INPUT, column_quality.unseen_category,
          defaults={"max_share": 0.005}, kinds=CATEGORICAL, context=("allowed",),
          summary="Categories never seen in the reference or not allowed."),
    _spec("schema", Family.INPUT_QUALITY, "table", TABLE, {"etl_table", "prediction_table"}, table_quality.schema,
          defaults={"severity": "critical"}, summary="Columns missing, added, renamed or retyped."),
    _spec("duplicate_ids", Family.INPUT_QUALITY, "table", TABLE, {"etl_table", "prediction_table"},
          table_quality.duplicate_ids, defaults={"max_share": 0.001}, summary="Rows repeating a key."),
    _spec("volume", Family.INPUT_QUALITY, "table", TABLE, {"etl_table", "prediction_table"}, table_quality.volume,
          defaults={"fail_ratio_low": 0.5, "warn_ratio_low": 0.7, "fail_ratio_high": 2.0, "warn_ratio_high": 1.5,
                    "min_recent_batches": 3, "recent_batches": 7, "severity": "critical"},
          context=("expected_rows", "recent_rows"), summary="Rows per batch against expected and recent volume."),
    _spec("freshness", Family.INPUT_QUALITY, "table", TABLE, {"etl_table"}, table_quality.freshness,
          defaults={"warn_fraction": 0.8, "severity": "critical"}, context=("expected_seconds",),
          summary="An ETL table is older than its expected freshness."),
    _spec("training_serving_skew", Family.INPUT_QUALITY, "model", SKEW, {"model"}, skew.training_serving_skew,
          defaults={"min_rows": 20, "max_share": 0.01, "sample_rows": 500, "rtol": 1e-6, "severity": "critical"},
          summary="Served features differ from features rebuilt from upstream tables."),
    # unit change
    _spec("unit_change", Family.UNIT_CHANGE, "column", COLUMN, _COLUMN_INPUT, detector.unit_change,
          defaults={"severity": "critical"},
          kinds=NUMERIC, context=("unit",), summary="A numeric column changed unit (x1000, percent -> fraction...)."),
    # feature drift. Minimum effects are set to what a shift of about 0.2 reference standard
    # deviations produces for each metric (PSI 0.05, JS 0.08, KS 0.08, W/sd 0.2), so the four
    # agree on what is material; 0.3 sd and more always fails once above sampling noise.
    _spec("psi", Family.FEATURE_DRIFT, "column", COLUMN, {"feature"}, univariate.psi_check,
          defaults={"min_effect": 0.05}, summary="Population stability index against the reference."),
    _spec("jensen_shannon", Family.FEATURE_DRIFT, "column", COLUMN, {"feature"}, univariate.jensen_shannon,
          defaults={"min_effect": 0.08}, summary="Jensen-Shannon distance against the reference."),
    _spec("wasserstein", Family.FEATURE_DRIFT, "column", COLUMN, {"feature"}, univariate.wasserstein,
          defaults={"min_effect": 0.2}, kinds=NUMERIC, summary="Wasserstein distance in reference standard deviations."),
    _spec("ks", Family.FEATURE_DRIFT, "column", COLUMN, {"feature"}, univariate.ks,
          defaults={"min_effect": 0.08}, kinds=NUMERIC, summary="Kolmogorov-Smirnov statistic from the binned CDF."),
    _spec("multivariate_drift", Family.FEATURE_DRIFT, "model", FEATURES, {"features"}, multivariate.multivariate_drift,
          defaults={"min_effect": 0.05, "min_features": 2}, context=("batch",),
          summary="Mean normalised drift over all features (population shift)."),
    # prediction distribution
    _spec("score_drift", Family.PREDICTION, "column", COLUMN, {"score", "class_score"}, outputs.score_drift,
          defaults={"min_effect": 0.05, "severity": "critical"}, kinds=NUMERIC, model_kinds=MODELS,
          summary="PSI of the score distribution against the reference scores."),
    _spec("decision_rate_shift", Family.PREDICTION, "column", COLUMN, {"decision", "class_decision"},
          outputs.decision_rate_shift, model_kinds=MODELS,
          defaults={"min_effect": 0.05, "min_recent_batches": 3, "recent_batches": 7}, kinds=CATEGORICAL,
          context=("positive_decision", "recent_rates", "expected_rate"),
          summary="Share of the positive decision moved."),
    _spec("fallback_rate", Family.PREDICTION, "column", COLUMN, {"fallback"}, outputs.fallback_rate,
          defaults={"min_effect": 0.02, "max_rate": 0.2, "min_recent_batches": 3, "recent_batches": 7},
          context=("recent_rates", "expected_rate"), model_kinds=MODELS, summary="More predictions fell back to the rule."),
    _spec("calibration_drift", Family.PREDICTION, "model", PERFORMANCE, {"model"}, outputs.calibration_drift,
          defaults={"min_rows": 100, "min_effect": 0.03}, model_kinds=BINARY,
          summary="Mean score against the observed label rate."),
    # performance and KPIs
    _spec("auc", Family.PERFORMANCE, "model", PERFORMANCE, {"model"}, live_metrics.auc,
          defaults={"min_rows": 100, "min_positives": 20, "min_effect": 0.005, "severity": "critical"},
          model_kinds=BINARY, context=_EXPECTED, summary="ROC AUC on the live test set."),
    _spec("precision", Family.PERFORMANCE, "model", PERFORMANCE, {"model"}, live_metrics.precision,
          defaults={"min_rows": 100, "min_positives": 20, "min_flagged": 30, "min_effect": 0.05},
          model_kinds=BINARY, context=_EXPECTED,
          summary="Precision at the decision threshold."),
    _spec("recall", Family.PERFORMANCE, "model", PERFORMANCE, {"model"}, live_metrics.recall,
          defaults={"min_rows": 100, "min_positives": 20, "min_effect": 0.05}, model_kinds=BINARY,
          context=_EXPECTED, summary="Recall at the decision threshold."),
    _spec("brier", Family.PERFORMANCE, "model", PERFORMANCE, {"model"}, live_metrics.brier,
          defaults={"min_rows": 100, "min_effect": 0.02}, model_kinds=BINARY,
          context=_EXPECTED, summary="Brier score on the live test set."),
    _spec("mae", Family.PERFORMANCE, "model", PERFORMANCE, {"model"}, live_metrics.mae,
          defaults={"min_rows": 100, "min_effect": 0.1, "severity": "critical"}, model_kinds=REGRESSION,
          context=_EXPECTED, summary="Mean absolute error (regression)."),
    _spec("rmse", Family.PERFORMANCE, "model", PERFORMANCE, {"model"}, live_metrics.rmse,
          defaults={"min_rows": 100, "min_effect": 0.1}, model_kinds=REGRESSION,
          context=_EXPECTED, summary="Root mean squared error (regression)."),
    _spec("rmsle", Family.PERFORMANCE, "model", PERFORMANCE, {"model"}, live_metrics.rmsle,
          defaults={"min_rows": 100, "min_effect": 0.15}, model_kinds=REGRESSION,
          context=_EXPECTED,
          summary="Root mean squared log error (regression)."),
    _spec("mape", Family.PERFORMANCE, "model", PERFORMANCE, {"model"}, live_metrics.mape,
          defaults={"min_rows": 100, "min_effect": 0.15}, model_kinds=REGRESSION,
          context=_EXPECTED,
          summary="Mean absolute percentage error (regression)."),
    _spec("estimated_mae", Family.PERFORMANCE, "model", PERFORMANCE, {"model"}, estimated_error.estimated_mae,
          defaults={"min_effect": 0.1}, model_kinds=REGRESSION,
          summary="MAE estimated before labels by an expected-error model fitted on the reference."),
    _spec("estimated_rmse", Family.PERFORMANCE, "model", PERFORMANCE, {"model"}, estimated_error.estimated_rmse,
          defaults={"min_effect": 0.1}, model_kinds=REGRESSION,
          summary="RMSE estimated before labels by an expected-error model fitted on the reference."),
    # multiclass: realized on the live test set, per class (one-vs-rest) and overall
    _spec("macro_auc", Family.PERFORMANCE, "model", PERFORMANCE, {"model"}, multiclass_metrics.macro_auc,
          defaults={"min_rows": 100, "min_effect": 0.03, "severity": "critical"}, model_kinds=MULTICLASS,
          context=_EXPECTED, summary="Macro ROC AUC (mean of one-vs-rest AUCs) of a multiclass model."),
    _spec("class_auc", Family.PERFORMANCE, "model", PERFORMANCE, {"class"}, multiclass_metrics.class_auc,
          defaults={"min_rows": 100, "min_positives": 20, "min_effect": 0.05}, model_kinds=MULTICLASS,
          context=(*_EXPECTED, "class_name"), summary="ROC AUC of one class against the rest."),
    _spec("class_precision", Family.PERFORMANCE, "model", PERFORMANCE, {"class"}, multiclass_metrics.class_precision,
          defaults={"min_rows": 100, "min_flagged": 30, "min_effect": 0.08}, model_kinds=MULTICLASS,
          context=(*_EXPECTED, "class_name"), summary="Precision of one class (rows predicted as it)."),
    _spec("class_recall", Family.PERFORMANCE, "model", PERFORMANCE, {"class"}, multiclass_metrics.class_recall,
          defaults={"min_rows": 100, "min_positives": 20, "min_effect": 0.08}, model_kinds=MULTICLASS,
          context=(*_EXPECTED, "class_name"), summary="Recall of one class (its rows predicted as it)."),
    _spec("log_loss", Family.PERFORMANCE, "model", PERFORMANCE, {"model"}, multiclass_metrics.log_loss,
          defaults={"min_rows": 100, "min_effect": 0.1, "severity": "critical"}, model_kinds=MULTICLASS,
          context=_EXPECTED, summary="Log loss of the class probabilities (relative minimum effect)."),
    _spec("kpi", Family.PERFORMANCE, "model", PERFORMANCE, {"kpi"}, kpi.kpi,
          defaults={"severity": "critical"}, model_kinds=MODELS, context=("kpi_name", "kind", "decision", "lower", "upper"),
          summary="A business KPI from config against its bounds."),
    _spec("estimated_performance", Family.PERFORMANCE, "model", COLUMN, {"score", "class_score"},
          estimated.estimated_performance, defaults={"min_effect": 0.005}, kinds=NUMERIC, model_kinds=CLASSIFIERS,
          context=("expected", "expected_basis", "registered", "realized_auc", "estimated_auc_exact",
                   "estimated_auc_labelled", "scored_rows", "reference_estimated_auc",
                   "reference_estimated_auc_chunk_sd", "reference_estimated_auc_chunk_rows",
                   "reference_estimated_auc_unit_sd", "reference_estimated_auc_se"), summary="AUC estimated from calibrated scores before labels."),
    # segments: one spec per segment check (checks.segments.specs), judged per segment test under
    # the model's family-wise budget (role "segment": every segment of every configured segmentation)
    *SEGMENT_SPECS.values(),
)

CHECKS: dict[str, AnySpec] = {s.name: s for s in _SPECS}

# Every spec with a runbook: registered checks and heartbeats.
ALL_SPECS: dict[str, AnySpec] = {**CHECKS, **HEARTBEATS}


class CheckConfigError(ConfigError):
    """The checks section of the config names an unknown check or parameter (a ConfigError: exit 2)."""


def known_params(spec: AnySpec) -> set[str]:
    return set(spec.params) | set(spec.context)


def _hint(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    if close:
        return f"one of {', '.join(close)}? every name: {', '.join(known)}"
    return f"one of {', '.join(known)}"


def _check_names(where: str, names: list[str] | Mapping[str, Any]) -> list[str]:
    """Unknown names; in a mapping (params) the key path ends with the name."""
    known = sorted(CHECKS)
    keyed = isinstance(names, Mapping)
    errors = []
    for n in names:
        if n not in CHECKS:
            key = f"{where}.{n}" if keyed else where
            errors.append(f"{key}: unknown check {n!r} (hint: {_hint(n, known)})")
    return errors


def _check_params(where: str, overrides: Mapping[str, Mapping[str, Any]]) -> list[str]:
    errors = []
    for name, params in overrides.items():
        if name not in CHECKS:
            continue
        spec = CHECKS[name]
        known = sorted(known_params(spec))
        for p in sorted(set(params) - set(known)):
            errors.append(f"{where}.{name}.{p}: unknown parameter (hint: {_hint(p, known)})")
        if spec.inputs == SEGMENT:
            for p in sorted(set(params) & set(MODEL_LEVEL_PARAMS)):
                errors.append(f"{where}.{name}.{p}: segment checks share the model's budget, not one of their own "
                              "(hint: set checks.false_alarm_budget; checks.segment_correction picks Holm or BH)")
        try:
            spec.params_schema.model_validate({k: v for k, v in params.items() if k in known})
        except ValidationError as err:
            for e in sorted(err.errors(), key=lambda e: [str(x) for x in e["loc"]]):
                key = ".".join(str(x) for x in e["loc"])
                errors.append(f"{where}.{name}.{key}: {e['msg']} (hint: default {spec.params.get(key)!r})")
    return errors


def config_errors(cfg: Any) -> list[str]:
    """Every problem of a config's check settings, each naming its key path and a hint."""
    errors = []
    if cfg.checks.enabled is not None:
        errors += _check_names("checks.enabled", cfg.checks.enabled)
    errors += _check_names("checks.disabled", cfg.checks.disabled)
    errors += _check_names("checks.params", cfg.checks.params)
    errors += _check_params("checks.params", cfg.checks.params)
    for i, f in enumerate(cfg.features):
        errors += _check_names(f"features[{i}].checks", f.checks)
        errors += _check_params(f"features[{i}].checks", f.checks)
    return errors


def validate_checks_config(cfg: Any) -> None:
    """Raise CheckConfigError naming the config key for unknown check names or parameters."""
    file = getattr(cfg, "source_file", None) or "<config>"
    errors = config_errors(cfg)
    if errors:
        raise CheckConfigError("\n".join(f"{file}: {e}" for e in errors))


def enabled_specs(cfg: Any) -> list[AnySpec]:
    """Registered checks switched on by the config, in registry order."""
    validate_checks_config(cfg)
    chosen = set(cfg.checks.enabled) if cfg.checks.enabled is not None else set(CHECKS)
    chosen -= set(cfg.checks.disabled)
    return [s for s in _SPECS if s.name in chosen]


def params_for(spec: AnySpec, cfg: Any = None, feature: Any = None, context: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Defaults <- runner context (config facts, history) <- checks.params <- per-feature overrides."""
    params = spec.params
    if cfg is not None:
        params["false_alarm_budget"] = cfg.checks.false_alarm_budget
    params.update(context or {})
    if cfg is not None:
        params.update(cfg.checks.params.get(spec.name, {}))
    if feature is not None:
        params.update(feature.checks.get(spec.name, {}))
    return params
