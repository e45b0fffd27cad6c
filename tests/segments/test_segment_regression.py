"""A regression model's segment MAE: a within-segment rise of the error is caught in that
segment (statistics level: the real live-cells SQL and the real family-wise decision)."""

from __future__ import annotations

from datetime import datetime

import duckdb
import numpy as np
import pandas as pd

from checks.segments.run import SegmentInputs, segment_results
from core.config import config_from_dict
from profilers.segments import SegmentDef, live_cells_sql, score_bin_edges, segment_projection, split_cells


def _frame(rng: np.random.Generator, n: int, group: np.ndarray, noise_b: float = 1.0) -> pd.DataFrame:
    seg = rng.choice(["a", "b", "c"], n)
    y = rng.normal(50, 10, n)
    noise = rng.normal(0, 2, n) * np.where(seg == "b", noise_b, 1.0)
    return pd.DataFrame({"_g": group, "seg": seg, "score": y + noise, "y": y, "approved": False})


def test_a_within_segment_error_rise_is_caught_in_that_segment():
    rng = np.random.default_rng(0)
    ref = _frame(rng, 12 * 900, np.repeat(np.arange(12), 900))
    cur = _frame(rng, 900, np.zeros(900, dtype=int), noise_b=1.6)
    seg = SegmentDef("seg", 0, "seg", values=("a", "b", "c"), min_rows=50)
    proj, proj_params = segment_projection([seg])
    with duckdb.connect() as conn:
        conn.register("ref", ref)
        conn.register("cur", cur)
        edges = score_bin_edges(conn, "ref", [], "score")

        def cells(table: str, group: str) -> list:
            sql, params = live_cells_sql(f"(SELECT {group} AS _g, score, y, approved, {proj} FROM {table})",  # noqa: S608
                                         "_g", [seg.key], edges)
            return split_cells(conn.execute(sql, params + proj_params).fetchall(), [seg])

        reference_live: dict = {}
        for g, name, label, cell in cells("ref", "-1") + cells("ref", "_g"):
            reference_live.setdefault((name, label), {}).setdefault(int(g), []).append(cell)
        live: dict = {}
        for _, name, label, cell in cells("cur", "_g"):
            live.setdefault((name, label), []).append(cell)
    cfg = config_from_dict({
        "model": {"name": "r", "task": "regression"},
        "predictions": {"source": {"path": "p"}, "id_column": "id", "timestamp_column": "ts", "score_column": "score"},
        "features": [{"name": "seg", "type": "categorical"}],
        "etl_tables": [{"name": "outcomes", "source": {"path": "o"}, "timestamp_column": "t"}],
        "labels": {"table": "outcomes", "join_key": "id", "label_column": "y"},
        "segments": [{"name": "seg", "column": "seg", "min_rows": 50}],
    }, file="r.yaml")
    inputs = SegmentInputs([("seg", lab, 50) for lab in seg.labels], {}, {}, live, True, reference_live,
                           len(edges) + 1, {"seg": "seg"})
    results = segment_results(cfg, inputs, datetime(2026, 1, 1), include_data=False)
    mae = {r.subject: r for r in results if r.check == "segment_mae"}
    assert set(mae) == {"model{seg=a}", "model{seg=b}", "model{seg=c}"}
    assert mae["model{seg=b}"].status == "fail", mae["model{seg=b}"].explanation
    assert mae["model{seg=a}"].status == mae["model{seg=c}"].status == "ok"
    assert mae["model{seg=b}"].value > 1.4 * mae["model{seg=b}"].evidence["expected"]
