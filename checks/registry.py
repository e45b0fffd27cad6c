"""The one registry of checks, by name.

A check is a pure function ``(reference, current, params) -> CheckResult``. Its spec
says what it reads (column / table / performance statistics, the feature set, a skew
sample), which subjects it applies to (roles) and its default parameters. Config
enables checks (``checks.enabled`` / ``checks.disabled``) and overrides parameters
(``checks.params.<check>`` for every subject, ``features[].checks.<check>`` for one
feature; ``enabled: false`` there turns the check off for that feature).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from checks.feature_drift import multivariate, univariate
from checks.input_quality import column_quality, skew, table_quality
from checks.performance import estimated, estimated_error, kpi, live_metrics, multiclass_metrics
from checks.prediction import outputs
from checks.result import CheckResult
from checks.unit_change import detector

Scope = Literal["column", "table", "model"]
Reads = Literal["column", "table", "performance", "features", "skew"]
# Roles of subjects the runner enumerates:
#   feature    predictions.<feature>          lineage    <etl table>.<column> behind a feature
#   score      predictions.<score column>     decision   predictions.<decision column>
#   fallback   predictions.<fallback column>  prediction_table  'predictions'
#   etl_table  <etl table>                    features   all features of the prediction log together
#   model      the model (live test set)      kpi        one configured KPI
#   class_score     predictions.<probability column of one class> (multiclass)
#   class_decision  predictions.<predicted class column>=<class> (multiclass)
#   class           model.<class>: one class of a multiclass model on the live test set
ROLES = frozenset({"feature", "lineage", "score", "decision", "fallback", "prediction_table", "etl_table",
                   "features", "model", "kpi", "class_score", "class_decision", "class"})
ALL_KINDS = frozenset({"numeric", "categorical", "boolean"})
NUMERIC = frozenset({"numeric"})
CATEGORICAL = frozenset({"categorical", "boolean"})
# Model kinds (config model.task): every check declares those it applies to; a check is
# absent (not skipped) for the others.
TASKS = frozenset({"binary", "multiclass", "regression", "none"})
BINARY = frozenset({"binary"})
CLASSIFIERS = frozenset({"binary", "multiclass"})
REGRESSION = frozenset({"regression"})
MODELS = frozenset({"binary", "multiclass", "regression"})
MULTICLASS = frozenset({"multiclass"})
_EXPECTED = ("expected", "expected_se", "expected_basis", "registered")

CheckFn = Callable[[Any, Any, dict[str, Any]], CheckResult]

# Every check understands these; the runner fills false_alarm_budget from checks.false_alarm_budget.
COMMON_DEFAULTS: Mapping[str, Any] = {"false_alarm_budget": 0.01, "margin": 1.5, "min_rows": 30,
                                      "severity": "warning", "enabled": True}


@dataclass(frozen=True)
class CheckSpec:
    name: str
    family: str
    scope: Scope
    reads: Reads
    applies_to: frozenset[str]
    fn: CheckFn
    defaults: Mapping[str, Any] = field(default_factory=dict)
    kinds: frozenset[str] = ALL_KINDS
    tasks: frozenset[str] = TASKS
    # Parameters the runner fills from config or history (may also be set by hand).
    context: tuple[str, ...] = ()
    summary: str = ""

    @property
    def params(self) -> dict[str, Any]:
        return {**COMMON_DEFAULTS, **self.defaults}

    def applies(self, role: str, kind: str | None = None, task: str = "binary") -> bool:
        return role in self.applies_to and (kind is None or kind in self.kinds) and task in self.tasks


def _spec(name: str, family: str, scope: Scope, reads: Reads, roles: set[str], fn: CheckFn, **kw: Any) -> CheckSpec:
    return CheckSpec(name, family, scope, reads, frozenset(roles), fn, **kw)


_COLUMN_INPUT = {"feature", "lineage"}
_SPECS: tuple[CheckSpec, ...] = (
    # input quality
    _spec("null_rate", "input_quality", "column", "column", _COLUMN_INPUT | {"score", "class_score"}, column_quality.null_rate,
          defaults={"min_effect": 0.005, "severity": "critical"}, summary="Share of null values rose."),
    _spec("nan_inf", "input_quality", "column", "column", _COLUMN_INPUT | {"score", "class_score"}, column_quality.nan_inf,
          defaults={"min_effect": 0.001, "severity": "critical"}, kinds=NUMERIC,
          summary="NaN or infinite values appeared."),
    _spec("out_of_range", "input_quality", "column", "column", _COLUMN_INPUT, column_quality.out_of_range,
          defaults={"max_share": 0.01, "severity": "critical"}, kinds=NUMERIC, context=("range",),
          summary="Values outside the feature's expected range."),
    _spec("unseen_category", "input_quality", "column", "column", _COLUMN_INPUT, column_quality.unseen_category,
          defaults={"max_share": 0.005}, kinds=CATEGORICAL, context=("allowed",),
          summary="Categories never seen in the reference or not allowed."),
    _spec("schema", "input_quality", "table", "table", {"etl_table", "prediction_table"}, table_quality.schema,
          defaults={"severity": "critical"}, summary="Columns missing, added, renamed or retyped."),
    _spec("duplicate_ids", "input_quality", "table", "table", {"etl_table", "prediction_table"},
          table_quality.duplicate_ids, defaults={"max_share": 0.001}, summary="Rows repeating a key."),
    _spec("volume", "input_quality", "table", "table", {"etl_table", "prediction_table"}, table_quality.volume,
          defaults={"fail_ratio_low": 0.5, "warn_ratio_low": 0.7, "fail_ratio_high": 2.0, "warn_ratio_high": 1.5,
                    "min_recent_batches": 3, "recent_batches": 7, "severity": "critical"},
          context=("expected_rows", "recent_rows"), summary="Rows per batch against expected and recent volume."),
    _spec("freshness", "input_quality", "table", "table", {"etl_table"}, table_quality.freshness,
          defaults={"warn_fraction": 0.8, "severity": "critical"}, context=("expected_seconds",),
          summary="An ETL table is older than its expected freshness."),
    _spec("training_serving_skew", "input_quality", "model", "skew", {"model"}, skew.training_serving_skew,
          defaults={"min_rows": 20, "max_share": 0.01, "sample_rows": 500, "rtol": 1e-6, "severity": "critical"},
          summary="Served features differ from features rebuilt from upstream tables."),
    # unit change
    _spec("unit_change", "unit_change", "column", "column", _COLUMN_INPUT, detector.unit_change,
          defaults={"tolerance": 0.25, "ratio": 0.2, "min_change": 0.5, "unknown_factor": 3.0,
                    "severity": "critical"},
          kinds=NUMERIC, context=("unit",), summary="A numeric column changed unit (x1000, percent -> fraction...)."),
    # feature drift. Minimum effects are set to what a shift of about 0.2 reference standard
    # deviations produces for each metric (PSI 0.05, JS 0.08, KS 0.08, W/sd 0.2), so the four
    # agree on what is material; 0.3 sd and more always fails once above sampling noise.
    _spec("psi", "feature_drift", "column", "column", {"feature"}, univariate.psi_check,
          defaults={"min_effect": 0.05}, summary="Population stability index against the reference."),
    _spec("jensen_shannon", "feature_drift", "column", "column", {"feature"}, univariate.jensen_shannon,
          defaults={"min_effect": 0.08}, summary="Jensen-Shannon distance against the reference."),
    _spec("wasserstein", "feature_drift", "column", "column", {"feature"}, univariate.wasserstein,
          defaults={"min_effect": 0.2}, kinds=NUMERIC, summary="Wasserstein distance in reference standard deviations."),
    _spec("ks", "feature_drift", "column", "column", {"feature"}, univariate.ks,
          defaults={"min_effect": 0.08}, kinds=NUMERIC, summary="Kolmogorov-Smirnov statistic from the binned CDF."),
    _spec("multivariate_drift", "feature_drift", "model", "features", {"features"}, multivariate.multivariate_drift,
          defaults={"min_effect": 0.05, "min_features": 2}, context=("batch",),
          summary="Mean normalised drift over all features (population shift)."),
    # prediction distribution
    _spec("score_drift", "prediction", "column", "column", {"score", "class_score"}, outputs.score_drift,
          defaults={"min_effect": 0.05, "severity": "critical"}, kinds=NUMERIC, tasks=MODELS,
          summary="PSI of the score distribution against the reference scores."),
    _spec("decision_rate_shift", "prediction", "column", "column", {"decision", "class_decision"},
          outputs.decision_rate_shift, tasks=MODELS,
          defaults={"min_effect": 0.05, "min_recent_batches": 3, "recent_batches": 7}, kinds=CATEGORICAL,
          context=("positive_decision", "recent_rates", "expected_rate"),
          summary="Share of the positive decision moved."),
    _spec("fallback_rate", "prediction", "column", "column", {"fallback"}, outputs.fallback_rate,
          defaults={"min_effect": 0.02, "max_rate": 0.2, "min_recent_batches": 3, "recent_batches": 7},
          context=("recent_rates", "expected_rate"), tasks=MODELS, summary="More predictions fell back to the rule."),
    _spec("calibration_drift", "prediction", "model", "performance", {"model"}, outputs.calibration_drift,
          defaults={"min_rows": 100, "min_effect": 0.03}, tasks=BINARY,
          summary="Mean score against the observed label rate."),
    # performance and KPIs
    _spec("auc", "performance", "model", "performance", {"model"}, live_metrics.auc,
          defaults={"min_rows": 100, "min_positives": 20, "min_effect": 0.03, "severity": "critical"},
          tasks=BINARY, context=("expected", "expected_se", "expected_basis", "registered"), summary="ROC AUC on the live test set."),
    _spec("precision", "performance", "model", "performance", {"model"}, live_metrics.precision,
          defaults={"min_rows": 100, "min_positives": 20, "min_flagged": 30, "min_effect": 0.05},
          tasks=BINARY, context=("expected", "expected_se", "expected_basis", "registered"),
          summary="Precision at the decision threshold."),
    _spec("recall", "performance", "model", "performance", {"model"}, live_metrics.recall,
          defaults={"min_rows": 100, "min_positives": 20, "min_effect": 0.05}, tasks=BINARY,
          context=("expected", "expected_se", "expected_basis", "registered"), summary="Recall at the decision threshold."),
    _spec("brier", "performance", "model", "performance", {"model"}, live_metrics.brier,
          defaults={"min_rows": 100, "min_effect": 0.02}, tasks=BINARY,
          context=("expected", "expected_se", "expected_basis", "registered"), summary="Brier score on the live test set."),
    _spec("mae", "performance", "model", "performance", {"model"}, live_metrics.mae,
          defaults={"min_rows": 100, "min_effect": 0.1, "severity": "critical"}, tasks=REGRESSION,
          context=("expected", "expected_se", "expected_basis", "registered"), summary="Mean absolute error (regression)."),
    _spec("rmse", "performance", "model", "performance", {"model"}, live_metrics.rmse,
          defaults={"min_rows": 100, "min_effect": 0.1}, tasks=REGRESSION,
          context=("expected", "expected_se", "expected_basis", "registered"), summary="Root mean squared error (regression)."),
    _spec("rmsle", "performance", "model", "performance", {"model"}, live_metrics.rmsle,
          defaults={"min_rows": 100, "min_effect": 0.15}, tasks=REGRESSION,
          context=("expected", "expected_se", "expected_basis", "registered"),
          summary="Root mean squared log error (regression)."),
    _spec("mape", "performance", "model", "performance", {"model"}, live_metrics.mape,
          defaults={"min_rows": 100, "min_effect": 0.15}, tasks=REGRESSION,
          context=("expected", "expected_se", "expected_basis", "registered"),
          summary="Mean absolute percentage error (regression)."),
    _spec("estimated_mae", "performance", "model", "performance", {"model"}, estimated_error.estimated_mae,
          defaults={"min_effect": 0.1}, tasks=REGRESSION,
          summary="MAE estimated before labels by an expected-error model fitted on the reference."),
    _spec("estimated_rmse", "performance", "model", "performance", {"model"}, estimated_error.estimated_rmse,
          defaults={"min_effect": 0.1}, tasks=REGRESSION,
          summary="RMSE estimated before labels by an expected-error model fitted on the reference."),
    # multiclass: realized on the live test set, per class (one-vs-rest) and overall
    _spec("macro_auc", "performance", "model", "performance", {"model"}, multiclass_metrics.macro_auc,
          defaults={"min_rows": 100, "min_effect": 0.03, "severity": "critical"}, tasks=MULTICLASS,
          context=_EXPECTED, summary="Macro ROC AUC (mean of one-vs-rest AUCs) of a multiclass model."),
    _spec("class_auc", "performance", "model", "performance", {"class"}, multiclass_metrics.class_auc,
          defaults={"min_rows": 100, "min_positives": 20, "min_effect": 0.05}, tasks=MULTICLASS,
          context=(*_EXPECTED, "class_name"), summary="ROC AUC of one class against the rest."),
    _spec("class_precision", "performance", "model", "performance", {"class"}, multiclass_metrics.class_precision,
          defaults={"min_rows": 100, "min_flagged": 30, "min_effect": 0.08}, tasks=MULTICLASS,
          context=(*_EXPECTED, "class_name"), summary="Precision of one class (rows predicted as it)."),
    _spec("class_recall", "performance", "model", "performance", {"class"}, multiclass_metrics.class_recall,
          defaults={"min_rows": 100, "min_positives": 20, "min_effect": 0.08}, tasks=MULTICLASS,
          context=(*_EXPECTED, "class_name"), summary="Recall of one class (its rows predicted as it)."),
    _spec("log_loss", "performance", "model", "performance", {"model"}, multiclass_metrics.log_loss,
          defaults={"min_rows": 100, "min_effect": 0.1, "severity": "critical"}, tasks=MULTICLASS,
          context=_EXPECTED, summary="Log loss of the class probabilities (relative minimum effect)."),
    _spec("kpi", "performance", "model", "performance", {"kpi"}, kpi.kpi,
          defaults={"severity": "critical"}, tasks=MODELS, context=("kpi_name", "kind", "decision", "lower", "upper"),
          summary="A business KPI from config against its bounds."),
    _spec("estimated_performance", "performance", "model", "column", {"score", "class_score"},
          estimated.estimated_performance, defaults={"min_effect": 0.05}, kinds=NUMERIC, tasks=CLASSIFIERS,
          context=("expected", "expected_basis", "registered", "realized_auc"), summary="AUC estimated from calibrated scores before labels."),
)

CHECKS: dict[str, CheckSpec] = {s.name: s for s in _SPECS}


class CheckConfigError(ValueError):
    """The checks section of the config names an unknown check or parameter."""


def known_params(spec: CheckSpec) -> set[str]:
    return set(spec.params) | set(spec.context)


def _check_names(where: str, names: list[str] | Mapping[str, Any]) -> list[str]:
    errors = []
    for n in names:
        if n not in CHECKS:
            errors.append(f"{where}: unknown check {n!r} (hint: one of {', '.join(sorted(CHECKS))})")
    return errors


def _check_params(where: str, overrides: Mapping[str, Mapping[str, Any]]) -> list[str]:
    errors = []
    for name, params in overrides.items():
        if name not in CHECKS:
            continue
        unknown = sorted(set(params) - known_params(CHECKS[name]))
        for p in unknown:
            errors.append(f"{where}.{name}.{p}: unknown parameter (hint: one of {', '.join(sorted(known_params(CHECKS[name])))})")
    return errors


def validate_checks_config(cfg: Any) -> None:
    """Raise CheckConfigError naming the config key for unknown check names or parameters."""
    file = getattr(cfg, "source_file", None) or "<config>"
    errors = []
    if cfg.checks.enabled is not None:
        errors += _check_names("checks.enabled", cfg.checks.enabled)
    errors += _check_names("checks.disabled", cfg.checks.disabled)
    errors += _check_names("checks.params", cfg.checks.params)
    errors += _check_params("checks.params", cfg.checks.params)
    for i, f in enumerate(cfg.features):
        errors += _check_names(f"features[{i}].checks", f.checks)
        errors += _check_params(f"features[{i}].checks", f.checks)
    if errors:
        raise CheckConfigError("\n".join(f"{file}: {e}" for e in errors))


def enabled_specs(cfg: Any) -> list[CheckSpec]:
    """Registered checks switched on by the config, in registry order."""
    validate_checks_config(cfg)
    chosen = set(cfg.checks.enabled) if cfg.checks.enabled is not None else set(CHECKS)
    chosen -= set(cfg.checks.disabled)
    return [s for s in _SPECS if s.name in chosen]


def params_for(spec: CheckSpec, cfg: Any = None, feature: Any = None, context: Mapping[str, Any] | None = None) -> dict[str, Any]:
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
