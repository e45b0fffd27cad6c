"""The wide-table cost cuts: sampled quantiles and decile edges, a Parquet reference read in place,
and a one-chunk reference computed in one pass. Small data, the sample sizes patched down."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from core.config import VigilConfig, config_from_dict
from profilers import column_sql, reference
from profilers.column_sql import ColumnPlan, stats_by_group
from profilers.reference import compute_reference_segmented, numbered_parquet, reference_relation
from profilers.stats_types import QUANTILES
from tests.profilers.conftest import toy_config_dict, write_reference


class Recording:
    """A DuckDB connection that keeps the SQL sent through it."""

    def __init__(self, conn: duckdb.DuckDBPyConnection) -> None:
        self.conn = conn
        self.sql: list[str] = []

    def execute(self, sql: str, params: Any = None) -> Any:
        self.sql.append(sql)
        return self.conn.execute(sql, params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.conn, name)


def _rank(values: np.ndarray, x: float) -> float:
    return float(np.searchsorted(np.sort(values), x, side="right")) / len(values)


@pytest.mark.parametrize("seed", [0, 1])
def test_quantiles_of_a_large_group_come_from_a_sample_small_groups_stay_exact(
    monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    monkeypatch.setattr(column_sql, "QUANTILE_SAMPLE", 2000)
    rng = np.random.default_rng(seed)
    big, small = rng.lognormal(0, 1, 40_000), rng.normal(5, 2, 1500)
    conn = duckdb.connect()
    conn.register("t", pa.table({"_g": np.r_[np.zeros(len(big), int), np.ones(len(small), int)], "x": np.r_[big, small]}))
    plans = [ColumnPlan("x", "numeric", (1.0, 2.0))]
    exact = stats_by_group(conn, "t", [], plans, "s")
    rec = Recording(conn)
    sampled = stats_by_group(rec, "t", [], plans, "s", group_rows={0: len(big), 1: len(small)})  # type: ignore[arg-type]
    # The quantiles come from a query over the sampled rows only; the aggregate pass has none.
    quantile_sql = [sql for sql in rec.sql if "reservoir_quantile" in sql]
    assert len(quantile_sql) == 1 and "WHERE random() <" in quantile_sql[0]
    assert any("histogram(" in sql and "reservoir_quantile" not in sql for sql in rec.sql)
    # The small group is exact (every row fed to the reservoir), and equal to the unsampled run.
    assert sampled[1][0].quantiles == exact[1][0].quantiles
    assert sampled[1][0].quantiles[0.5] == pytest.approx(float(np.quantile(small, 0.5)), abs=0.02)
    # The large group: every other statistic is over all rows; quantiles within the rank error
    # of a 2,000-row sample (standard deviation <= 1.1%; bound 5%).
    s, e = sampled[0][0], exact[0][0]
    assert (s.count, s.min, s.max, s.bin_counts) == (e.count, e.min, e.max, e.bin_counts)
    assert s.mean == pytest.approx(e.mean, rel=1e-12)
    for q in QUANTILES:
        assert abs(_rank(big, s.quantiles[q]) - q) <= 0.05, q


def test_no_sample_with_segment_keys_or_without_sizes() -> None:
    assert column_sql._sample_sql(None, ()) is None
    assert column_sql._sample_sql({0: 10**6}, ("_s0",)) is None  # a segment sees its group's sample
    assert column_sql._sample_sql({0: 100, 1: 5}, ()) is None  # small groups: exact
    found = column_sql._sample_sql({0: 100, 1: 10**6}, ())
    assert found is not None and found[1] == [1, column_sql.QUANTILE_SAMPLE / 10**6]


@pytest.mark.parametrize("seed", [3, 4])
def test_decile_edges_of_a_large_reference_come_from_a_sample(monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    monkeypatch.setattr(reference, "EDGE_SAMPLE", 2000)
    rng = np.random.default_rng(seed)
    x = rng.gamma(2.0, 3.0, 30_000)
    conn = duckdb.connect()
    conn.register("r", pa.table({"x": x}))
    exact = reference.bin_edges(conn, "r", [], ["x"])
    assert reference.bin_edges(conn, "r", [], ["x"], rows=2000) == exact  # at or below the sample size: exact
    sampled = reference.bin_edges(conn, "r", [], ["x"], rows=len(x))
    assert len(sampled["x"]) == 9 and sampled != exact
    for i, cut in enumerate(sampled["x"], start=1):
        assert abs(_rank(x, cut) - i / 10) <= 0.05


def _cfg(tmp_path: Path, chunk_rows: int | None = None) -> VigilConfig:
    d = toy_config_dict()
    d["reference"] = {"kind": "file", "path": "ref.parquet", **({"chunk_rows": chunk_rows} if chunk_rows else {})}
    return config_from_dict(d, file="toy.yaml", root=tmp_path)


def test_a_parquet_reference_read_in_place_equals_the_temporary_table(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    write_reference(tmp_path, n=3000)
    conn = duckdb.connect()
    conn.execute("CREATE TABLE batches (prediction_rows BIGINT)")
    found = reference_relation(cfg, conn)
    numbered = numbered_parquet(cfg)
    assert found is not None and numbered is not None
    copied = compute_reference_segmented(cfg, conn, found[0], found[1])
    in_place = compute_reference_segmented(cfg, conn, *numbered, numbered=True)
    assert len({c for c, _, _ in in_place.overall}) == 11  # whole + 10 chunks of 300 rows
    assert in_place.overall == copied.overall
    tables = {r[0] for r in conn.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert "_vigil_reference" not in tables


def test_a_one_chunk_reference_is_one_pass(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, chunk_rows=5000)
    write_reference(tmp_path, n=3000)
    conn = duckdb.connect()
    numbered = numbered_parquet(cfg)
    assert numbered is not None
    rec = Recording(conn)
    out = compute_reference_segmented(cfg, rec, *numbered, numbered=True)  # type: ignore[arg-type]
    assert sum("reservoir_quantile" in sql for sql in rec.sql) == 1  # the whole's pass only
    whole = {s.column: s for c, _, s in out.overall if c == -1}
    chunk = {s.column: s for c, _, s in out.overall if c == 0}
    assert chunk == whole and len(whole) == len(cfg.features) + 1


@pytest.mark.parametrize("seed", [5, 6])
def test_length_statistics_from_the_counts_equal_the_row_pass(seed: int) -> None:
    rng = np.random.default_rng(seed)
    levels = np.array(["a", "bb", "ccc", "d\u00e9j\u00e0", "\U0001f986\U0001f3fb", "", "longer value"])
    n = 3000
    c = levels[rng.integers(0, len(levels), n)].astype(object)
    c[rng.random(n) < 0.1] = None
    g = rng.integers(0, 3, n)
    conn = duckdb.connect()
    conn.register("t", pa.table({"_g": g, "c": pa.array(c, type=pa.string())}))
    plans = [ColumnPlan("c", "categorical")]
    rows = stats_by_group(conn, "t", [], plans, "s")
    rec = Recording(conn)
    counted = stats_by_group(rec, "t", [], plans, "s", group_rows={k: int((g == k).sum()) for k in range(3)})  # type: ignore[arg-type]
    assert not any("length(" in sql for sql in rec.sql)  # no pass over the rows for the lengths
    for k in range(3):
        a, b = counted[k][0], rows[k][0]
        assert (a.min, a.max, a.categories, a.count, a.nulls) == (b.min, b.max, b.categories, b.count, b.nulls)
        assert a.mean == pytest.approx(b.mean, rel=1e-12) and a.std == pytest.approx(b.std, rel=1e-9)


def test_a_group_above_the_category_cap_keeps_the_row_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(column_sql, "CATEGORY_CAP", 5)
    conn = duckdb.connect()
    vals = [f"v{'x' * (i % 9)}" for i in range(40)]
    conn.register("t", pa.table({"_g": [0] * 40, "c": vals}))
    rec = Recording(conn)
    [s] = stats_by_group(rec, "t", [], [ColumnPlan("c", "categorical")], "s", group_rows={0: 40})[0]  # type: ignore[arg-type]
    assert any("length(" in sql for sql in rec.sql)
    assert (s.min, s.max) == (1, 9) and s.mean == pytest.approx(np.mean([len(v) for v in vals]))
