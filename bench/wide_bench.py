"""Wide-table benchmark: N rows x 1,000 columns (800 float32 numeric, 200 categorical).

    .venv/bin/python bench/wide_bench.py                 # 1M rows (the issue's target size)
    .venv/bin/python bench/wide_bench.py --rows 100000   # a smaller run on a busy machine

The data is generated in chunks straight to Parquet (never one frame in memory), with a
same-shape reference. Prints, measured in the same run:
- Vigil on all rows, in a child process: ingest, reference statistics, profile and every
  enabled check, wall and CPU time of each step and the child's peak RSS (targets at 1M rows:
  <= 60 s on 2 cores, <= 4 GB). The 60 s line is the issue's: profile + checks of the batch
  against the same-shape reference's statistics. The reference's statistics are computed once
  per reference (not every cycle), so their time is printed on its own line; the ingest has
  its own target (within 1.5x of a bare DuckDB load, below), and the whole batch cycle
  (ingest + profile + checks) is printed too. The peak RSS covers every step;
- a bare DuckDB ``CREATE TABLE AS SELECT * FROM read_parquet(...)`` of the same batch file into
  a new database file, in its own child process, and the ratio Vigil ingest / bare load;
- Evidently's DataDriftPreset on a 20k-row slice of the same data (against 20k reference
  rows), and Vigil's ingest + profile + checks on the same slice; the ratio at equal rows.

This is a benchmark, not a test: it prints figures and never asserts on time.
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
from datetime import datetime
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

N_NUMERIC, N_CATEGORICAL = 800, 200
NUMERIC = [f"f{i:03d}" for i in range(N_NUMERIC)]
CATEGORICAL = [f"c{i:03d}" for i in range(N_CATEGORICAL)]
FEATURES = NUMERIC + CATEGORICAL
CHUNK = 20_000  # rows generated and written at a time
SLICE = 20_000  # rows for the equal-rows comparison with Evidently
DAY0 = datetime(2025, 1, 1)
LEVELS = np.array([f"v{j}" for j in range(12)])


def bench_config(root: Path, memory_limit: str = "3GB") -> VigilConfig:
    features = [{"name": c, "type": "numeric"} for c in NUMERIC]
    features += [{"name": c, "type": "categorical"} for c in CATEGORICAL]
    return config_from_dict(
        {
            "model": {"name": "wide", "threshold": 0.5},
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
        file="wide_bench",
        root=root,
    )


def chunk_table(rows: int, offset: int, seed: int, shift: float, timestamped: bool) -> pa.Table:
    """``rows`` rows of the wide shape; ``shift`` moves every 10th numeric column (drift to find)."""
    rng = np.random.default_rng([seed, offset])
    cols: dict[str, Any] = {}
    if timestamped:
        cols["id"] = pa.array(np.char.add("r", np.arange(offset, offset + rows).astype(str)))
        start = np.datetime64(DAY0, "us")
        cols["ts"] = pa.array(start + rng.integers(0, 86_400_000_000, rows).astype("timedelta64[us]"))
    base = rng.standard_normal((rows, N_NUMERIC), dtype=np.float32)
    for i, c in enumerate(NUMERIC):
        x = base[:, i] * np.float32(1 + i % 7) + np.float32(i % 50)
        if shift and i % 10 == 0:
            x = x + np.float32(shift)
        cols[c] = pa.array(x, type=pa.float32())
    p = np.array([0.3, 0.2, 0.1, 0.1, 0.05, 0.05, 0.05, 0.05, 0.04, 0.03, 0.02, 0.01])
    for c in CATEGORICAL:
        cols[c] = pa.array(LEVELS[rng.choice(12, rows, p=p)]).dictionary_encode()
    cols["score"] = pa.array(rng.beta(2, 5, rows))
    return pa.table(cols)


def write_parquet(path: Path, rows: int, seed: int, shift: float, timestamped: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    writer: pq.ParquetWriter | None = None
    try:
        for offset in range(0, rows, CHUNK):
            t = chunk_table(min(CHUNK, rows - offset), offset, seed, shift, timestamped)
            if writer is None:
                writer = pq.ParquetWriter(path, t.schema)
            writer.write_table(t)
    finally:
        if writer is not None:
            writer.close()


def write_root(root: Path, rows: int, reference_rows: int, seed: int) -> None:
    write_parquet(root / "landing" / "predictions" / "predictions_000.parquet", rows, seed, 0.5, True)
    write_parquet(root / "reference.parquet", reference_rows, seed + 1, 0.0, False)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _cpu_s() -> float:
    """CPU seconds of this process, every thread (less sensitive than wall time to other load)."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def vigil_cycle(root: Path) -> dict[str, Any]:
    """Ingest + reference + profile + checks on ``root``; step timings and result counts."""
    from checks.runner import run_checks
    from profilers.ingest import ingest_all
    from profilers.profile import profile_batches
    from profilers.reference import ensure_reference

    cfg = bench_config(root)
    wh = Warehouse(cfg.warehouse_path, memory_limit=cfg.storage.duckdb_memory_limit)
    wh.migrate()
    t0, c0 = time.perf_counter(), _cpu_s()
    report = ingest_all(cfg, wh)
    t1, c1 = time.perf_counter(), _cpu_s()
    ensure_reference(cfg, wh)
    t2, c2 = time.perf_counter(), _cpu_s()
    batches = sorted(profile_batches(cfg, wh))
    t3, c3 = time.perf_counter(), _cpu_s()
    results = run_checks(cfg, wh, batches, batches)
    t4, c4 = time.perf_counter(), _cpu_s()
    with wh.read() as conn:
        row = conn.execute("SELECT count(DISTINCT column_name) FROM column_stats").fetchone()
    by_status: dict[str, int] = {}
    for r in results:
        by_status[r.status] = by_status.get(r.status, 0) + 1
    subjects = {f"predictions.{c}" for c in FEATURES}
    drifted = sorted({r.subject for r in results if r.status in ("warn", "fail") and r.subject in subjects})
    return {
        "rows": report.rows,
        "ingest_s": t1 - t0,
        "reference_s": t2 - t1,
        "profile_s": t3 - t2,
        "checks_s": t4 - t3,
        "total_s": t4 - t0,
        "cycle_s": (t1 - t0) + (t4 - t2),
        "cpu_s": [c1 - c0, c2 - c1, c3 - c2, c4 - c3, c4 - c0, (c1 - c0) + (c4 - c2)],
        "profiled_columns": int(row[0]) if row else 0,
        "results": len(results),
        "by_status": by_status,
        "flagged_features": len(drifted),
        "peak_mb": _peak_mb(),
    }


