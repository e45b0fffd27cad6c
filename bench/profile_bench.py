"""Profiler benchmark: statistics path vs whylogs.log(), memory at 1M and 10M rows, idle cycle.

    .venv/bin/python bench/profile_bench.py            # full run (1M and 10M rows)
    .venv/bin/python bench/profile_bench.py --quick    # 200k / 1M rows, for a smoke run

Prints, measured in the same run:
- the statistics path's wall time on a 1M-row batch (15 numeric + 5 categorical features
  + score, Parquet): DuckDB column stats (counts, nulls, NaN/inf, min/max/mean/std, 9
  quantiles, reference-bin histograms, top-20 categories, distinct) - and, separately,
  the ingest of that file;
- whylogs.log() on the same rows (already in memory as pandas) and the ratio;
- peak memory (ru_maxrss) of ingest + profile at 1M and 10M rows, each in a subprocess;
- the bare DuckDB pass on the same file (CREATE TABLE AS SELECT * FROM read_parquet(...)
  plus one aggregate pass and histograms of the same shape) and the ratio
  ingest + statistics / bare pass, in wall and CPU seconds; and the ingest alone against the
  bare CTAS alone, in CPU seconds;
- the time of a cycle with no new data (ingest + reference + profile), in-process after imports.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
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

N_NUMERIC, N_CATEGORICAL = 15, 5
ROWS_PER_DAY = 1_000_000
DAY0 = datetime(2024, 1, 1)


def bench_config(root: Path, memory_limit: str = "1GB") -> VigilConfig:
    features = [{"name": f"f{i}", "type": "numeric"} for i in range(N_NUMERIC)]
    features += [{"name": f"c{i}", "type": "categorical"} for i in range(N_CATEGORICAL)]
    return config_from_dict(
        {
            "model": {"name": "bench", "threshold": 0.5},
            "predictions": {
                "source": {"path": "landing/predictions", "glob": "*.parquet"},
                "id_column": "id",
                "timestamp_column": "ts",
                "score_column": "score",
            },
            "features": features,
            "batch": {"window": "1d"},
            "reference": {"kind": "file", "path": "reference.parquet"},
            "storage": {"duckdb_memory_limit": memory_limit},
        },
        file="bench",
        root=root,
    )


def make_table(rows: int, day: int, seed: int) -> pa.Table:
    rng = np.random.default_rng([seed, day])
    start = np.datetime64(DAY0 + timedelta(days=day), "us")
    cols: dict[str, Any] = {
        "id": pa.array(np.char.add(f"d{day}-", np.arange(rows).astype(str))),
        "ts": pa.array(start + rng.integers(0, 86_400_000_000, rows).astype("timedelta64[us]")),
    }
    for i in range(N_NUMERIC):
        x = rng.normal(10 * i, 1 + i, rows)
        x[rng.random(rows) < 0.001] = np.nan
        cols[f"f{i}"] = pa.array(x, mask=rng.random(rows) < 0.01)
    for i in range(N_CATEGORICAL):
        k = 5 + 10 * i  # 5..45 levels: some above top-20
        cols[f"c{i}"] = pa.array(rng.choice([f"v{j}" for j in range(k)], rows))
    cols["score"] = pa.array(rng.beta(2, 5, rows))
    return pa.table(cols)


def write_landing(root: Path, days: int, rows_per_day: int, seed: int = 0) -> None:
    folder = root / "landing" / "predictions"
    folder.mkdir(parents=True, exist_ok=True)
    for d in range(days):
        pq.write_table(make_table(rows_per_day, d, seed), folder / f"predictions_{d:03d}.parquet")
    ref = make_table(100_000, 999, seed + 1).drop_columns(["id", "ts"])
    pq.write_table(ref, root / "reference.parquet")


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def child_memory(root: str) -> None:
    """Subprocess body: ingest + reference + profile everything; print timings and peak RSS."""
    from profilers.ingest import ingest_all
    from profilers.profile import profile_batches
    from profilers.reference import ensure_reference

    cfg = bench_config(Path(root))
    wh = Warehouse(cfg.warehouse_path, memory_limit=cfg.storage.duckdb_memory_limit)
    base = _peak_mb()
    t0 = time.perf_counter()
    report = ingest_all(cfg, wh)
    t1 = time.perf_counter()
    ensure_reference(cfg, wh)
    profiled = profile_batches(cfg, wh)
    t2 = time.perf_counter()
    print(
        json.dumps(
            {
                "rows": report.rows,
                "batches": len(profiled),
                "ingest_s": t1 - t0,
                "profile_s": t2 - t1,
                "peak_mb": _peak_mb(),
                "after_imports_mb": base,
            }
        )
    )


def run_memory(days: int, rows_per_day: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        write_landing(Path(tmp), days, rows_per_day)
        out = subprocess.run(
            [sys.executable, __file__, "--child", tmp], check=True, capture_output=True, text=True, cwd=REPO
        )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def bare_duckdb_pass(parquet: Path, db: Path, memory_limit: str = "2GB") -> tuple[float, float, float, float]:
    """The floor: DuckDB alone loading the same file and computing the same shape of statistics.

    CREATE TABLE AS SELECT * FROM read_parquet(...), then one aggregate pass over every
    numeric column (counts, min/max/mean/std, quantiles, decile histograms) and the top-20
    of every categorical. Returns (load seconds, total seconds, total CPU seconds, load CPU seconds).
    """
    import duckdb

    conn = duckdb.connect(str(db))
    conn.execute(f"SET memory_limit = '{memory_limit}'")
    t0, c0 = time.perf_counter(), time.process_time()
    conn.execute("CREATE TABLE bare AS SELECT * FROM read_parquet(?)", [str(parquet)])
    t1, c1 = time.perf_counter(), time.process_time()
    numeric = [f"f{i}" for i in range(N_NUMERIC)] + ["score"]
    edges = "[" + ", ".join(str(x) for x in np.linspace(-3, 3, 9)) + "]"
    parts = []
    for c in numeric:
        parts += [f"count({c})", f"min({c})", f"max({c})", f"avg({c})", f"stddev_samp({c})",
                  f"reservoir_quantile({c}, [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99], 8192)",
                  f"approx_count_distinct({c})", f"histogram({c}, {edges}::DOUBLE[])"]
    conn.execute(f"SELECT {', '.join(parts)} FROM bare").fetchall()  # noqa: S608
    cats = ", ".join(f"c{i}" for i in range(N_CATEGORICAL))
    conn.execute(
        f"SELECT _c, _v, count(*) AS k FROM (UNPIVOT (SELECT {cats} FROM bare) ON {cats} "  # noqa: S608
        "INTO NAME _c VALUE _v) GROUP BY _c, _v QUALIFY row_number() OVER (PARTITION BY _c ORDER BY k DESC) <= 20"
    ).fetchall()
    t2, c2 = time.perf_counter(), time.process_time()
    conn.close()
    return t1 - t0, t2 - t0, c2 - c0, c1 - c0


def in_process(rows: int) -> dict[str, float]:
    """Statistics path vs whylogs on one batch of ``rows`` rows, and the idle cycle."""
    from core.whylogs_compat import import_whylogs
    from profilers.ingest import ingest_all
    from profilers.profile import profile_batches
    from profilers.reference import ensure_reference

    why = import_whylogs()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_landing(root, 1, rows)
        cfg = bench_config(root, memory_limit="2GB")
        wh = Warehouse(cfg.warehouse_path, memory_limit=cfg.storage.duckdb_memory_limit)
        wh.migrate()
        t0, c0 = time.perf_counter(), time.process_time()
        ingest_all(cfg, wh)
        t1, c1 = time.perf_counter(), time.process_time()
        ensure_reference(cfg, wh)
        t2 = time.perf_counter()
        c2 = time.process_time()
        batches = profile_batches(cfg, wh)
        t3 = time.perf_counter()
        c3 = time.process_time()
        assert len(batches) == 1
        # A cycle with no new data: the pre-filter skips the file, nothing to profile.
        t4 = time.perf_counter()
        ingest_all(cfg, wh)
        ensure_reference(cfg, wh)
        assert profile_batches(cfg, wh) == []
        t5 = time.perf_counter()

        bare_load, bare_total, bare_cpu, bare_load_cpu = bare_duckdb_pass(
            root / "landing" / "predictions" / "predictions_000.parquet", root / "bare.duckdb"
        )
        frame = (
            pq.read_table(root / "landing" / "predictions" / "predictions_000.parquet")
            .drop_columns(["id"])
            .to_pandas()
        )
        t6 = time.perf_counter()
        c6 = time.process_time()
        why.log(pandas=frame)
        t7 = time.perf_counter()
        c7 = time.process_time()
    return {
        "ingest_s": t1 - t0,
        "reference_s": t2 - t1,
        "stats_s": t3 - t2,
        "idle_cycle_s": t5 - t4,
        "whylogs_s": t7 - t6,
        "stats_cpu_s": c3 - c2,
        "whylogs_cpu_s": c7 - c6,
        "bare_load_s": bare_load,
        "bare_s": bare_total,
        "ingest_stats_cpu_s": (c1 - c0) + (c3 - c2),
        "bare_cpu_s": bare_cpu,
        "ingest_cpu_s": c1 - c0,
        "bare_load_cpu_s": bare_load_cpu,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="smaller sizes for a smoke run")
    parser.add_argument("--no-memory", action="store_true", help="skip the 1M / 10M memory runs")
    parser.add_argument("--child", metavar="ROOT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_memory(args.child)
        return
    small, days_large = (200_000, 5) if args.quick else (ROWS_PER_DAY, 10)
    print(
        f"profile_bench: {small:,} rows, {N_NUMERIC} numeric + {N_CATEGORICAL} categorical + score, Parquet"
    )
    print(
        f"  load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())} (2 cores: above 2 means contention)"
    )
    r = in_process(small)
    print(f"  ingest (DuckDB, one file, one transaction) {r['ingest_s']:.2f} s")
    print(f"  reference (100k rows, once)                {r['reference_s']:.2f} s")
    print(f"  statistics path (DuckDB SQL)               {r['stats_s']:.2f} s   target <= 3 s")
    print(f"  whylogs.log() on the same rows             {r['whylogs_s']:.2f} s")
    print(f"  ratio whylogs / statistics path            {r['whylogs_s'] / r['stats_s']:.1f}x  target >= 10x")
    print(
        f"  CPU seconds: statistics {r['stats_cpu_s']:.2f}, whylogs {r['whylogs_cpu_s']:.2f} "
        f"(ratio {r['whylogs_cpu_s'] / r['stats_cpu_s']:.1f}x; less sensitive to other load)"
    )
    print(
        f"  ingest + statistics vs whylogs             {r['whylogs_s'] / (r['stats_s'] + r['ingest_s']):.1f}x"
    )
    print(f"  bare DuckDB pass: CTAS read_parquet        {r['bare_load_s']:.2f} s (vs ingest {r['ingest_s']:.2f} s)")
    print(
        f"  ingest vs bare CTAS in CPU seconds         {r['ingest_cpu_s'] / r['bare_load_cpu_s']:.2f}x  "
        f"({r['ingest_cpu_s']:.2f} / {r['bare_load_cpu_s']:.2f})"
    )
    print(f"  bare DuckDB pass: CTAS + aggregates        {r['bare_s']:.2f} s")
    print(
        f"  ratio ingest+statistics / bare DuckDB pass  {(r['ingest_s'] + r['stats_s']) / r['bare_s']:.1f}x  "
        "target <= 1.5x"
    )
    print(
        f"  same ratio in CPU seconds                  {r['ingest_stats_cpu_s'] / r['bare_cpu_s']:.1f}x  "
        f"({r['ingest_stats_cpu_s']:.2f} / {r['bare_cpu_s']:.2f}; less sensitive to other load)"
    )
    print(f"  cycle with no new data                     {r['idle_cycle_s'] * 1000:.0f} ms  target <= 1 s")
    if args.no_memory:
        return
    one = run_memory(1, small)
    many = run_memory(days_large, small)
    print(
        f"  peak RSS, ingest+profile {one['rows']:>10,} rows  {one['peak_mb']:.0f} MB "
        f"(ingest {one['ingest_s']:.1f} s, profile {one['profile_s']:.1f} s)"
    )
    print(
        f"  peak RSS, ingest+profile {many['rows']:>10,} rows  {many['peak_mb']:.0f} MB "
        f"(ingest {many['ingest_s']:.1f} s, profile {many['profile_s']:.1f} s)"
    )
    print(
        f"  memory ratio {many['rows'] // one['rows']}x rows: {many['peak_mb'] / one['peak_mb']:.2f}x  target <= 1.5x"
    )


if __name__ == "__main__":
    main()
