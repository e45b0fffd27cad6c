"""Issue 11: the Checks page shows a performance estimate and its realized value on one trend.

A small binary model with labels one day late (data generated here): each batch's estimated
AUC is judged the day it arrives; when its labels mature the next cycle stores the realized
AUC and the estimate's error beside it. The page draws both on one chart (estimate before
labels, realized after) and lists them, with "waiting for labels" for the newest batch.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from streamlit.testing.v1 import AppTest

from app import queries
from app.cycle import run_cycle
from core.clock import ManualClock
from core.config import load_config
from tests.app.test_dashboard import PAGES, render
from tests.scenarios.auc_drop import auc_drop_config

DAY0 = datetime(2025, 6, 2)
ROWS = 600
DAYS = 4


def _rows(rng: np.random.Generator, n: int) -> pd.DataFrame:
    x = rng.normal(0.0, 1.0, n)
    score = 1.0 / (1.0 + np.exp(-3.0 * x))
    return pd.DataFrame({"x": x, "score": score, "y": (rng.random(n) < score).astype(int)})


@pytest.fixture(scope="module")
def labelled_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("estimate")
    root = folder / "var"
    root.mkdir()
    config = {**auc_drop_config(chunk_rows=ROWS), "schedule": {"interval": "1h"}}
    path = folder / "monitor.yaml"
    path.write_text(yaml.safe_dump(config))
    cfg = load_config(path, root=root)
    rng = np.random.default_rng(11)
    _rows(rng, 6000).to_parquet(root / "ref.parquet")
    previous: pd.DataFrame | None = None
    for day in range(DAYS):
        frame = _rows(rng, ROWS)
        frame.insert(0, "id", [f"d{day}-{i}" for i in range(ROWS)])
        frame.insert(1, "ts", pd.to_datetime([DAY0 + timedelta(days=day, seconds=int(s))
                                              for s in rng.integers(0, 86400, ROWS)]))
        (root / "landing" / "predictions").mkdir(parents=True, exist_ok=True)
        frame.drop(columns=["y"]).to_parquet(root / "landing" / "predictions" / f"p{day:02d}.parquet")
        if previous is not None:  # yesterday's outcomes, observed today
            (root / "landing" / "outcomes").mkdir(parents=True, exist_ok=True)
            pd.DataFrame({"id": previous["id"], "y": previous["y"],
                          "observed_at": pd.Timestamp(DAY0 + timedelta(days=day, hours=2))}).to_parquet(
                root / "landing" / "outcomes" / f"o{day:02d}.parquet")
        previous = frame
        report = run_cycle(cfg, clock=ManualClock(DAY0 + timedelta(days=day + 1, hours=3)), notify=False)
        assert report.status == "ok", report.error
    return path, root


@pytest.fixture
def labelled(labelled_store: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    path, root = labelled_store
    monkeypatch.setenv("VIGIL_CONFIG", str(path))
    monkeypatch.setenv("VIGIL_ROOT", str(root))
    monkeypatch.setenv("VIGIL_USER", "tester")
    return root


def test_the_trend_holds_the_estimate_of_every_batch_and_the_realized_value_of_matured_ones(labelled: Path) -> None:
    cfg = load_config(Path(str(labelled.parent / "monitor.yaml")), root=labelled)
    assert ("estimated_performance", "model") in queries.estimate_series(cfg)
    trend = queries.estimate_trend(cfg, "estimated_performance", "model")
    assert list(trend["batch"]) == [(DAY0 + timedelta(days=d)).isoformat() for d in range(DAYS)]
    assert trend["estimated"].notna().all() and trend["lower"].notna().all()
    # Labels mature one cycle later: every batch but the newest has its realized AUC and error.
    assert trend["realized"].notna().tolist() == [True] * (DAYS - 1) + [False]
    matured = trend.dropna(subset=["realized"])
    assert ((matured["realized"] > 0.7) & (matured["realized"] < 0.95)).all()
    assert (matured["estimate_error"].abs() < 0.05).all()
    assert (matured["estimate_error"] != 0).any()


def _charts(at: AppTest) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(el.proto.spec) for el in at.get("vega_lite_chart")]


def test_the_checks_page_draws_estimate_and_realized_on_one_trend(labelled: Path) -> None:
    at = render(PAGES[5])
    tables = [t.value for t in at.dataframe if "realized (labels matured)" in t.value.columns]
    assert len(tables) == 1
    table = tables[0]
    assert len(table) == DAYS
    assert table["realized (labels matured)"].iloc[0] == "waiting for labels"  # the newest batch
    assert all(v not in ("", "waiting for labels") for v in table["realized (labels matured)"].iloc[1:])
    assert table["estimate error"].iloc[0] == "" and all(e.startswith(("+", "-")) for e in table["estimate error"].iloc[1:])
    layered = [c for c in _charts(at) if "realized" in json.dumps(c) and "estimate_error" in json.dumps(c)]
    assert len(layered) == 1, "one chart carries both the estimate and the realized value"
    encoded = {json.dumps(layer.get("encoding", {}).get("y", {})) for layer in layered[0]["layer"]}
    assert any('"value"' in y for y in encoded) and any('"realized"' in y for y in encoded)
    assert any("of 4 batches" in c.value and "3 of 4" in c.value for c in at.caption)
