"""Which model registry a config uses: Vigil's embedded one (default) or an MLflow Model Registry.

    registry: {kind: mlflow, tracking_uri: sqlite:///mlruns.db}

Both offer the same reads (versions, champion, alias, events) and alias moves (promote,
rollback, revert, set_alias), each recorded in Vigil's registry events and audit trail.
"""

from __future__ import annotations

from typing import Any

from core import registry
from core.clock import Clock
from core.config import VigilConfig
from core.stores import OpsStore


def registry_for(cfg: VigilConfig | None, ops: OpsStore, clock: Clock | None = None) -> Any:
    """The configured registry over the ops store (MLflow when `registry.kind: mlflow`)."""
    spec = cfg.registry if cfg is not None else None
    if spec is not None and spec.kind == "mlflow":
        from core.mlflow_registry import MlflowRegistry

        assert spec.tracking_uri is not None  # validated by the config
        return MlflowRegistry(spec.tracking_uri, ops, clock, registry_uri=spec.registry_uri)
    return registry.Registry(ops, clock)


def registry_error_types() -> tuple[type[Exception], ...]:
    """Exceptions a registry raises when it refuses a move (not approved, nothing to roll back to...)."""
    errors: list[type[Exception]] = [registry.RegistryError]
    try:
        from core.mlflow_registry import MlflowRegistryError
    except ImportError:
        pass
    else:
        errors.append(MlflowRegistryError)
    return tuple(errors)


def compare_evaluations(candidate: dict[str, Any], champion: dict[str, Any], metric: str, margin: float) -> tuple[bool, str]:
    return registry.compare_evaluations(candidate, champion, metric, margin)


def promotion_rule(mv: Any, task: str | None = None) -> tuple[str, float]:
    """(metric, margin) a version is promoted on: the rule stored with it (embedded registry), else
    the one its evaluation carries (versions Vigil logged to MLflow), else the primary metric of the
    model kind `task` (a version logged straight to MLflow: mae for regression, log_loss for
    multiclass, roc_auc for binary), else the default rule."""
    stored = getattr(mv, "promotion", None)
    if isinstance(stored, registry.PromotionRule):
        return stored.metric, stored.margin
    rule = registry.promotion_rule_in(getattr(mv, "evaluation", None) or {})
    if rule is None and task is not None:
        from core.adapter import PRIMARY_METRIC
        from core.model_kinds import model_kind

        metric = PRIMARY_METRIC.get(model_kind(task))
        if metric is not None:
            return metric, 0.0
    rule = rule or registry.DEFAULT_PROMOTION_RULE
    return rule.metric, rule.margin
