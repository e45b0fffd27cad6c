"""Training-serving skew: served features against features rebuilt from the upstream tables.

The model's config names its feature-building entry point ("module:function"); it is
loaded by core.plugins.load, so checks never import the model package. The runner rebuilds a
sample of the batch's rows and summarises the comparison as SkewStats; the check itself
is pure.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from checks.inputs import SkewStats
from checks.result import CheckResult
from checks.spec import Family
from checks.verdict import pct, result, skipped
from core.plugins import load

FAMILY = Family.INPUT_QUALITY


def load_builder(spec: str) -> Callable[..., pd.DataFrame]:
    """Import "package.module:function" (the config's model.feature_builder) through core.plugins."""
    fn: Callable[..., pd.DataFrame] = load(spec, callable, key="model.feature_builder")
    return fn


def _differs(served: pd.Series, rebuilt: pd.Series, rtol: float) -> tuple[np.ndarray, float]:
    s_num = pd.to_numeric(served, errors="coerce")
    r_num = pd.to_numeric(rebuilt, errors="coerce")
    numeric = s_num.notna().sum() >= served.notna().sum() and served.notna().any()
    both_null = served.isna().to_numpy() & rebuilt.isna().to_numpy()
    if numeric:
        a, b = s_num.to_numpy(dtype=float), r_num.to_numpy(dtype=float)
        with np.errstate(invalid="ignore"):
            diff = np.abs(a - b)
            close = np.isclose(a, b, rtol=rtol, atol=1e-9) | (np.isnan(a) & np.isnan(b))
        finite = diff[np.isfinite(diff)]
        return ~close, float(finite.max()) if finite.size else 0.0
    same = served.astype(str).to_numpy() == rebuilt.astype(str).to_numpy()
    return ~(same | both_null), 0.0


def compare_features(
    served: pd.DataFrame, rebuilt: pd.DataFrame, id_column: str, features: Sequence[str], rtol: float = 1e-6,
    batch: datetime | None = None, builder: str | None = None,
) -> SkewStats:
    """Join served and rebuilt rows on the id and count, per feature, rows whose values differ."""
    if id_column not in rebuilt.columns:
        raise ValueError(f"feature builder output has no id column {id_column!r} (columns: {', '.join(map(str, rebuilt.columns))})")
    left = served.assign(**{id_column: served[id_column].astype(str)})
    right = rebuilt.assign(**{id_column: rebuilt[id_column].astype(str)}).drop_duplicates(id_column)
    joined = left.merge(right, on=id_column, how="left", suffixes=("__served", "__rebuilt"), indicator=True)
    matched = joined[joined["_merge"] == "both"]
    mismatches: dict[str, int] = {}
    max_diff: dict[str, float] = {}
    for f in features:
        s_col, r_col = f"{f}__served", f"{f}__rebuilt"
        if s_col not in matched.columns or r_col not in matched.columns:
            continue
        bad, worst = _differs(matched[s_col].reset_index(drop=True), matched[r_col].reset_index(drop=True), rtol)
        mismatches[f] = int(bad.sum())
        max_diff[f] = worst
    return SkewStats(batch=batch, builder=builder, rows_compared=int(len(matched)), mismatches=mismatches,
                     max_abs_diff=max_diff, unmatched=int((joined["_merge"] != "both").sum()))


def training_serving_skew(reference: None, current: SkewStats, params: dict[str, Any]) -> CheckResult:
    """Share of sampled rows whose served value differs from the value rebuilt from upstream tables."""
    name, subject, batch = "training_serving_skew", "predictions", current.batch
    if not current.builder:
        return skipped(name, FAMILY, subject, batch, "the model has no feature builder configured (model.feature_builder)")
    if current.note:
        return skipped(name, FAMILY, subject, batch, current.note)
    min_rows = int(params["min_rows"])
    if current.rows_compared < min_rows:
        return skipped(name, FAMILY, subject, batch,
                       f"only {current.rows_compared} rows could be rebuilt (need {min_rows})",
                       {"unmatched": current.unmatched})
    shares = {f: n / current.rows_compared for f, n in current.mismatches.items()}
    worst_feature = max(shares, key=lambda f: shares[f]) if shares else None
    worst = shares[worst_feature] if worst_feature else 0.0
    max_share = float(params["max_share"])
    status = "fail" if worst > max_share else ("warn" if worst > 0 else "ok")
    skewed = {f: s for f, s in sorted(shares.items()) if s > 0}
    listed = ", ".join(f"{f} ({pct(s)})" for f, s in sorted(skewed.items(), key=lambda kv: -kv[1])[:5])
    sentence = {
        "ok": f"Served features match the features rebuilt from upstream tables on {current.rows_compared} sampled rows.",
        "warn": f"A few served values differ from the rebuilt ones: {listed}.",
        "fail": f"Served features differ from the ones rebuilt from upstream tables: {listed}.",
    }[status]
    return result(name, FAMILY, subject, batch, status, sentence, params, value=worst, lower=0.0, upper=max_share,
                  evidence={"rows_compared": current.rows_compared, "unmatched": current.unmatched,
                            "mismatch_share": shares, "max_abs_diff": {k: v for k, v in current.max_abs_diff.items()
                                                                       if math.isfinite(v)},
                            "builder": current.builder})
