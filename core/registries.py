"""Which model registry a config uses: Vigil's embedded one (default) or an MLflow Model Registry.

    registry: {kind: mlflow, tracking_uri: sqlite:///mlruns.db}

Both offer the same reads (versions, champion, alias, events) and alias moves (promote,
rollback, revert, set_alias), each recorded in Vigil's registry events and audit trail.
"""

from __future__ import annotations

from typing import Any

from core.clock import Clock
from core.config import VigilConfig
from core.stores import OpsStore

# Until the embedded registry lives in core/ it is reached through the plugin loader, so
# nothing outside baseline_model/ imports baseline_model.
EMBEDDED_REGISTRY = "baseline_model.registry"


def _embedded(name: str) -> Any:
    from core import plugins

    return plugins.load(f"{EMBEDDED_REGISTRY}:{name}", key="registry")


def registry_for(cfg: VigilConfig | None, ops: OpsStore, clock: Clock | None = None) -> Any:
    """The configured registry over the ops store (MLflow when `registry.kind: mlflow`)."""
    spec = cfg.registry if cfg is not None else None
    if spec is not None and spec.kind == "mlflow":
        from core.mlflow_registry import MlflowRegistry

        assert spec.tracking_uri is not None  # validated by the config
        return MlflowRegistry(spec.tracking_uri, ops, clock, registry_uri=spec.registry_uri)
    return _embedded("Registry")(ops, clock)


def registry_error_types() -> tuple[type[Exception], ...]:
    """Exceptions a registry raises when it refuses a move (not approved, nothing to roll back to...)."""
    errors: list[type[Exception]] = [_embedded("RegistryError")]
    try:
        from core.mlflow_registry import MlflowRegistryError
    except ImportError:
        pass
    else:
        errors.append(MlflowRegistryError)
    return tuple(errors)


def compare_evaluations(candidate: dict[str, Any], champion: dict[str, Any], metric: str, margin: float) -> tuple[bool, str]:
    result: tuple[bool, str] = _embedded("compare_evaluations")(candidate, champion, metric, margin)
    return result


def promotion_rule(mv: Any) -> tuple[str, float]:
    """(metric, margin) a version is promoted on: stored on the version, else its training config's."""
    rule = (getattr(mv, "evaluation", None) or {}).get("promotion")
    if isinstance(rule, dict) and rule.get("metric"):
        return str(rule["metric"]), float(rule.get("margin") or 0.0)
    if getattr(mv, "config_path", None) is None:
        return "roc_auc", 0.0
    result: tuple[str, float] = _embedded("promotion_rule")(mv)
    return result
