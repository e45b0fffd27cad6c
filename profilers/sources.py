"""What the config says each source (prediction log, ETL table) looks like.

A source is 'predictions' or an ETL table name. Its expected columns come from the
config only: the prediction log's named columns and features; an ETL table's
timestamp, key, label columns and the columns named by feature lineage.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from core.config import FileSource, VigilConfig
from core.sql import ident

PREDICTIONS = "predictions"
EPOCH = datetime(1970, 1, 1)

# DuckDB type of a raw column for each expected family (a float32 numeric column stays FLOAT, see
# storage_type); None keeps the file's own type.
RAW_TYPE = {"numeric": "DOUBLE", "string": "VARCHAR", "boolean": "BOOLEAN", "timestamp": "TIMESTAMP"}
FEATURE_FAMILY = {"numeric": "numeric", "categorical": "string", "boolean": "boolean"}


@dataclass(frozen=True)
class SourceSpec:
    name: str  # 'predictions' or the ETL table name
    raw_table: str  # 'predictions' or 'etl_<name>'
    source: FileSource
    timestamp_column: str
    key_column: str | None
    expected: dict[str, str | None]  # column -> family (None: any type, kept as first seen)
    # Source column name -> Vigil's name (config ``features[].column``): renamed as files are read.
    renames: dict[str, str] = field(default_factory=dict)

    @property
    def raw_ident(self) -> str:
        return ident(self.raw_table)


def renamed_sql(relation: str, renames: dict[str, str], present: set[str] | dict[str, str]) -> str:
    """``relation`` with source columns renamed to Vigil's names (only those the file has)."""
    pairs = [(src, dst) for src, dst in renames.items() if src in present]
    if not pairs:
        return relation
    rename = ", ".join(f"{ident(src)} AS {ident(dst)}" for src, dst in pairs)
    return f"(SELECT * RENAME ({rename}) FROM {relation})"  # noqa: S608 - quoted config identifiers


def raw_table_name(source: str) -> str:
    return PREDICTIONS if source == PREDICTIONS else f"etl_{source}"


def prediction_spec(cfg: VigilConfig) -> SourceSpec:
    p = cfg.predictions
    expected: dict[str, str | None] = {p.id_column: None, p.timestamp_column: "timestamp"}
    for col in cfg.score_columns.values():
        expected[col] = "numeric"
    for other in (p.decision_column, p.model_version_column, p.fallback_column, p.control_column):
        if other:
            expected.setdefault(other, None)
    for f in cfg.features:
        expected[f.name] = FEATURE_FAMILY[f.type]
    return SourceSpec(PREDICTIONS, PREDICTIONS, p.source, p.timestamp_column, p.id_column, expected,
                      cfg.column_map)


def etl_spec(cfg: VigilConfig, table: str) -> SourceSpec:
    t = cfg.etl_table(table)
    expected: dict[str, str | None] = {t.timestamp_column: "timestamp"}
    if t.key:
        expected.setdefault(t.key, None)
    for f in cfg.features:
        if f.served_from and f.served_from.split(".")[0] == table:
            expected.setdefault(f.served_from.split(".", 1)[1], FEATURE_FAMILY[f.type])
        elif not f.served_from:  # a derived feature: its parents must arrive, in their own type
            for parent in f.parents:
                if parent.split(".")[0] == table:
                    expected.setdefault(parent.split(".", 1)[1], None)
    if cfg.labels and cfg.labels.table == table:
        expected.setdefault(cfg.labels.join_key, None)
        # Multiclass labels are class names or codes: any type, compared as text.
        expected[cfg.labels.label_column] = None if cfg.model.task == "multiclass" else "numeric"
    return SourceSpec(table, raw_table_name(table), t.source, t.timestamp_column, t.key, expected)


def all_specs(cfg: VigilConfig) -> list[SourceSpec]:
    return [prediction_spec(cfg)] + [etl_spec(cfg, t.name) for t in cfg.etl_tables]


def spec_for(cfg: VigilConfig, source: str) -> SourceSpec:
    return prediction_spec(cfg) if source == PREDICTIONS else etl_spec(cfg, source)


