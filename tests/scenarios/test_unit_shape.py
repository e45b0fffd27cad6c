"""Issue 11, failures 3 and 4: unit changes from the shape of the change.

Years reported in months (x12) pages as a unit change that names x12, on its batch, and
resolves on the next clean one. A same-mean change of a physical measurement (height's
spread widens, its mean unchanged) is drift, never a unit change. Data generated here,
not by the loan simulator.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from app.cycle import run_cycle
from core.clock import ManualClock
from core.config import config_from_dict

DAY0 = datetime(2025, 10, 6)
ROWS = 1500
DAYS = 7
MONTHS_DAY = 3
WIDE_DAYS = (5, 6)


def _config() -> dict[str, Any]:
    return {
        "model": {"name": "members", "task": "binary", "threshold": 0.5},
        "predictions": {"source": {"path": "landing/predictions", "glob": "*.parquet"}, "id_column": "id",
                        "timestamp_column": "ts", "score_column": "score"},
        "features": [{"name": "tenure", "type": "numeric", "unit": "years"},
                     {"name": "height", "type": "numeric", "unit": "cm"}],
        "batch": {"window": "1d"},
        "reference": {"kind": "file", "path": "ref.parquet", "chunk_rows": ROWS},
    }


def _frame(rng: np.random.Generator, n: int, months: bool = False, wide: bool = False) -> pd.DataFrame:
    tenure = rng.gamma(3.0, 2.0, n)
    height = rng.normal(170, 9, n)
    if wide:  # same mean, 1.6x the spread: a different population, not a unit
        height = 170 + 1.6 * (height - 170)
    score = 1 / (1 + np.exp(-(tenure - 6) / 3))
    return pd.DataFrame({"tenure": tenure * 12 if months else tenure, "height": height, "score": score})


@pytest.mark.parametrize("seed", (2, 31))
def test_years_to_months_is_named_and_a_same_mean_shift_is_drift(tmp_path: Path, seed: int) -> None:
    cfg = config_from_dict(_config(), file="members.yaml", root=tmp_path)
    rng = np.random.default_rng(seed)
    _frame(rng, 20_000).to_parquet(tmp_path / "ref.parquet")
    fired: list[tuple[str, str, int, str]] = []
    results = []
    for day in range(DAYS):
        frame = _frame(rng, ROWS, months=day == MONTHS_DAY, wide=day in WIDE_DAYS)
        frame.insert(0, "id", [f"d{day}-{i}" for i in range(ROWS)])
        frame.insert(1, "ts", pd.to_datetime([DAY0 + timedelta(days=day, seconds=int(s))
                                              for s in rng.integers(0, 86400, ROWS)]))
        (tmp_path / "landing" / "predictions").mkdir(parents=True, exist_ok=True)
        frame.to_parquet(tmp_path / "landing" / "predictions" / f"p{day:02d}.parquet")
        report = run_cycle(cfg, clock=ManualClock(DAY0 + timedelta(days=day + 1, hours=3)), notify=False)
        assert report.status == "ok", report.error
        results += report.results
        for t in report.alerts.transitions if report.alerts else []:
            if t.check == "unit_change" and t.to_state in ("firing", "resolved"):
                fired.append((t.check, t.subject, (datetime.fromisoformat(t.batch) - DAY0).days, t.to_state))
    # The exact unit-change alert sequence: x12 on its day, resolved the next; nothing on height.
    assert fired == [("unit_change", "predictions.tenure", MONTHS_DAY, "firing"),
                     ("unit_change", "predictions.tenure", MONTHS_DAY + 1, "resolved")]
    tenure = sorted((r for r in results if r.check == "unit_change" and r.subject == "predictions.tenure"),
                    key=lambda r: r.batch)
    assert [r.status == "fail" for r in tenure] == [d == MONTHS_DAY for d in range(DAYS)]
    named = tenure[MONTHS_DAY]
    assert named.evidence["factor"] == 12.0 and "x12" in named.explanation
    assert "years -> months" in named.explanation
    height = [r for r in results if r.check == "unit_change" and r.subject == "predictions.height"]
    assert len(height) == DAYS and all(r.status == "ok" for r in height), [r.explanation for r in height]
    # The same-mean shift is drift: the distribution checks fail on exactly those days.
    drift = sorted((r for r in results if r.check == "ks" and r.subject == "predictions.height"), key=lambda r: r.batch)
    assert [r.status == "fail" for r in drift] == [d in WIDE_DAYS for d in range(DAYS)]
