"""The kinds of model Vigil monitors: one vocabulary for `model.task`, check applicability
(``CheckSpec.model_kinds``) and the model adapter.

- ``binary``: one probability column (P(positive)); ``classification`` is an alias.
- ``multiclass``: one probability column per class.
- ``regression``: the predicted value.
- ``none``: a feature table with no model outputs (data checks only).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class ModelKind(StrEnum):
    BINARY = "binary"
    MULTICLASS = "multiclass"
    REGRESSION = "regression"
    NONE = "none"  # a feature table with no model outputs


# `model.task` values that name a kind differently (the first name of the binary kind).
TASK_ALIASES: Mapping[str, ModelKind] = {"classification": ModelKind.BINARY}
ALL_MODEL_KINDS: frozenset[ModelKind] = frozenset(ModelKind)
# Kinds with a model behind them: an adapter can load, score and train them.
MODELS: frozenset[ModelKind] = frozenset({ModelKind.BINARY, ModelKind.MULTICLASS, ModelKind.REGRESSION})
CLASSIFIERS: frozenset[ModelKind] = frozenset({ModelKind.BINARY, ModelKind.MULTICLASS})
BINARY: frozenset[ModelKind] = frozenset({ModelKind.BINARY})
MULTICLASS: frozenset[ModelKind] = frozenset({ModelKind.MULTICLASS})
REGRESSION: frozenset[ModelKind] = frozenset({ModelKind.REGRESSION})


def model_kind(task: str) -> ModelKind:
    """The model kind a `model.task` value names (``classification`` is ``binary``); ValueError otherwise."""
    alias = TASK_ALIASES.get(str(task))
    return alias if alias is not None else ModelKind(task)


def task_alias(value: object) -> object:
    """Pydantic before-validator of `model.task`: an alias becomes its kind, anything else is left
    for the enum's own validation (whose error lists the kinds)."""
    return TASK_ALIASES.get(value, value) if isinstance(value, str) else value
