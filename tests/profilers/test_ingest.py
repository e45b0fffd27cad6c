"""Ingestion: exactly once, replacement, late data, schema evidence."""

from __future__ import annotations

import os
import shutil
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.config import VigilConfig, config_from_dict
from core.stores import Warehouse
from profilers import ingest as ingest_module
from profilers.ingest import ingest_all
from profilers.profile import profile_batches, profile_batches_detailed
from profilers.stats_store import load_column_stats, load_table_stats
from tests.profilers.conftest import (
    DAY0,
    day_frame,
    toy_config_dict,
    write_apps,
    write_outcomes,
    write_predictions,
)


def count(wh: Warehouse, sql: str) -> int:
    with wh.read() as conn:
        row = conn.execute(sql).fetchone()
    assert row is not None
    return int(row[0])


def test_redelivery_adds_nothing(toy_cfg: VigilConfig, toy_wh: Warehouse) -> None:
    root = toy_cfg.root
    for d in range(3):
        write_predictions(root, d)
        write_apps(root, d)
    first = ingest_all(toy_cfg, toy_wh)
    assert first.loaded == 6 and first.rows == 1200 and not first.quarantined
    assert count(toy_wh, "SELECT count(*) FROM predictions") == 600

    again = ingest_all(toy_cfg, toy_wh)
    assert (again.loaded, again.skipped, again.rows) == (0, 6, 0)
    assert not again.dirty_batches

    # Same content under another name, and a touched file: still nothing new.
    src = root / "landing" / "predictions" / "predictions_01.parquet"
    shutil.copy(src, root / "landing" / "predictions" / "predictions_01_redelivered.parquet")
    os.utime(root / "landing" / "predictions" / "predictions_00.parquet", (1e9, 1e9))
    third = ingest_all(toy_cfg, toy_wh)
    assert (third.loaded, third.replaced, third.rows) == (0, 0, 0)
    assert third.skipped == 7
    assert count(toy_wh, "SELECT count(*) FROM predictions") == 600
    assert count(toy_wh, "SELECT count(*) FROM ingested_files WHERE status = 'duplicate'") == 1


