"""A multiclass model whose labels are class names (the support-ticket example), through the
scikit-learn adapter: shadow evaluation (the live test set keeps the labels as text; each version
scored on it, as decisions and retrain do) and a drill's re-scoring with the champion (one
probability column per class and the predicted class)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from core.adapter import LABEL
from core.clock import ManualClock
from core.config import load_config
from core.registries import registry_for
from core.sklearn_adapter import SklearnAdapter, register_sklearn_version
from core.stores import stores_for
from incidents.shadow import live_test_set, shadow_evaluate
from profilers.ingest import ingest_all
from tests.fixtures.support_tickets.generate import generate

CONFIG = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "support_tickets" / "monitor.yaml"
FEATURES = ["words", "attachments", "tier", "channel", "mentions_invoice"]


def router(C: float) -> object:
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    encode = make_column_transformer((OneHotEncoder(handle_unknown="ignore"), ["tier", "channel"]),
                                     (StandardScaler(), ["words", "attachments"]), remainder="passthrough")
    return make_pipeline(encode, LogisticRegression(C=C, max_iter=500))


def test_versions_are_compared_on_text_labels_and_drills_rescore_every_class(tmp_path: Path) -> None:
    generate(tmp_path, days=2, volume=300)
    cfg = load_config(CONFIG, root=tmp_path).model_copy(deep=True)
    cfg = cfg.model_copy(update={"model": cfg.model.model_copy(update={"registry_name": "ticket_router"})})
    wh, ops = stores_for(cfg)
    ingest_all(cfg, wh, now=datetime(2024, 7, 3))
    live = live_test_set(cfg, wh, datetime(2024, 7, 1), datetime(2024, 7, 2))
    assert len(live) > 150 and set(live[LABEL]) == {"billing", "technical", "account"}

    reference = pd.read_parquet(tmp_path / "training" / "tickets_reference.parquet").head(1000)
    X, y = reference[FEATURES], reference["queue"]
    holdout = X.assign(**{LABEL: y})
    clock = ManualClock(datetime(2024, 7, 4, 9, 0))
    registry = registry_for(cfg, ops, clock)
    for C, folder in ((1.0, "v1"), (1e-4, "v2")):  # v2 barely learns: it must score worse
        register_sklearn_version(registry, cfg, router(C).fit(X, y), holdout, tmp_path / "models" / folder,
                                 user="ana", description=f"C={C}")
    scores = shadow_evaluate(cfg, wh, registry, "ticket_router", [1, 2], datetime(2024, 7, 1), datetime(2024, 7, 2),
                             adapter=SklearnAdapter(cfg))
    assert [s.version for s in scores] == [1, 2] and all(s.n == len(live) for s in scores)
    good, weak = scores
    assert good.log_loss is not None and weak.log_loss is not None and good.log_loss < weak.log_loss
    assert good.accuracy is not None and np.isfinite(good.accuracy) and good.accuracy > 0.5

    # A drill re-scores the copied batch with the champion: every class column and the routed queue.
    from app.drills import Landing, rescore

    registry.approve("ticket_router", 1, "ana", "reviewed")
    registry.promote("ticket_router", 1, "ana", "first champion", metric="log_loss")
    frame = live.drop(columns=[LABEL]).head(50).reset_index(drop=True)
    frame[["p_billing", "p_technical", "p_account"]] = 1 / 3
    landing = Landing("predictions", cfg.predictions.source, "scored_at", ["ticket_id"], frame)
    assert rescore(cfg, ops, landing, clock).startswith("scored 50 rows with v1")
    model = router(1.0).fit(X, y)
    expected = pd.DataFrame(model.predict_proba(frame[FEATURES]), columns=model.classes_)
    for queue in ("billing", "technical", "account"):
        assert np.allclose(landing.frame[f"p_{queue}"], expected[queue])
    assert (landing.frame["routed_to"] == expected.idxmax(axis=1)).all()
