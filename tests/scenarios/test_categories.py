"""Issue 11, failure 1: complete category statistics.

A categorical feature with 25 codes, all present in the reference, several of them rare
(below the old top-20 cut): no unseen_category alert on any clean batch. A genuinely new
code at 5% of one batch pages on that batch and resolves on the next clean one. A column
above the category cap is checked by distinct count and lengths instead, and says so.
Data generated here, not by the loan simulator.
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

DAY0 = datetime(2025, 9, 1)
ROWS = 2000
DAYS = 7
NEW_CODE_DAY = 4
CODES = [f"C{i:02d}" for i in range(25)]
# Zipf-like: the five rarest codes hold 0.3-0.5% each, below the old top-20 cut.
_W = 1.0 / np.arange(1, 26) ** 1.1
SHARES = _W / _W.sum()


def _config() -> dict[str, Any]:
    return {
        "model": {"name": "codes", "task": "binary", "threshold": 0.5},
        "predictions": {"source": {"path": "landing/predictions", "glob": "*.parquet"}, "id_column": "id",
                        "timestamp_column": "ts", "score_column": "score"},
        "features": [{"name": "code", "type": "categorical"}, {"name": "amount", "type": "numeric"},
                     {"name": "token", "type": "categorical"}],
        "batch": {"window": "1d"},
        "reference": {"kind": "file", "path": "ref.parquet", "chunk_rows": ROWS},
    }


def _frame(rng: np.random.Generator, n: int, new_share: float = 0.0, token_start: int = 0) -> pd.DataFrame:
    code = rng.choice(CODES, n, p=SHARES).astype(object)
    if new_share:
        code[rng.random(n) < new_share] = "C99"
    amount = rng.lognormal(3, 0.5, n)
    return pd.DataFrame({"code": code, "amount": amount,
                         # an identifier-like column: every value distinct, far above any cap in a batch
                         "token": [f"t{token_start + i:08d}" for i in range(n)],
                         "score": 1 / (1 + np.exp(-(np.log(amount) - 3)))})


def _alerts(root: Path, seed: int) -> tuple[list[tuple[str, int, str]], list[Any]]:
    cfg = config_from_dict(_config(), file="codes.yaml", root=root)
    rng = np.random.default_rng(seed)
    _frame(rng, 30_000, token_start=90_000_000).to_parquet(root / "ref.parquet")
    transitions: list[tuple[str, int, str]] = []
    results = []
    for day in range(DAYS):
        frame = _frame(rng, ROWS, 0.05 if day == NEW_CODE_DAY else 0.0, token_start=day * ROWS)
        frame.insert(0, "id", [f"d{day}-{i}" for i in range(ROWS)])
        frame.insert(1, "ts", pd.to_datetime([DAY0 + timedelta(days=day, seconds=int(s))
                                              for s in rng.integers(0, 86400, ROWS)]))
        (root / "landing" / "predictions").mkdir(parents=True, exist_ok=True)
        frame.to_parquet(root / "landing" / "predictions" / f"p{day:02d}.parquet")
        report = run_cycle(cfg, clock=ManualClock(DAY0 + timedelta(days=day + 1, hours=3)), notify=False)
        assert report.status == "ok", report.error
        results += report.results
        for t in report.alerts.transitions if report.alerts else []:
            if t.subject == "predictions.code" and t.to_state in ("firing", "resolved"):
                batch = datetime.fromisoformat(t.batch)
                transitions.append((t.check, (batch - DAY0).days, t.to_state))
    return transitions, results


@pytest.mark.parametrize("seed", (5, 23))
def test_known_rare_codes_never_page_and_a_new_code_pages_on_its_batch(tmp_path: Path, seed: int) -> None:
    transitions, results = _alerts(tmp_path, seed)
    unseen = [t for t in transitions if t[0] == "unseen_category"]
    assert unseen == [("unseen_category", NEW_CODE_DAY, "firing"), ("unseen_category", NEW_CODE_DAY + 1, "resolved")]
    # Clean batches: every code of the batch is in the reference, rare ones included.
    code_results = sorted((r for r in results if r.check == "unseen_category" and r.subject == "predictions.code"),
                          key=lambda r: r.batch)
    assert [r.status for r in code_results] == ["ok"] * NEW_CODE_DAY + ["fail"] + ["ok"] * (DAYS - NEW_CODE_DAY - 1)
    assert code_results[NEW_CODE_DAY].evidence["unseen"].keys() == {"C99"}
    assert 0.04 < float(code_results[NEW_CODE_DAY].value or 0) < 0.06
    # Categorical drift sees all 25 codes (long-tail pooling from the reference) and the new one.
    psi = sorted((r for r in results if r.check == "psi" and r.subject == "predictions.code"), key=lambda r: r.batch)
    assert [r.status == "fail" for r in psi] == [d == NEW_CODE_DAY for d in range(DAYS)]
    assert psi[NEW_CODE_DAY].evidence["categories"][-1] == "__unseen__"
    assert len([c for c in psi[0].evidence["categories"] if c.startswith("C")]) >= 20


def test_a_high_cardinality_column_is_checked_by_distinct_count_and_lengths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import profilers.column_sql as column_sql

    monkeypatch.setattr(column_sql, "CATEGORY_CAP", 500)  # the token column (2,000 values a batch) is above it
    _, results = _alerts(tmp_path, 5)
    token = [r for r in results if r.subject == "predictions.token"]
    unseen = sorted((r for r in token if r.check == "unseen_category"), key=lambda r: r.batch)
    assert len(unseen) == DAYS and all(r.status == "ok" for r in unseen), [r.explanation for r in unseen]
    assert all("high-cardinality" in r.explanation and r.evidence["high_cardinality"] for r in unseen)
    assert all(0.8 < r.evidence["distinct_share"] < 1.2 for r in unseen)  # approx_count_distinct (HyperLogLog)
    drift = [r for r in token if r.check in ("psi", "jensen_shannon")]
    assert drift and all(r.status == "skipped" and "high-cardinality" in r.explanation for r in drift)
