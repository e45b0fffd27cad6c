"""Multiclass live-test-set statistics in SQL agree with scikit-learn on the raw rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import log_loss, precision_score, recall_score, roc_auc_score

from core.config import load_config
from core.stores import Warehouse
from profilers.ingest import ingest_all
from profilers.profile import profile_batches
from profilers.reference import ensure_reference
from profilers.stats_store import list_batches, load_performance
from tests.fixtures.support_tickets.generate import QUEUES, generate

CONFIG = Path(__file__).resolve().parents[1] / "fixtures" / "support_tickets" / "monitor.yaml"


@pytest.fixture(scope="module")
def tickets(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, Warehouse, Path]:
    root = tmp_path_factory.mktemp("tickets")
    generate(root, days=3, volume=300, seed=11)
    cfg = load_config(CONFIG, root=root)
    wh = Warehouse(cfg.warehouse_path, memory_limit="512MB")
    report = ingest_all(cfg, wh)
    assert not report.quarantined  # the text label column loads
    ensure_reference(cfg, wh)
    profile_batches(cfg, wh, report.all_dirty)
    return cfg, wh, root


def test_per_class_statistics_match_sklearn(tickets: tuple[object, Warehouse, Path]) -> None:
    _, wh, root = tickets
    preds = pd.concat(pd.read_parquet(p) for p in sorted((root / "landing" / "predictions").glob("*.parquet")))
    labels = pd.concat(pd.read_csv(p) for p in sorted((root / "landing" / "resolutions").glob("*.csv")))
    df = preds.merge(labels, on="ticket_id", how="left")
    df["batch"] = pd.to_datetime(df["scored_at"]).dt.floor("1D")
    with wh.read() as conn:
        batches = list_batches(conn)
        perf = {b: load_performance(conn, b) for b in batches}
    assert len(batches) == 3
    for b, p in perf.items():
        assert p is not None
        rows = df[df["batch"] == b]
        lab = rows.dropna(subset=["queue"])
        assert (p.predictions, p.labeled) == (len(rows), len(lab))
        ordered = sorted(QUEUES)  # scikit-learn orders the labels and renormalises the rounded probabilities
        probs = lab[[f"p_{q}" for q in ordered]].to_numpy()
        probs = probs / probs.sum(axis=1, keepdims=True)
        assert p.metrics["log_loss"] == pytest.approx(log_loss(lab["queue"], probs, labels=ordered), rel=1e-4)
        aucs = []
        for q in QUEUES:
            truth = (lab["queue"] == q).to_numpy()
            d = p.classes[q]
            assert d["auc"] == pytest.approx(roc_auc_score(truth, lab[f"p_{q}"]), abs=1e-9)
            assert d["precision"] == pytest.approx(precision_score(lab["queue"], lab["routed_to"], labels=[q], average="macro"))
            assert d["recall"] == pytest.approx(recall_score(lab["queue"], lab["routed_to"], labels=[q], average="macro"))
            assert d["positives"] == truth.sum() and d["predicted"] == (rows["routed_to"] == q).sum()
            assert d["estimated_precision"] == pytest.approx(rows.loc[rows["routed_to"] == q, f"p_{q}"].mean())
            aucs.append(d["auc"])
        assert p.auc == pytest.approx(np.mean(aucs)) and p.metrics["macro_auc"] == p.auc


def test_coded_labels_in_a_float_column_match_the_class_codes(tmp_path: Path) -> None:
    """Classes keyed 0 / 1 / 2 in YAML and labels written as 0.0 / 1.0 / 2.0 still meet."""
    import yaml

    root = tmp_path / "root"
    generate(root, days=2, volume=200, seed=3)
    codes = {q: i for i, q in enumerate(QUEUES)}
    for path in (root / "landing" / "resolutions").glob("*.csv"):
        frame = pd.read_csv(path)
        frame["queue"] = frame["queue"].map(codes).astype(float)
        frame.to_csv(path, index=False)
    data = yaml.safe_load(CONFIG.read_text())
    data["predictions"]["class_scores"] = {i: f"p_{q}" for q, i in codes.items()}
    del data["predictions"]["decision_column"]  # predicted class = the most probable one
    data["reference"] = None
    cfg_path = tmp_path / "coded.yaml"
    cfg_path.write_text(yaml.safe_dump(data))
    cfg = load_config(cfg_path, root=root)
    assert cfg.score_columns == {"0": "p_billing", "1": "p_technical", "2": "p_account"}
    wh = Warehouse(cfg.warehouse_path, memory_limit="512MB")
    report = ingest_all(cfg, wh)
    assert not report.quarantined
    profile_batches(cfg, wh, report.all_dirty)
    with wh.read() as conn:
        p = load_performance(conn, list_batches(conn)[0])
    assert p is not None and p.labeled > 0 and p.metrics["unknown_labels"] == 0
    assert set(p.classes) == {"0", "1", "2"} and all(0.5 < d["auc"] < 1 for d in p.classes.values())
