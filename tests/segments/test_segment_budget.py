"""The model-level false-alarm budget holds over many segments, on statistics alone.

200 clean batches x 50 segments drawn from the reference's own distribution; every segment
test of every batch (feature drift and null rate of three features, score drift, estimated
AUC, calibration and AUC on labels) goes through the real statistics SQL and the real
family-wise decision. The number of batches with any page must stay below the 99.9th
percentile of Binomial(200, budget), for several seeds.

One seed costs ~10 s of a quiet machine (most of it the per-segment statistics of 200 batches),
so the suite runs seeds 0 and 1 and ``VIGIL_SEGMENT_BUDGET_SEEDS=0,1,2,3,4`` runs more (pages per 200
clean batches at budget 0.01, seeds 0-4: 0, 2, 1, 1, 1; the limit is 7).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

import duckdb
import numpy as np
import pandas as pd
import pytest
from scipy.stats import binom

from checks.segments.run import SegmentInputs, segment_results
from core.config import config_from_dict
from profilers.column_sql import ColumnPlan, stats_by_group_and_segment
from profilers.reference import bin_edges
from profilers.segments import SegmentDef, live_cells_sql, score_bin_edges, segment_projection, split_cells

SEGMENTS = 50
BATCHES = 200
ROWS = 3000  # per batch: ~60 rows per segment
CHUNKS = 12
T0 = datetime(2026, 1, 1)


def _frame(rng: np.random.Generator, n: int, group: np.ndarray) -> pd.DataFrame:
    seg = rng.integers(0, SEGMENTS, n)
    x1 = rng.normal(seg / 25.0, 1.0, n)  # segments differ in level, as real ones do
    x2 = rng.lognormal(3.0, 0.5, n)
    x2[rng.random(n) < 0.03] = np.nan  # some nulls everywhere
    cat = rng.choice(["a", "b", "c", "d"], n, p=[0.4, 0.3, 0.2, 0.1])
    score = 1 / (1 + np.exp(-(-1.5 + 0.8 * x1 + 0.2 * (cat == "a"))))
    y = (rng.random(n) < score).astype(float)
    return pd.DataFrame({"_g": group, "seg": [f"s{v:02d}" for v in seg], "x1": x1,
                         "x2": pd.array(np.where(np.isnan(x2), None, x2), dtype="Float64"), "cat": cat,
                         "score": score, "y": y, "approved": score < 0.5})


def _config():
    return config_from_dict({
        "model": {"name": "m", "task": "binary", "threshold": 0.5},
        "predictions": {"source": {"path": "p"}, "id_column": "id", "timestamp_column": "ts", "score_column": "score"},
        "features": [{"name": "x2", "type": "numeric"}, {"name": "cat", "type": "categorical"}],
        "etl_tables": [{"name": "outcomes", "source": {"path": "o"}, "timestamp_column": "t"}],
        "labels": {"table": "outcomes", "join_key": "id", "label_column": "y"},
        "segments": [{"name": "seg", "column": "seg", "top": SEGMENTS, "min_rows": 30}],
    }, file="budget.yaml")


def pages_per_batch(seed: int) -> list[bool]:
    rng = np.random.default_rng(seed)
    ref = _frame(rng, ROWS * CHUNKS, np.repeat(np.arange(CHUNKS), ROWS))
    cur = _frame(rng, ROWS * BATCHES, np.repeat(np.arange(BATCHES), ROWS))
    seg = SegmentDef("seg", 0, "seg", values=tuple(f"s{v:02d}" for v in range(SEGMENTS)), min_rows=30)
    proj, proj_params = segment_projection([seg])
    keys = [seg.key]
    cfg = _config()
    with duckdb.connect() as conn:
        conn.register("ref", ref)
        conn.register("cur", cur)
        edges = bin_edges(conn, "ref", [], ["x2", "score"])
        plans = [ColumnPlan("x2", "numeric", edges["x2"]), ColumnPlan("cat", "categorical"),
                 ColumnPlan("score", "numeric", edges["score"])]
        score_edges = score_bin_edges(conn, "ref", [], "score")

        def stats(table: str, whole: bool) -> dict:
            g = "0" if whole else "_g"
            rel = f"(SELECT {g} AS _g, x2, cat, score, {proj} FROM {table})"  # noqa: S608
            return stats_by_group_and_segment(conn, rel, proj_params, plans, "predictions", None, keys)[1]

        def cells(table: str, whole: bool) -> list:
            g = "-1" if whole else "_g"
            inner = f"(SELECT {g} AS _g, score, y, approved, {proj} FROM {table})"  # noqa: S608
            sql, params = live_cells_sql(inner, "_g", keys, score_edges)
            return split_cells(conn.execute(sql, params + proj_params).fetchall(), [seg])

        ref_whole, ref_chunks, cur_stats = stats("ref", True), stats("ref", False), stats("cur", False)
        ref_live = cells("ref", True) + cells("ref", False)
        cur_live = cells("cur", False)
    from profilers.stats_types import ReferenceStats

    references: dict = {}
    for (_, _, label), whole in ref_whole.items():
        chunks = {c: s for (c, _, lab), s in ref_chunks.items() if lab == label}
        references[("seg", label)] = {
            w.column: ReferenceStats(w, tuple(chunks[c][i] for c in sorted(chunks))) for i, w in enumerate(whole)}
    reference_live: dict = {}
    for g, name, label, cell in ref_live:
        reference_live.setdefault((name, label), {}).setdefault(int(g), []).append(cell)
    current: dict = {}
    for (g, _, label), ss in cur_stats.items():
        current.setdefault(int(g), {})[("seg", label)] = {s.column: s for s in ss}
    live: dict = {}
    for g, name, label, cell in cur_live:
        live.setdefault(int(g), {}).setdefault((name, label), []).append(cell)
    cache: dict = {}
    segments = [("seg", label, 30) for label in seg.labels]
    out = []
    for b in range(BATCHES):
        inputs = SegmentInputs(segments, current[b], references, live[b], True, reference_live, len(score_edges) + 1,
                               {"seg": "seg"}, cache)
        results = segment_results(cfg, inputs, T0 + timedelta(days=b), include_data=True)
        assert len({r.check for r in results}) >= 6  # drift, nulls, score, estimated AUC, calibration, AUC
        out.append(any(r.status == "fail" for r in results))
    return out


SEEDS = [int(s) for s in os.environ.get("VIGIL_SEGMENT_BUDGET_SEEDS", "0,1").split(",") if s.strip()]


@pytest.mark.parametrize("seed", SEEDS)
def test_batches_with_any_page_stay_within_the_model_level_budget(seed):
    pages = pages_per_batch(seed)
    budget = _config().checks.false_alarm_budget
    limit = int(binom.ppf(0.999, BATCHES, budget))
    assert sum(pages) <= limit, f"seed {seed}: {sum(pages)} of {BATCHES} clean batches paged (limit {limit})"
