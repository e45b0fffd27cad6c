"""Statistics checked against numpy / scikit-learn on small data; incremental profiling."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import roc_auc_score

from core.config import VigilConfig, config_from_dict
from core.stores import Warehouse
from profilers.ingest import ingest_all
from profilers.profile import profile_batches, profile_batches_detailed
from profilers.reference import ensure_reference
from profilers.stats_store import (
    column_over_time,
    event_now,
    list_batches,
    load_column_stats,
    load_performance,
    load_reference,
    load_table_stats,
)
from profilers.stats_types import OTHER, QUANTILES
from tests.profilers.conftest import (
    DAY0,
    day_frame,
    toy_config_dict,
    write_apps,
    write_outcomes,
    write_predictions,
    write_reference,
)


def _messy_day(seed: int, n: int = 3000) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """A day whose x has NaN, +-inf and nulls (kept apart), and 30 skewed categories."""
    df = day_frame(0, n=n, seed=seed)
    rng = np.random.default_rng(seed)
    x = rng.lognormal(3, 1, n)
    x[rng.choice(n, 40, replace=False)] = np.nan
    x[rng.choice(n, 7, replace=False)] = np.inf
    x[rng.choice(n, 3, replace=False)] = -np.inf
    null_mask = rng.random(n) < 0.05
    cats = [f"c{i:02d}" for i in range(30)]
    weights = np.linspace(1, 3, 30)
    df["cat"] = rng.choice(cats, n, p=weights / weights.sum())
    return df, x, null_mask


def _write_messy(root: Path, df: pd.DataFrame, x: np.ndarray, null_mask: np.ndarray) -> None:
    table = pa.Table.from_pandas(df.drop(columns=["x"]), preserve_index=False)
    table = table.append_column("x", pa.array(x, mask=null_mask, from_pandas=False))
    folder = root / "landing" / "predictions"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, folder / "predictions_00.parquet")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_numeric_and_categorical_stats_match_numpy(
    toy_cfg: VigilConfig, toy_wh: Warehouse, seed: int
) -> None:
    df, x, null_mask = _messy_day(seed)
    _write_messy(toy_cfg.root, df, x, null_mask)
    write_reference(toy_cfg.root, seed=seed)
    ingest_all(toy_cfg, toy_wh)
    ensure_reference(toy_cfg, toy_wh)
    profile_batches(toy_cfg, toy_wh)
    with toy_wh.read() as conn:
        s = load_column_stats(conn, "predictions", "x", DAY0)
        c = load_column_stats(conn, "predictions", "cat", DAY0)
        ref = load_reference(conn, "predictions", "x")
    assert s is not None and c is not None and ref is not None

    present = x[~null_mask]
    valid = present[np.isfinite(present)]
    assert s.count == len(df)
    assert s.nulls == int(null_mask.sum()) > 0
    assert s.nan == int(np.isnan(present).sum()) > 0
    assert s.inf == int(np.isinf(present).sum()) > 0
    assert s.valid == len(valid)
    assert s.min == pytest.approx(valid.min())
    assert s.max == pytest.approx(valid.max())
    assert s.mean == pytest.approx(valid.mean())
    assert s.std == pytest.approx(valid.std(ddof=1))
    for q in QUANTILES:
        # approx_quantile (t-digest): within one percentile point of the exact rank.
        lo, hi = np.quantile(valid, [max(0.0, q - 0.01), min(1.0, q + 0.01)])
        assert lo <= s.quantiles[q] <= hi, q
    # Histogram over the reference's interior cut points: x <= c1, c1 < x <= c2, ..., x > cm.
    edges = np.array(ref.whole.bin_edges)
    assert s.bin_edges == ref.whole.bin_edges and len(edges) == 9
    expected = np.bincount(np.searchsorted(edges, valid, side="left"), minlength=len(edges) + 1)
    assert list(s.bin_counts) == expected.tolist()
    assert sum(s.bin_counts) == s.valid

    # Every category is counted (no top-k truncation: issue 11).
    counts = df["cat"].value_counts()
    assert c.categories == {str(k): int(v) for k, v in counts.items()} and OTHER not in c.categories
    assert sum(c.categories.values()) == len(df)
    assert c.distinct is not None and abs(c.distinct - 30) <= 2


def test_incremental_profiling_touches_only_dirty_batches(toy_cfg: VigilConfig, toy_wh: Warehouse) -> None:
    for d in range(4):
        write_predictions(toy_cfg.root, d)
        write_apps(toy_cfg.root, d)
    ingest_all(toy_cfg, toy_wh)
    assert len(profile_batches(toy_cfg, toy_wh)) == 4

    def computed_at() -> dict[object, object]:
        with toy_wh.read() as conn:
            return dict(
                conn.execute(
                    "SELECT batch, computed_at FROM column_stats WHERE source = 'predictions' AND column_name = 'x'"
                ).fetchall()
            )

    before = computed_at()
    assert profile_batches(toy_cfg, toy_wh) == []  # nothing dirty, nothing missing
    day2 = DAY0 + timedelta(days=2)
    assert profile_batches_detailed(toy_cfg, toy_wh, {day2}).column_batches == [day2]
    after = computed_at()
    assert [b for b in before if before[b] != after[b]] == [day2]
    with toy_wh.read() as conn:
        rows = conn.execute("SELECT count(*) FROM column_stats WHERE batch = ?", [day2]).fetchone()
    assert rows == (5 + 4,)  # predictions: x, cat, flag, score, decision; apps: x, cat, ts, id


def test_table_stats_freshness_duplicates_and_event_now(toy_cfg: VigilConfig, toy_wh: Warehouse) -> None:
    for d in range(3):
        write_predictions(toy_cfg.root, d)
    write_apps(toy_cfg.root, 0)
    apps1 = day_frame(1)[["id", "ts", "x", "cat"]]
    apps1 = pd.concat([apps1, apps1.head(5)])  # 5 duplicate keys
    write_apps(toy_cfg.root, 1, apps1)
    # No apps extract for day 2: the table goes stale while predictions continue.
    ingest_all(toy_cfg, toy_wh)
    profile_batches(toy_cfg, toy_wh)
    with toy_wh.read() as conn:
        now = event_now(conn)
        t0 = load_table_stats(conn, "apps", DAY0)
        t1 = load_table_stats(conn, "apps", DAY0 + timedelta(days=1))
        t2 = load_table_stats(conn, "apps", DAY0 + timedelta(days=2))
        p2 = load_table_stats(conn, "predictions", DAY0 + timedelta(days=2))
        batches = list_batches(conn)
    assert batches == [DAY0 + timedelta(days=d) for d in range(3)]
    preds2 = day_frame(2)
    assert now == preds2["ts"].max().to_pydatetime()
    assert t0 is not None and t1 is not None and t2 is not None and p2 is not None
    assert (t0.row_count, t0.duplicate_keys, t0.freshness_lag_seconds) == (200, 0, 0.0)
    assert (t1.row_count, t1.duplicate_keys) == (205, 5)
    assert t2.row_count == 0 and t2.newest is None
    expected_lag = (now - day_frame(1)["ts"].max().to_pydatetime()).total_seconds()
    assert t2.freshness_lag_seconds == pytest.approx(expected_lag)
    assert p2.row_count == 200 and p2.freshness_lag_seconds == 0.0


def delong_se(score: np.ndarray, y: np.ndarray) -> float:
    """DeLong's standard error of the AUC from its definition (placements, ties at half)."""
    pos, neg = score[y == 1], score[y == 0]
    v10 = [((neg < s).sum() + 0.5 * (neg == s).sum()) / len(neg) for s in pos]
    v01 = [((pos > s).sum() + 0.5 * (pos == s).sum()) / len(pos) for s in neg]
    return float(np.sqrt(np.var(v10, ddof=1) / len(pos) + np.var(v01, ddof=1) / len(neg)))


