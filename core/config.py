"""The monitored-model config: one YAML file, validated by pydantic.

Every key is known (extra keys are rejected), every error names the file, the key
path and a hint. Relative paths resolve against ``storage.root``, which itself
resolves against the current directory (or ``VIGIL_ROOT`` / the ``root`` argument).
"""

from __future__ import annotations

import math
import os
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)

from core.model_kinds import ModelKind, task_alias

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w|y)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 365 * 86400}


class ConfigError(ValueError):
    """A config file is unreadable or invalid. The message names file, key path and a hint."""


MIN_DURATION_SECONDS = 1.0  # below this a window rounds to nothing ("Period must be greater than 0")
MAX_DURATION_SECONDS = 10 * 365 * 86400.0  # ten years; beyond it batch arithmetic leaves the date range


def _bounded(seconds: float, value: Any) -> timedelta:
    """Refuse what would break a cycle: NaN, infinities, zero, below 1 s, above ten years."""
    if math.isnan(seconds) or math.isinf(seconds):
        raise ValueError(f"duration must be a finite number (got {value!r})")
    if seconds <= 0:
        raise ValueError("duration must be positive")
    if seconds < MIN_DURATION_SECONDS:
        raise ValueError(f"duration {value!r} is shorter than one second (the shortest is 1s)")
    if seconds > MAX_DURATION_SECONDS:
        raise ValueError(f"duration {value!r} is longer than ten years (the longest is 10y)")
    return timedelta(seconds=seconds)


