"""The malformed-input corpus (63 files, generated in tmp dirs by tests/security/malformed_corpus.py).

Each case: one good day is loaded first, then the bad file lands and the ingest runs. Asserted:
the quarantine reason (file or row level), that the rows already stored are unchanged, and
how many rows of the file load (the valid rows of a partly bad file do). The large file is
300,000 rows, not the issue's 5M, to keep the suite fast (the same code path).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from core.config import load_config
from core.stores import Warehouse
from profilers.ingest import ingest_all
from tests.app.conftest import small_config, write_config
from tests.security.malformed_corpus import CASES, LARGE_ROWS, N, _pq, frame

# case -> (file-level quarantine reason or None, rows of the file that load, rows quarantined?)
Q = "quarantined"
EXPECTED: dict[str, tuple[str | None, int, bool]] = {
    "parquet_empty_bytes": ("empty", 0, False),
    "parquet_magic_only": ("malformed", 0, False),
    "parquet_truncated_half": ("truncated", 0, False),
    "parquet_truncated_footer": ("truncated", 0, False),
    "parquet_corrupt_middle": ("malformed", 0, False),
    "parquet_csv_content": ("wrong_format", 0, False),
    "parquet_zero_rows": ("empty", 0, False),
    "parquet_score_as_text": ("wrong_types", 0, False),
    "parquet_timestamp_as_text_garbage": ("wrong_types", 0, False),
    "parquet_missing_score": (None, N, False),  # loads; the schema change is reported
    "parquet_missing_id": (None, N, False),
    "parquet_missing_timestamp": ("missing_column", 0, False),
    "parquet_extra_column": (None, N, False),
    "parquet_sql_column_name": (None, N, False),  # quoted, never executed
    "parquet_5000_char_column_name": (None, N, False),
    "parquet_duplicate_ids_within": (None, N + 5, False),  # kept as delivered (no id dedupe)
    "parquet_duplicate_ids_across": (None, N, False),
    "parquet_nan_score": (None, N, False),
    "parquet_inf_income": (None, N, False),
    "parquet_huge_income": (None, N, False),
    "parquet_some_nan_rows": (None, N, False),
    "parquet_null_ids": (None, N, False),
    "parquet_null_timestamps": (None, 0, True),  # every row quarantined: no time, no batch
    "parquet_tz_aware_timestamps": (None, N, False),
    "parquet_far_future": (None, 0, True),
    "parquet_epoch_zero": (None, 0, True),
    "parquet_negative_score": (None, N, False),
    "parquet_int_ids": (None, N, False),
    "parquet_bool_score": (None, N, False),
    "parquet_renamed_columns_case": ("column_name_clash", 0, False),  # was a CatalogException traceback
    "parquet_unicode_categories": (None, N, False),
    "parquet_very_long_strings": (None, N, False),
    "parquet_redelivered_same_content": (None, 0, False),  # a duplicate: adds nothing
    "parquet_half_far_future_rows": (None, N // 2, True),
    "parquet_half_null_timestamps": (None, N - 10, True),
    "parquet_symlink_outside_root": ("symlink_outside_root", 0, False),
    "parquet_all_values_null": (None, N, False),
    "csv_wrong_delimiter": ("missing_column", 0, False),
    "csv_tab_delimiter": ("missing_column", 0, False),
    "csv_bom": (None, N, False),
    "csv_latin1": ("malformed", 0, False),
    "csv_mixed_time_zones": (None, N, False),
    "csv_header_only": ("empty", 0, False),
    "csv_empty": ("empty", 0, False),
    "csv_ragged_rows": ("malformed", 0, False),
    "csv_cut_last_line": ("truncated", 0, False),
    "csv_text_in_score": ("wrong_types", 0, False),
    "csv_quoted_newlines": (None, N, False),
    "csv_binary_garbage": ("wrong_format", 0, False),
    "csv_sql_header": (None, N, False),
    "csv_duplicate_header": (None, 1, False),
    "jsonl_broken_line": ("malformed", 0, False),
    "jsonl_cut_last_line": ("truncated", 0, False),
    "jsonl_not_json": ("wrong_format", 0, False),
    "jsonl_array": ("wrong_format", 0, False),
    "jsonl_empty": ("empty", 0, False),
    "jsonl_mixed_types": ("wrong_types", 0, False),
    "jsonl_blank_lines": (None, N, False),
    "jsonl_nested_objects": ("wrong_types", 0, False),
    "jsonl_bom": ("wrong_format", 0, False),
    "parquet_large_file": (None, LARGE_ROWS, False),
}


def test_the_corpus_has_at_least_60_files_and_every_one_has_an_expectation() -> None:
    assert len(CASES) >= 60
    assert set(CASES) == set(EXPECTED)


def _stored(wh: Warehouse) -> tuple[int, float]:
    with wh.read() as conn:
        row = conn.execute("SELECT count(*), sum(score) FROM predictions WHERE _file LIKE '%predictions_2024-03-01.parquet'").fetchall()
    return int(row[0][0]), float(row[0][1])


@pytest.mark.parametrize("name", sorted(CASES))
def test_malformed_file(name: str, tmp_path: Path) -> None:
    data = small_config(reference=None)
    data["predictions"]["source"] = {"path": "landing/predictions", "glob": "predictions_*"}
    cfg = load_config(write_config(tmp_path, data), root=tmp_path / "var")
    folder = cfg.root / "landing" / "predictions"
    folder.mkdir(parents=True)
    _pq(frame(prefix="good", day=date(2024, 3, 1)), folder / "predictions_2024-03-01.parquet")
    wh = Warehouse(cfg.warehouse_path)
    assert ingest_all(cfg, wh).loaded == 1
    before = _stored(wh)
    with wh.read() as conn:
        total_before = conn.execute("SELECT count(*) FROM predictions").fetchall()[0][0]

    CASES[name](folder)
    report = ingest_all(cfg, wh)

    reason, rows, rows_quarantined = EXPECTED[name]
    assert [q.reason for q in report.quarantined] == ([reason] if reason else [])
    for q in report.quarantined:
        assert q.detail and "hint" in q.detail, "the reason says how to fix it"
    assert _stored(wh) == before, "rows already stored are unchanged"
    with wh.read() as conn:
        total = conn.execute("SELECT count(*) FROM predictions").fetchall()[0][0]
    assert total - total_before == rows
    assert bool(report.quarantined_rows) == rows_quarantined
    again = ingest_all(cfg, wh)  # nothing changes on a second pass: no duplicates, no re-quarantine
    assert again.loaded == 0 and not again.quarantined