def test_performance_stats_match_sklearn(toy_cfg: VigilConfig, toy_wh: Warehouse) -> None:
    for d in range(5):
        write_predictions(toy_cfg.root, d)
    write_outcomes(toy_cfg.root, 3, of_day=0)
    ingest_all(toy_cfg, toy_wh)
    profile_batches(toy_cfg, toy_wh)
    preds = day_frame(0)
    rng = np.random.default_rng(0 + 77)
    y = (rng.uniform(0, 1, len(preds)) < preds["score"]).astype(int).to_numpy()
    score = preds["score"].to_numpy()
    with toy_wh.read() as conn:
        p = load_performance(conn, DAY0)
        p4 = load_performance(conn, DAY0 + timedelta(days=4))
    assert p is not None and p4 is not None
    assert (p.predictions, p.labeled, p.positives) == (200, 200, int(y.sum()))
    assert p.matured  # day 0 ends on day 1; + 2d maturity <= newest prediction (day 4)
    assert p.auc == pytest.approx(roc_auc_score(y, score))
    assert p.metrics["auc_se"] == pytest.approx(delong_se(score, y))
    assert p.brier == pytest.approx(np.mean((score - y) ** 2))
    pred_pos = score >= 0.5
    assert p.precision == pytest.approx((pred_pos & (y == 1)).sum() / pred_pos.sum())
    assert p.recall == pytest.approx((pred_pos & (y == 1)).sum() / y.sum())
    approved = preds["decision"].to_numpy() == "approve"
    assert (p.approved, p.approved_labeled, p.approved_positives) == (
        int(approved.sum()),
        int(approved.sum()),
        int((approved & (y == 1)).sum()),
    )
    assert p.mean_label == pytest.approx(y.mean())
    assert p.estimated["expected_positive_rate"] == pytest.approx(score.mean())
    assert p4.labeled == 0 and not p4.matured and p4.auc is None
    assert p4.estimated["expected_positives"] == pytest.approx(day_frame(4)["score"].sum())


