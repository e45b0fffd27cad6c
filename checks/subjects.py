"""What the runner checks: every subject the config implies, with its role and parameters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.config import EtlTable, Feature, Kpi, VigilConfig

PREDICTIONS = "predictions"


@dataclass(frozen=True)
class Subject:
    role: str  # see checks.registry.ROLES
    name: str  # what CheckResult.subject says
    source: str | None = None  # 'predictions' or an ETL table
    column: str | None = None
    kind: str | None = None  # numeric / categorical / boolean for column subjects
    feature: Feature | None = None
    table: EtlTable | None = None
    kpi: Kpi | None = None
    klass: str | None = None  # multiclass: the class this subject is about


def column_subjects(cfg: VigilConfig) -> list[Subject]:
    """Served features, their upstream ETL columns, and the prediction log's output columns."""
    out: list[Subject] = []
    seen_lineage: set[str] = set()
    for f in cfg.features:
        out.append(Subject("feature", f"{PREDICTIONS}.{f.name}", PREDICTIONS, f.name, f.type, feature=f))
    for f in cfg.features:
        if f.served_from and f.served_from not in seen_lineage:
            seen_lineage.add(f.served_from)
            table, column = f.served_from.split(".", 1)
            out.append(Subject("lineage", f.served_from, table, column, f.type, feature=f))
    p = cfg.predictions
    if cfg.model.task == "multiclass":
        for cls, col in (p.class_scores or {}).items():
            out.append(Subject("class_score", f"{PREDICTIONS}.{col}", PREDICTIONS, col, "numeric", klass=cls))
        if p.decision_column:
            for cls in p.class_scores or {}:
                out.append(Subject("class_decision", f"{PREDICTIONS}.{p.decision_column}={cls}", PREDICTIONS,
                                   p.decision_column, "categorical", klass=cls))
    elif p.score_column:
        out.append(Subject("score", f"{PREDICTIONS}.{p.score_column}", PREDICTIONS, p.score_column, "numeric"))
    if p.decision_column and cfg.model.task != "multiclass":
        out.append(Subject("decision", f"{PREDICTIONS}.{p.decision_column}", PREDICTIONS, p.decision_column,
                           "categorical"))
    if p.fallback_column:
        out.append(Subject("fallback", f"{PREDICTIONS}.{p.fallback_column}", PREDICTIONS, p.fallback_column,
                           "boolean"))
    return out


def table_subjects(cfg: VigilConfig) -> list[Subject]:
    out = [Subject("prediction_table", PREDICTIONS, PREDICTIONS)]
    out += [Subject("etl_table", t.name, t.name, table=t) for t in cfg.etl_tables]
    return out


def model_subjects(cfg: VigilConfig) -> list[Subject]:
    if cfg.model.task == "none":
        return []
    out = [Subject("model", "model")]
    if cfg.model.task == "multiclass":
        out += [Subject("class", f"model.{cls}", klass=cls) for cls in cfg.predictions.class_scores or {}]
    out += [Subject("kpi", f"model.{k.name}", kpi=k) for k in cfg.kpis]
    return out


def static_context(cfg: VigilConfig, subject: Subject) -> dict[str, Any]:
    """Parameters that come from the config itself (ranges, units, expectations, KPI definitions)."""
    ctx: dict[str, Any] = {}
    f = subject.feature
    if f is not None:
        if f.range is not None:
            ctx["range"] = list(f.range)
        if f.allowed is not None:
            ctx["allowed"] = list(f.allowed)
        if f.unit is not None:
            ctx["unit"] = f.unit
    if subject.role == "decision":
        ctx["positive_decision"] = cfg.predictions.positive_decision
    if subject.role == "class_decision":
        ctx["positive_decision"] = subject.klass
    if subject.klass is not None:
        ctx["class_name"] = subject.klass
    if subject.table is not None:
        if subject.table.expected_rows is not None:
            ctx["expected_rows"] = list(subject.table.expected_rows)
        if subject.table.freshness is not None:
            ctx["expected_seconds"] = subject.table.freshness.total_seconds()
    if subject.kpi is not None:
        k = subject.kpi
        ctx.update({"kpi_name": k.name, "kind": k.kind, "decision": k.decision, "lower": k.lower,
                    "upper": k.upper, "min_rows": k.min_rows, "severity": k.severity})
    return ctx