def test_prefilter_does_not_rehash_seen_files(
    toy_cfg: VigilConfig, toy_wh: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    for d in range(2):
        write_predictions(toy_cfg.root, d)
    ingest_all(toy_cfg, toy_wh)
    hashed: list[str] = []
    real = ingest_module.sha256_file

    def counting(path: str, chunk: int = 1 << 20) -> str:
        hashed.append(path)
        return real(path, chunk)

    monkeypatch.setattr(ingest_module, "sha256_file", counting)
    ingest_all(toy_cfg, toy_wh)
    assert hashed == []
    write_predictions(toy_cfg.root, 2)
    ingest_all(toy_cfg, toy_wh)
    assert [Path(p).name for p in hashed] == ["predictions_02.parquet"]


def test_changed_file_replaces_rows_of_its_earlier_version(toy_cfg: VigilConfig, toy_wh: Warehouse) -> None:
    root = toy_cfg.root
    write_predictions(root, 0)
    write_predictions(root, 1)
    ingest_all(toy_cfg, toy_wh)
    # The producer redelivers day 1 corrected: fewer rows, other values.
    corrected = day_frame(1, n=150, seed=9)
    write_predictions(root, 1, corrected)
    report = ingest_all(toy_cfg, toy_wh)
    assert (report.loaded, report.replaced) == (1, 1)
    assert report.dirty_batches == {DAY0 + timedelta(days=1)}
    assert count(toy_wh, "SELECT count(*) FROM predictions") == 350
    with toy_wh.read() as conn:
        got = conn.execute(
            "SELECT sum(x) FROM predictions WHERE _file = 'landing/predictions/predictions_01.parquet'"
        ).fetchone()
        versions = conn.execute(
            "SELECT status, replaced_sha256 IS NOT NULL FROM ingested_files "
            "WHERE path = 'landing/predictions/predictions_01.parquet' ORDER BY ingested_at"
        ).fetchall()
    assert got is not None and got[0] == pytest.approx(corrected["x"].sum())
    assert versions == [("superseded", False), ("loaded", True)]


def test_late_rows_land_in_their_batch_and_only_it_is_reprofiled(
    toy_cfg: VigilConfig, toy_wh: Warehouse
) -> None:
    root = toy_cfg.root
    for d in range(4):
        write_predictions(root, d)
    ingest_all(toy_cfg, toy_wh)
    assert len(profile_batches(toy_cfg, toy_wh)) == 4
    # A late file, delivered after day 3, with rows of day 1.
    late = day_frame(1, n=40, seed=3, id_prefix="late-")
    write_predictions(root, 1, late, name="predictions_late.parquet")
    report = ingest_all(toy_cfg, toy_wh)
    day1 = DAY0 + timedelta(days=1)
    assert report.dirty_batches == {day1}
    profiled = profile_batches_detailed(toy_cfg, toy_wh, report.all_dirty)
    assert profiled.column_batches == [day1]
    with toy_wh.read() as conn:
        stats = load_column_stats(conn, "predictions", "x", day1)
        other = load_column_stats(conn, "predictions", "x", DAY0)
    assert stats is not None and stats.count == 240
    assert other is not None and other.count == 200


def test_label_arrival_marks_the_prediction_batches(toy_cfg: VigilConfig, toy_wh: Warehouse) -> None:
    root = toy_cfg.root
    for d in range(3):
        write_predictions(root, d)
    ingest_all(toy_cfg, toy_wh)
    write_outcomes(root, day=2, of_day=0)
    report = ingest_all(toy_cfg, toy_wh)
    assert report.label_batches == {DAY0}
    # The outcomes rows themselves land in the batch of their own timestamp (day 2).
    assert report.dirty_batches == {DAY0 + timedelta(days=2)}


def test_schema_changes_are_recorded_not_fatal(toy_cfg: VigilConfig, toy_wh: Warehouse) -> None:
    root = toy_cfg.root
    write_apps(root, 0)
    write_predictions(root, 0)
    ingest_all(toy_cfg, toy_wh)
    # Day 1 extract: 'x' renamed to 'x_value', 'cat' dropped, a new column 'channel'.
    df = day_frame(1)[["id", "ts", "x"]].rename(columns={"x": "x_value"})
    df["channel"] = "web"
    write_apps(root, 1, df)
    # Day 1 predictions: 'x' arrives as text that still reads as numbers.
    preds = day_frame(1)
    preds["x"] = preds["x"].round(3).astype(str)
    write_predictions(root, 1, preds)
    report = ingest_all(toy_cfg, toy_wh)
    assert report.loaded == 2 and not report.quarantined
    changes = {(c.source, c.change, c.column, c.detail) for c in report.schema_changes}
    assert ("apps", "renamed", "x", "x_value") in changes
    assert ("apps", "missing", "cat", None) in changes
    assert ("apps", "added", "channel", "VARCHAR") in changes
    assert ("apps", "added", "x_value", "DOUBLE") in changes
    assert ("predictions", "retyped", "x", "DOUBLE->VARCHAR") in changes
    # Insert by name: the missing columns are NULL, the retyped one cast.
    assert (
        count(
            toy_wh, "SELECT count(*) FROM etl_apps WHERE _file LIKE '%apps_01%' AND x IS NULL AND cat IS NULL"
        )
        == 200
    )
    assert count(toy_wh, "SELECT count(*) FROM predictions WHERE x IS NULL") == 0
    profile_batches(toy_cfg, toy_wh)
    with toy_wh.read() as conn:
        day1 = load_table_stats(conn, "apps", DAY0 + timedelta(days=1))
        day0 = load_table_stats(conn, "apps", DAY0)
        preds1 = load_table_stats(conn, "predictions", DAY0 + timedelta(days=1))
        x1 = load_column_stats(conn, "apps", "x", DAY0 + timedelta(days=1))
    assert day1 is not None and day0 is not None and preds1 is not None
    assert day1.renamed_columns == {"x": "x_value"}
    assert day1.missing_columns == ("cat",)
    assert set(day1.added_columns) == {"channel", "x_value"}
    assert day0.missing_columns == () and day0.renamed_columns == {}
    assert preds1.retyped_columns == {"x": "DOUBLE->VARCHAR"}
    assert x1 is not None and x1.nulls == 200


def test_csv_and_jsonl_sources(toy_cfg: VigilConfig, toy_wh: Warehouse) -> None:
    root = toy_cfg.root
    write_predictions(root, 0)
    write_apps(root, 0)
    write_outcomes(root, 1, of_day=0)
    report = ingest_all(toy_cfg, toy_wh)
    assert report.loaded == 3 and not report.quarantined
    with toy_wh.read() as conn:
        types = dict(
            conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'etl_outcomes'"
            ).fetchall()
        )
    assert types["observed_at"] == "TIMESTAMP" and types["y"] == "DOUBLE"
    assert (
        count(toy_wh, "SELECT count(*) FROM etl_outcomes WHERE observed_at = TIMESTAMP '2024-03-02 01:00:00'")
        == 200
    )