def parse_duration(value: Any) -> timedelta:
    """'30m', '1h', '1d', '2w', '10y' (a year is 365 days; or seconds as a number) -> timedelta.

    Between 1 s and 10 years, finite: anything else is refused with a message naming it.
    """
    if isinstance(value, timedelta):
        return _bounded(value.total_seconds(), value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _bounded(float(value), value)
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m:
            return _bounded(float(m.group(1)) * _UNITS[m.group(2)], value)
    raise ValueError(f"not a duration: {value!r} (use a number and a unit: 30m, 1h, 1d, 2w)")


def _no_case_collisions(what: str, names: list[str]) -> None:
    """DuckDB identifiers are case-insensitive: `income` and `Income` are one column there."""
    seen: dict[str, str] = {}
    for name in names:
        other = seen.setdefault(name.lower(), name)
        if other != name:
            raise ValueError(
                f"{what} names {other!r} and {name!r} differ only in letter case; the warehouse (DuckDB) treats "
                "them as one name; rename one"
            )


def format_duration(td: timedelta) -> str:
    s = int(td.total_seconds())
    for unit in ("w", "d", "h", "m"):
        if s % _UNITS[unit] == 0 and s >= _UNITS[unit]:
            return f"{s // _UNITS[unit]}{unit}"
    return f"{s}s"


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
Identifier = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
LineageRef = Annotated[str, Field(pattern=r"^\w+\..+$")]  # table.column (the column part: any source column name)


def _text_keys(value: Any) -> Any:
    """Class names or codes as text: labels are compared with them as text."""
    if isinstance(value, dict):
        return {str(k) if isinstance(k, int | float) and not isinstance(k, bool) else k: v for k, v in value.items()}
    return value


# The model kinds (core.model_kinds.ModelKind): every check declares the ones it applies to.
Task = Annotated[ModelKind, BeforeValidator(task_alias)]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileSource(StrictModel):
    """A landing folder and glob; the format comes from the file ending unless set."""

    path: str
    glob: str = "*.parquet"
    format: Literal["parquet", "csv", "jsonl"] | None = None


class ModelInfo(StrictModel):
    name: Identifier
    # binary (alias: classification), multiclass, regression, or none (a feature table).
    task: Task = ModelKind.BINARY
    # Name in Vigil's model registry (ops store), if the model is registered there.
    registry_name: str | None = None
    # Decision threshold on the score, for precision / recall on the live test set.
    threshold: float | None = None
    # "module:function" that rebuilds served features from upstream tables (skew check).
    feature_builder: str | None = Field(default=None, pattern=r"^[\w.]+:\w+$")
    # "module:Class" of the model adapter (core.adapter.ModelAdapter): how decisions, shadow
    # evaluation, retraining and drills load, score and train this model. Default: scikit-learn.
    adapter: str | None = Field(default=None, pattern=r"^[\w.]+:\w+$")


class PredictionLog(StrictModel):
    source: FileSource
    id_column: str
    timestamp_column: str
    # binary / regression: the score (probability or predicted value); absent for task none.
    score_column: str | None = None
    # multiclass: one probability column per class, {class: column}; class codes (0, 1, 2) are read as text.
    class_scores: Annotated[dict[str, str] | None, BeforeValidator(_text_keys)] = None
    # The model's decision; for multiclass the predicted class (else the arg max of class_scores).
    decision_column: str | None = None
    # Value of decision_column meaning "approved / acted on", in the column's own type:
    # 'approve', 1 or true (core.decision_value matches it by meaning, not by spelling).
    positive_decision: StrictBool | StrictInt | StrictStr | None = None
    model_version_column: str | None = None
    fallback_column: str | None = None
    control_column: str | None = None


class Feature(StrictModel):
    name: Identifier
    type: Literal["numeric", "categorical", "boolean"]
    # The column's name in the source files when it is not ``name`` (any characters,
    # e.g. "Order Value (USD)"); Vigil stores and reports it under ``name``.
    column: str | None = Field(default=None, min_length=1)
    unit: str | None = None
    range: tuple[float, float] | None = None
    allowed: list[str] | None = None
    # Upstream ETL column(s) as table.column: one (the feature is that column, served), or a
    # list for a derived feature computed from several (e.g. [applications.loan_amount, applications.income]).
    lineage: LineageRef | list[LineageRef] | None = None
    owner: str | None = None
    # Per-feature check parameter overrides: {check_name: {param: value}}.
    checks: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _range_ordered(self) -> Feature:
        if self.range is not None and self.range[0] > self.range[1]:
            raise ValueError(f"range lower bound {self.range[0]} is above upper bound {self.range[1]}")
        if self.allowed is not None and self.type == "numeric":
            raise ValueError("'allowed' is for categorical features; numeric features use 'range'")
        if isinstance(self.lineage, list) and not self.lineage:
            raise ValueError("lineage: list at least one table.column, or leave the key out")
        return self

    @property
    def parents(self) -> tuple[str, ...]:
        """Every upstream table.column this feature depends on (its lineage, as a tuple)."""
        if self.lineage is None:
            return ()
        return (self.lineage,) if isinstance(self.lineage, str) else tuple(self.lineage)

    @property
    def served_from(self) -> str | None:
        """The one upstream column this feature is a served copy of; None for a derived feature
        with several parents (its upstream columns are not the feature, so they keep their own
        reference and checks)."""
        parents = self.parents
        return parents[0] if len(parents) == 1 else None


class EtlTable(StrictModel):
    name: Identifier
    source: FileSource
    timestamp_column: str
    key: str | None = None
    freshness: Duration | None = None
    expected_rows: tuple[int, int] | None = None
    owner: str | None = None

    @model_validator(mode="after")
    def _rows_ordered(self) -> EtlTable:
        if self.expected_rows is not None and self.expected_rows[0] > self.expected_rows[1]:
            raise ValueError("expected_rows: lower bound is above upper bound")
        return self


class Labels(StrictModel):
    """Where true outcomes arrive: an ETL table joined to the prediction log."""

    table: str
    join_key: str
    label_column: str
    maturity: Duration = timedelta(days=14)


class Reference(StrictModel):
    kind: Literal["file", "window"] = "file"
    path: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    # Rows per calibration chunk when the reference has no timestamp column.
    chunk_rows: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _complete(self) -> Reference:
        if self.kind == "file" and not self.path:
            raise ValueError("reference kind 'file' needs 'path'")
        if self.kind == "window" and (self.start is None or self.end is None):
            raise ValueError("reference kind 'window' needs 'start' and 'end'")
        if self.start and self.end and self.start >= self.end:
            raise ValueError("reference start must be before end")
        return self


class Kpi(StrictModel):
    """A business KPI on the live test set (predictions joined with matured labels)."""

    name: Identifier
    kind: Literal["approval_rate", "label_rate", "mean_score"]
    # Restrict to rows whose decision equals this value (e.g. 'approve').
    decision: str | None = None
    lower: float | None = None
    upper: float | None = None
    min_rows: int = Field(default=30, ge=1)
    severity: Literal["warning", "critical"] = "critical"


class Segment(StrictModel):
    """A slice of the prediction log by one column: its ``top`` most frequent reference values
    (the rest as ``other``) or, for a numeric column, the intervals cut at ``bins``."""

    name: Identifier
    column: str = Field(min_length=1)
    top: int | None = Field(default=None, ge=1, le=1000)
    bins: list[float] | None = Field(default=None, min_length=1)
    # A segment with fewer rows in a batch is reported as too small for that batch, not merged.
    min_rows: int = Field(default=100, ge=1)

    @model_validator(mode="after")
    def _cut(self) -> Segment:
        if self.bins is not None:
            if self.top is not None:
                raise ValueError("give either top (a categorical column) or bins (a numeric one), not both")
            if any(not math.isfinite(b) for b in self.bins) or any(
                b >= c for b, c in zip(self.bins, self.bins[1:], strict=False)
            ):
                raise ValueError("bins must be finite and strictly increasing, e.g. [30000, 60000, 100000]")
        return self

    @property
    def top_values(self) -> int:
        return self.top if self.top is not None else 10


class Batch(StrictModel):
    window: Duration = timedelta(days=1)
    # The plausible window of a row's timestamp, around the time it is ingested (wall time):
    # rows stamped later than max_future after it, earlier than max_age before it, or with
    # no timestamp go to the quarantine with a reason while the file's other rows load.
    # null disables a bound.
    max_future: Duration | None = timedelta(days=1)
    max_age: Duration | None = timedelta(days=3650)


class Storage(StrictModel):
    root: str = "var"
    warehouse: str = "warehouse.duckdb"
    ops: str = "ops.sqlite"
    duckdb_memory_limit: str = Field(default="2GB", pattern=r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$")


class ChecksConfig(StrictModel):
    # None: every registered check; otherwise only these names.
    enabled: list[str] | None = None
    disabled: list[str] = Field(default_factory=list)
    # {check_name: {param: value}} for every subject (per-feature overrides live on the feature).
    params: dict[str, dict[str, Any]] = Field(default_factory=dict)
    false_alarm_budget: float = Field(default=0.01, gt=0, lt=0.5)
    # Multiple-comparison control of the segment checks of one batch (README "Segments"):
    # holm keeps the chance of any false page per batch within the budget (family-wise);
    # bh (Benjamini-Hochberg) keeps the expected share of false pages within it instead.
    segment_correction: Literal["holm", "bh"] = "holm"


def _receiver_kind(value: Any) -> Any:
    """`alertmanager` was the webhook-format receiver's first name: still accepted."""
    return "alertmanager_webhook" if value == "alertmanager" else value


# slack: a Slack incoming webhook; alertmanager_webhook: the JSON Alertmanager sends to its
# webhook receivers; alertmanager_api: alerts posted to an Alertmanager (POST /api/v2/alerts).
ReceiverKind = Annotated[Literal["slack", "alertmanager_webhook", "alertmanager_api"], BeforeValidator(_receiver_kind)]


class Receiver(StrictModel):
    name: Identifier
    kind: ReceiverKind = "alertmanager_webhook"
    # Name of the environment variable holding the URL: secrets never live in config.
    url_env: str = Field(pattern=r"^[A-Z_][A-Z0-9_]*$")
    token_env: str | None = Field(default=None, pattern=r"^[A-Z_][A-Z0-9_]*$")


class Route(StrictModel):
    receiver: str
    match: dict[str, str] = Field(default_factory=dict)
    group_by: list[str] = Field(default_factory=lambda: ["model", "check"])
    repeat_interval: Duration = timedelta(hours=4)
    continue_: bool = Field(default=False, alias="continue")


class Alerting(StrictModel):
    for_batches: int = Field(default=1, ge=1)
    keep_firing_for_batches: int = Field(default=1, ge=0)
    incident_severity: Literal["warning", "critical"] = "critical"
    receivers: list[Receiver] = Field(default_factory=list)
    routes: list[Route] = Field(default_factory=list)
    # Delivery runs after the cycle, outside its lock: each HTTP attempt waits at most
    # delivery_timeout, one delivery run at most delivery_deadline; the rest waits in the outbox.
    delivery_timeout: Duration = timedelta(seconds=10)
    delivery_deadline: Duration = timedelta(seconds=60)
    # Links carried by notifications: the runbooks' base URL (default: the repository path
    # runbooks/<check>.md) and the dashboard's URL (e.g. http://vigil.example:8501).
    runbook_base_url: str | None = Field(default=None, pattern=r"^https?://\S+$")
    dashboard_url: str | None = Field(default=None, pattern=r"^https?://\S+$")


class Schedule(StrictModel):
    interval: Duration = timedelta(minutes=5)
    # Expected scoring-job interval for heartbeats (None: not monitored).
    scoring_interval: Duration | None = None


class RegistryConfig(StrictModel):
    """Where model versions and their aliases live: Vigil's embedded registry or MLflow's."""

    kind: Literal["embedded", "mlflow"] = "embedded"
    # MLflow tracking URI, e.g. sqlite:///var/mlflow.db or http://mlflow:5000 (credentials come from
    # MLflow's own environment variables, never from this file).
    tracking_uri: str | None = None
    # Model registry URI when it differs from the tracking URI.
    registry_uri: str | None = None

    @model_validator(mode="after")
    def _needs_uri(self) -> RegistryConfig:
        if self.kind == "mlflow" and not self.tracking_uri:
            raise ValueError("registry kind 'mlflow' needs 'tracking_uri' (e.g. sqlite:///mlflow.db or http://host:5000)")
        return self


class SparkSettings(StrictModel):
    """Where and how the Spark engine runs (``profile.engine: spark``)."""

    # spark.master: local[N] here and in tests; yarn, k8s://..., spark://host:7077 on a cluster
    # (or leave it to spark-submit: "" keeps whatever master the launcher set).
    master: str = "local[2]"
    app_name: str = "vigil-profile"
    # Extra Spark configuration (spark.* keys), e.g. spark.hadoop.fs.s3a.endpoint. Credentials come
    # from the environment (AWS_ACCESS_KEY_ID, ...) or the cluster's own configuration, never this file.
    conf: dict[str, StrictStr | StrictInt | float | StrictBool] = Field(default_factory=dict)
    # Rows per batch and source copied into the warehouse as the bounded sample that drill-down
    # reports, the skew check, shadow evaluation and retraining read (0: none).
    sample_rows: int = Field(default=10_000, ge=0, le=1_000_000)

    @field_validator("conf")
    @classmethod
    def _spark_keys(cls, value: dict[str, Any]) -> dict[str, Any]:
        bad = sorted(k for k in value if not k.startswith("spark."))
        if bad:
            raise ValueError(f"not a Spark setting: {', '.join(bad)}; Spark settings start with 'spark.'")
        return value


class ProfileConfig(StrictModel):
    """Which engine computes the statistics: DuckDB on this machine, or Spark where the data lies."""

    engine: Literal["duckdb", "spark"] = "duckdb"
    spark: SparkSettings = SparkSettings()


class VigilConfig(StrictModel):
    model: ModelInfo
    predictions: PredictionLog
    features: list[Feature] = Field(min_length=1)
    etl_tables: list[EtlTable] = Field(default_factory=list)
    labels: Labels | None = None
    batch: Batch = Batch()
    reference: Reference | None = None
    kpis: list[Kpi] = Field(default_factory=list)
    segments: list[Segment] = Field(default_factory=list)
    checks: ChecksConfig = ChecksConfig()
    alerts: Alerting = Alerting()
    schedule: Schedule = Schedule()
    storage: Storage = Storage()
    registry: RegistryConfig = RegistryConfig()
    profile: ProfileConfig = ProfileConfig()

    # Filled by load_config: where the file lives and the resolved storage root.
    source_file: str | None = None
    root_dir: str | None = None

    @model_validator(mode="after")
    def _cross_refs(self) -> VigilConfig:
        self._task_columns()
        names = [f.name for f in self.features]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"feature names must be unique; repeated: {', '.join(dupes)}")
        _no_case_collisions("feature", names)
        tables = {t.name for t in self.etl_tables}
        if len(tables) != len(self.etl_tables):
            raise ValueError("etl_tables names must be unique")
        _no_case_collisions("etl_tables", [t.name for t in self.etl_tables])
        for f in self.features:
            for parent in f.parents:
                if parent.split(".")[0] not in tables:
                    raise ValueError(
                        f"feature {f.name!r} lineage {parent!r} names table "
                        f"{parent.split('.')[0]!r}, which is not in etl_tables ({', '.join(sorted(tables)) or 'none'})"
                    )
        if self.labels and self.labels.table not in tables:
            raise ValueError(f"labels.table {self.labels.table!r} is not in etl_tables")
        for k in self.kpis:
            if k.lower is not None and k.upper is not None and k.lower > k.upper:
                raise ValueError(f"kpi {k.name!r}: lower is above upper")
        self._segment_refs()
        receivers = {r.name for r in self.alerts.receivers}
        for r in self.alerts.routes:
            if r.receiver not in receivers:
                raise ValueError(f"route receiver {r.receiver!r} is not among alerts.receivers")
        return self

    def _segment_refs(self) -> None:
        names = [s.name for s in self.segments]
        for i, seg in enumerate(self.segments):
            if seg.name in names[:i]:
                raise ValueError(f"segments[{i}].name: {seg.name!r} is used twice (hint: each segment needs its own name)")
            known = {f.column or f.name: f for f in self.features}
            feature = known.get(seg.column) or next((f for f in self.features if f.name == seg.column), None)
            if seg.bins is not None and feature is not None and feature.type != "numeric":
                raise ValueError(f"segments[{i}].bins: column {seg.column!r} is {feature.type}, not numeric "
                                 "(hint: use top for a categorical column)")
        if len(self.segments) > 8:
            raise ValueError("segments: at most 8 segmentations (hint: each adds a grouping set to every "
                             "statistics pass; pick the columns on-call engineers slice by)")

    def _task_columns(self) -> None:
        """The prediction columns each model kind needs (and those it cannot have)."""
        task, p = self.model.task, self.predictions
        if task in ("binary", "regression") and not p.score_column:
            raise ValueError(f"predictions.score_column: Field required for model.task {task.value!r} (hint: name the "
                             "model's output column, or set model.task: none for a feature table without one)")
        if task == "multiclass":
            if p.score_column:
                raise ValueError("predictions.score_column: not used by model.task 'multiclass' (hint: give one "
                                 "probability column per class in predictions.class_scores: {class: column})")
            if not p.class_scores or len(p.class_scores) < 2:
                raise ValueError("predictions.class_scores: model.task 'multiclass' needs at least two classes "
                                 "(hint: {class: probability column}, one entry per class)")
            columns = list(p.class_scores.values())
            if len(set(columns)) != len(columns):
                raise ValueError("predictions.class_scores: two classes name the same column "
                                 "(hint: each class needs its own probability column)")
        elif p.class_scores:
            raise ValueError(f"predictions.class_scores: only for model.task 'multiclass', not {task.value!r} "
                             "(hint: set model.task: multiclass or remove class_scores)")
        if task == "none":
            for key in ("score_column", "decision_column", "positive_decision", "fallback_column"):
                if getattr(p, key) is not None:
                    raise ValueError(f"predictions.{key}: model.task 'none' (a feature table) has no model outputs "
                                     "(hint: remove the key, or set model.task to the model's kind)")
            if self.model.threshold is not None:
                raise ValueError("model.threshold: model.task 'none' (a feature table) has no score "
                                 "(hint: remove the key)")
        sources = [f.column or f.name for f in self.features]
        dupes = sorted({c for c in sources if sources.count(c) > 1})
        if dupes:
            raise ValueError(f"features: two features read the same source column {', '.join(map(repr, dupes))} "
                             "(hint: each feature maps its own column)")

    @property
    def score_columns(self) -> dict[str, str]:
        """The model's score columns: {'': score} (binary, regression), {class: column}, or {} (none)."""
        p = self.predictions
        if self.model.task == "multiclass" and p.class_scores:
            return dict(p.class_scores)
        return {"": p.score_column} if p.score_column else {}

    @property
    def column_map(self) -> dict[str, str]:
        """Source column name -> Vigil's name, for features whose source column is named apart."""
        return {f.column: f.name for f in self.features if f.column and f.column != f.name}

    # ---- resolved paths -------------------------------------------------
    @property
    def root(self) -> Path:
        return Path(self.root_dir or self.storage.root)

    def resolve(self, path: str) -> Path:
        p = Path(path)
        return p if p.is_absolute() else self.root / p

    @property
    def warehouse_path(self) -> Path:
        return self.resolve(self.storage.warehouse)

    @property
    def ops_path(self) -> Path:
        return self.resolve(self.storage.ops)

    def feature(self, name: str) -> Feature:
        for f in self.features:
            if f.name == name:
                return f
        raise KeyError(f"no feature named {name!r} in config")

    def etl_table(self, name: str) -> EtlTable:
        for t in self.etl_tables:
            if t.name == name:
                return t
        raise KeyError(f"no ETL table named {name!r} in config")


_HINTS = {
    "extra_forbidden": "unknown key: check its spelling or remove it (see README 'Config reference')",
    "missing": "this key is required: add it",
    "literal_error": "use one of the allowed values",
    "enum": "use one of the allowed values",
    "string_pattern_mismatch": "the value does not have the expected form",
    "too_short": "add at least one entry",
    "greater_than": "use a larger value",
    "less_than": "use a smaller value",
    "greater_than_equal": "use a larger value",
}


# "predictions.score_column: ... (hint: ...)": a rule across keys that names the key it is about.
_KEYED = re.compile(r"^[A-Za-z_][\w.\[\]]*: .*\(hint: .*\)$", re.S)


def _loc(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for p in loc:
        if isinstance(p, int):
            parts.append(f"[{p}]")
        else:
            parts.append(("." if parts else "") + str(p))
    return "".join(parts) or "(top level)"


def format_validation_error(file: str, err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        loc = _loc(tuple(x for x in e["loc"] if not str(x).startswith("function-")))
        msg = e["msg"].removeprefix("Value error, ")
        keyed = _KEYED.match(msg) if loc == "(top level)" else None
        if keyed:  # a cross-key rule names the key it is about and its own hint
            lines.append(f"{file}: {msg}")
            continue
        hint = _HINTS.get(e["type"], "fix the value")
        lines.append(f"{file}: {loc}: {msg} (hint: {hint})")
    return "\n".join(lines)


def config_from_dict(data: dict[str, Any], *, file: str = "<config>", root: str | Path | None = None) -> VigilConfig:
    data = dict(data)
    for k in ("source_file", "root_dir"):
        if k in data:
            raise ConfigError(f"{file}: {k}: reserved key (hint: remove it)")
    try:
        cfg = VigilConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(format_validation_error(file, err)) from None
    root_path = Path(root) if root is not None else Path(os.environ.get("VIGIL_ROOT") or cfg.storage.root)
    return cfg.model_copy(update={"source_file": file, "root_dir": str(root_path.absolute())})


def load_config(path: str | Path, *, root: str | Path | None = None) -> VigilConfig:
    p = Path(path)
    try:
        text = p.read_text()
    except FileNotFoundError:
        raise ConfigError(f"{p}: file not found (hint: pass --config PATH to a monitored-model YAML file)") from None
    except OSError as e:
        raise ConfigError(f"{p}: cannot read: {e.strerror} (hint: check permissions)") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        raise ConfigError(f"{p}: YAML syntax error at {where} (hint: check indentation and quoting)") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: (top level): expected a mapping of keys (hint: start with 'model:')")
    return config_from_dict(data, file=str(p), root=root)
