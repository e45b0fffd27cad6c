"""The desk shows segments: the segment x batch heatmap per family and the segment picker on the
Checks page, the segment picker on the Data page's column trend, the decomposition on the alert."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from streamlit.testing.v1 import AppTest

from baseline_model.simulator import Incident
from core.clock import ManualClock
from core.config import VigilConfig
from core.ids import labels_fingerprint
from core.stores import OpsStore
from incidents.alerts import process_results
from tests.app.test_dashboard import DASHBOARD, signed_in_as
from tests.incidents.conftest import WALL0
from tests.segments import loan_fixture as lf
from tests.segments.test_segment_alerts import DECOMPOSITION


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> tuple[VigilConfig, Path]:
    root = tmp_path_factory.mktemp("desk")
    cfg, wh, batches = lf.build(root, days=5, seed=2, volume=900, reference_days=8,
                                incidents=[Incident("concept_drift", day=3)])
    results = lf.check_all(cfg, wh, batches)
    auc = next(r for r in results if r.check == "auc" and r.subject == "model" and r.batch == lf.day(3))
    crafted = replace(auc, status="fail", severity="critical", evidence={**auc.evidence, "decomposition": DECOMPOSITION},
                      explanation="AUC fell. Where: " + DECOMPOSITION[0]["sentence"])
    process_results(cfg, OpsStore(cfg.ops_path), [*results, crafted], ManualClock(WALL0))
    config_path = root / "monitor.yaml"
    config_path.write_text(yaml.safe_dump(lf.config_dict(volume=900)))
    return cfg, config_path


def _render(page: str, desk: tuple[VigilConfig, Path], monkeypatch: pytest.MonkeyPatch, **query: str) -> AppTest:
    cfg, config_path = desk
    monkeypatch.setenv("VIGIL_CONFIG", str(config_path))
    monkeypatch.setenv("VIGIL_ROOT", str(cfg.root))
    monkeypatch.setenv("VIGIL_USER", "tester")
    at = AppTest.from_file(str(DASHBOARD / "pages" / page), default_timeout=60)
    for k, v in query.items():
        at.query_params[k] = v
    signed_in_as(at)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _charts(at: AppTest) -> list:
    return list(at.get("vega_lite_chart"))


def test_checks_page_shows_the_segment_heatmap_and_a_segment_picker(desk, monkeypatch):
    at = _render("5_Checks.py", desk, monkeypatch)
    assert "Segments" in [t.label for t in at.tabs]
    family = next(s for s in at.selectbox if s.label == "Family")
    assert family.options == ["feature_drift", "input_quality", "prediction", "performance"]
    assert any("worst status of this family's segment checks" in c.value for c in at.caption)
    picker = next(s for s in at.selectbox if s.label == "Segment")
    assert "(whole model)" in picker.options and "home_ownership=RENT" in picker.options
    picker.set_value("home_ownership=RENT").run()
    assert not at.exception
    family.set_value("performance").run()
    assert not at.exception and len(_charts(at)) >= 2


def test_data_page_trend_has_a_segment_picker(desk, monkeypatch):
    at = _render("4_Data.py", desk, monkeypatch)
    picker = next(s for s in at.selectbox if s.label == "Segment")
    assert "home_ownership=RENT" in picker.options
    picker.set_value("home_ownership=RENT").run()
    assert not at.exception


def test_alert_page_shows_the_decomposition_chart(desk, monkeypatch):
    cfg, _ = desk
    fp = labels_fingerprint({"check": "auc", "model": cfg.model.name, "subject": "model"})
    at = _render("1_Alerts.py", desk, monkeypatch, alert=fp)
    assert any("Where did it break" in e.label for e in at.expander)
    assert any("within ownership=RENT" in str(t.value) for t in at.text)
    assert any("Counterfactual swap" in c.value for c in at.caption)
