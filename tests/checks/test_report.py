"""Evidently drill-down report, and Vigil's drift values cross-checked against Evidently's.

How the definitions line up:
- PSI: identical formula; they differ only in the share given to an empty bin (Evidently:
  1e-4, or the smallest non-zero share / 1e6 if that is smaller; Vigil: half a row of that
  side, 0.5 / n, so one empty sparse bin in a clean batch cannot make PSI jump). With the
  same bins they agree to 1e-9 once the empty bins' terms are swapped, and exactly when no
  bin is empty.
  Evidently bins numeric columns with Sturges equal-width bins over reference + current;
  Vigil's production bins are the reference deciles (equal mass, known before the batch
  arrives, so stats can be computed once per batch). The test feeds Evidently's edges to
  Vigil's stats to compare the formula; on production bins the values differ.
- Categorical PSI: both over category counts: agree to 1e-9.
- Jensen-Shannon: Evidently calls scipy with the natural log and no zero-filling; Vigil uses
  base 2 (bounded by 1). On the same bins: evidently = vigil * sqrt(ln 2), to 1e-9.
- Wasserstein: Evidently computes the exact distance from rows divided by the reference
  population std; Vigil integrates stored quantiles over the central 98% and divides by the
  sample std. They agree within 15% on a smooth distribution (stated tolerance below).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from checks.distributions import js_distance, psi
from checks.feature_drift.univariate import normalised_wasserstein
from checks.report import batch_report_html, drift_report_html, evidently_drift_values
from tests.checks.stats_factory import categorical_stats, numeric_stats
from tests.checks.warehouse_fixture import DAY0, build_history

ROOT = Path(__file__).resolve().parents[2]

PSI_TOLERANCE = 1e-9
JS_TOLERANCE = 1e-9
WASSERSTEIN_RELATIVE_TOLERANCE = 0.15


def _data(seed: int, shift: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    ref = pd.DataFrame({"x": rng.normal(0, 1, 5000), "c": rng.choice(["a", "b", "c"], 5000, p=[0.5, 0.3, 0.2])})
    cur = pd.DataFrame({"x": rng.normal(shift, 1, 2000),
                        "c": rng.choice(["a", "b", "c"], 2000, p=[0.5 - shift / 2, 0.3, 0.2 + shift / 2])})
    return ref, cur


def _sturges_edges(ref: pd.Series, cur: pd.Series) -> tuple[float, ...]:
    edges = np.histogram_bin_edges(np.concatenate([ref.to_numpy(), cur.to_numpy()]), bins="sturges")
    return tuple(float(e) for e in edges[1:-1])  # interior cut points: Vigil's histogram convention


def _evidently_filled(shares: np.ndarray) -> np.ndarray:
    out = shares.copy()
    low = float(out[out > 0].min())
    out[out == 0] = low / 1e6 if low <= 1e-4 else 1e-4
    return out


def empty_bin_difference(ref_counts: tuple[int, ...], cur_counts: tuple[int, ...]) -> float:
    """Vigil's PSI minus Evidently's on the same counts: only the terms of bins empty on one side."""
    r_n, c_n = np.asarray(ref_counts, float), np.asarray(cur_counts, float)
    r, c = r_n / r_n.sum(), c_n / c_n.sum()
    ev_r, ev_c = _evidently_filled(r), _evidently_filled(c)
    vi_r = np.where(r_n > 0, r, 0.5 / r_n.sum())
    vi_c = np.where(c_n > 0, c, 0.5 / c_n.sum())
    one_empty = (r_n > 0) != (c_n > 0)
    both_empty = (r_n == 0) & (c_n == 0)
    vigil = np.sum(((vi_r - vi_c) * np.log(vi_r / vi_c))[one_empty])
    evidently = np.sum(((ev_r - ev_c) * np.log(ev_r / ev_c))[one_empty | both_empty])
    return float(vigil - evidently)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("shift", [0.0, 0.2, 0.5])
def test_psi_and_js_agree_with_evidently_on_the_same_bins(seed, shift):
    ref, cur = _data(seed, shift)
    ev_psi = evidently_drift_values(ref, cur, ["x", "c"], "psi")
    ev_js = evidently_drift_values(ref, cur, ["x", "c"], "jensenshannon")
    edges = _sturges_edges(ref["x"], cur["x"])
    ref_x, cur_x = numeric_stats(ref["x"].to_numpy(), edges), numeric_stats(cur["x"].to_numpy(), edges)
    assert psi(ref_x, cur_x) == pytest.approx(
        ev_psi["x"] + empty_bin_difference(ref_x.bin_counts, cur_x.bin_counts), abs=PSI_TOLERANCE)
    ref_c, cur_c = categorical_stats(list(ref["c"])), categorical_stats(list(cur["c"]))
    assert psi(ref_c, cur_c) == pytest.approx(ev_psi["c"], abs=PSI_TOLERANCE)  # no empty category: exact
    # Evidently: natural log; Vigil: base 2.
    assert js_distance(ref_x, cur_x) * math.sqrt(math.log(2)) == pytest.approx(ev_js["x"], abs=JS_TOLERANCE)
    assert js_distance(ref_c, cur_c) * math.sqrt(math.log(2)) == pytest.approx(ev_js["c"], abs=JS_TOLERANCE)


@pytest.mark.parametrize("shift", [0.3, 0.8])
def test_wasserstein_agrees_with_evidently_within_the_stated_tolerance(shift):
    ref, cur = _data(3, shift)
    ev = evidently_drift_values(ref, cur, ["x"], "wasserstein")["x"]
    edges = _sturges_edges(ref["x"], cur["x"])
    ours = normalised_wasserstein(numeric_stats(ref["x"].to_numpy(), edges), numeric_stats(cur["x"].to_numpy(), edges))
    assert ours == pytest.approx(ev, rel=WASSERSTEIN_RELATIVE_TOLERANCE)


def test_drift_report_html_is_a_full_page():
    ref, cur = _data(0, 0.5)
    html = drift_report_html(ref, cur, ["x", "c"])
    assert html.lstrip().lower().startswith("<!doctype html") or "<html" in html[:500].lower()
    assert "x" in html and len(html) > 10_000
    with pytest.raises(ValueError, match="columns not in both frames: nope"):
        drift_report_html(ref, cur, ["x", "nope"])


def test_batch_report_from_the_warehouse(tmp_path):
    cfg, wh, batches = build_history(tmp_path, days=2)
    html = batch_report_html(cfg, wh, batches[0], limit=300)
    assert "income" in html
    with pytest.raises(ValueError, match="no predictions in batch"):
        batch_report_html(cfg, wh, DAY0.replace(year=2030))


def test_batch_report_shows_source_column_names(tmp_path):
    """A feature table whose source columns have spaces and punctuation (mapped by `column:`): the
    report reads its CSV reference through the mapping and shows each column by its source name,
    with Vigil's name beside it."""
    from datetime import datetime

    from core.config import load_config
    from core.stores import Warehouse
    from profilers.ingest import ingest_all
    from tests.fixtures.feature_table.generate import generate

    generate(tmp_path, days=1, volume=150)
    cfg = load_config(ROOT / "tests" / "fixtures" / "feature_table" / "monitor.yaml", root=tmp_path)
    wh = Warehouse(cfg.warehouse_path)
    ingest_all(cfg, wh, now=datetime(2024, 6, 2))
    html = batch_report_html(cfg, wh, datetime(2024, 6, 1), limit=300)
    for source, name in (("Order Value (USD)", "order_value"), ("Region / Zone", "region"), ("Express?", "express")):
        assert f"{source} [{name}]" in html
    assert '"order_value"' not in html  # no column shown under Vigil's name alone
