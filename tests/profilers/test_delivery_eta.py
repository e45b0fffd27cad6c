"""The second example (delivery-time regression): its own config, tables and formats."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.config import load_config
from core.stores import Warehouse
from profilers.ingest import ingest_all
from profilers.profile import profile_batches
from profilers.reference import ensure_reference
from profilers.stats_store import (
    list_batches,
    load_column_stats,
    load_performance,
    load_reference,
    load_table_stats,
)
from tests.fixtures.delivery_eta.generate import generate

CONFIG = Path(__file__).resolve().parents[1] / "fixtures" / "delivery_eta" / "monitor.yaml"


@pytest.fixture(scope="module")
def eta(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, Warehouse, Path]:
    root = tmp_path_factory.mktemp("eta")
    generate(root, days=4, seed=7, volume=300, miles_day=2, slow_day=3)
    cfg = load_config(CONFIG, root=root)
    wh = Warehouse(cfg.warehouse_path, memory_limit="512MB")
    report = ingest_all(cfg, wh)
    assert not report.quarantined and report.loaded == 4 * 4
    ensure_reference(cfg, wh)
    profile_batches(cfg, wh, report.all_dirty)
    return cfg, wh, root


def _joined(root: Path) -> pd.DataFrame:
    preds = pd.concat(
        pd.read_json(p, lines=True) for p in sorted((root / "landing" / "predictions").glob("*.jsonl"))
    )
    labels = pd.concat(pd.read_csv(p) for p in sorted((root / "landing" / "deliveries").glob("*.csv")))
    df = preds.merge(labels, on="order_id", how="left")
    ts = pd.to_datetime(df["predicted_at"])
    df["batch"] = ts.dt.floor("1D")
    return df


def test_daily_batches_and_regression_metrics(eta: tuple[object, Warehouse, Path]) -> None:
    _, wh, root = eta
    df = _joined(root)
    with wh.read() as conn:
        batches = list_batches(conn)
        perf = {b: load_performance(conn, b) for b in batches}
    assert batches == sorted(df["batch"].unique().tolist())
    assert all(b.hour == 0 and b.minute == 0 for b in batches) and len(batches) == 4
    for b, p in perf.items():
        assert p is not None
        rows = df[df["batch"] == b]
        err = (rows["eta_minutes"] - rows["actual_minutes"]).dropna()
        assert (p.predictions, p.labeled) == (len(rows), len(err))
        assert p.mae == pytest.approx(err.abs().mean())
        assert p.rmse == pytest.approx(float(np.sqrt((err**2).mean())))
        assert p.auc is None and p.brier is None and p.positives == 0
        assert p.mean_score == pytest.approx(rows["eta_minutes"].mean())
    # The slow day (day 3) is much worse than the clean days.
    day = datetime(2024, 5, 1)
    mae_clean = np.mean(
        [p.mae for b, p in perf.items() if p and p.mae is not None and b < day + timedelta(days=2)]
    )
    mae_slow = np.mean(
        [p.mae for b, p in perf.items() if p and p.mae is not None and b >= day + timedelta(days=3)]
    )
    assert mae_slow > 2 * mae_clean


def test_unit_change_visible_in_stats_and_lineage_reference(eta: tuple[object, Warehouse, Path]) -> None:
    _, wh, _ = eta
    with wh.read() as conn:
        ref = load_reference(conn, "orders", "distance_km")
        served_ref = load_reference(conn, "predictions", "distance_km")
        vehicle_ref = load_reference(conn, "couriers", "vehicle")
        means = {}
        for b in list_batches(conn):
            s = load_column_stats(conn, "orders", "distance_km", b)
            if s is not None and s.count:
                means[b] = s.mean
        orders_stats = load_table_stats(conn, "orders", list_batches(conn)[0])
    assert ref is not None and served_ref is not None and vehicle_ref is not None
    assert ref.whole.bin_edges == served_ref.whole.bin_edges and len(ref.whole.bin_edges) == 9
    assert len(ref.chunks) == 10  # no timestamp in the reference: row chunks of rows // 10
    assert set(vehicle_ref.whole.categories) == {"bike", "scooter", "car"}
    miles = [m for b, m in means.items() if b.date() == datetime(2024, 5, 3).date()]
    clean = [m for b, m in means.items() if b.date() != datetime(2024, 5, 3).date()]
    assert miles and clean
    assert np.mean(clean) / np.mean(miles) == pytest.approx(1.609, rel=0.1)
    assert orders_stats is not None and orders_stats.duplicate_keys == 0 and orders_stats.row_count > 0


def test_full_cycle_flags_only_the_miles_day(tmp_path: Path) -> None:
    """The second example through the app's whole cycle: the unit bug fires, clean days do not."""
    cycle = pytest.importorskip("app.cycle")
    generate(tmp_path, days=8, seed=7, volume=400, miles_day=6)
    cfg = load_config(CONFIG, root=tmp_path)
    report = cycle.run_cycle(cfg, notify=False).to_dict()
    failed = [r for r in report["results"] if r["status"] == "fail"]
    assert {r["batch"] for r in failed} == {"2024-05-07T00:00:00"}
    assert {(r["check"], r["subject"]) for r in failed} >= {
        ("unit_change", "orders.distance_km"),
        ("unit_change", "predictions.distance_km"),
    }
    again = cycle.run_cycle(cfg, notify=False).to_dict()
    assert again["summary"]["files_loaded"] == 0 and again["summary"]["batches_profiled"] == 0
