"""The same rows profiled by DuckDB and by Spark local[1] and local[2] (profile.engine: spark).

    .venv/bin/python bench/spark_bench.py                    # 200,000 rows (a few minutes)
    .venv/bin/python bench/spark_bench.py --rows 10000000    # the issue's figure

Writes N prediction rows (a score, a decision, `--columns` numeric features and one categorical,
over `--batches` daily Parquet files) and outcomes for half of them, then prints:
- DuckDB: ingest + statistics (what the duckdb engine does each cycle) and statistics alone;
- Spark local[1] and local[2]: the statistics over the files in place (session start-up shown
  apart), wall time and rows per second per core;
- "statistics equal: yes/no" from the conformance comparison (counts exactly, moments within a
  relative 1e-9, distinct counts within the documented HyperLogLog bound; quantiles are
  compared by the test suite against the data, not here);
- from the best measured per-core throughput, the Spark cores and executors (4 cores each)
  needed for 1 billion rows a day: every 15-minute cycle profiling its 1/96 of the day, and a
  whole day's rows within one 15-minute cycle.
Figures, never assertions.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from core.config import VigilConfig, config_from_dict  # noqa: E402
from core.stores import Warehouse  # noqa: E402
from profilers.ingest import ingest_all  # noqa: E402
from profilers.profile import profile_batches  # noqa: E402
from profilers.reference import ensure_reference  # noqa: E402
from profilers.spark_profile import FIXED_CONF, profile_with_spark  # noqa: E402
from profilers.spark_sql import DISTINCT_RELATIVE_ERROR  # noqa: E402

DAY0 = datetime(2026, 1, 5)
ROWS_PER_DAY_TARGET = 1e9
CYCLE_SECONDS = 15 * 60
EXECUTOR_CORES = 4


def write_data(root: Path, rows: int, columns: int, batches: int, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    pred = root / "landing" / "predictions"
    out = root / "landing" / "etl" / "outcomes"
    pred.mkdir(parents=True)
    out.mkdir(parents=True)
    per = rows // batches
    for b in range(batches):
        n = per if b < batches - 1 else rows - per * (batches - 1)
        start = b * per
        ts = np.datetime64(DAY0 + timedelta(days=b)) + rng.integers(0, 86_400_000_000, n).astype("timedelta64[us]")
        score = rng.beta(2, 5, n)
        data: dict[str, Any] = {
            "id": pa.array(np.arange(start, start + n).astype(str)),
            "ts": pa.array(ts),
            "score": pa.array(np.round(score, 4)),
            "decision": pa.array(np.where(score < 0.3, "approve", "refer")),
            "grade": pa.array(rng.choice(["A", "B", "C", "D", "E"], n)),
        }
        for c in range(columns):
            x = rng.normal(c, 1 + c / 10, n)
            x[rng.random(n) < 0.01] = np.nan
            data[f"x{c}"] = pa.array(x, mask=rng.random(n) < 0.02)
        pq.write_table(pa.table(data), pred / f"predictions_{b}.parquet")
        labelled = rng.random(n) < 0.5
        pq.write_table(pa.table({
            "id": data["id"].filter(pa.array(labelled)),
            "observed_at": pa.array(ts[labelled] + np.timedelta64(3600, "s")),
            "y": pa.array((rng.random(int(labelled.sum())) < score[labelled]).astype(float)),
        }), out / f"outcomes_{b}.parquet")
    ref_n = min(rows, 100_000)
    pq.write_table(pa.table({
        **{f"x{c}": rng.normal(c, 1 + c / 10, ref_n) for c in range(columns)},
        "score": np.round(rng.beta(2, 5, ref_n), 4),
        "grade": rng.choice(["A", "B", "C", "D", "E"], ref_n),
    }), root / "reference.parquet")


def make_config(root: Path, columns: int, engine: str, name: str, master: str = "local[2]") -> VigilConfig:
    features: list[dict[str, Any]] = [{"name": f"x{c}", "type": "numeric"} for c in range(columns)]
    features.append({"name": "grade", "type": "categorical"})
    data = {
        "model": {"name": "bench", "threshold": 0.3},
        "predictions": {"source": {"path": "landing/predictions"}, "id_column": "id", "timestamp_column": "ts",
                        "score_column": "score", "decision_column": "decision", "positive_decision": "approve"},
        "features": features,
        "etl_tables": [{"name": "outcomes", "source": {"path": "landing/etl/outcomes"},
                        "timestamp_column": "observed_at", "key": "id"}],
        "labels": {"table": "outcomes", "join_key": "id", "label_column": "y", "maturity": "1d"},
        "reference": {"kind": "file", "path": "reference.parquet"},
        "batch": {"max_age": "10y"},
        "storage": {"root": str(root), "warehouse": f"{name}.duckdb", "duckdb_memory_limit": "4GB"},
        "profile": {"engine": engine, "spark": {"master": master, "sample_rows": 1000}},
    }
    return config_from_dict(data, file=str(root / f"{name}.yaml"), root=root)


def _table(wh: Warehouse, sql: str, key: int) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    with wh.read() as conn:
        return {tuple(r[:key]): tuple(r[key:]) for r in conn.execute(sql).fetchall()}


def _same(a: Any, b: Any) -> bool:
    """Equal, floats within a relative 1e-9, JSON compared value by value."""
    if a is None or b is None:
        return a is b
    if isinstance(a, str) and isinstance(b, str) and a[:1] in "[{":
        return _same(json.loads(a), json.loads(b))
    if isinstance(a, dict) and isinstance(b, dict):
        return set(a) == set(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    return bool(a == b)


def statistics_equal(duck: Warehouse, spark: Warehouse) -> tuple[bool, list[str]]:
    """The conformance comparison: counts exactly, moments 1e-9, distinct within the HLL bound."""
    problems: list[str] = []
    cols = ("SELECT source, column_name, batch, count, nulls, nan, inf, min, max, mean, std, bin_counts_json, "
            "categories_json, distinct_count FROM column_stats")
    d, s = _table(duck, cols, 3), _table(spark, cols, 3)
    if set(d) != set(s):
        problems.append(f"column_stats keys differ: {len(d)} vs {len(s)}")
    for k in set(d) & set(s):
        *exact, dd = d[k]
        *exact_s, sd = s[k]
        for i, (x, y) in enumerate(zip(exact, exact_s, strict=True)):
            if not _same(x, y):
                problems.append(f"column_stats {k} field {i}: {x} vs {y}")
        if abs(dd - sd) > DISTINCT_RELATIVE_ERROR * max(dd, sd) + 2:
            problems.append(f"column_stats {k} distinct: {dd} vs {sd}")
    for sql, key in (
        ("SELECT source, batch, row_count, newest, freshness_lag_seconds, duplicate_keys FROM table_stats", 2),
        ("SELECT batch, predictions, labeled, positives, approved, mean_score, mean_label, auc, brier, precision, "
         "recall, estimated_json FROM performance_stats", 1),
    ):
        d, s = _table(duck, sql, key), _table(spark, sql, key)
        if set(d) != set(s):
            problems.append(f"{sql.split()[-1]} keys differ")
        for k in set(d) & set(s):
            if not all(_same(x, y) for x, y in zip(d[k], s[k], strict=True)):
                problems.append(f"{sql.split()[-1]} {k}: {d[k]} vs {s[k]}")
    return not problems, problems


def spark_run(root: Path, columns: int, master: str, n_cores: int) -> tuple[float, float, Warehouse]:
    from pyspark.sql import SparkSession

    started = time.perf_counter()
    builder = SparkSession.builder.master(master).appName("vigil-bench").config("spark.ui.enabled", "false")
    builder = builder.config("spark.driver.memory", os.environ.get("SPARK_DRIVER_MEMORY", "4g"))
    builder = builder.config("spark.sql.shuffle.partitions", str(2 * n_cores))
    for k, v in FIXED_CONF.items():
        builder = builder.config(k, v)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    spark.range(1).collect()
    start_up = time.perf_counter() - started
    name = f"spark_local{n_cores}"
    cfg = make_config(root, columns, "spark", name, master)
    wh = Warehouse(cfg.warehouse_path)
    ensure_reference(cfg, wh)
    t = time.perf_counter()
    profile_with_spark(cfg, wh, spark)
    elapsed = time.perf_counter() - t
    spark.stop()
    return start_up, elapsed, wh


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--columns", type=int, default=20)
    parser.add_argument("--batches", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vigil-spark-bench-") as tmp:
        root = Path(tmp)
        t = time.perf_counter()
        write_data(root, args.rows, args.columns, args.batches)
        print(f"data: {args.rows:,} rows x ({args.columns} numeric + 1 categorical + score) over "
              f"{args.batches} daily Parquet files, outcomes for half ({time.perf_counter() - t:.1f}s to write)")

        cfg = make_config(root, args.columns, "duckdb", "duckdb")
        duck = Warehouse(cfg.warehouse_path)
        t = time.perf_counter()
        ingest_all(cfg, duck)
        ingest_s = time.perf_counter() - t
        ensure_reference(cfg, duck)
        t = time.perf_counter()
        profile_batches(cfg, duck, None)
        stats_s = time.perf_counter() - t
        cores = os.cpu_count() or 1
        print(f"DuckDB ({cores} threads): ingest {ingest_s:.1f}s + statistics {stats_s:.1f}s = "
              f"{ingest_s + stats_s:.1f}s; statistics alone {args.rows / stats_s:,.0f} rows/s, "
              f"{args.rows / stats_s / cores:,.0f} rows/s per core")

        best_per_core = 0.0
        for master, n_cores in (("local[1]", 1), ("local[2]", 2)):
            start_up, elapsed, wh = spark_run(root, args.columns, master, n_cores)
            per_core = args.rows / elapsed / n_cores
            best_per_core = max(best_per_core, per_core)
            equal, problems = statistics_equal(duck, wh)
            print(f"Spark {master}: {elapsed:.1f}s (session start {start_up:.1f}s apart), "
                  f"{args.rows / elapsed:,.0f} rows/s, {per_core:,.0f} rows/s per core; "
                  f"ratio to DuckDB statistics {elapsed / stats_s:.1f}x, to DuckDB ingest + statistics "
                  f"{elapsed / (ingest_s + stats_s):.1f}x; statistics equal: {'yes' if equal else 'no'}")
            for p in problems[:10]:
                print("   ", p)

        per_cycle = ROWS_PER_DAY_TARGET / 96
        cores_cycle = per_cycle / CYCLE_SECONDS / best_per_core
        cores_day = ROWS_PER_DAY_TARGET / CYCLE_SECONDS / best_per_core
        print(f"projection at {best_per_core:,.0f} rows/s per core (best measured), {EXECUTOR_CORES}-core executors:")
        print(f"  1e9 rows/day, each 15-min cycle profiling its {per_cycle:,.0f} rows: {math.ceil(cores_cycle)} cores "
              f"= {math.ceil(cores_cycle / EXECUTOR_CORES)} executor(s)")
        print(f"  1e9 rows (a whole day) within one 15-min cycle: {math.ceil(cores_day)} cores "
              f"= {math.ceil(cores_day / EXECUTOR_CORES)} executors")
        print("  (linear scaling assumed; per-cycle overhead measured above is not divided by executors)")


if __name__ == "__main__":
    main()
