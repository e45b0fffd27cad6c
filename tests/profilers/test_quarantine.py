"""Bad files go to quarantine with their reason; the good files of the same run load."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from core.config import VigilConfig
from core.stores import Warehouse
from profilers.ingest import ingest_all
from profilers.quarantine import list_quarantine, retry_quarantine, show_quarantine
from tests.profilers.conftest import day_frame, write_apps, write_outcomes, write_predictions


def _pred_dir(root: Path) -> Path:
    d = root / "landing" / "predictions"
    d.mkdir(parents=True, exist_ok=True)
    return d


def empty_parquet(root: Path) -> Path:
    p = _pred_dir(root) / "predictions_90.parquet"
    p.write_bytes(b"")
    return p


def csv_named_parquet(root: Path) -> Path:
    p = _pred_dir(root) / "predictions_91.parquet"
    day_frame(9).to_csv(p, index=False)
    return p


def truncated_parquet(root: Path) -> Path:
    p = write_predictions(root, 9, name="predictions_92.parquet")
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    return p


def wrong_types_parquet(root: Path) -> Path:
    df = day_frame(9)
    df["x"] = ["n/a" if i % 7 == 0 else str(v) for i, v in enumerate(df["x"])]
    return write_predictions(root, 9, df, name="predictions_93.parquet")


def missing_timestamp_parquet(root: Path) -> Path:
    return write_predictions(root, 9, day_frame(9).drop(columns=["ts"]), name="predictions_94.parquet")


def header_only_csv(root: Path) -> Path:
    p = write_apps(root, 9, name="apps_95.csv")
    p.write_text(p.read_text().splitlines()[0] + "\n")
    return p


def truncated_jsonl(root: Path) -> Path:
    p = write_outcomes(root, 9, of_day=8, name="outcomes_96.jsonl")
    text = p.read_text()
    p.write_text(text[: len(text) - 25])  # cut inside the last object
    return p


def malformed_csv(root: Path) -> Path:
    p = write_apps(root, 9, name="apps_97.csv")
    lines = p.read_text().splitlines()
    lines[5] = lines[5] + ',"extra,"unbalanced'
    p.write_text("\n".join(lines) + "\n")
    return p


def binary_jsonl(root: Path) -> Path:
    p = root / "landing" / "outcomes"
    p.mkdir(parents=True, exist_ok=True)
    f = p / "outcomes_98.jsonl"
    f.write_bytes(b"PAR1\x00\x01\x02 not json")
    return f


def unreadable_file(root: Path) -> Path:
    # Really unreadable even for root: reading /proc/self/mem at offset 0 fails with EIO.
    p = _pred_dir(root) / "predictions_99.parquet"
    os.symlink("/proc/self/mem", p)
    return p


BAD_FILES: list[tuple[Callable[[Path], Path], str, str]] = [
    (empty_parquet, "empty", "0 bytes"),
    (csv_named_parquet, "wrong_format", "not a Parquet file"),
    (truncated_parquet, "truncated", "footer missing"),
    (wrong_types_parquet, "wrong_types", "'n/a'"),
    (missing_timestamp_parquet, "missing_column", "'ts'"),
    (header_only_csv, "empty", "no rows"),
    (truncated_jsonl, "truncated", "incomplete"),
    (malformed_csv, "malformed", "cannot parse as csv"),
    (binary_jsonl, "wrong_format", "binary content"),
    # A link to /proc/self/mem leaves the storage root: refused unread since the hardening issue
    # (it used to be opened and fail as "unreadable").
    (unreadable_file, "symlink_outside_root", "outside the storage root"),
]


@pytest.mark.parametrize(
    ("make_bad", "reason", "detail_part"), BAD_FILES, ids=[b[0].__name__ for b in BAD_FILES]
)
def test_bad_file_is_quarantined_and_good_files_load(
    toy_cfg: VigilConfig, toy_wh: Warehouse, make_bad: Callable[[Path], Path], reason: str, detail_part: str
) -> None:
    root = toy_cfg.root
    write_predictions(root, 0)
    write_apps(root, 0)
    write_outcomes(root, 1, of_day=0)
    bad = make_bad(root)
    report = ingest_all(toy_cfg, toy_wh)
    assert report.loaded == 3
    assert [(q.path, q.reason) for q in report.quarantined] == [(bad.relative_to(root).as_posix(), reason)]
    assert detail_part in report.quarantined[0].detail
    assert "hint:" in report.quarantined[0].detail
    with toy_wh.read() as conn:
        row = conn.execute("SELECT count(*) FROM predictions").fetchone()
    assert row == (200,)
    # Unchanged bad files are remembered, not re-read and re-quarantined each cycle.
    again = ingest_all(toy_cfg, toy_wh)
    assert not again.quarantined and again.loaded == 0
    assert len(list_quarantine(toy_wh)) == 1


def test_quarantine_list_show_retry(toy_cfg: VigilConfig, toy_wh: Warehouse) -> None:
    root = toy_cfg.root
    write_predictions(root, 0)
    bad = truncated_parquet(root)
    ingest_all(toy_cfg, toy_wh)
    [entry] = list_quarantine(toy_wh)
    assert entry["reason"] == "truncated" and entry["status"] == "open"
    shown = show_quarantine(toy_wh, entry["quarantine_id"])
    assert shown is not None and shown["path"] == bad.relative_to(root).as_posix()
    assert show_quarantine(toy_wh, "q-nope") is None

    # Retrying an unchanged bad file quarantines it again with the same reason.
    report = retry_quarantine(toy_cfg, toy_wh, entry["quarantine_id"])
    assert [q.reason for q in report.quarantined] == ["truncated"]
    [entry2] = list_quarantine(toy_wh)
    assert entry2["quarantine_id"] != entry["quarantine_id"]

    # The producer redelivers it whole: retry loads it and closes the entry.
    write_predictions(root, 9, name=bad.name)
    report = retry_quarantine(toy_cfg, toy_wh)
    assert report.loaded == 1 and not report.quarantined
    assert list_quarantine(toy_wh) == []
    statuses = {e["status"] for e in list_quarantine(toy_wh, include_closed=True)}
    assert statuses == {"retried"}
    with pytest.raises(KeyError, match="no open quarantine entry"):
        retry_quarantine(toy_cfg, toy_wh, "q-nope")


def test_bad_redelivery_keeps_the_good_earlier_version(toy_cfg: VigilConfig, toy_wh: Warehouse) -> None:
    root = toy_cfg.root
    p = write_predictions(root, 0)
    ingest_all(toy_cfg, toy_wh)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 3])
    report = ingest_all(toy_cfg, toy_wh)
    assert [q.reason for q in report.quarantined] == ["truncated"]
    with toy_wh.read() as conn:
        row = conn.execute("SELECT count(*) FROM predictions").fetchone()
    assert row == (200,)
    # Fixed later: the good new version replaces the old rows.
    write_predictions(root, 0, day_frame(0, n=120, seed=4))
    report = ingest_all(toy_cfg, toy_wh)
    assert report.loaded == 1 and report.replaced == 1
    with toy_wh.read() as conn:
        row = conn.execute("SELECT count(*) FROM predictions").fetchone()
        open_entries = conn.execute("SELECT count(*) FROM quarantine WHERE status = 'open'").fetchone()
    assert row == (120,) and open_entries == (0,)