def child(root: str) -> None:
    print(json.dumps(vigil_cycle(Path(root))))


def bare_load(root: Path) -> dict[str, Any]:
    """A bare DuckDB load of the batch file into a new database file (what ingest is measured against)."""
    import duckdb

    db = root / "bare.duckdb"
    conn = duckdb.connect(str(db))
    conn.execute("SET memory_limit = '3GB'")
    t, c = time.perf_counter(), _cpu_s()
    conn.execute(
        "CREATE TABLE bare AS SELECT * FROM read_parquet(?)",
        [str(root / "landing" / "predictions" / "predictions_000.parquet")],
    )
    conn.execute("CHECKPOINT")
    out = {"wall_s": time.perf_counter() - t, "cpu_s": _cpu_s() - c}
    conn.close()
    db.unlink()
    return out


def run_child(root: Path, mode: str = "--child") -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, mode, str(root)], check=True, capture_output=True, text=True, cwd=REPO
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def evidently_seconds(root: Path) -> float:
    from evidently import Report
    from evidently.presets import DataDriftPreset

    current = pq.read_table(root / "landing" / "predictions" / "predictions_000.parquet", columns=FEATURES)
    reference = pq.read_table(root / "reference.parquet", columns=FEATURES)
    cur, ref = current.to_pandas(), reference.to_pandas()
    t = time.perf_counter()
    snapshot = Report([DataDriftPreset(columns=FEATURES)]).run(current_data=cur, reference_data=ref)
    snapshot.dict()  # make sure every metric is computed
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--reference-rows", type=int, default=None, help="default: same as --rows, at most 1M")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-evidently", action="store_true")
    ap.add_argument("--skip-bare", action="store_true", help="do not measure the bare DuckDB load")
    ap.add_argument("--data", metavar="DIR", help="keep the generated full-size data in DIR and reuse it "
                    "(same --rows and --seed) on the next run; Vigil's stores there are removed before each run")
    ap.add_argument("--child", metavar="ROOT", help=argparse.SUPPRESS)
    ap.add_argument("--bare-child", metavar="ROOT", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child)
        return
    if args.bare_child:
        print(json.dumps(bare_load(Path(args.bare_child))))
        return
    ref_rows = args.reference_rows or min(args.rows, 1_000_000)
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"wide_bench: {args.rows:,} rows x {len(FEATURES)} features ({N_NUMERIC} float32 numeric, "
          f"{N_CATEGORICAL} categorical) + id, ts, score; reference {ref_rows:,} rows")
    print(f"  load average before: {load} (2 cores: above 2 means contention)")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.data) / f"rows{args.rows}_ref{ref_rows}_seed{args.seed}" if args.data else Path(tmp) / "full"
        if (root / "generated").exists():
            for p in root.iterdir():  # every store of an earlier run; the generated Parquet stays
                if p.name not in ("landing", "reference.parquet", "generated"):
                    shutil_rm(p) if p.is_dir() else p.unlink()
            print(f"  reusing the data generated in {root}")
        else:
            t = time.perf_counter()
            write_root(root, args.rows, ref_rows, args.seed)
            (root / "generated").touch()
            print(f"  generated in chunks of {CHUNK:,} rows: {time.perf_counter() - t:.1f} s")
        size = sum(p.stat().st_size for p in root.rglob("*.parquet")) / 1e6
        print(f"  {size:,.0f} MB of Parquet")
        full = run_child(root)
        cpu = full["cpu_s"]
        print(f"  ingest                                   {full['ingest_s']:7.2f} s  (CPU {cpu[0]:.1f} s)")
        print(f"  reference statistics (once per reference) {full['reference_s']:7.2f} s  (CPU {cpu[1]:.1f} s; not in the 60 s)")
        print(f"  profile (column + table statistics)      {full['profile_s']:7.2f} s  (CPU {cpu[2]:.1f} s)")
        print(f"  checks ({full['results']:,} results)                  {full['checks_s']:7.2f} s  (CPU {cpu[3]:.1f} s)")
        pc_wall, pc_cpu = full["profile_s"] + full["checks_s"], cpu[2] + cpu[3]
        print(f"  profile + checks                           {pc_wall:7.2f} s  (CPU {pc_cpu:.1f} s)   "
              "target <= 60 s at 1M rows")
        print(f"  batch cycle: ingest + profile + checks     {full['cycle_s']:7.2f} s  (CPU {cpu[5]:.1f} s)")
        if not args.skip_bare:
            bare = run_child(root, "--bare-child")
            print(f"  bare DuckDB load of the batch file (CTAS)  {bare['wall_s']:7.2f} s  (CPU {bare['cpu_s']:.1f} s)")
            print(f"  ratio Vigil ingest / bare DuckDB load      {full['ingest_s'] / bare['wall_s']:7.1f}x  "
                  f"(CPU {cpu[0] / bare['cpu_s']:.1f}x)")
        print(f"  Vigil total with the reference           {full['total_s']:7.2f} s  (CPU {cpu[4]:.1f} s; 2 cores: "
              "wall >= CPU / 2 with no other load)")
        print(f"  peak RSS (Vigil child process)           {full['peak_mb']:7.0f} MB  target <= 4096 MB")
        print(f"  columns with statistics: {full['profiled_columns']:,}; results by status: {full['by_status']}; "
              f"features flagged: {full['flagged_features']} (100 shifted by 0.5, i.e. 0.07-0.5 sd)")
        if not args.data:
            shutil_rm(root)

        small = Path(tmp) / "slice"
        write_root(small, SLICE, SLICE, args.seed)
        vs = run_child(small)
        print(f"  Vigil ingest + reference + profile + checks, {SLICE:,} rows   {vs['total_s']:7.2f} s  "
              f"(CPU {vs['cpu_s'][4]:.1f} s; reference {vs['reference_s']:.2f} s, checks {vs['checks_s']:.2f} s)")
        if args.skip_evidently:
            return
        ev = evidently_seconds(small)
        print(f"  Evidently DataDriftPreset, {SLICE:,} rows         {ev:7.2f} s")
        print(f"  ratio Evidently / Vigil at {SLICE:,} rows         {ev / vs['total_s']:7.1f}x")
    print(f"  load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


def shutil_rm(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    main()
