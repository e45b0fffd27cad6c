"""Benchmark: the full check cycle over 1M new rows (20 features), against Evidently.

Prints, measured in the same run on the same rows:
- Vigil: profile the new batch in DuckDB (column, table and live-test-set statistics) and
  run every enabled check of all five families (20 features, their upstream columns, the
  score, decisions, tables, AUC / KPIs on matured labels). Ingestion (loading the Parquet
  files into the warehouse) is reported apart: it is the same for any tool.
- Evidently: DataDriftPreset on the same 1M rows of the 20 features against the same
  reference rows (its default per-column tests), including building the report.

Usage: .venv/bin/python bench/check_bench.py [--rows 1000000] [--reference-rows 1000000]
(1M new rows against a 1M-row reference: the comparison the project measured Evidently on)
This is a benchmark, not a test: it prints figures and never asserts on time.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from checks.runner import run_checks  # noqa: E402
from core.config import config_from_dict  # noqa: E402
from core.stores import Warehouse  # noqa: E402
from profilers.ingest import ingest_all  # noqa: E402
from profilers.profile import profile_batches  # noqa: E402
from profilers.reference import ensure_reference  # noqa: E402

NUMERIC = [f"n{i:02d}" for i in range(15)]
CATEGORICAL = [f"c{i}" for i in range(5)]
FEATURES = NUMERIC + CATEGORICAL
UPSTREAM = NUMERIC[:5] + CATEGORICAL[:2]  # columns also checked on the upstream ETL table
DAY0 = datetime(2025, 1, 1)


def build_features(apps: pd.DataFrame) -> pd.DataFrame:
    """Feature builder for the skew check: served features are the upstream columns."""
    return apps[["id", *UPSTREAM]].copy()


def frame(rng: np.random.Generator, n: int, start: datetime | None, id_prefix: str) -> pd.DataFrame:
    data: dict[str, Any] = {"id": np.char.add(id_prefix, np.arange(n).astype(str))}
    if start is not None:
        data["ts"] = pd.Timestamp(start) + pd.to_timedelta(np.sort(rng.integers(0, 86_400, n)), unit="s")
    for i, c in enumerate(NUMERIC):
        data[c] = rng.lognormal(3, 0.5, n) if i % 3 == 0 else rng.normal(10 * i, 1 + i, n)
    for c in CATEGORICAL:
        data[c] = rng.choice(np.array(["a", "b", "c", "d", "e", "f"]), n, p=[0.3, 0.25, 0.2, 0.1, 0.1, 0.05])
    z = (data["n01"] - 10) / 2 + (data["n04"] - 40) / 5
    data["score"] = 1 / (1 + np.exp(-(z - 2)))
    return pd.DataFrame(data)


def config(root: Path) -> Any:
    features: list[dict[str, Any]] = []
    for c in NUMERIC:
        f: dict[str, Any] = {"name": c, "type": "numeric"}
        if c in UPSTREAM:
            f["lineage"] = f"apps.{c}"
        features.append(f)
    for c in CATEGORICAL:
        f = {"name": c, "type": "categorical"}
        if c in UPSTREAM:
            f["lineage"] = f"apps.{c}"
        features.append(f)
    return config_from_dict({
        "model": {"name": "bench", "threshold": 0.5, "feature_builder": "check_bench:build_features"},
        "predictions": {"source": {"path": "landing/predictions"}, "id_column": "id", "timestamp_column": "ts",
                        "score_column": "score", "decision_column": "decision", "positive_decision": "approve"},
        "features": features,
        "etl_tables": [
            {"name": "apps", "source": {"path": "landing/apps"}, "timestamp_column": "ts", "key": "id",
             "freshness": "1d"},
            {"name": "outcomes", "source": {"path": "landing/outcomes"}, "timestamp_column": "observed_at",
             "key": "id"},
        ],
        "labels": {"table": "outcomes", "join_key": "id", "label_column": "y", "maturity": "14d"},
        "reference": {"kind": "file", "path": "ref.parquet"},
        "kpis": [{"name": "approval_rate", "kind": "approval_rate", "lower": 0.3},
                 {"name": "bad_rate_approved", "kind": "label_rate", "decision": "approve", "upper": 0.5}],
        "storage": {"duckdb_memory_limit": "3GB"},
    }, file="bench.yaml", root=root)


def write_landing(root: Path, rows: int, reference_rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ref = frame(rng, reference_rows, None, "r")
    ref.to_parquet(root / "ref.parquet", index=False)
    for folder in ("predictions", "apps", "outcomes"):
        (root / "landing" / folder).mkdir(parents=True, exist_ok=True)
    big = frame(rng, rows, DAY0, "a")
    late = frame(rng, 1000, DAY0 + timedelta(days=20), "b")  # later batch: day 0's labels have matured
    for name, df in (("d00", big), ("d20", late)):
        df["decision"] = np.where(df["score"] < 0.6, "approve", "refer")
        df[["id", "ts", "score", "decision", *FEATURES]].to_parquet(
            root / "landing" / "predictions" / f"predictions_{name}.parquet", index=False)
        df[["id", "ts", *UPSTREAM]].to_parquet(root / "landing" / "apps" / f"apps_{name}.parquet", index=False)
    y = (rng.random(rows) < big["score"].to_numpy()).astype(int)
    pd.DataFrame({"id": big["id"], "observed_at": DAY0 + timedelta(days=15), "y": y}).to_parquet(
        root / "landing" / "outcomes" / "outcomes_d15.parquet", index=False)
    return ref


def evidently_seconds(reference: pd.DataFrame, current: pd.DataFrame) -> float:
    from evidently import Report
    from evidently.presets import DataDriftPreset

    t = time.perf_counter()
    snapshot = Report([DataDriftPreset(columns=FEATURES)]).run(current_data=current[FEATURES],
                                                             reference_data=reference[FEATURES])
    snapshot.dict()  # make sure every metric is computed
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--reference-rows", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-evidently", action="store_true")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        reference = write_landing(root, args.rows, args.reference_rows, args.seed)
        cfg = config(root)
        wh = Warehouse(cfg.warehouse_path, memory_limit=cfg.storage.duckdb_memory_limit)
        import evidently  # noqa: F401  (import cost is not part of either measurement)

        t0 = time.perf_counter()
        ingest_all(cfg, wh)
        t1 = time.perf_counter()
        ensure_reference(cfg, wh)  # once per reference, reused by every cycle
        t2 = time.perf_counter()
        batches = sorted(profile_batches(cfg, wh))
        t3 = time.perf_counter()
        results = run_checks(cfg, wh, batches, batches, model_evaluation={"auc": 0.8})
        t4 = time.perf_counter()

        cycle = (t3 - t2) + (t4 - t3)
        by_status: dict[str, int] = {}
        for r in results:
            by_status[r.status] = by_status.get(r.status, 0) + 1
        families = sorted({r.family for r in results if r.status != "skipped"})
        print(f"rows: {args.rows:,} new prediction rows (+ {args.rows:,} upstream rows, {args.rows:,} labels); "
              f"{len(FEATURES)} features; reference {args.reference_rows:,} rows")
        print(f"ingest (load Parquet into DuckDB, reported apart): {t1 - t0:6.2f} s")
        print(f"reference statistics (once per reference):         {t2 - t1:6.2f} s")
        print(f"profile batches (DuckDB statistics):                {t3 - t2:6.2f} s")
        print(f"run checks ({len(results)} results, families: {', '.join(families)}): {t4 - t3:6.2f} s")
        print(f"Vigil check cycle (profile + checks):               {cycle:6.2f} s   (target <= 4 s)")
        print(f"results by status: {by_status}")
        if args.skip_evidently:
            return
        current = pd.read_parquet(root / "landing" / "predictions" / "predictions_d00.parquet", columns=FEATURES)
        ev = evidently_seconds(reference, current)
        print(f"Evidently DataDriftPreset, same rows and features:  {ev:6.2f} s")
        print(f"ratio Evidently / Vigil cycle:                      {ev / cycle:6.1f}x   (target >= 20x)")
        print(f"ratio Evidently / Vigil checks step alone:          {ev / (t4 - t3):6.1f}x")


if __name__ == "__main__":
    main()
