"""Alert labels from a CheckResult and the config's lineage.

Identity labels are (check, model, subject): the same problem is one alert across
batches. A segment check's subject carries its segment (``predictions.income{ownership=RENT}``),
so each segment is its own alert (fingerprint) with a ``segment`` label, and lineage, owner and
routing labels are those of the subject without it. Derived labels (family, severity, source, table, column, feature, owner) are
functions of those plus the config, so they carry no identity of their own; they exist
for routing, silences, grouping and inhibition. Severity is deliberately not part of the
identity: a check whose severity escalates is still one problem, and one page.
"""

from __future__ import annotations

from dataclasses import dataclass

from checks.result import CheckResult
from core.config import VigilConfig
from core.ids import labels_fingerprint

IDENTITY_LABELS = ("check", "model", "subject")
SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}
PREDICTIONS_SOURCE = "predictions"
# Subjects that mean "the whole table" rather than one column.
TABLE_LEVEL_COLUMNS = ("", "*", "_table", "table")


@dataclass(frozen=True)
class Subject:
    """Where a subject points: a source (ETL table or 'predictions') and maybe a column."""

    source: str
    column: str | None

    @property
    def is_table(self) -> bool:
        return self.column is None


def split_segment(subject: str) -> tuple[str, str | None]:
    """'predictions.income{ownership=RENT}' -> ('predictions.income', 'ownership=RENT'); no segment: None."""
    if subject.endswith("}") and "{" in subject:
        base, _, rest = subject.partition("{")
        return base, rest[:-1]
    return subject, None


def parse_subject(subject: str) -> Subject:
    """'applications.income' -> (applications, income); 'applications' or 'applications.*' -> table.
    A segment suffix is left out: a segment alert points at the same source and column."""
    source, _, column = split_segment(subject)[0].partition(".")
    if column in TABLE_LEVEL_COLUMNS:
        return Subject(source=source, column=None)
    return Subject(source=source, column=column)


def model_name(cfg: VigilConfig, result: CheckResult) -> str:
    return result.model or cfg.model.name


def features_fed_by(cfg: VigilConfig, table: str, column: str | None) -> list[str]:
    """Features whose lineage points at table.column (or anywhere in the table when column is None)."""
    out = []
    for f in cfg.features:
        for parent in f.parents:
            t, _, c = parent.partition(".")
            if t == table and (column is None or c == column):
                out.append(f.name)
                break
    return out


def feature_names(cfg: VigilConfig) -> set[str]:
    return {f.name for f in cfg.features}


def derived_labels(cfg: VigilConfig, result: CheckResult) -> dict[str, str]:
    """All labels of the alert a result belongs to (identity + derived)."""
    model = model_name(cfg, result)
    labels = {"check": result.check, "model": model, "subject": result.subject}
    labels["family"] = result.family
    labels["severity"] = result.severity
    segment = split_segment(result.subject)[1]
    if segment is not None:
        labels["segment"] = segment
    subj = parse_subject(result.subject)
    etl_names = {t.name for t in cfg.etl_tables}
    owner: str | None = None
    if subj.source in etl_names:
        labels["table"] = subj.source
        owner = cfg.etl_table(subj.source).owner
        if subj.column:
            labels["column"] = subj.column
            fed = features_fed_by(cfg, subj.source, subj.column)
            if fed:
                labels["feature"] = fed[0]
                owner = owner or cfg.feature(fed[0]).owner
    elif subj.source == PREDICTIONS_SOURCE and subj.column:
        labels["table"] = PREDICTIONS_SOURCE
        labels["column"] = subj.column
        if subj.column in feature_names(cfg):
            feat = cfg.feature(subj.column)
            labels["feature"] = feat.name
            owner = feat.owner
            if not owner and feat.parents:
                owner = cfg.etl_table(feat.parents[0].split(".")[0]).owner
    if owner:
        labels["owner"] = owner
    return labels


def identity(labels: dict[str, str]) -> dict[str, str]:
    return {k: labels[k] for k in IDENTITY_LABELS}


def fingerprint_of(labels: dict[str, str]) -> str:
    """core.ids.labels_fingerprint over the identity labels only."""
    return labels_fingerprint(identity(labels))


def result_fingerprint(cfg: VigilConfig, result: CheckResult) -> str:
    return fingerprint_of(derived_labels(cfg, result))


def severity_at_least(severity: str, threshold: str) -> bool:
    return SEVERITY_RANK.get(severity, 0) >= SEVERITY_RANK.get(threshold, 2)


def max_severity(a: str, b: str) -> str:
    return a if SEVERITY_RANK.get(a, 0) >= SEVERITY_RANK.get(b, 0) else b
