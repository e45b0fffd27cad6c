"""The model adapter: what Vigil needs from any model, named in config (`model.adapter: module:Class`).

Decisions, shadow evaluation, retraining and drills reach a model only through this
protocol. An adapter class is constructed with the monitoring config (`Class(cfg)`) and:

- `load(ref)`: a registered version (a local artifact path, checked against its sha256,
  or an MLflow `models:/...` URI) -> a loaded model object.
- `score(model, frame)`: scores a frame holding the served features by name: P(positive)
  for binary, one probability column per class for multiclass, the value for regression.
- `training_set(live, reference)`: the rows a candidate may learn from, out of a window of
  the live test set (served features + `LABEL`, the matured outcome) and the reference (or
  None): the served features + `LABEL` (+ the prediction log's timestamp column when known).
- `train(request)`: fit a candidate on `request.training` -> `Candidate` (artifact written
  under `request.folder`, its evaluation on a holdout, the holdout's start).
- `evaluate(model, holdout)`: metrics of a model on labelled rows (features + `LABEL`).

The built-in adapter is `core.sklearn_adapter:SklearnAdapter` (any scikit-learn estimator or
pipeline saved with joblib or skops). `tests/core/test_adapter_conformance.py` runs every
adapter through the same tests.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd

from core.ids import sha256_file
from core.model_kinds import MODELS, ModelKind, model_kind
from core.registry import LOWER_IS_BETTER

if TYPE_CHECKING:
    from core.config import VigilConfig

LABEL = "__vigil_label"
DEFAULT_ADAPTER = "core.sklearn_adapter:SklearnAdapter"
# The metric a model kind's versions are compared on first (shadow evaluation, promotion gate);
# whether lower is better comes from the registry's one list (core.registry.LOWER_IS_BETTER).
PRIMARY_METRIC: dict[ModelKind, str] = {
    ModelKind.BINARY: "roc_auc", ModelKind.MULTICLASS: "log_loss", ModelKind.REGRESSION: "mae",
}


class AdapterError(RuntimeError):
    """A model could not be loaded, scored or trained; the message names the version and a hint."""


@dataclass(frozen=True)
class ModelRef:
    """A registered version: where its artifact lives and the digest it was registered with."""

    name: str
    version: int
    uri: str  # a local artifact path, or an MLflow models:/ URI
    sha256: str | None = None
    evaluation: dict[str, Any] = field(default_factory=dict)
    config_path: str | None = None


@dataclass
class TrainRequest:
    """What a candidate is trained from: labelled production rows of a clean window."""

    training: pd.DataFrame  # adapter.training_set(...) output
    folder: Path  # where the candidate's artifact and holdout go
    champion: ModelRef | None
    root: Path  # storage root
    ops: Any  # OpsStore, for adapters that record training runs
    clock: Any
    user: str
    train_config: str | None = None
    command: str | None = None


@dataclass
class Candidate:
    """A trained, saved, evaluated candidate, ready to be registered."""

    artifact_path: str
    artifact_sha256: str
    evaluation: dict[str, Any]  # {holdout_id, metrics, ...}: the registry's promotion gate reads it
    holdout_start: datetime  # rows from here on were not trained on
    run_id: str
    data_version: str
    environment: dict[str, Any] = field(default_factory=dict)
    config_path: str | None = None
    snapshot: str | None = None  # root-relative folder of the training data, if written
    details: dict[str, Any] = field(default_factory=dict)


class ModelAdapter(Protocol):
    def load(self, ref: ModelRef) -> Any: ...

    def score(self, model: Any, frame: pd.DataFrame) -> np.ndarray: ...

    def training_set(self, live: pd.DataFrame, reference: pd.DataFrame | None) -> pd.DataFrame: ...

    def train(self, request: TrainRequest) -> Candidate: ...

    def evaluate(self, model: Any, holdout: pd.DataFrame) -> dict[str, float]: ...


def model_task(cfg: VigilConfig) -> ModelKind:
    """The kind of model an adapter loads, scores and trains: binary, multiclass or regression
    (`model.task`; `none`, a feature table, has no model and so no adapter)."""
    kind = model_kind(cfg.model.task)
    if kind not in MODELS:
        raise AdapterError(
            f"{cfg.source_file}: model.task {kind.value!r} is a feature table with no model to load, score or train "
            "(hint: set model.task to the model's kind: binary, multiclass or regression)"
        )
    return kind


def adapter_spec(cfg: VigilConfig) -> str:
    return getattr(cfg.model, "adapter", None) or DEFAULT_ADAPTER


def adapter_for(cfg: VigilConfig) -> ModelAdapter:
    """The configured adapter, constructed with the config (a ConfigError names the key on failure)."""
    from core import plugins

    cls: Callable[[VigilConfig], ModelAdapter] = plugins.load(adapter_spec(cfg), ModelAdapter, key="model.adapter")
    return cls(cfg)


def verified_path(ref: ModelRef) -> Path:
    """The artifact's local path after checking it is the registered file."""
    path = Path(ref.uri)
    if not path.exists():
        raise AdapterError(f"{ref.name} v{ref.version}: artifact {path} is missing (hint: `vigil registry list`)")
    if ref.sha256:
        digest = sha256_file(str(path))
        if digest != ref.sha256:
            raise AdapterError(
                f"{ref.name} v{ref.version}: artifact {path} has sha256 {digest[:12]}..., "
                f"registered {ref.sha256[:12]}...: the file was changed after registration"
            )
    return path


