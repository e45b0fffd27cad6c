"""Wide tables: statistics SQL batched across columns, a bounded number of round trips.

A table of many columns profiles in column batches (one aggregate query and at most one
top-K query per batch), every column gets statistics, and a full cycle checks every
feature. Round trips are counted through a connection wrapper, never timed.
"""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest

from checks.runner import run_checks
from core.config import config_from_dict
from core.stores import Warehouse
from profilers import column_sql
from profilers.column_sql import ColumnPlan, stats_by_group
from profilers.ingest import ingest_all
from profilers.profile import profile_batches
from profilers.reference import ensure_reference
from profilers.stats_types import OTHER

ROWS = 2000
N_NUM, N_CAT = 240, 60
LEVELS = np.array([f"v{j}" for j in range(25)])  # more levels than the old top-20


class CountingConnection:
    """A DuckDB connection that counts the queries sent through it."""

    def __init__(self, conn: duckdb.DuckDBPyConnection) -> None:
        self.conn = conn
        self.queries = 0

    def execute(self, sql: str, params: Any = None) -> Any:
        self.queries += 1
        return self.conn.execute(sql, params)


def wide_frame(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data: dict[str, Any] = {"_g": rng.integers(0, 3, rows)}
    for i in range(N_NUM):
        x = rng.normal(i, 1 + i % 5, rows)
        x[rng.random(rows) < 0.05] = np.nan  # NULL in DuckDB (pandas NaN)
        data[f"n{i:03d}"] = x
    for i in range(N_CAT):
        data[f"c{i:03d}"] = LEVELS[rng.integers(0, 25 - i % 10, rows)]
    return pd.DataFrame(data)


def plans() -> list[ColumnPlan]:
    return [ColumnPlan(f"n{i:03d}", "numeric", (float(i - 1), float(i), float(i + 1))) for i in range(N_NUM)] + [
        ColumnPlan(f"c{i:03d}", "categorical") for i in range(N_CAT)
    ]


@pytest.mark.parametrize("batch_size", [7, 100])
def test_wide_stats_in_column_batches_match_pandas(monkeypatch: pytest.MonkeyPatch, batch_size: int) -> None:
    monkeypatch.setattr(column_sql, "COLUMN_BATCH", batch_size)
    df = wide_frame(ROWS, seed=3)
    conn = duckdb.connect()
    conn.register("wide", df)
    counting = CountingConnection(conn)
    out = stats_by_group(counting, "wide", [], plans(), "predictions")  # type: ignore[arg-type]

    batches = math.ceil((N_NUM + N_CAT) / batch_size)
    categorical_batches = len({i // batch_size for i in range(N_NUM, N_NUM + N_CAT)})
    # one aggregate query per batch, one top-K query per batch holding categoricals
    assert counting.queries == batches + categorical_batches
    assert sorted(out) == [0, 1, 2]
    for g, stats in out.items():
        part = df[df["_g"] == g]
        assert [s.column for s in stats] == [p.column for p in plans()]
        for s in stats:
            col = part[s.column]
            assert s.count == len(part)
            assert s.nulls == int(col.isna().sum())
            if s.kind == "numeric":
                assert s.mean == pytest.approx(col.mean())
                assert s.min == pytest.approx(col.min())
                assert sum(s.bin_counts) == int(col.notna().sum())
            else:
                # every value counted (25 levels, far below the category cap)
                counts = {str(v): int(k) for v, k in col.value_counts().items()}
                assert {v: k for v, k in s.categories.items() if v != OTHER} == counts
                assert sum(s.categories.values()) == int(col.notna().sum())


def test_round_trips_do_not_grow_per_column(monkeypatch: pytest.MonkeyPatch) -> None:
    """Going from 60 to 300 columns adds queries per batch of columns, never per column."""
    monkeypatch.setattr(column_sql, "COLUMN_BATCH", 100)
    df = wide_frame(200, seed=1)
    conn = duckdb.connect()
    conn.register("wide", df)
    few, many = CountingConnection(conn), CountingConnection(conn)
    stats_by_group(few, "wide", [], plans()[:30] + plans()[-30:], "predictions")  # type: ignore[arg-type]
    stats_by_group(many, "wide", [], plans(), "predictions")  # type: ignore[arg-type]
    assert few.queries == 2  # one batch: aggregates + top-K
    assert many.queries == 3 + 1  # three batches, categoricals all in the last one


def test_wide_table_profiles_and_checks_every_column(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A full cycle on a 120-feature table, profiled in batches of 16 columns."""
    monkeypatch.setattr(column_sql, "COLUMN_BATCH", 16)
    n_num, n_cat, rows = 100, 20, 600
    rng = np.random.default_rng(7)
    num = [f"n{i:03d}" for i in range(n_num)]
    cat = [f"c{i:03d}" for i in range(n_cat)]

    def frame(shift: float, ts: bool) -> pd.DataFrame:
        data: dict[str, Any] = {}
        if ts:
            data["id"] = [f"r{i}" for i in range(rows)]
            data["ts"] = datetime(2025, 1, 1) + pd.to_timedelta(rng.integers(0, 86_400, rows), unit="s")
        for i, c in enumerate(num):
            data[c] = rng.normal(i, 1, rows) + (shift if i % 10 == 0 else 0.0)
        for c in cat:
            data[c] = LEVELS[rng.integers(0, 5, rows)]
        data["score"] = rng.beta(2, 5, rows)
        return pd.DataFrame(data)

    (tmp_path / "landing" / "predictions").mkdir(parents=True)
    frame(0.0, False).to_parquet(tmp_path / "reference.parquet", index=False)
    frame(3.0, True).to_parquet(tmp_path / "landing" / "predictions" / "p0.parquet", index=False)
    cfg = config_from_dict(
        {
            "model": {"name": "wide", "threshold": 0.5},
            "predictions": {"source": {"path": "landing/predictions"}, "id_column": "id",
                            "timestamp_column": "ts", "score_column": "score"},
            "features": [{"name": c, "type": "numeric"} for c in num]
            + [{"name": c, "type": "categorical"} for c in cat],
            "batch": {"window": "1d"},
            "reference": {"kind": "file", "path": "reference.parquet"},
        },
        file="wide.yaml",
        root=tmp_path,
    )
    wh = Warehouse(cfg.warehouse_path)
    wh.migrate()
    ingest_all(cfg, wh, now=datetime(2025, 1, 2))
    ensure_reference(cfg, wh)
    batches = profile_batches(cfg, wh)
    assert batches == [datetime(2025, 1, 1)]
    results = run_checks(cfg, wh, batches, batches)
    with wh.read() as conn:
        profiled = {r[0] for r in conn.execute("SELECT column_name FROM column_stats").fetchall()}
        ref_cols = {r[0] for r in conn.execute("SELECT column_name FROM reference_stats WHERE chunk = -1").fetchall()}
    features = set(num) | set(cat)
    assert features | {"score"} <= profiled
    assert features | {"score"} <= ref_cols
    subjects = {f"predictions.{c}" for c in features}
    checked = {r.subject for r in results if r.status not in ("skipped", "error")}
    assert subjects <= checked
    assert not [r for r in results if r.status == "error"]
    flagged = {r.subject for r in results if r.status in ("warn", "fail") and r.subject in subjects}
    shifted = {f"predictions.{c}" for i, c in enumerate(num) if i % 10 == 0}
    assert shifted <= flagged
