"""Per-segment performance of a multiclass model: realized accuracy on matured labels and the
confidence-based accuracy estimate before them (tests/segments/multiclass_shift.py: data
generated here, real ingest, reference, profile and runner), and the grouped SQL behind both
checked against numpy."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checks.segments import live as lv
from core.config import config_from_dict
from profilers.multiclass import top_class_inner
from profilers.segments import SegmentDef, live_cells_sql, split_cells
from tests.segments import multiclass_shift as ms

CONCEPT = f"region={ms.CONCEPT_REGION}"
SHIFTED = f"region={ms.SHIFT_REGION}"


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory):
    sc = ms.Scenario(tmp_path_factory.mktemp("multiclass_shift"), seed=0)
    return sc, sc.results()


def _one(results, check: str, segment: str):
    found = [r for r in results if r.check == check and r.evidence.get("segment") == segment]
    assert len(found) == 1, (check, segment, found)
    return found[0]


def test_clean_batches_page_no_segment(scenario):
    _, results = scenario
    for i in range(ms.CONCEPT_DAY):
        batch = ms.at(results, i)
        assert {r.check for r in batch} >= {"segment_accuracy", "segment_estimated_accuracy"}, i
        assert not ms.failed_segments(batch), i
        assert not [r for r in batch if r.status == "error"], i


def test_a_label_swap_in_one_segment_fails_its_accuracy_on_its_first_matured_batch_only(scenario):
    sc, results = scenario
    onset = ms.at(results, ms.CONCEPT_DAY)
    assert ms.failed_segments(onset) == {("segment_accuracy", CONCEPT)}
    res = _one(onset, "segment_accuracy", CONCEPT)
    frame = sc.frames[ms.CONCEPT_DAY]
    inside = frame[frame["region"] == ms.CONCEPT_REGION]
    predicted = np.array(ms.CLASSES)[inside[[f"p_{c}" for c in ms.CLASSES]].to_numpy().argmax(axis=1)]
    assert res.value == pytest.approx(float(np.mean(predicted == inside["y"].to_numpy())), abs=1e-9)
    assert res.evidence["expected"] - res.value > 0.3 and res.evidence["correction"] == "holm"
    assert res.subject == "model{" + CONCEPT + "}" and res.family == "performance"
    # Nothing in the data moved: the estimate before labels stays quiet in that segment.
    assert _one(onset, "segment_estimated_accuracy", CONCEPT).status == "ok"


def test_a_shift_towards_the_boundary_lowers_the_estimated_accuracy_in_its_segment_before_labels(scenario):
    sc, results = scenario
    onset = ms.at(results, ms.SHIFT_DAY)
    assert not [r for r in onset if r.check == "segment_accuracy"]  # its labels have not matured
    failed = ms.failed_segments(onset)
    assert ("segment_estimated_accuracy", SHIFTED) in failed
    assert {seg for _, seg in failed} == {SHIFTED}, failed
    res = _one(onset, "segment_estimated_accuracy", SHIFTED)
    frame = sc.frames[ms.SHIFT_DAY]
    inside = frame[frame["region"] == ms.SHIFT_REGION]
    assert res.value == pytest.approx(float(inside[[f"p_{c}" for c in ms.CLASSES]].max(axis=1).mean()), abs=1e-9)
    assert res.evidence["expected"] - res.value > 0.05
    # Model-level results of a multiclass model carry no decomposition (its cells hold no score).
    assert not [r for r in results if "decomposition" in r.evidence]


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 60), st.booleans())
def test_grouped_cells_give_each_segments_accuracy_and_mean_confidence(seed, n, unlabelled):
    """One grouped query over (segment x predicted class x right): per segment, accuracy and mean
    predicted-class probability equal numpy's, and the segments' tables add up to the overall one."""
    cfg = config_from_dict(ms.config_dict(), file="monitor.yaml", root=Path("."))
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(3), n)
    pred = np.array(ms.CLASSES)[p.argmax(axis=1)]
    y = rng.choice(ms.CLASSES, n).astype(object)
    if unlabelled:
        y[rng.random(n) < 0.3] = None
    seg = rng.choice(["u", "v"], n)
    frame = pd.DataFrame({"_g": 0, "_p0": p[:, 0], "_p1": p[:, 1], "_p2": p[:, 2], "pred": pred, "y": y, "_s0": seg})
    inner, inner_params = top_class_inner(cfg, "frame", "_g", ["_s0"])
    sql, bin_params = live_cells_sql(inner, "_g", ["_s0"], (), bin_column="cls_bin")
    con = duckdb.connect()
    con.register("frame", frame)
    rows = con.execute(sql, bin_params + inner_params).fetchall()
    defs = [SegmentDef("s", 0, "seg")]
    tables: dict[str, lv.LiveTable] = {}
    for _, name, label, cell in split_cells(rows, defs):
        key = label if name else ""
        tables[key] = tables.get(key, lv.LiveTable.empty(3)) + lv.LiveTable.from_cells([cell], 3)
    total = sum((t for k, t in tables.items() if k), lv.LiveTable.empty(3))
    assert np.allclose(total.n, tables[""].n) and np.allclose(total.s, tables[""].s)
    for key, t in tables.items():
        inside = np.ones(n, bool) if key == "" else seg == key
        labelled = inside & np.array([v is not None for v in y])
        assert t.rows == inside.sum()
        assert lv.estimated_accuracy(t) == pytest.approx(p[inside].max(axis=1).mean())
        if labelled.any():
            assert lv.accuracy(t) == pytest.approx(np.mean(pred[labelled] == y[labelled]))