def ref_of(mv: Any) -> ModelRef:
    """A registry version (embedded or MLflow) as a ModelRef."""
    return ModelRef(
        name=mv.model_name, version=int(mv.version), uri=str(mv.artifact_path), sha256=mv.artifact_sha256 or None,
        evaluation=dict(mv.evaluation or {}), config_path=getattr(mv, "config_path", None),
    )


# ---- metrics ----------------------------------------------------------------------------------


def metrics_for(task: str, y: Any, scores: np.ndarray, classes: list[Any] | None = None) -> dict[str, float]:
    """Metrics of scores against labels: binary roc_auc / log_loss / brier; multiclass log_loss /
    accuracy; regression mae / rmse. Rows with a missing label or score are left out; `n` counts the rest."""
    from sklearn.metrics import accuracy_score, brier_score_loss, log_loss, roc_auc_score

    y_arr = np.asarray(y)
    s = np.asarray(scores, dtype=float)
    if task == "multiclass":
        keep = pd.notna(y_arr) & np.isfinite(s).all(axis=1)
        y_arr, s = y_arr[keep], s[keep]
        if not len(y_arr):
            return {"n": 0.0}
        labels = list(classes) if classes is not None else sorted(set(y_arr))
        try:  # labels come back from the warehouse as numbers (2.0) where the model has classes 0, 1, 2
            y_cmp, labels = y_arr.astype(float), [float(c) for c in labels]
        except (TypeError, ValueError):
            y_cmp, labels = y_arr.astype(str), [str(c) for c in labels]
        probs = np.clip(s, 1e-9, 1.0)
        probs = probs / probs.sum(axis=1, keepdims=True)
        predicted = np.asarray(labels, dtype=y_cmp.dtype)[probs.argmax(axis=1)]
        return {
            "n": float(len(y_cmp)),
            "log_loss": float(log_loss(y_cmp, probs, labels=labels)),
            "accuracy": float(accuracy_score(y_cmp, predicted)),
        }
    y_f = y_arr.astype(float)
    keep = np.isfinite(y_f) & np.isfinite(s)
    y_f, s = y_f[keep], s[keep]
    n = len(y_f)
    if n == 0:
        return {"n": 0.0}
    if task == "regression":
        err = s - y_f
        return {"n": float(n), "mae": float(np.mean(np.abs(err))), "rmse": float(math.sqrt(np.mean(err**2)))}
    yi = y_f.astype(int)
    p = np.clip(s, 1e-6, 1 - 1e-6)
    out = {"n": float(n), "positives": float(yi.sum()), "log_loss": float(log_loss(yi, p, labels=[0, 1])),
           "brier": float(brier_score_loss(yi, p))}
    if 0 < yi.sum() < n:
        out["roc_auc"] = float(roc_auc_score(yi, p))
    return out


def is_better(metric: str, a: float | None, b: float | None, margin: float = 0.0) -> bool:
    """Is value a better than value b on `metric` by more than margin?"""
    if a is None or b is None or not (math.isfinite(a) and math.isfinite(b)):
        return False
    return a < b - margin if metric in LOWER_IS_BETTER else a > b + margin


def holdout_id(frame: pd.DataFrame) -> str:
    """A content id of a holdout frame (same rows, same values -> same id)."""
    import hashlib

    digest = pd.util.hash_pandas_object(frame.reset_index(drop=True), index=False).to_numpy().tobytes()
    return "holdout-" + hashlib.sha256(digest).hexdigest()[:16]
