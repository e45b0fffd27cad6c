"""The per-column pages at 1,000 columns: searched and paged, never rendered whole.

The warehouse is filled through its owners' writers (profile.write_column_stats,
checks.storage.store_results) with one batch of statistics and results for 1,000 columns:
the pages then run under AppTest against it.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.dashboard import common
from checks.result import CheckResult
from checks.storage import store_results
from core.config import load_config
from core.stores import stores_for
from profilers.profile import write_column_stats
from profilers.stats_types import ColumnStats
from tests.app.conftest import small_config, write_config
from tests.app.test_dashboard import DASHBOARD, signed_in_as

N_COLUMNS = 1_000
BATCH = datetime(2024, 3, 1)
CHECKS = ("psi", "null_rate", "range")  # three results per column: 3,000 in the batch


def test_matching_and_page_bounds() -> None:
    names = [f"predictions.f{i:04d}" for i in range(N_COLUMNS)]
    assert common.matching(names, "") == names
    assert common.matching(names, "F0999") == ["predictions.f0999"]
    assert common.matching(names, "pred 099") == ["predictions.f0099"] + [f"predictions.f099{i}" for i in range(10)]
    assert common.page_bounds(3_000, 1) == (0, 100, 30)
    assert common.page_bounds(3_000, 30) == (2_900, 3_000, 30)
    assert common.page_bounds(3_001, 99) == (3_000, 3_001, 31)  # clamped to the last page
    assert common.page_bounds(0, 1) == (0, 0, 1)


@pytest.fixture(scope="module")
def wide_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("wide")
    data = small_config(reference=None)
    data["features"] = [{"name": f"f{i:04d}", "type": "numeric"} for i in range(N_COLUMNS)]
    data.pop("etl_tables")
    config_path = write_config(folder, data)
    cfg = load_config(config_path, root=folder / "var")
    wh, _ = stores_for(cfg)
    wh.migrate()
    stats = [
        ColumnStats(source="predictions", column=f"f{i:04d}", kind="numeric", batch=BATCH, count=100, nulls=0,
                    min=0.0, max=1.0, mean=0.5, std=0.3, quantiles={0.05: 0.05, 0.5: 0.5, 0.95: 0.95})
        for i in range(N_COLUMNS)
    ]
    results = [
        CheckResult(check, "feature_drift" if check == "psi" else "input_quality", f"predictions.f{i:04d}", BATCH,
                    "fail" if i == 999 and check == "psi" else "ok", "warning", f"{check} of f{i:04d}.",
                    value=0.01, upper=0.2, model="loans")
        for i in range(N_COLUMNS) for check in CHECKS
    ]
    with wh.write() as conn:
        write_column_stats(conn, "predictions", [BATCH], stats)
        store_results(conn, results, datetime(2024, 3, 2))
    return config_path, folder / "var"


@pytest.fixture
def wide(wide_store: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    config_path, root = wide_store
    monkeypatch.setenv("VIGIL_CONFIG", str(config_path))
    monkeypatch.setenv("VIGIL_ROOT", str(root))
    monkeypatch.setenv("VIGIL_USER", "tester")


def _run(page: str) -> AppTest:
    at = AppTest.from_file(str(DASHBOARD / "pages" / page), default_timeout=60)
    signed_in_as(at)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_data_page_searches_the_columns(wide: None) -> None:
    at = _run("4_Data.py")
    column = next(s for s in at.selectbox if s.label == "Column")
    assert len(column.options) == N_COLUMNS
    at.text_input(key="data_columns::search").input("f0999").run()
    assert not at.exception
    column = next(s for s in at.selectbox if s.label == "Column")
    assert column.options == ["predictions.f0999"]
    assert any("1 of 1,000 columns match" in c.value for c in at.caption)
    at.text_input(key="data_columns::search").input("no-such-column").run()
    assert not any(s.label == "Column" for s in at.selectbox)
    assert any("No column matches" in i.value for i in at.info)


def test_checks_results_are_paged_and_searched(wide: None) -> None:
    at = _run("5_Checks.py")
    [table] = [d for d in at.dataframe if len(d.value) > 0][:1]
    assert len(table.value) == common.PAGE_SIZE  # one page of the 3,000 results, not all of them
    assert table.value.iloc[0]["status"] == "fail"  # failures first
    assert any("Rows 1-100 of 3,000" in c.value for c in at.caption)
    at.number_input(key="checks_results::page").set_value(30).run()
    assert not at.exception
    assert any("Rows 2,901-3,000 of 3,000" in c.value for c in at.caption)
    at.text_input(key="checks_results::search").input("psi f0998").run()
    assert not at.exception
    assert len(at.dataframe[0].value) == 1 and at.dataframe[0].value.iloc[0]["subject"] == "predictions.f0998"
