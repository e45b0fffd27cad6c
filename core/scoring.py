"""Batch scoring with the registry's champion, for any model: the registry says which version,
the adapter loads and scores it. In MLflow mode the champion is loaded as
`models:/<name>@champion`, so an alias move in MLflow is what the next batch is scored with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from core.adapter import AdapterError, adapter_for, ref_of
from core.clock import Clock
from core.config import VigilConfig
from core.registries import registry_for
from core.stores import OpsStore


@dataclass(frozen=True)
class Scored:
    scores: np.ndarray
    version: int
    uri: str
    # A multiclass model's classes in the order of the score columns, when the loaded model says
    # (`classes`, as the scikit-learn adapter's models do); as text, like `predictions.class_scores`.
    classes: list[str] | None = None


def score_with_champion(cfg: VigilConfig, ops: OpsStore, frame: pd.DataFrame, *, clock: Clock | None = None,
                        registry: Any = None) -> Scored:
    """Score `frame` (served features by name) with the current champion of `model.registry_name`."""
    name = cfg.model.registry_name or cfg.model.name
    registry = registry if registry is not None else registry_for(cfg, ops, clock)
    champion = registry.champion(name)
    if champion is None:
        raise AdapterError(f"{name} has no champion (hint: `vigil registry promote VERSION`)")
    ref = ref_of(champion)
    adapter = adapter_for(cfg)
    model = adapter.load(ref)
    scores = np.asarray(adapter.score(model, frame))
    classes = getattr(model, "classes", None) if scores.ndim == 2 else None
    return Scored(scores, int(champion.version), ref.uri, [_class_text(c) for c in classes] if classes else None)


def _class_text(value: object) -> str:
    """A class as `predictions.class_scores` names it: codes 0 / 0.0 / '0' are all '0'."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value.item() if isinstance(value, np.generic) else value)
