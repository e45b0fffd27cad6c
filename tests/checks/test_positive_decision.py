"""Typed positive_decision, and expected metrics from reference rows comparable with the live test set.

The trap (issue 11, failure 7): labels arrive for every prediction, positive_decision marks
the rows the model flagged (1). Expected values taken from the flagged reference rows only
(expected AUC far below the live one, expected recall 1.000) made AUC unable to fail and
recall page on clean batches. The live label coverage decides which reference rows count.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from app.cycle import run_cycle
from checks.live_reference import reference_selection_metrics, selection_weights
from core.clock import ManualClock
from core.config import ConfigError, config_from_dict
from core.decision_value import match_sql, matches, share

DAY0 = datetime(2025, 2, 3)
ROWS = 2000


def _config(decision: Any, maturity: str = "1d") -> dict[str, Any]:
    return {
        "model": {"name": "fraud", "task": "binary", "threshold": 0.5},
        "predictions": {
            "source": {"path": "landing/predictions", "glob": "*.parquet"},
            "id_column": "id", "timestamp_column": "ts", "score_column": "score",
            "decision_column": "flagged", "positive_decision": decision,
        },
        "features": [{"name": "amount", "type": "numeric"}],
        "etl_tables": [{"name": "outcomes", "source": {"path": "landing/outcomes", "glob": "*.parquet"},
                        "timestamp_column": "observed_at", "key": "id"}],
        "labels": {"table": "outcomes", "join_key": "id", "label_column": "y", "maturity": maturity},
        "batch": {"window": "1d"},
        "reference": {"kind": "file", "path": "ref.parquet", "chunk_rows": ROWS},
    }


@pytest.mark.parametrize(("value", "loaded"), [(1, 1), (0, 0), (True, True), (False, False), ("approve", "approve")])
def test_positive_decision_takes_the_columns_own_type(tmp_path: Path, value: Any, loaded: Any) -> None:
    cfg = config_from_dict(_config(value), file="fraud.yaml", root=tmp_path)
    assert cfg.predictions.positive_decision == loaded
    assert type(cfg.predictions.positive_decision) is type(loaded)


def test_a_positive_decision_of_another_type_is_rejected_with_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"fraud\.yaml: predictions\.positive_decision"):
        config_from_dict(_config(1.5), file="fraud.yaml", root=tmp_path)


def test_decision_values_match_by_meaning_not_spelling() -> None:
    assert matches("1", 1) and matches("1.0", 1) and matches(1, 1) and not matches("2", 1) and not matches("x", 1)
    assert matches("true", True) and matches("True", True) and matches(True, True) and not matches("false", True)
    assert matches("false", False) and matches("0", False) and not matches("true", False)
    assert matches("approve", "approve") and not matches("Approve", "approve") and not matches(None, "approve")
    assert share({"1": 30, "0": 70}, 1) == pytest.approx(0.3)
    assert share({"true": 30, "false": 70}, False) == pytest.approx(0.7)
    assert share({}, 1) == 0.0


@pytest.mark.parametrize(("column", "value", "expected"), [
    ("['approve', 'refer', NULL]", "approve", [True, False, False]),
    ("[1, 0, NULL]", 1, [True, False, False]),
    ("[1.0, 0.0, NULL]", 1, [True, False, False]),
    ("[true, false, NULL]", True, [True, False, False]),
    ("['approve', '1', NULL]", 1, [False, True, False]),  # a text column never breaks the comparison
])
def test_match_sql_works_on_each_column_type(column: str, value: Any, expected: list[bool]) -> None:
    import duckdb

    sql, params = match_sql("v", value)
    with duckdb.connect() as conn:
        rows = conn.execute(f"SELECT {sql} FROM (SELECT unnest({column}) AS v, generate_subscripts({column}, 1) AS i) "  # noqa: S608
                            "ORDER BY i", params).fetchall()
    assert [r[0] for r in rows] == expected


def _scored(rng: np.random.Generator, n: int) -> pd.DataFrame:
    amount = rng.lognormal(4, 1, n)
    score = rng.beta(1.2, 3.0, n)
    y = (rng.random(n) < score).astype(int)
    return pd.DataFrame({"amount": amount, "score": score, "y": y, "flagged": (score >= 0.5).astype(int)})


def test_selection_weights_follow_the_live_label_coverage() -> None:
    positive = np.array([True, False, True, False])
    assert list(selection_weights(positive, None)) == [1, 1, 1, 1]
    assert list(selection_weights(positive, (1.0, 1.0))) == [1, 1, 1, 1]
    assert list(selection_weights(positive, (1.0, 0.0))) == [1, 0, 1, 0]
    assert list(selection_weights(positive, (0.9, 0.05))) == [0.9, 0.05, 0.9, 0.05]
    assert list(selection_weights(positive, (0.0, 0.0))) == [1, 1, 1, 1]


def test_reference_metrics_use_every_row_when_every_row_is_labelled(tmp_path: Path) -> None:
    ref = _scored(np.random.default_rng(1), 20_000)
    ref.to_parquet(tmp_path / "ref.parquet")
    cfg = config_from_dict(_config(1), file="fraud.yaml", root=tmp_path)
    s, y, flagged = ref["score"].to_numpy(), ref["y"].to_numpy(), ref["flagged"].to_numpy() == 1
    every = reference_selection_metrics(cfg, coverage=(1.0, 1.0))
    assert every["auc"] == pytest.approx(roc_auc_score(y, s))
    assert every["recall"] == pytest.approx((flagged & (y == 1)).sum() / y.sum())
    assert every["recall"] < 0.9
    only_flagged = reference_selection_metrics(cfg, coverage=(1.0, 0.0))
    assert only_flagged["auc"] == pytest.approx(roc_auc_score(y[flagged], s[flagged]))
    assert only_flagged["recall"] == pytest.approx(1.0)  # the trap: every labelled positive is flagged
    assert only_flagged["auc"] < every["auc"] - 0.1
    # A 10% control slice of the unflagged rows: those rows count a tenth as much.
    control = reference_selection_metrics(cfg, coverage=(1.0, 0.1))
    w = np.where(flagged, 1.0, 0.1)
    assert control["auc"] == pytest.approx(roc_auc_score(y, s, sample_weight=w))
    assert only_flagged["auc"] < control["auc"] < every["auc"]


def _write_day(root: Path, day: int) -> None:
    rng = np.random.default_rng(100 + day)
    df = _scored(rng, ROWS)
    df.insert(0, "id", [f"d{day}-{i}" for i in range(ROWS)])
    df.insert(1, "ts", pd.to_datetime([DAY0 + timedelta(days=day, seconds=int(s)) for s in rng.integers(0, 86400, ROWS)]))
    (root / "landing" / "predictions").mkdir(parents=True, exist_ok=True)
    df.drop(columns=["y"]).to_parquet(root / "landing" / "predictions" / f"p{day:02d}.parquet")
    if day >= 1:  # every prediction of the day before gets its outcome today
        prev = np.random.default_rng(100 + day - 1)
        labels = _scored(prev, ROWS)
        out = pd.DataFrame({"id": [f"d{day - 1}-{i}" for i in range(ROWS)], "y": labels["y"],
                            "observed_at": pd.Timestamp(DAY0 + timedelta(days=day, hours=1))})
        (root / "landing" / "outcomes").mkdir(parents=True, exist_ok=True)
        out.to_parquet(root / "landing" / "outcomes" / f"o{day:02d}.parquet")


@pytest.mark.parametrize("decision", [1, True])
def test_typed_positive_decision_end_to_end_compares_like_with_like(tmp_path: Path, decision: Any) -> None:
    """positive_decision: 1 (or true, on a boolean column) loads; AUC and recall are expected from
    every reference row because every row gets a label; clean batches do not page."""
    data = _config(decision)
    if isinstance(decision, bool):
        data["predictions"]["positive_decision"] = True
    cfg = config_from_dict(data, file="fraud.yaml", root=tmp_path)
    ref = _scored(np.random.default_rng(7), 20_000)
    if isinstance(decision, bool):
        ref["flagged"] = ref["flagged"].astype(bool)
    ref.to_parquet(tmp_path / "ref.parquet")
    results = []
    for day in range(5):
        _write_day(tmp_path, day)
        if isinstance(decision, bool):  # the boolean variant: rewrite the day's file with a bool column
            path = tmp_path / "landing" / "predictions" / f"p{day:02d}.parquet"
            frame = pd.read_parquet(path)
            frame["flagged"] = frame["flagged"].astype(bool)
            frame.to_parquet(path)
        report = run_cycle(cfg, clock=ManualClock(DAY0 + timedelta(days=day + 1, hours=3)), notify=False)
        assert report.status == "ok", report.error
        results += report.results
    aucs = [r for r in results if r.check == "auc" and r.status != "skipped"]
    recalls = [r for r in results if r.check == "recall" and r.status != "skipped"]
    assert aucs and recalls
    full_auc = roc_auc_score(ref["y"], ref["score"])
    for r in aucs:
        assert r.evidence["expected"] == pytest.approx(full_auc, abs=1e-9)
        assert r.evidence["expected_basis"] == "reference rows with the live selection"
        assert r.status == "ok", r.explanation
    for r in recalls:
        assert r.evidence["expected"] < 0.9  # not the 1.000 of the flagged rows only
        assert r.status == "ok", r.explanation
    decisions = [r for r in results if r.check == "decision_rate_shift" and r.status != "skipped"]
    assert decisions and all(r.status == "ok" for r in decisions)
    assert all(0.1 < float(r.value or 0) < 0.4 for r in decisions)  # the flagged share, matched as 1 / true
