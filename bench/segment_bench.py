"""Segment benchmark: profile + checks with 0, 10, 100 and 1,000 segments on the same rows.

    .venv/bin/python bench/segment_bench.py                  # 200k rows (two daily batches)
    .venv/bin/python bench/segment_bench.py --rows 1000000   # the issue's figure

Each setting runs in its own subprocess on the same landing files (5 numeric + 2 categorical
features, score, decision, labels; the segment column `channel` has as many values as the
setting's segments, in the reference and in the batches): reference statistics, profile of the
batches (column statistics and the live test set, overall and per segment in the same grouped
queries) and every check (registered checks plus the segment checks and their family-wise
decision). Prints wall time per phase, peak memory (ru_maxrss) and the ratio to no segments.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

DAY0 = datetime(2024, 1, 1)
SETTINGS = (0, 10, 100, 1000)


def _frame(rng: np.random.Generator, n: int, segments: int) -> pd.DataFrame:
    x = rng.normal(0, 1, (n, 5))
    channel = rng.integers(0, max(segments, 1), n)
    score = 1 / (1 + np.exp(-(-1.5 + 0.8 * x[:, 0] - 0.5 * x[:, 1])))
    frame = pd.DataFrame({f"f{i}": x[:, i] for i in range(5)})
    frame["c0"] = rng.choice(["a", "b", "c", "d"], n)
    frame["channel"] = [f"ch{v:04d}" for v in channel]
    frame["score"] = score
    frame["decision"] = np.where(score < 0.5, "approve", "refer")
    frame["y"] = (rng.random(n) < score).astype(int)
    return frame


def write_data(root: Path, rows: int, segments: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    ref = _frame(rng, max(rows // 2, 20_000), segments)
    ref.drop(columns=[]).to_parquet(root / "reference.parquet", index=False)
    for folder in ("predictions", "outcomes"):
        (root / "landing" / folder).mkdir(parents=True, exist_ok=True)
    for day in range(2):
        n = rows // 2
        frame = _frame(rng, n, segments)
        frame.insert(0, "id", [f"d{day}-{i}" for i in range(n)])
        frame.insert(1, "ts", pd.to_datetime(DAY0 + timedelta(days=day)) + pd.to_timedelta(
            np.sort(rng.integers(0, 86_400, n)), unit="s"))
        frame.drop(columns=["y"]).to_parquet(root / "landing" / "predictions" / f"p{day}.parquet", index=False)
        out = pd.DataFrame({"id": frame["id"], "observed_at": DAY0 + timedelta(days=day, hours=23), "y": frame["y"]})
        out.to_parquet(root / "landing" / "outcomes" / f"o{day}.parquet", index=False)


def config(root: Path, segments: int, rows: int) -> Any:
    from core.config import config_from_dict

    data: dict[str, Any] = {
        "model": {"name": "bench", "task": "binary", "threshold": 0.5},
        "predictions": {"source": {"path": "landing/predictions"}, "id_column": "id", "timestamp_column": "ts",
                        "score_column": "score", "decision_column": "decision", "positive_decision": "approve"},
        "features": [{"name": f"f{i}", "type": "numeric"} for i in range(5)]
        + [{"name": "c0", "type": "categorical"}, {"name": "channel", "type": "categorical"}],
        "etl_tables": [{"name": "outcomes", "source": {"path": "landing/outcomes"}, "timestamp_column": "observed_at",
                        "key": "id"}],
        "labels": {"table": "outcomes", "join_key": "id", "label_column": "y", "maturity": "1h"},
        "batch": {"window": "1d", "max_future": "520w"},
        "reference": {"kind": "file", "path": "reference.parquet", "chunk_rows": max(rows // 20, 1000)},
        "kpis": [{"name": "approval_rate", "kind": "approval_rate", "lower": 0.1, "upper": 0.99}],
        "storage": {"duckdb_memory_limit": "2GB"},
    }
    if segments:
        data["segments"] = [{"name": "channel", "column": "channel", "top": segments, "min_rows": 30}]
    return config_from_dict(data, file=str(root / "bench.yaml"), root=root)


def child(root: str, segments: int, rows: int) -> None:
    """One setting, in its own process: time per phase and peak memory as JSON on stdout."""
    from checks.runner import run_checks
    from core.stores import Warehouse
    from profilers.ingest import ingest_all
    from profilers.profile import profile_batches_detailed
    from profilers.reference import ensure_reference

    folder = Path(root) / f"s{segments}"
    cfg = config(folder, segments, rows)
    wh = Warehouse(cfg.warehouse_path, memory_limit=cfg.storage.duckdb_memory_limit)
    ingest_all(cfg, wh)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    ensure_reference(cfg, wh)
    t1 = time.perf_counter()
    report = profile_batches_detailed(cfg, wh)
    t2 = time.perf_counter()
    results = run_checks(cfg, wh, report.column_batches, report.performance_batches)
    t3 = time.perf_counter()
    print(json.dumps({
        "segments": segments, "reference_s": t1 - t0, "profile_s": t2 - t1, "checks_s": t3 - t2,
        "total_s": t3 - t0, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_before_mb": before, "results": len(results),
        "segment_results": sum(1 for r in results if r.check.startswith("segment_")),
    }))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000, help="prediction rows over two daily batches")
    parser.add_argument("--settings", default=",".join(str(s) for s in SETTINGS), help="segment counts to run")
    parser.add_argument("--child", nargs=3, metavar=("ROOT", "SEGMENTS", "ROWS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), int(args.child[2]))
        return
    settings = [int(s) for s in args.settings.split(",")]
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for segments in settings:
            folder = Path(tmp) / f"s{segments}"
            folder.mkdir()
            write_data(folder, args.rows, max(segments, 10))
            proc = subprocess.run([sys.executable, __file__, "--child", tmp, str(segments), str(args.rows)],
                                  capture_output=True, text=True, timeout=3600, check=False)
            if proc.returncode != 0:
                print(proc.stderr[-3000:], file=sys.stderr)
                raise SystemExit(f"setting {segments} failed")
            out.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    base = next((r for r in out if r["segments"] == 0), out[0])
    print(f"segment bench: {args.rows:,} prediction rows (two daily batches), 7 features + score; "
          "reference, profile and checks per setting, each in its own process")
    print(f"{'segments':>8} {'reference s':>11} {'profile s':>9} {'checks s':>8} {'total s':>8} {'x none':>7} "
          f"{'peak MB':>8} {'x none':>7} {'segment results':>15}")
    for r in out:
        print(f"{r['segments']:>8} {r['reference_s']:>11.2f} {r['profile_s']:>9.2f} {r['checks_s']:>8.2f} "
              f"{r['total_s']:>8.2f} {r['total_s'] / base['total_s']:>7.2f} {r['peak_mb']:>8.0f} "
              f"{r['peak_mb'] / base['peak_mb']:>7.2f} {r['segment_results']:>15,}")


if __name__ == "__main__":
    main()
