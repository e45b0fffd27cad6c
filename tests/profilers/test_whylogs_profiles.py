"""whylogs profiles per batch: stored, sampled when large, merged weekly, exported, summarized."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from core.config import VigilConfig
from core.stores import Warehouse
from core.whylogs_compat import import_whylogs
from profilers.ingest import ingest_all
from profilers.profile import profile_batches
from profilers.whylogs_profiles import (
    export_profiles,
    profile_summary,
    profile_whylogs,
    rollup,
    weekly_rollups,
)
from tests.profilers.conftest import DAY0, day_frame, write_apps, write_predictions


def test_profiles_sample_rollup_export_summary(
    toy_cfg: VigilConfig, toy_wh: Warehouse, tmp_path: Path
) -> None:
    for d in range(3):
        write_predictions(toy_cfg.root, d, day_frame(d, n=300 if d == 1 else 100))
        write_apps(toy_cfg.root, d)
    ingest_all(toy_cfg, toy_wh)
    profile_batches(toy_cfg, toy_wh)
    done = profile_whylogs(toy_cfg, toy_wh, max_rows=200)
    assert sorted(done) == sorted(
        [(s, DAY0 + timedelta(days=d)) for s in ("predictions", "apps") for d in range(3)]
    )
    assert profile_whylogs(toy_cfg, toy_wh) == []  # nothing stale

    summary = profile_summary(toy_wh, "predictions", DAY0 + timedelta(days=1))
    assert summary is not None
    assert (summary["total_rows"], summary["sampled_rows"]) == (300, 200)
    cols = {r["column"]: r for r in summary["columns"]}
    assert set(cols) >= {"x", "cat", "flag", "score"}
    assert cols["x"]["count"] == 200 and cols["x"]["mean"] == pytest.approx(50, abs=3)

    merged = rollup(toy_wh, "predictions", DAY0, DAY0 + timedelta(days=7))
    assert merged is not None
    assert merged.get_column("score").get_metric("counts").n.value == 100 + 200 + 100
    weeks = weekly_rollups(toy_wh, "predictions")
    assert len(weeks) == 1  # 2024-03-01..03 fall in the week of Monday 2024-02-26

    files = export_profiles(toy_wh, tmp_path / "export", source="predictions")
    assert [f.name for f in files] == [f"predictions_2024-03-0{d}T00-00.bin" for d in (1, 2, 3)]
    import_whylogs()
    from whylogs.core import DatasetProfileView

    back = DatasetProfileView.read(str(files[0]))
    assert back.get_column("x").get_metric("counts").n.value == 100
    weekly = export_profiles(toy_wh, tmp_path / "weekly", weekly=True)
    assert sorted(f.name for f in weekly) == ["apps_week_2024-02-26.bin", "predictions_week_2024-02-26.bin"]


def test_late_data_makes_a_profile_stale(toy_cfg: VigilConfig, toy_wh: Warehouse) -> None:
    write_predictions(toy_cfg.root, 0)
    ingest_all(toy_cfg, toy_wh)
    profile_batches(toy_cfg, toy_wh)
    profile_whylogs(toy_cfg, toy_wh)
    write_predictions(toy_cfg.root, 0, day_frame(0, n=10, seed=5, id_prefix="late-"), name="late.parquet")
    report = ingest_all(toy_cfg, toy_wh)
    profile_batches(toy_cfg, toy_wh, report.all_dirty)
    assert profile_whylogs(toy_cfg, toy_wh) == [("predictions", DAY0)]
    summary = profile_summary(toy_wh, "predictions", DAY0)
    assert summary is not None and summary["total_rows"] == 210
