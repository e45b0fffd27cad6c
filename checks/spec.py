"""The check contract: what a check reads, its family, its parameters, the models it applies to.

A check is a pure function ``(reference, current, params) -> CheckResult``. Its ``CheckSpec``
declares:

- ``inputs``: which statistics it reads (``Inputs``: column, table, performance, the feature
  set, a skew sample, heartbeat health, one segment's test), each with the types of its reference and current
  arguments, so ``CheckSpec[R, C]`` ties the function's signature to what the runner passes;
- ``family``: one member of ``Family``, the only place a family name is written (alert
  labels, inhibition and the results table use its value);
- ``params_schema``: a pydantic model of its parameters (defaults, types; unknown keys are
  refused), built from ``defaults`` and ``context``;
- ``context``: parameters the runner fills for it (config facts, recent history; the
  dynamic ones are named by ``Computed``), so the runner never branches on a check's name;
- ``model_kinds``: the kinds of model it applies to (``core.model_kinds.ModelKind``: ``binary``,
  ``multiclass``, ``regression``, ``none``; the same enum as ``model.task`` and the adapter's task);
- ``runbook``: ``runbooks/<name>.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, create_model

from checks.inputs import HeartbeatStats, SegmentTest, SkewStats
from checks.result import CheckResult
from checks.verdict import error_result
from core.model_kinds import ALL_MODEL_KINDS, ModelKind, model_kind
from profilers.stats_types import ColumnStats, PerformanceStats, ReferenceStats, TableStats


class Family(StrEnum):
    """Check families; alert labels carry the value (``family``)."""

    INPUT_QUALITY = "input_quality"
    UNIT_CHANGE = "unit_change"
    FEATURE_DRIFT = "feature_drift"
    PREDICTION = "prediction"
    PERFORMANCE = "performance"
    HEARTBEAT = "heartbeat"


Scope = Literal["column", "table", "model"]
ColumnKind = Literal["numeric", "categorical", "boolean"]
ALL_KINDS: frozenset[str] = frozenset({"numeric", "categorical", "boolean"})
NUMERIC: frozenset[str] = frozenset({"numeric"})
CATEGORICAL: frozenset[str] = frozenset({"categorical", "boolean"})

R = TypeVar("R")
C = TypeVar("C")
Params = dict[str, Any]


@dataclass(frozen=True)
class Inputs(Generic[R, C]):
    """What a check reads: the name the runner dispatches on, and the argument types."""

    name: Literal["column", "table", "performance", "features", "skew", "heartbeat", "segment"]
    reference: str  # the reference argument's type, for docs and errors
    current: str

    def __str__(self) -> str:
        return self.name


COLUMN: Inputs[ReferenceStats | None, ColumnStats] = Inputs("column", "ReferenceStats | None", "ColumnStats")
TABLE: Inputs[None, TableStats] = Inputs("table", "None", "TableStats")
PERFORMANCE: Inputs[None, PerformanceStats] = Inputs("performance", "None", "PerformanceStats")
FEATURES: Inputs[dict[str, ReferenceStats] | None, dict[str, ColumnStats]] = Inputs(
    "features", "dict[str, ReferenceStats] | None", "dict[str, ColumnStats]"
)
SKEW: Inputs[None, SkewStats] = Inputs("skew", "None", "SkewStats")
HEARTBEAT: Inputs[None, HeartbeatStats] = Inputs("heartbeat", "None", "HeartbeatStats")
# One segment's test (checks.segments): the runner builds the batch's tests from the segment
# statistics, applies the family-wise correction, then calls each test's spec.
SEGMENT: Inputs[None, SegmentTest] = Inputs("segment", "None", "SegmentTest")

CheckFn = Callable[[R, C, Params], CheckResult]
ColumnCheckFn = Callable[[ReferenceStats | None, ColumnStats, Params], CheckResult]


class Computed(StrEnum):
    """Context parameters the runner computes from history (a spec lists those it needs in ``context``)."""

    EXPECTED = "expected"  # expected metric: selection-matched reference or registered evaluation
    RECENT_ROWS = "recent_rows"  # the subject table's rows over recent batches
    RECENT_RATES = "recent_rates"  # the subject column's rate (positive share / true share) over recent batches
    REALIZED_AUC = "realized_auc"  # the batch's realized AUC once its labels matured
    BATCH = "batch"  # the batch start


Severity = Literal["info", "warning", "critical"]
# Every check understands these; the runner fills false_alarm_budget from checks.false_alarm_budget.
COMMON_DEFAULTS: Mapping[str, Any] = {"false_alarm_budget": 0.01, "margin": 1.5, "min_rows": 30,
                                      "severity": "warning", "enabled": True}
_PARAM_TYPES: Mapping[str, Any] = {"severity": Severity, "enabled": bool}
RUNBOOKS = Path(__file__).resolve().parents[1] / "runbooks"


def _param_type(name: str, default: Any) -> Any:
    if name in _PARAM_TYPES:
        return _PARAM_TYPES[name]
    if isinstance(default, bool):
        return bool
    if isinstance(default, int):
        return int
    if isinstance(default, float):
        return float
    if isinstance(default, str):
        return str
    return Any


def params_model(name: str, defaults: Mapping[str, Any], context: tuple[str, ...]) -> type[BaseModel]:
    """A pydantic model of a check's parameters: typed defaults, context values, nothing else."""
    fields: dict[str, Any] = {k: (_param_type(k, v), v) for k, v in defaults.items()}
    for k in context:
        fields.setdefault(k, (Any, None))
    model: type[BaseModel] = create_model(  # type: ignore[call-overload]
        f"{name}_params", __config__=ConfigDict(extra="forbid", strict=False), **fields
    )
    return model


@dataclass(frozen=True)
class CheckSpec(Generic[R, C]):
    name: str
    family: Family
    scope: Scope
    inputs: Inputs[R, C]
    applies_to: frozenset[str]
    fn: CheckFn[R, C]
    defaults: Mapping[str, Any] = field(default_factory=dict)
    kinds: frozenset[str] = ALL_KINDS  # column kinds (column checks)
    # Model kinds it applies to; for the others the runner does not run it (absent, not skipped).
    model_kinds: frozenset[ModelKind] = ALL_MODEL_KINDS
    # Parameters the runner fills from config or history (may also be set by hand).
    context: tuple[str, ...] = ()
    summary: str = ""

    @property
    def reads(self) -> str:
        """The name of what the check reads (``inputs.name``)."""
        return self.inputs.name

    @property
    def params(self) -> dict[str, Any]:
        return {**COMMON_DEFAULTS, **self.defaults}

    @property
    def params_schema(self) -> type[BaseModel]:
        return params_model(self.name, self.params, self.context)

    @property
    def runbook(self) -> Path:
        return RUNBOOKS / f"{self.name}.md"

    def needs(self, computed: Computed) -> bool:
        return computed.value in self.context

    def applies(self, role: str, kind: str | None = None, task: str = "binary") -> bool:
        return role in self.applies_to and (kind is None or kind in self.kinds) and model_kind(task) in self.model_kinds


def run_spec(
    spec: CheckSpec[R, C], subject: str, batch: datetime, reference: R, current: C, params: Params, model: str
) -> CheckResult:
    """Call the check; an exception becomes an 'error' result (a broken column never stops the cycle)."""
    try:
        res = spec.fn(reference, current, params)
    except Exception as err:  # a check bug or odd stats must not stop the cycle
        res = error_result(spec.name, spec.family, subject, batch, err)
    return replace(res, model=model, batch=res.batch or batch)