def test_aware_timestamps_become_naive_utc(toy_cfg: VigilConfig, toy_wh: Warehouse) -> None:
    df = day_frame(0, n=10)
    df["ts"] = pd.to_datetime(["2024-03-01 23:30:00+00:00"] * 10).tz_convert("America/New_York")
    write_predictions(toy_cfg.root, 0, df)
    ingest_all(toy_cfg, toy_wh)
    with toy_wh.read() as conn:
        row = conn.execute("SELECT DISTINCT ts FROM predictions").fetchall()
    assert [r[0].isoformat() for r in row] == ["2024-03-01T23:30:00"]


def _raw_types(wh: Warehouse, table: str) -> dict[str, str]:
    with wh.read() as conn:
        rows = conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ?", [table]
        ).fetchall()
    return {str(r[0]): str(r[1]) for r in rows}


def test_float32_columns_stay_float_until_a_file_brings_a_wider_type(
    toy_cfg: VigilConfig, toy_wh: Warehouse
) -> None:
    root = toy_cfg.root
    day0 = day_frame(0)
    day0["x"] = day0["x"].astype("float32")  # a config column
    day0["extra"] = np.float32(0.1)  # a column the config does not name
    write_predictions(root, 0, day0)
    first = ingest_all(toy_cfg, toy_wh)
    assert first.loaded == 1 and not first.quarantined
    types = _raw_types(toy_wh, "predictions")
    assert (types["x"], types["extra"], types["score"]) == ("FLOAT", "FLOAT", "DOUBLE")
    # Day 1 brings x as float64 values no float32 holds, and 'extra' as text: both widen, no value narrows.
    day1 = day_frame(1)
    day1["x"] = day1["x"] + 1e-9
    day1["extra"] = "0.1234567891"
    write_predictions(root, 1, day1)
    report = ingest_all(toy_cfg, toy_wh)
    assert report.loaded == 1 and not report.quarantined
    changes = {(c.change, c.column, c.detail) for c in report.schema_changes}
    assert ("widened", "x", "FLOAT->DOUBLE") in changes
    assert ("widened", "extra", "FLOAT->DOUBLE") in changes
    assert ("retyped", "extra", "FLOAT->VARCHAR") in changes
    assert not any(c == "retyped" and col == "x" for c, col, _ in changes)  # same family: not a drift
    types = _raw_types(toy_wh, "predictions")
    assert (types["x"], types["extra"]) == ("DOUBLE", "DOUBLE")
    with toy_wh.read() as conn:
        stored = dict(
            conn.execute("SELECT column_name, raw_type FROM source_schemas WHERE source = 'predictions'").fetchall()
        )
        x0 = [r[0] for r in conn.execute("SELECT x FROM predictions WHERE _file LIKE '%_00.parquet' ORDER BY id").fetchall()]
        x1 = [r[0] for r in conn.execute("SELECT x FROM predictions WHERE _file LIKE '%_01.parquet' ORDER BY id").fetchall()]
        extra1 = conn.execute("SELECT DISTINCT extra FROM predictions WHERE _file LIKE '%_01.parquet'").fetchall()
    assert (stored["x"], stored["extra"]) == ("DOUBLE", "DOUBLE")
    by_id = day0.sort_values("id")
    assert x0 == [float(v) for v in by_id["x"]]  # the float32 values, exactly
    assert x1 == [float(v) for v in day1.sort_values("id")["x"]]  # full double precision kept
    assert extra1 == [(0.1234567891,)]
    # A later float32 file loads into the wider column and changes nothing.
    day2 = day_frame(2)
    day2["x"] = day2["x"].astype("float32")
    write_predictions(root, 2, day2)
    third = ingest_all(toy_cfg, toy_wh)
    assert third.loaded == 1 and [c for c in third.schema_changes if c.change == "widened"] == []


def test_statistics_of_a_float32_column_are_those_of_its_values(tmp_path: Path) -> None:
    """Stored as FLOAT or as DOUBLE, the same float32 values give the same column statistics."""
    stats = []
    for as_double in (False, True):
        root = tmp_path / ("double" if as_double else "float")
        cfg = config_from_dict(toy_config_dict(), file="toy.yaml", root=root)
        wh = Warehouse(cfg.warehouse_path, memory_limit="512MB")
        df = day_frame(0, n=500)
        x = df["x"].astype("float32")
        x[::50] = np.nan
        df["x"] = x.astype("float64") if as_double else x
        write_predictions(root, 0, df)
        ingest_all(cfg, wh)
        assert _raw_types(wh, "predictions")["x"] == ("DOUBLE" if as_double else "FLOAT")
        profile_batches(cfg, wh)
        with wh.read() as conn:
            stats.append(load_column_stats(conn, "predictions", "x", DAY0))
    assert stats[0] is not None and stats[0] == stats[1]
