"""One definition of the statistics, two engines: DuckDB and Spark on the same Parquet files.

The data is scikit-learn's breast-cancer set (30 measured columns nobody here generated, their
names with spaces, renamed by the config), scored by a logistic regression, spread over three
daily batches, with NaN, infinities, nulls, a categorical, a boolean and duplicated keys
injected. Every statistic the checks read is compared: counts exactly; sums and moments within
a relative 1e-9; quantiles and distinct counts within the documented sketch error
(profilers.spark_sql: QUANTILE_RANK_ERROR, DISTINCT_RELATIVE_ERROR).
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

from core.config import VigilConfig, config_from_dict
from core.stores import Warehouse
from profilers.ingest import ingest_all
from profilers.profile import profile_batches
from profilers.reference import ensure_reference
from profilers.spark_profile import profile_with_spark
from profilers.spark_sql import DISTINCT_RELATIVE_ERROR, QUANTILE_RANK_ERROR

DAY0 = datetime(2026, 1, 5)
COPIES = 8  # 569 rows x 8 = 4,552 predictions over 3 days (about 1,500 a batch)
REL = 1e-9
COLUMNS = 8  # of the set's 30 measured columns (Spark's start-up and query planning dominate the time)


def _landing(root: Path, seed: int) -> list[str]:
    data = load_breast_cancer(as_frame=True)
    x, y = data.data.iloc[:, :COLUMNS], data.target
    model = LogisticRegression(max_iter=5000).fit(x.to_numpy(), y.to_numpy())
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(COPIES):
        f = x.copy() * (1 + rng.normal(0, 0.01, size=x.shape))
        f["label"] = y.to_numpy()
        frames.append(f)
    rows = pd.concat(frames, ignore_index=True)
    n = len(rows)
    feats = list(x.columns)
    scores = model.predict_proba(rows[feats].to_numpy())[:, 1]
    rows["score"] = np.round(scores, 3)  # ties, as real score bins have
    rows["application_id"] = [f"a{i}" for i in range(n)]
    rows.loc[rows.index[::97], "application_id"] = "a0"  # duplicate keys
    rows["scored_at"] = [DAY0 + timedelta(seconds=int(s)) for s in rng.integers(0, 3 * 86400, n)]
    rows["decision"] = np.where(scores < 0.6, "approve", "refer")
    rows["grade"] = rng.choice(["A", "B", "C", "D"], n)
    rows.loc[rows.index[::13], "grade"] = None
    rows["flag"] = rng.random(n) < 0.2
    rows.loc[rows.index[::29], "mean radius"] = np.nan
    rows.loc[rows.index[::31], "mean texture"] = np.inf
    rows.loc[rows.index[::37], "mean texture"] = -np.inf
    pred = root / "landing" / "predictions"
    pred.mkdir(parents=True)
    cols = ["application_id", "scored_at", "score", "decision", "grade", "flag", *feats]
    for d in range(3):
        day = rows[(rows["scored_at"] >= DAY0 + timedelta(days=d)) & (rows["scored_at"] < DAY0 + timedelta(days=d + 1))]
        day[cols].to_parquet(pred / f"predictions_{d}.parquet")
    out = root / "landing" / "etl" / "outcomes"
    out.mkdir(parents=True)
    labelled = rows.sample(frac=0.7, random_state=seed)
    outcomes = pd.DataFrame({
        "application_id": labelled["application_id"],
        "observed_at": labelled["scored_at"] + timedelta(hours=12),
        "defaulted": labelled["label"].astype(float),
    })
    outcomes.to_parquet(out / "outcomes_0.parquet")
    rows.iloc[::3][[*feats, "score", "grade", "flag"]].to_parquet(root / "reference.parquet")
    return feats


def _config(root: Path, feats: list[str], engine: str) -> VigilConfig:
    features: list[dict[str, Any]] = [
        {"name": f.replace(" ", "_"), "type": "numeric", "column": f} for f in feats
    ]
    features += [{"name": "grade", "type": "categorical"}, {"name": "flag", "type": "boolean"}]
    data = {
        "model": {"name": "cancer", "threshold": 0.5},
        "predictions": {
            "source": {"path": "landing/predictions"}, "id_column": "application_id",
            "timestamp_column": "scored_at", "score_column": "score",
            "decision_column": "decision", "positive_decision": "approve",
        },
        "features": features,
        "etl_tables": [{"name": "outcomes", "source": {"path": "landing/etl/outcomes"},
                        "timestamp_column": "observed_at", "key": "application_id"}],
        "labels": {"table": "outcomes", "join_key": "application_id", "label_column": "defaulted", "maturity": "1d"},
        "reference": {"kind": "file", "path": "reference.parquet"},
        "storage": {"root": str(root), "warehouse": f"{engine}.duckdb"},
        "profile": {"engine": engine, "spark": {"master": "local[2]", "sample_rows": 500}},
        "segments": [{"name": "by_grade", "column": "grade", "top": 3, "min_rows": 10}],
    }
    return config_from_dict(data, file=str(root / f"{engine}.yaml"), root=root)


def _rows(wh: Warehouse, sql: str) -> dict[tuple[Any, ...], dict[str, Any]]:
    with wh.read() as conn:
        cur = conn.execute(sql)
        names = [d[0] for d in cur.description or []]
        rows = cur.fetchall()
    return {tuple(r[:3]): dict(zip(names, r, strict=True)) for r in rows}


def _close(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(float(a), float(b), rel_tol=REL, abs_tol=1e-12)


@pytest.fixture(scope="module")
def engines(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str], Warehouse, Warehouse, Any]:
    root = tmp_path_factory.mktemp("conformance")
    feats = _landing(root, seed=3)
    duck_cfg, spark_cfg = _config(root, feats, "duckdb"), _config(root, feats, "spark")
    duck_wh = Warehouse(duck_cfg.warehouse_path)
    spark_wh = Warehouse(spark_cfg.warehouse_path)
    ingest_all(duck_cfg, duck_wh)
    ensure_reference(duck_cfg, duck_wh)
    profile_batches(duck_cfg, duck_wh, None)
    ensure_reference(spark_cfg, spark_wh)
    report = profile_with_spark(spark_cfg, spark_wh, spark)
    return root, feats, duck_wh, spark_wh, report


def test_every_column_statistic_agrees(engines: tuple[Path, list[str], Warehouse, Warehouse, Any]) -> None:
    root, feats, duck_wh, spark_wh, _ = engines
    sql = ("SELECT source, column_name, batch, count, nulls, nan, inf, min, max, mean, std, quantiles_json, "
           "bin_edges_json, bin_counts_json, categories_json, distinct_count FROM column_stats")
    duck, spark = _rows(duck_wh, sql), _rows(spark_wh, sql)
    assert len(duck) == 3 * (len(feats) + 3) + 3 * 4  # predictions: features + grade, flag, score + decision
    assert set(spark) == set(duck)
    frame = pd.concat(pd.read_parquet(p) for p in sorted((root / "landing" / "predictions").glob("*.parquet")))
    frame["batch"] = frame["scored_at"].dt.floor("D")
    checked_quantiles = 0
    for key, d in duck.items():
        s = spark[key]
        for col in ("count", "nulls", "nan", "inf"):
            assert s[col] == d[col], (key, col, d[col], s[col])
        for col in ("bin_edges_json", "bin_counts_json", "categories_json"):
            assert json.loads(s[col] or "null") == json.loads(d[col] or "null"), (key, col, d[col], s[col])
        for col in ("min", "max", "mean", "std"):
            assert _close(s[col], d[col]), (key, col, d[col], s[col])
        dd, sd = d["distinct_count"], s["distinct_count"]
        assert abs(sd - dd) <= DISTINCT_RELATIVE_ERROR * max(dd, sd) + 2, (key, dd, sd)
        source, column, batch = key
        qd, qs = json.loads(d["quantiles_json"] or "{}"), json.loads(s["quantiles_json"] or "{}")
        assert set(qd) == set(qs), key
        raw = {"score": "score"}.get(column) or next((f for f in feats if f.replace(" ", "_") == column), None)
        if source == "predictions" and raw is not None and qd:
            values = np.sort(frame.loc[frame["batch"] == pd.Timestamp(batch), raw].to_numpy(dtype=float))
            values = values[np.isfinite(values)]
            eps = QUANTILE_RANK_ERROR + 1.0 / len(values)
            for q, v in qd.items():
                lo = np.quantile(values, max(0.0, float(q) - eps), method="lower")
                hi = np.quantile(values, min(1.0, float(q) + eps), method="higher")
                for engine_value in (v, qs[q]):
                    assert lo <= engine_value <= hi, (key, q, lo, engine_value, hi)
                checked_quantiles += 1
    assert checked_quantiles == 3 * (COLUMNS + 1) * 9


def test_segment_statistics_agree(engines: tuple[Path, list[str], Warehouse, Warehouse, Any]) -> None:
    """Per-segment column statistics and live-test-set cells (GROUPING SETS on both engines)."""
    _, _, duck_wh, spark_wh, _ = engines
    sql = ("SELECT source || '.' || column_name, batch, segment || '=' || label, count, nulls, nan, inf, min, max, "
           "mean, std, bin_counts_json, categories_json FROM segment_column_stats")
    duck, spark = _rows(duck_wh, sql), _rows(spark_wh, sql)
    assert len({k[2] for k in duck}) >= 4  # the top 3 grades, (other) and any missing-value label
    assert duck and set(spark) == set(duck)
    for key, d in duck.items():
        _assert_same({k: v for k, v in d.items() if not k.endswith("_json")},
                     {k: v for k, v in spark[key].items() if not k.endswith("_json")}, str(key))
        for col in ("bin_counts_json", "categories_json"):
            assert json.loads(spark[key][col] or "null") == json.loads(d[col] or "null"), (key, col)
    sql = ("SELECT batch, segment || '=' || label, bin::VARCHAR || labeled::VARCHAR || positive::VARCHAR || "
           "approved::VARCHAR, n, sum_score, sum_y, sum_abs_err, sum_sq_err, matured FROM segment_live_stats")
    duck, spark = _rows(duck_wh, sql), _rows(spark_wh, sql)
    assert duck and set(spark) == set(duck)
    for key, d in duck.items():
        _assert_same(d, spark[key], str(key))


def test_table_and_live_test_set_statistics_agree(engines: tuple[Path, list[str], Warehouse, Warehouse, Any]) -> None:
    _, _, duck_wh, spark_wh, report = engines
    sql = "SELECT source, batch, 0, row_count, newest, freshness_lag_seconds, duplicate_keys FROM table_stats"
    duck, spark = _rows(duck_wh, sql), _rows(spark_wh, sql)
    assert duck and set(spark) == set(duck)
    for key, d in duck.items():
        assert spark[key] == d, key
    assert any(d["duplicate_keys"] > 0 for d in duck.values())

    sql = ("SELECT batch, 0, 0, predictions, labeled, matured, positives, approved, approved_labeled, "
           "approved_positives, mean_score, mean_label, auc, brier, precision, recall, estimated_json, metrics_json "
           "FROM performance_stats")
    duck, spark = _rows(duck_wh, sql), _rows(spark_wh, sql)
    assert len(duck) == 3 and set(spark) == set(duck)
    for key, d in duck.items():
        s = spark[key]
        for col in ("predictions", "labeled", "matured", "positives", "approved", "approved_labeled", "approved_positives"):
            assert s[col] == d[col], (key, col)
        for col in ("mean_score", "mean_label", "auc", "brier", "precision", "recall"):
            assert _close(s[col], d[col]), (key, col, d[col], s[col])
        ed, es = json.loads(d["estimated_json"]), json.loads(s["estimated_json"])
        assert set(ed) == set(es) and "auc" in ed
        for k in ed:
            assert _close(es[k], ed[k]), (key, k, ed[k], es[k])
        assert d["auc"] is not None and 0.5 < d["auc"] <= 1.0
        md, ms = json.loads(d["metrics_json"]), json.loads(s["metrics_json"])  # the AUC's DeLong error
        assert set(md) == set(ms) == {"auc_se"} and _close(ms["auc_se"], md["auc_se"]) and 0 < md["auc_se"] < 0.1

    # Statistics only: the Spark warehouse holds no ingested file, only its ledger and the bounded sample.
    with spark_wh.read() as conn:
        assert conn.execute("SELECT count(*) FROM ingested_files").fetchall()[0][0] == 0
        assert conn.execute("SELECT count(*) FROM spark_files").fetchall()[0][0] == 4
        per_batch = conn.execute(
            "SELECT date_trunc('day', scored_at) AS b, count(*) FROM predictions GROUP BY b").fetchall()
    assert len(per_batch) == 3 and all(n == 500 for _, n in per_batch)
    assert report.sampled_rows > 0


def _live_test_set(tmp: Path, spark: Any, task: str, frame: pd.DataFrame, labels: pd.DataFrame,
                   predictions: dict[str, Any], segments: list[Any] | None = None,
                   ) -> tuple[list[Any], list[Any], list[list[Any]] | None, list[list[Any]] | None]:
    """performance_stats by both engines over the same prediction and outcome files (and, with
    ``segments``, the segment live-test-set cells, profilers.performance.segment_live_values)."""
    import duckdb

    from profilers.performance import performance_stats, segment_live_values
    from profilers.sources import all_specs
    from profilers.spark_profile import source_frame
    from profilers.spark_sql import SparkSQL

    (tmp / "p").mkdir()
    (tmp / "l").mkdir()
    frame.to_parquet(tmp / "p" / "p.parquet")
    labels.to_parquet(tmp / "l" / "l.parquet")
    cfg = config_from_dict({
        "model": {"name": f"m_{task}", "task": task},
        "predictions": {"source": {"path": str(tmp / "p")}, "id_column": "id", "timestamp_column": "ts", **predictions},
        "features": [{"name": "f0", "type": "numeric"}],
        "etl_tables": [{"name": "outcomes", "source": {"path": str(tmp / "l")}, "timestamp_column": "at", "key": "id"}],
        "labels": {"table": "outcomes", "join_key": "id", "label_column": "y", "maturity": "1d"},
    }, file=str(tmp / "m.yaml"), root=tmp)
    batches = sorted({DAY0 + timedelta(days=d) for d in range(2)})
    now = DAY0 + timedelta(days=5)
    duck = duckdb.connect()
    duck.execute("CREATE TABLE predictions AS SELECT * FROM read_parquet(?)", [str(tmp / "p" / "p.parquet")])
    duck.execute("CREATE TABLE etl_outcomes AS SELECT * FROM read_parquet(?)", [str(tmp / "l" / "l.parquet")])
    duck.execute("CREATE TABLE batches (batch TIMESTAMP, prediction_rows BIGINT, profiled_at TIMESTAMP)")
    sq = SparkSQL(spark)
    for spec in all_specs(cfg):
        folder = tmp / ("p" if spec.name == "predictions" else "l")
        sq.register(spec.raw_table, source_frame(spark, spec, [str(folder / f"{folder.name}.parquet")]))
    cells = [segment_live_values(conn, cfg, batches, now, segments, ()) for conn in (duck, sq)] if segments \
        else [None, None]
    return (performance_stats(duck, cfg, batches, now),
            performance_stats(sq, cfg, batches, now, rows_conn=duck), *cells)  # type: ignore[arg-type]


def _assert_same(a: Any, b: Any, where: str) -> None:
    if isinstance(a, dict):
        assert set(a) == set(b), where
        for k in a:
            _assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, float) and isinstance(b, float | int):
        assert _close(a, b), (where, a, b)
    else:
        assert a == b, (where, a, b)


def test_multiclass_and_regression_live_test_sets_agree(spark: Any, tmp_path: Path) -> None:
    """Per-class counts, one-vs-rest AUC, log loss (iris) and error moments (diabetes) on both engines."""
    from sklearn.datasets import load_diabetes, load_iris
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(4)
    iris = load_iris()
    x = np.vstack([iris.data * (1 + rng.normal(0, 0.02, iris.data.shape)) for _ in range(6)])
    y = np.tile(iris.target, 6)
    proba = LogisticRegression(max_iter=2000).fit(iris.data, iris.target).predict_proba(x)
    n = len(y)
    ts = [DAY0 + timedelta(seconds=int(s)) for s in rng.integers(0, 2 * 86400, n)]
    classes = [str(c) for c in iris.target_names]
    frame = pd.DataFrame({"id": [f"i{i}" for i in range(n)], "ts": ts, "f0": x[:, 0],
                          "grp": rng.choice(["u", "v", "w"], n),
                          **{f"p_{c}": np.round(proba[:, k], 3) for k, c in enumerate(classes)}})
    labels = pd.DataFrame({"id": frame["id"], "at": frame["ts"],
                           "y": [classes[k] for k in y]}).sample(frac=0.8, random_state=1)
    mc = tmp_path / "mc"
    mc.mkdir()
    from profilers.segments import SegmentDef

    by_grp = SegmentDef("by_grp", 0, "grp", values=("u", "v"))  # w is (other)
    duck, spark_stats, duck_cells, spark_cells = _live_test_set(
        mc, spark, "multiclass", frame, labels, {"class_scores": {c: f"p_{c}" for c in classes}}, [by_grp])
    assert len(duck) == 2 and len(spark_stats) == 2
    for d, s in zip(sorted(duck, key=lambda p: p.batch), sorted(spark_stats, key=lambda p: p.batch), strict=True):
        _assert_same(d.__dict__, s.__dict__, f"multiclass {d.batch}")
        assert set(d.classes) == set(classes) and d.metrics["log_loss"] > 0
    # Segment cells over the predicted class (right or wrong) per segment: the same on both engines.
    assert duck_cells and spark_cells
    keyed = [{tuple(str(v) for v in r[:7]): r[7:] for r in cells} for cells in (duck_cells, spark_cells)]
    assert set(keyed[0]) == set(keyed[1]) and {k[2] for k in keyed[0]} == {"", "u", "v", "(other)"}
    for k, d_cell in keyed[0].items():
        for i, (a, b) in enumerate(zip(d_cell, keyed[1][k], strict=True)):
            _assert_same(a, b, f"multiclass segment cell {k}[{i}]")

    diabetes = load_diabetes()
    xr = np.vstack([diabetes.data for _ in range(3)])
    yr = np.tile(diabetes.target, 3)
    pred = Ridge(alpha=0.1).fit(diabetes.data, diabetes.target).predict(xr)
    n = len(yr)
    ts = [DAY0 + timedelta(seconds=int(s)) for s in rng.integers(0, 2 * 86400, n)]
    frame = pd.DataFrame({"id": [f"r{i}" for i in range(n)], "ts": ts, "f0": xr[:, 0], "pred": pred})
    labels = pd.DataFrame({"id": frame["id"], "at": frame["ts"], "y": yr}).sample(frac=0.9, random_state=2)
    rg = tmp_path / "rg"
    rg.mkdir()
    duck, spark_stats, _, _ = _live_test_set(rg, spark, "regression", frame, labels, {"score_column": "pred"})
    assert len(duck) == 2
    for d, s in zip(sorted(duck, key=lambda p: p.batch), sorted(spark_stats, key=lambda p: p.batch), strict=True):
        _assert_same(d.__dict__, s.__dict__, f"regression {d.batch}")
        assert d.mae is not None and d.rmse is not None and "rmsle" in d.metrics
