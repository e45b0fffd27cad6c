"""Regression performance estimated before labels: direct loss estimation (DLE).

The idea of NannyML's DLE: on the reference, where both the prediction and the outcome
are known, fit a model that predicts each row's absolute error (and squared error) from
the features and the prediction. On a batch whose outcomes have not arrived, the mean of
those predicted errors estimates the batch's MAE (and, through the mean squared error,
its RMSE). A shift towards inputs where the model was bad raises the estimate before any
label exists; a change in the world the inputs do not show (concept drift) cannot be seen
this way, which is what the realized mae / rmse checks are for once labels mature.

The estimators are scikit-learn HistGradientBoostingRegressor (native missing values and
categories). The reference's own estimates are cross-fitted (two folds, each half
predicted by the model fitted on the other half) and cut into batch-sized chunks: their
mean is the expected estimate and their spread calibrates the check's bounds.

Statistics only leave this module: the per-batch estimates go into
``PerformanceStats.estimated`` (``mae``, ``rmse``, ``reference_mae``,
``reference_mae_chunks`` ...). The fitted models are cached per process, keyed by the
reference file's content and the config's columns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import duckdb
import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.model_selection import KFold
from threadpoolctl import threadpool_limits  # scikit-learn's own dependency

from core.config import VigilConfig
from core.ids import sha256_file
from core.sql import ident
from profilers.ingest import read_sql
from profilers.sources import PREDICTIONS, bucket_sql, fetch_one, file_format, renamed_sql, window_micros

MAX_ROWS_PER_BATCH = 20_000  # rows of a batch the estimate reads (deterministic hash sample beyond)
MIN_REFERENCE_ROWS = 200


@dataclass(frozen=True)
class ErrorModel:
    columns: tuple[str, ...]  # feature names, then the prediction
    categories: dict[str, tuple[str, ...]]  # categorical feature -> reference categories
    abs_model: HistGradientBoostingRegressor
    sq_model: HistGradientBoostingRegressor
    reference_abs: np.ndarray  # cross-fitted expected |error| of each reference row
    reference_sq: np.ndarray  # cross-fitted expected error^2 of each reference row

    def estimate(self, frame: pd.DataFrame) -> dict[str, float]:
        x = design(frame, self.columns, self.categories)
        with threadpool_limits(1):
            abs_err = np.clip(self.abs_model.predict(x), 0.0, None)
            sq_err = np.clip(self.sq_model.predict(x), 0.0, None)
        return {"mae": float(abs_err.mean()), "rmse": float(math.sqrt(sq_err.mean()))}

    def reference_summary(self, chunk_rows: int | None) -> dict[str, float]:
        """Mean and spread of the estimate over batch-sized chunks of the reference."""
        n = len(self.reference_abs)
        size = chunk_rows or max(50, n // 10)
        starts = range(0, n - size + 1, size)
        chunks = {
            "mae": [float(np.clip(self.reference_abs[i:i + size], 0, None).mean()) for i in starts],
            "rmse": [math.sqrt(float(np.clip(self.reference_sq[i:i + size], 0, None).mean())) for i in starts],
        }
        out: dict[str, float] = {"reference_rows": float(n), "reference_chunks": float(len(chunks["mae"]))}
        for name, values in chunks.items():
            arr = np.asarray(values, dtype=float)
            out[f"reference_{name}"] = float(arr.mean()) if len(arr) else float("nan")
            out[f"reference_{name}_sd"] = float(arr.std(ddof=1)) if len(arr) >= 2 else 0.0
        return out


_CACHE: dict[str, ErrorModel | None] = {}


def design(frame: pd.DataFrame, columns: tuple[str, ...], categories: dict[str, tuple[str, ...]]) -> np.ndarray:
    """Feature matrix: numbers as floats, categories as their reference code (unknown: missing)."""
    cols = []
    for c in columns:
        values = frame[c] if c in frame.columns else pd.Series([np.nan] * len(frame))
        if c in categories:
            codes = {v: float(i) for i, v in enumerate(categories[c])}
            cols.append(values.astype(str).map(codes).astype(float).to_numpy())
        else:
            cols.append(pd.to_numeric(values, errors="coerce").astype(float).to_numpy())
    return np.column_stack(cols) if cols else np.empty((len(frame), 0))


def _regressor(categorical: list[bool]) -> HistGradientBoostingRegressor:
    return HistGradientBoostingRegressor(max_iter=100, learning_rate=0.1, max_leaf_nodes=15, min_samples_leaf=40,
                                         categorical_features=categorical or None, random_state=0)


def _reference_frame(cfg: VigilConfig, columns: list[str], label: str) -> pd.DataFrame | None:
    ref = cfg.reference
    if ref is None or ref.kind != "file" or not ref.path:
        return None
    path = cfg.resolve(ref.path)
    if not path.is_file():
        return None
    with duckdb.connect() as conn:
        rel = read_sql(file_format(path))
        present = {str(r[0]) for r in conn.execute(f"DESCRIBE SELECT * FROM {rel}", [str(path)]).fetchall()}  # noqa: S608
        relation = renamed_sql(rel, cfg.column_map, present)
        names = {str(r[0]) for r in conn.execute(f"DESCRIBE SELECT * FROM {relation}", [str(path)]).fetchall()}  # noqa: S608
        if label not in names or not set(columns) <= names:
            return None
        select = ", ".join(ident(c) for c in [*columns, label])
        return conn.execute(f"SELECT {select} FROM {relation} WHERE {ident(label)} IS NOT NULL", [str(path)]).df()  # noqa: S608


def error_model(cfg: VigilConfig) -> ErrorModel | None:
    """The DLE models of a regression config, fitted on its reference (None without a labelled reference)."""
    if cfg.model.task != "regression" or cfg.labels is None or not cfg.predictions.score_column:
        return None
    ref = cfg.reference
    path = cfg.resolve(ref.path) if ref is not None and ref.kind == "file" and ref.path else None
    if path is None or not path.is_file():
        return None
    features = [f.name for f in cfg.features]
    score = cfg.predictions.score_column
    key = "|".join([str(path), sha256_file(str(path)), score, cfg.labels.label_column,
                    ",".join(f"{f.name}:{f.type}:{f.column}" for f in cfg.features)])
    if key not in _CACHE:
        # One thread: OpenMP over busy cores made the same fits 40x slower (measured 41 s vs 1 s).
        with threadpool_limits(1):
            _CACHE[key] = _fit(cfg, features, score)
    return _CACHE[key]


def _fit(cfg: VigilConfig, features: list[str], score: str) -> ErrorModel | None:
    assert cfg.labels is not None
    label = cfg.labels.label_column
    frame = _reference_frame(cfg, [*features, score], label)
    if frame is None or len(frame) < MIN_REFERENCE_ROWS:
        return None
    frame = frame[pd.to_numeric(frame[score], errors="coerce").notna()].reset_index(drop=True)
    categories = {f.name: tuple(sorted(frame[f.name].dropna().astype(str).unique()))
                  for f in cfg.features if f.type == "categorical"}
    columns = (*features, score)
    x = design(frame, columns, categories)
    err = pd.to_numeric(frame[label], errors="coerce").to_numpy(float) - frame[score].to_numpy(float)
    keep = np.isfinite(err)
    x, err = x[keep], err[keep]
    if len(err) < MIN_REFERENCE_ROWS:
        return None
    categorical = [c in categories for c in columns]
    # Cross-fitted estimates on the reference: what the method says where nothing changed.
    oof_abs, oof_sq = np.empty(len(err)), np.empty(len(err))
    for train, test in KFold(2, shuffle=True, random_state=0).split(x):
        oof_abs[test] = _regressor(categorical).fit(x[train], np.abs(err[train])).predict(x[test])
        oof_sq[test] = _regressor(categorical).fit(x[train], err[train] ** 2).predict(x[test])
    return ErrorModel(columns, categories, _regressor(categorical).fit(x, np.abs(err)),
                      _regressor(categorical).fit(x, err**2), oof_abs, oof_sq)


def _typical_batch_rows(conn: duckdb.DuckDBPyConnection) -> int | None:
    row = fetch_one(conn.execute("SELECT median(prediction_rows) FROM batches WHERE prediction_rows > 0"))
    return int(row[0]) if row and row[0] else None


def estimate_batches(conn: duckdb.DuckDBPyConnection, cfg: VigilConfig, batches: list[datetime]) -> dict[datetime, dict[str, float]]:
    """Estimated MAE / RMSE of each batch from its features and predictions, with the reference's figures."""
    chunk = cfg.reference.chunk_rows if cfg.reference and cfg.reference.chunk_rows else _typical_batch_rows(conn)
    model = error_model(cfg)
    if model is None or not batches:
        return {}
    ts = ident(cfg.predictions.timestamp_column)
    cols = ", ".join(ident(c) for c in model.columns)
    frame = conn.execute(
        f"SELECT * EXCLUDE (_rn) FROM (SELECT {bucket_sql(ts)} AS _batch, {cols}, "  # noqa: S608
        f"row_number() OVER (PARTITION BY {bucket_sql(ts)} ORDER BY hash({ident(cfg.predictions.id_column)})) AS _rn "
        f"FROM {PREDICTIONS}) WHERE list_contains(?::TIMESTAMP[], _batch) AND _rn <= ?",
        [window_micros(cfg), window_micros(cfg), batches, MAX_ROWS_PER_BATCH],
    ).df()
    summary = model.reference_summary(chunk)
    out: dict[datetime, dict[str, float]] = {}
    for batch, rows in frame.groupby("_batch"):
        est = model.estimate(rows)
        out[pd.Timestamp(batch).to_pydatetime()] = {"mae": est["mae"], "rmse": est["rmse"], **summary,
                                                    "estimated_rows": float(len(rows))}
    return out