def lineage_columns(cfg: VigilConfig, table: str) -> dict[str, str]:
    """ETL column -> the feature whose lineage names it."""
    out: dict[str, str] = {}
    for f in cfg.features:
        if f.served_from and f.served_from.split(".")[0] == table:
            out.setdefault(f.served_from.split(".", 1)[1], f.name)
    return out


def fetch_one(cursor: Any) -> Any:
    """The first row (or None), reading the result to its end.

    DuckDB 2 keeps a result open after fetchone(), which then blocks register() and
    similar calls on the same connection (the checks runner's); fetchall() closes it.
    """
    rows = cursor.fetchall()
    return rows[0] if rows else None


# ---- files -------------------------------------------------------------------


def file_format(path: Path, declared: str | None = None) -> str:
    """The declared format, else the one the file name ends with (Parquet by default)."""
    if declared:
        return declared
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".csv", ".csv.gz")):
        return "csv"
    if name.endswith((".jsonl", ".ndjson", ".json", ".jsonl.gz")):
        return "jsonl"
    return "parquet"


def list_files(root: Path, source: FileSource) -> list[Path]:
    folder = source.path if Path(source.path).is_absolute() else root / source.path
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob(source.glob) if p.is_file() and not p.name.startswith("."))


def relative_path(root: Path, path: Path) -> str:
    # Not resolve(): a symlinked landing file keeps its own name.
    absolute, base = Path(os.path.abspath(path)), Path(os.path.abspath(root))
    try:
        return absolute.relative_to(base).as_posix()
    except ValueError:
        return absolute.as_posix()


# ---- types -------------------------------------------------------------------

_NUMERIC = re.compile(r"^(U?(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT)|FLOAT|DOUBLE|REAL|DECIMAL.*|INT\d*)$")


def type_family(duck_type: str) -> str:
    t = duck_type.upper()
    if _NUMERIC.match(t):
        return "numeric"
    if t.startswith("VARCHAR") or t == "UUID":
        return "string"
    if t == "BOOLEAN":
        return "boolean"
    if t.startswith("TIMESTAMP") or t == "DATE":
        return "timestamp"
    return "other"


# A float32 column is stored as FLOAT: lossless, half the bytes, and no cast in the load (widening
# 800 float32 columns to DOUBLE cost a third of a wide file's ingest). The raw column is widened
# to DOUBLE (never narrowed) when a later file brings it in any other type.
FLOAT32 = "FLOAT"
WIDE_FLOAT = "DOUBLE"


def storage_type(duck_type: str) -> str:
    """The raw-table type for a column kept as the file has it (normalised)."""
    fam = type_family(duck_type)
    t = duck_type.upper()
    if fam == "numeric" and t in ("FLOAT", "REAL"):
        return FLOAT32
    if fam == "numeric" and t.startswith(("DECIMAL", "FLOAT", "REAL")):
        return WIDE_FLOAT
    if fam == "timestamp":
        return "TIMESTAMP"
    if fam == "other":
        return "VARCHAR"
    return duck_type.upper()


def expected_raw_type(family: str, file_type: str | None) -> str:
    """Raw type of a config column of ``family`` first seen as ``file_type`` (None: absent from the file)."""
    if family == "numeric" and file_type is not None and storage_type(file_type) == FLOAT32:
        return FLOAT32
    return RAW_TYPE[family]


def widens(raw_type: str, file_type: str) -> bool:
    """True when a FLOAT raw column must become DOUBLE to hold a file's column of ``file_type`` losslessly."""
    return raw_type == FLOAT32 and storage_type(file_type) != FLOAT32


# ---- batches -----------------------------------------------------------------


def window_micros(cfg: VigilConfig) -> int:
    return int(cfg.batch.window.total_seconds() * 1_000_000)


def bucket_sql(column_sql: str) -> str:
    """SQL for the batch of a timestamp; the window (microseconds) is the first parameter."""
    return f"time_bucket(to_microseconds(?::BIGINT), {column_sql}, TIMESTAMP '1970-01-01')"


def batch_of(ts: datetime, window: timedelta) -> datetime:
    n = (ts - EPOCH) // window
    return EPOCH + n * window
