"""Evidently drill-down: a drift report for one batch against the reference, as HTML.

Vigil's own checks read statistics; this report reads rows (a bounded sample), so it is
for a human looking at one batch, not for the check cycle.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import duckdb
import pandas as pd

from core.config import VigilConfig
from core.sql import ident
from core.stores import Warehouse
from profilers.sources import bucket_sql, window_micros

DEFAULT_SAMPLE_ROWS = 20_000


def _evidently() -> tuple[Any, Any]:
    # Imported lazily: evidently takes seconds to import and only the drill-down needs it.
    from evidently import Report
    from evidently.presets import DataDriftPreset

    return Report, DataDriftPreset


def _frames(reference_df: pd.DataFrame, current_df: pd.DataFrame, columns: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    cols = list(columns)
    missing = [c for c in cols if c not in reference_df.columns or c not in current_df.columns]
    if missing:
        raise ValueError(f"drift report: columns not in both frames: {', '.join(missing)} "
                         "(hint: pass feature names present in the reference and the batch)")
    if current_df.empty or reference_df.empty:
        raise ValueError("drift report: the reference or the batch has no rows")
    return reference_df[cols].reset_index(drop=True), current_df[cols].reset_index(drop=True)


def run_drift_report(reference_df: pd.DataFrame, current_df: pd.DataFrame, columns: Sequence[str],
                     method: str | None = None) -> Any:
    """Evidently's DataDriftPreset on the given columns; returns the evaluated snapshot."""
    report_cls, preset_cls = _evidently()
    ref, cur = _frames(reference_df, current_df, columns)
    report = report_cls([preset_cls(columns=list(columns), method=method)])
    return report.run(current_data=cur, reference_data=ref)


def drift_report_html(reference_df: pd.DataFrame, current_df: pd.DataFrame, columns: Sequence[str]) -> str:
    """A self-contained HTML drift report (Evidently DataDriftPreset) for the columns."""
    return str(run_drift_report(reference_df, current_df, columns).get_html_str(as_iframe=False))


def evidently_drift_values(reference_df: pd.DataFrame, current_df: pd.DataFrame, columns: Sequence[str],
                           method: str) -> dict[str, float]:
    """Per-column drift value Evidently computes with one method ('psi', 'jensenshannon', 'wasserstein'...)."""
    snapshot = run_drift_report(reference_df, current_df, columns, method=method)
    out: dict[str, float] = {}
    for metric in snapshot.dict()["metrics"]:
        config = metric.get("config", {})
        if str(config.get("type", "")).endswith("ValueDrift") and config.get("column") in columns:
            out[str(config["column"])] = float(metric["value"])
    return out


def batch_rows(cfg: VigilConfig, wh: Warehouse, batch: datetime, columns: Sequence[str],
               limit: int = DEFAULT_SAMPLE_ROWS) -> pd.DataFrame:
    """A uniform sample (fixed seed) of the batch's served features from the prediction log."""
    cols = ", ".join(ident(c) for c in columns)
    ts = ident(cfg.predictions.timestamp_column)
    with wh.read() as conn:
        # The sample clause takes constants only: limit is an int, never user text.
        return conn.execute(
            f"SELECT * FROM (SELECT {cols} FROM predictions WHERE {bucket_sql(ts)} = ?) "  # noqa: S608
            f"USING SAMPLE reservoir({int(limit)} ROWS) REPEATABLE (7)",
            [window_micros(cfg), batch],
        ).df()


def reference_rows(cfg: VigilConfig, columns: Sequence[str], limit: int = DEFAULT_SAMPLE_ROWS) -> pd.DataFrame:
    """A sample of the reference file's columns (config reference.kind 'file')."""
    if cfg.reference is None or cfg.reference.kind != "file" or not cfg.reference.path:
        raise ValueError("drift report needs a file reference (config reference: {kind: file, path: ...})")
    path = cfg.resolve(cfg.reference.path)
    if not path.exists():
        raise ValueError(f"{path}: reference file not found (hint: train the model or fix reference.path)")
    cols = ", ".join(ident(c) for c in columns)
    with duckdb.connect() as conn:
        return conn.execute(
            f"SELECT {cols} FROM read_parquet(?) USING SAMPLE reservoir({int(limit)} ROWS) REPEATABLE (7)",  # noqa: S608
            [str(path)],
        ).df()


def batch_report_html(cfg: VigilConfig, wh: Warehouse, batch: datetime, columns: Sequence[str] | None = None,
                      limit: int = DEFAULT_SAMPLE_ROWS) -> str:
    """`vigil report BATCH`: Evidently's drift report of the batch's features against the reference."""
    cols = list(columns) if columns else [f.name for f in cfg.features]
    ref = reference_rows(cfg, cols, limit)
    cur = batch_rows(cfg, wh, batch, [c for c in cols if c in ref.columns], limit)
    if cur.empty:
        raise ValueError(f"no predictions in batch {batch.isoformat()} (hint: `vigil checks list` shows checked batches)")
    present = [c for c in cols if c in ref.columns and c in cur.columns]
    return drift_report_html(ref, cur, present)
