"""Training-serving skew sample: rebuild a batch's served features from the upstream tables.

I/O for the training_serving_skew check: read a sample of the batch's predictions and
the matching upstream rows from the warehouse, call the model's own feature builder
(config model.feature_builder, imported by name) and summarise the comparison.
"""

from __future__ import annotations

import inspect
from datetime import datetime

import duckdb

from checks.input_quality.skew import SkewStats, compare_features, load_builder
from checks.stats_access import table_exists
from core.config import VigilConfig
from core.sql import ident
from profilers.sources import bucket_sql, raw_table_name, window_micros


def skew_sample(conn: duckdb.DuckDBPyConnection, cfg: VigilConfig, batch: datetime, rows: int, rtol: float) -> SkewStats:
    """Rebuild the served features of a sample of the batch from the upstream tables and compare."""
    spec = cfg.model.feature_builder
    if not spec:
        return SkewStats(batch=batch, builder=None)
    p = cfg.predictions
    features = [f.name for f in cfg.features]
    pred_cols = [p.id_column] + features
    served = conn.execute(
        f"SELECT {', '.join(ident(c) for c in pred_cols)} FROM predictions "  # noqa: S608
        f"WHERE {bucket_sql(ident(p.timestamp_column))} = ? ORDER BY {ident(p.id_column)} LIMIT ?",
        [window_micros(cfg), batch, rows],
    ).df()
    if served.empty:
        return SkewStats(batch=batch, builder=spec, note="no predictions in this batch")
    builder = load_builder(spec)
    ids = served[p.id_column].astype(str).tolist()
    tables = {}
    for t in cfg.etl_tables:
        if not t.key or not table_exists(conn, raw_table_name(t.name)):
            continue
        tables[t.name] = conn.execute(
            f"SELECT * EXCLUDE (_file) FROM {ident(raw_table_name(t.name))} "  # noqa: S608
            f"WHERE CAST({ident(t.key)} AS VARCHAR) IN (SELECT unnest(?::VARCHAR[]))",
            [ids],
        ).df()
    accepted = inspect.signature(builder).parameters
    kwargs = {name: df for name, df in tables.items() if name in accepted}
    if not kwargs:
        return SkewStats(batch=batch, builder=spec,
                         note=f"the feature builder takes none of the ETL tables ({', '.join(tables) or 'none loaded'})")
    rebuilt = builder(**kwargs)
    return compare_features(served, rebuilt, p.id_column, features, rtol, batch=batch, builder=spec)