def test_maturity_flips_without_new_labels(toy_cfg: VigilConfig, toy_wh: Warehouse) -> None:
    for d in range(2):
        write_predictions(toy_cfg.root, d)
    ingest_all(toy_cfg, toy_wh)
    profile_batches(toy_cfg, toy_wh)
    with toy_wh.read() as conn:
        p = load_performance(conn, DAY0)
    assert p is not None and not p.matured
    write_predictions(toy_cfg.root, 4)
    report = ingest_all(toy_cfg, toy_wh)
    profiled = profile_batches_detailed(toy_cfg, toy_wh, report.all_dirty)
    assert profiled.column_batches == [DAY0 + timedelta(days=4)]
    assert DAY0 in profiled.performance_batches
    with toy_wh.read() as conn:
        p = load_performance(conn, DAY0)
    assert p is not None and p.matured


def test_reference_once_chunks_and_lineage(toy_cfg: VigilConfig, toy_wh: Warehouse) -> None:
    write_reference(toy_cfg.root, n=2000)
    write_predictions(toy_cfg.root, 0)
    write_apps(toy_cfg.root, 0)
    ingest_all(toy_cfg, toy_wh)
    ensure_reference(toy_cfg, toy_wh)
    profile_batches(toy_cfg, toy_wh)
    with toy_wh.read() as conn:
        ref = load_reference(conn, "predictions", "x")
        etl = load_reference(conn, "apps", "x")
        cat = load_reference(conn, "apps", "cat")
        stamp = conn.execute("SELECT computed_at FROM reference_meta").fetchone()
        apps_x = load_column_stats(conn, "apps", "x", DAY0)
    assert ref is not None and etl is not None and cat is not None
    assert ref.whole.count == 2000 and ref.whole.batch is None
    assert len(ref.chunks) == 10 and all(ch.count == 200 for ch in ref.chunks)  # 200 rows per batch
    assert etl.whole.bin_edges == ref.whole.bin_edges and etl.whole.source == "apps"
    assert set(cat.whole.categories) == {"a", "b", "c"}
    assert apps_x is not None and apps_x.bin_edges == ref.whole.bin_edges
    # Computed once: a second call keeps it.
    ensure_reference(toy_cfg, toy_wh)
    with toy_wh.read() as conn:
        assert conn.execute("SELECT computed_at FROM reference_meta").fetchone() == stamp
    # A new reference file: recomputed, and every batch re-profiled against its bin edges.
    write_reference(toy_cfg.root, n=1000, seed=11)
    ensure_reference(toy_cfg, toy_wh)
    assert profile_batches(toy_cfg, toy_wh) == [DAY0]
    with toy_wh.read() as conn:
        ref2 = load_reference(conn, "predictions", "x")
        x = load_column_stats(conn, "predictions", "x", DAY0)
    assert ref2 is not None and ref2.whole.count == 1000
    assert x is not None and x.bin_edges == ref2.whole.bin_edges


