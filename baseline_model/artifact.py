"""The model artifact: a fitted scikit-learn pipeline plus what serving needs to use it.

Pickled with joblib; the scikit-learn version is recorded, and loading under another
version warns (pickles are not portable across scikit-learn versions).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import sklearn

from core.registry import ModelVersion, verify_artifact


class ArtifactVersionWarning(UserWarning):
    """The artifact was pickled under a different scikit-learn version."""


@dataclass
class ModelArtifact:
    model: Any  # fitted sklearn estimator with predict_proba
    features: list[str]
    threshold: float  # refer when P(default) >= threshold
    model_type: str
    config_name: str
    sklearn_version: str

    def predict_default_proba(self, features: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.model.predict_proba(features[self.features])[:, 1], dtype=float)


def save_model(artifact: ModelArtifact, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # No timestamps or ids inside: the same fit gives the same bytes (reproducibility test).
    joblib.dump(artifact, path, compress=3)


def load_model(path: str | Path) -> ModelArtifact:
    artifact = joblib.load(path)
    if not isinstance(artifact, ModelArtifact):
        raise TypeError(f"{path}: not a Vigil model artifact (got {type(artifact).__name__})")
    if artifact.sklearn_version != sklearn.__version__:
        warnings.warn(
            f"{path}: pickled with scikit-learn {artifact.sklearn_version}, loaded under {sklearn.__version__}; "
            "predictions may differ (hint: `vigil reproduce VERSION` retrains it under this environment)",
            ArtifactVersionWarning,
            stacklevel=2,
        )
    return artifact


def load_artifact(mv: ModelVersion) -> ModelArtifact:
    """Load a registered version's artifact after checking its sha256 (warns on a scikit-learn mismatch)."""
    path = verify_artifact(mv)
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        return load_model(path)
