"""Where the example business keeps its files under the storage root (see CONTRACTS.md)."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

ETL_TABLES: tuple[str, ...] = ("applications", "bureau", "outcomes")


def etl_path(root: str | Path, table: str, day: date) -> Path:
    return Path(root) / "landing" / "etl" / table / f"{table}_{day.isoformat()}.parquet"


def predictions_path(root: str | Path, day: date) -> Path:
    return Path(root) / "landing" / "predictions" / f"predictions_{day.isoformat()}.parquet"


def training_dir(root: str | Path) -> Path:
    return Path(root) / "training"


def snapshot_dir(root: str | Path) -> Path:
    return training_dir(root) / "snapshot"


def reference_path(root: str | Path) -> Path:
    return training_dir(root) / "reference.parquet"


def artifacts_dir(root: str | Path) -> Path:
    return Path(root) / "artifacts"


def write_parquet_atomic(
    frame: pd.DataFrame,
    path: Path,
    *,
    writer: Callable[[pa.Table, str], None] | None = None,
    schema: pa.Schema | None = None,
) -> None:
    """Write a parquet file so readers see either nothing or the whole file.

    The temp file is a dot-file ending in .tmp in the same folder (same file system,
    so the rename is atomic, and the ingest glob '*.parquet' never matches it).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    # An explicit schema keeps column types fixed even when a column is all null today
    # (otherwise Arrow writes type "null" and monitoring sees a schema change).
    table = pa.Table.from_pandas(frame, preserve_index=False, schema=schema)
    # Pandas metadata embeds library versions; dropping it keeps files byte-identical
    # across environments for the same data.
    table = table.replace_schema_metadata(None)
    write = writer or (lambda t, p: pq.write_table(t, p, compression="zstd"))
    try:
        write(table, str(tmp))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
