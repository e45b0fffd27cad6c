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
    return Scored(np.asarray(adapter.score(adapter.load(ref), frame)), int(champion.version), ref.uri)
