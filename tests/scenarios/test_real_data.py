"""Stated incidents on real data nobody here generated (statsmodels' `fair` and `randhie`,
scikit-learn's `load_digits`), each with a scikit-learn model trained in the test:

- every incident (a x1000 unit change, 20% nulls, a 0.5-sd shift, a new category at 5%)
  pages on its own batch, on the column it hit (or its upstream column);
- the clean batches around them page nothing;
- a single extreme outlier in a clean batch pages nothing.

A page is an alert that turned firing and was not inhibited (the default route notifies it).
Batches are 200 (digits), 400 (fair) and 1,000 (randhie) rows from the held-back third.
"""

from __future__ import annotations

import pytest

from tests.scenarios.real_data import REAL_DATASETS, RealRun, run_real

CLEAN_DAYS = 3


@pytest.fixture(scope="module", params=REAL_DATASETS)
def real_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> RealRun:
    name = str(request.param)
    return run_real(name, tmp_path_factory.mktemp(f"real-{name}"), seed=1, clean_days=CLEAN_DAYS)


def describe(pages: list[dict]) -> list[tuple[str, str]]:  # type: ignore[type-arg]
    return [(p["check"], p["subject"]) for p in pages]


def test_clean_batches_page_nothing(real_run: RealRun) -> None:
    assert len(real_run.clean_pages) == CLEAN_DAYS + 4
    noisy = {day: describe(p) for day, p in real_run.clean_pages.items() if p}
    assert not noisy, f"{real_run.data.name}: clean batches paged: {noisy}"


def test_every_incident_pages_on_its_batch_about_its_column(real_run: RealRun) -> None:
    assert len(real_run.incident_pages) == 4
    for incident, pages in real_run.incident_pages.items():
        column = real_run.incident_columns[incident]
        about = [p for p in pages if p["subject"] in (f"inputs.{column}", f"predictions.{column}")]
        assert about, f"{real_run.data.name}: {incident!r} paged nothing about {column}: {describe(pages)}"


def test_the_unit_change_is_named_and_the_others_are_not_unit_changes(real_run: RealRun) -> None:
    unit = next(p for name, p in real_run.incident_pages.items() if name.startswith("unit x1000"))
    assert ("unit_change", f"inputs.{real_run.data.unit_column}") in describe(unit)
    assert real_run.unit_factors and all("x1000" in f or "1000" in f for f in real_run.unit_factors), real_run.unit_factors
    for name, pages in real_run.incident_pages.items():
        if not name.startswith("unit"):
            assert "unit_change" not in {p["check"] for p in pages}, (name, describe(pages))


def test_a_single_extreme_outlier_in_a_clean_batch_pages_nothing(real_run: RealRun) -> None:
    assert real_run.outlier_pages == [], describe(real_run.outlier_pages)