def test_window_reference(tmp_path: Path) -> None:
    root = tmp_path
    data = toy_config_dict()
    data["reference"] = {"kind": "window", "start": "2024-03-01T00:00:00", "end": "2024-03-03T00:00:00"}
    cfg = config_from_dict(data, root=root)
    wh = Warehouse(cfg.warehouse_path, memory_limit="512MB")
    ensure_reference(cfg, wh)  # nothing ingested yet: no reference, no error
    for d in range(4):
        write_predictions(root, d)
    ingest_all(cfg, wh)
    with wh.read() as conn:
        assert load_reference(conn, "predictions", "score") is None
    ensure_reference(cfg, wh)
    profile_batches(cfg, wh)
    with wh.read() as conn:
        ref = load_reference(conn, "predictions", "score")
        series = column_over_time(conn, "predictions", "score")
    assert ref is not None and ref.whole.count == 400
    assert [ch.batch for ch in ref.chunks] == [DAY0, DAY0 + timedelta(days=1)]
    assert len(series) == 4 and all(r["count"] == 200 for r in series)


def test_hourly_windows_align_to_the_epoch(tmp_path: Path) -> None:
    data = toy_config_dict()
    data["batch"] = {"window": "6h"}
    cfg = config_from_dict(data, root=tmp_path)
    wh = Warehouse(cfg.warehouse_path, memory_limit="512MB")
    df = day_frame(0, n=400)
    write_predictions(tmp_path, 0, df)
    report = ingest_all(cfg, wh)
    expected = sorted({t.to_pydatetime() for t in df["ts"].dt.floor("6h")})
    assert sorted(report.dirty_batches) == expected and len(expected) == 4
    profile_batches(cfg, wh)
    with wh.read() as conn:
        counts = [load_column_stats(conn, "predictions", "score", b) for b in expected]
    assert [c.count for c in counts if c] == df.groupby(df["ts"].dt.floor("6h")).size().tolist()


def test_corrected_label_file_replaces_labels_and_reprofiles(toy_cfg: VigilConfig, toy_wh: Warehouse) -> None:
    for d in range(4):
        write_predictions(toy_cfg.root, d)
    path = write_outcomes(toy_cfg.root, 3, of_day=0)
    ingest_all(toy_cfg, toy_wh)
    profile_batches(toy_cfg, toy_wh)
    # The label producer redelivers day 3 corrected: every outcome of day 0 is a default.
    lines = [line.replace('"y":0', '"y":1') for line in path.read_text().splitlines()]
    path.write_text("\n".join(lines) + "\n")
    report = ingest_all(toy_cfg, toy_wh)
    assert report.replaced == 1 and report.label_batches == {DAY0}
    profiled = profile_batches_detailed(toy_cfg, toy_wh, report.all_dirty)
    assert DAY0 in profiled.performance_batches
    with toy_wh.read() as conn:
        p = load_performance(conn, DAY0)
    assert p is not None and (p.labeled, p.positives, p.mean_label) == (200, 200, 1.0)
    assert p.auc is None  # one class only
