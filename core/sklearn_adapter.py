"""The built-in model adapter: any scikit-learn estimator or pipeline, saved with joblib or skops.

Features are taken by name: the estimator's `feature_names_in_` when it was fitted on a
DataFrame, else the config's `features`. The task (binary, multiclass, regression) comes from
`model.task`. A candidate is the champion's estimator cloned (same hyperparameters) and
fitted on the clean window, its last `HOLDOUT_FRACTION` held out by event time.

Every registered version keeps its holdout next to its artifact (`holdout.parquet`), so a
candidate is evaluated on the champion's own holdout and the registry's promotion gate
compares the two on the same rows (`register_sklearn_version`).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.adapter import (
    LABEL,
    PRIMARY_METRIC,
    AdapterError,
    Candidate,
    ModelRef,
    TrainRequest,
    holdout_id,
    metrics_for,
    model_task,
    verified_path,
)
from core.config import VigilConfig
from core.ids import new_id, sha256_file
from core.model_kinds import ModelKind

HOLDOUT_FRACTION = 0.25
HOLDOUT_FILE = "holdout.parquet"
# Module prefixes whose types a skops file may hold (anything else is refused, not executed).
SKOPS_TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.", "builtins.", "collections.", "joblib.")


@dataclass
class SklearnModel:
    """A loaded estimator and the feature names it reads."""

    estimator: Any
    features: list[str]
    classes: list[Any] | None
    source: str


def save_estimator(estimator: Any, path: Path) -> Path:
    """Save with skops when the file ends in .skops, else joblib; atomically (temp file + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    if path.suffix == ".skops":
        import skops.io as sio

        sio.dump(estimator, tmp)
    else:
        import joblib

        joblib.dump(estimator, tmp, compress=3)
    tmp.replace(path)
    return path


def _load_skops(path: Path) -> Any:
    import skops.io as sio

    untrusted = sio.get_untrusted_types(file=path)
    refused = [t for t in untrusted if not t.startswith(SKOPS_TRUSTED_PREFIXES)]
    if refused:
        raise AdapterError(
            f"{path}: skops file holds types outside scikit-learn / numpy / scipy: {', '.join(refused)} "
            "(hint: save it with joblib if you trust it, or write an adapter for this model)"
        )
    return sio.load(path, trusted=untrusted)


def load_estimator(uri: str, tracking_uri: str | None = None, registry_uri: str | None = None) -> Any:
    if uri.startswith(("models:/", "runs:/")):
        try:
            import mlflow
            import mlflow.sklearn
        except ImportError:
            raise AdapterError(f"{uri}: MLflow is not installed (hint: pip install 'vigil[mlflow]')") from None
        if tracking_uri:
            mlflow.set_tracking_uri(tracking_uri)
            mlflow.set_registry_uri(registry_uri or tracking_uri)
        return mlflow.sklearn.load_model(uri)
    path = Path(uri)
    if path.suffix == ".skops":
        return _load_skops(path)
    import joblib

    return joblib.load(path)


class SklearnAdapter:
    """`model.adapter: core.sklearn_adapter:SklearnAdapter` (the default)."""

    def __init__(self, cfg: VigilConfig) -> None:
        self.cfg = cfg
        self.task = model_task(cfg)
        self.feature_names = [f.name for f in cfg.features]

    # ---- load and score ----------------------------------------------------------------
    def load(self, ref: ModelRef) -> SklearnModel:
        uri = ref.uri if ref.uri.startswith(("models:/", "runs:/")) else str(verified_path(ref))
        try:
            spec = self.cfg.registry
            estimator = load_estimator(uri, spec.tracking_uri, spec.registry_uri) if spec.kind == "mlflow" else load_estimator(uri)
        except AdapterError:
            raise
        except Exception as err:  # a corrupt file or an unpicklable class: name the version
            raise AdapterError(f"{ref.name} v{ref.version}: cannot load {uri}: {type(err).__name__}: {err}") from None
        return self.wrap(estimator, uri)

    def wrap(self, estimator: Any, source: str = "<memory>") -> SklearnModel:
        names = getattr(estimator, "feature_names_in_", None)
        features = [str(n) for n in names] if names is not None else list(self.feature_names)
        classes = getattr(estimator, "classes_", None)
        return SklearnModel(estimator, features, list(classes) if classes is not None else None, source)

    def score(self, model: Any, frame: pd.DataFrame) -> np.ndarray:
        m = model if isinstance(model, SklearnModel) else self.wrap(model)
        missing = [c for c in m.features if c not in frame.columns]
        if missing:
            raise AdapterError(
                f"{m.source}: the frame lacks the model's features {missing} "
                "(hint: the prediction log must carry the served features by name)"
            )
        X = frame[m.features]
        if self.task == ModelKind.REGRESSION:
            return np.asarray(m.estimator.predict(X), dtype=float)
        proba = np.asarray(m.estimator.predict_proba(X), dtype=float)
        if self.task_of(m) == ModelKind.BINARY:
            return proba[:, 1]
        return proba

    def task_of(self, model: SklearnModel) -> ModelKind:
        """The config's model kind; a classifier with more than two classes is multiclass."""
        if self.task != ModelKind.REGRESSION and model.classes is not None and len(model.classes) > 2:
            return ModelKind.MULTICLASS
        return self.task

    # ---- training --------------------------------------------------------------------------
    def training_set(self, live: pd.DataFrame, reference: pd.DataFrame | None) -> pd.DataFrame:
        """Served features + label of the live window (and of the reference when it has labels)."""
        ts = self.cfg.predictions.timestamp_column
        label_col = self.cfg.labels.label_column if self.cfg.labels else None
        frames = []
        for frame, label in ((live, LABEL), (reference, label_col)):
            if frame is None or frame.empty or label is None or label not in frame.columns:
                continue
            cols = [c for c in self.feature_names if c in frame.columns]
            part = frame[cols].copy()
            part[LABEL] = frame[label].to_numpy()
            # Reference rows (no event time) come before any production row: trained on, never held out.
            part[ts] = pd.to_datetime(frame[ts]).to_numpy() if ts in frame.columns else pd.Timestamp("1970-01-01")
            frames.append(part)
        if not frames:
            return pd.DataFrame(columns=[*self.feature_names, LABEL, ts])
        out = pd.concat(frames, ignore_index=True)
        out = out.loc[out[LABEL].notna()]
        return out.sort_values(ts, kind="mergesort").reset_index(drop=True)

    def split(self, training: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, datetime]:
        """Time split: the last HOLDOUT_FRACTION of rows by event time is held out."""
        ts = self.cfg.predictions.timestamp_column
        ordered = training.sort_values(ts, kind="mergesort").reset_index(drop=True)
        cut = int(len(ordered) * (1 - HOLDOUT_FRACTION))
        if cut < 1 or cut >= len(ordered):
            raise AdapterError(f"{len(ordered)} labelled rows cannot be split into training and holdout")
        start = pd.Timestamp(ordered[ts].iloc[cut]).to_pydatetime()
        return ordered.iloc[:cut], ordered.iloc[cut:], start

    def fit(self, base: Any, frame: pd.DataFrame) -> SklearnModel:
        from sklearn.base import clone

        m = base if isinstance(base, SklearnModel) else self.wrap(base)
        estimator = clone(m.estimator)
        y = frame[LABEL].to_numpy()
        if self.task_of(m) == ModelKind.BINARY:
            y = y.astype(int)
        elif self.task == "regression":
            y = y.astype(float)
        estimator.fit(frame[m.features], y)
        return self.wrap(estimator)

    def train(self, request: TrainRequest) -> Candidate:
        if request.champion is None:
            raise AdapterError(
                "the scikit-learn adapter retrains the champion's estimator (same hyperparameters): "
                "there is no champion (hint: register and promote a first version)"
            )
        base = self.load(request.champion)
        train_part, holdout, start = self.split(request.training)
        candidate = self.fit(base, train_part)
        suffix = Path(request.champion.uri).suffix if not request.champion.uri.startswith("models:/") else ".joblib"
        path = save_estimator(candidate.estimator, request.folder / f"model{suffix or '.joblib'}")
        own = self.holdout_evaluation(candidate, holdout, request.folder / HOLDOUT_FILE)
        evaluation = own
        champion_holdout = self.holdout_of(request.champion)
        if champion_holdout is not None and request.champion.evaluation.get("holdout_id"):
            evaluation = {
                **own,
                "holdout_id": request.champion.evaluation["holdout_id"],
                "metrics": self.evaluate(candidate, champion_holdout),
                "evaluated_on": f"champion v{request.champion.version}'s holdout",
                "own_holdout": {"holdout_id": own["holdout_id"], "metrics": own["metrics"]},
            }
        digest = sha256_file(str(path))
        return Candidate(
            artifact_path=str(path), artifact_sha256=digest, evaluation=evaluation, holdout_start=start,
            run_id=new_id("run"), data_version=holdout_id(request.training), environment=environment(),
            details={"estimator": type(candidate.estimator).__name__, "training_rows": len(train_part),
                     "holdout_rows": len(holdout)},
        )

    def holdout_evaluation(self, model: Any, holdout: pd.DataFrame, path: Path) -> dict[str, Any]:
        """Write the holdout next to the artifact and return the evaluation the registry stores."""
        path.parent.mkdir(parents=True, exist_ok=True)
        holdout.reset_index(drop=True).to_parquet(path)
        metric = PRIMARY_METRIC[self.task_of(model if isinstance(model, SklearnModel) else self.wrap(model))]
        return {
            "holdout_id": holdout_id(holdout),
            "holdout": {"rows": len(holdout), "file": path.name},
            "metrics": self.evaluate(model, holdout),
            "promotion": {"metric": metric, "margin": 0.0},
        }

    def holdout_of(self, ref: ModelRef) -> pd.DataFrame | None:
        if ref.uri.startswith(("models:/", "runs:/")):
            return None
        path = Path(ref.uri).parent / HOLDOUT_FILE
        return pd.read_parquet(path) if path.exists() else None

    def evaluate(self, model: Any, holdout: pd.DataFrame) -> dict[str, float]:
        m = model if isinstance(model, SklearnModel) else self.wrap(model)
        return metrics_for(self.task_of(m), holdout[LABEL].to_numpy(), self.score(m, holdout), m.classes)


def environment() -> dict[str, Any]:
    import sklearn

    return {"python": sys.version.split()[0], "scikit-learn": sklearn.__version__, "numpy": np.__version__,
            "pandas": pd.__version__}


def register_sklearn_version(
    registry: Any, cfg: VigilConfig, estimator: Any, holdout: pd.DataFrame, folder: Path, *, user: str,
    description: str, file_name: str = "model.joblib", run_id: str | None = None, data_version: str = "",
) -> Any:
    """Save a fitted estimator and its holdout under `folder` and register it (pending approval).

    `holdout` holds the served features and `LABEL`; its metrics become the version's evaluation.
    """
    adapter = SklearnAdapter(cfg)
    path = save_estimator(estimator, folder / file_name)
    evaluation = adapter.holdout_evaluation(adapter.wrap(estimator), holdout, folder / HOLDOUT_FILE)
    return registry.register(
        cfg.model.registry_name or cfg.model.name, run_id=run_id or new_id("run"), data_version=data_version or evaluation["holdout_id"],
        environment=environment(), evaluation=evaluation, artifact_path=str(path), artifact_sha256=sha256_file(str(path)),
        description=description, user=user,
    )
