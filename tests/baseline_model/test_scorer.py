from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from baseline_model.demo import register_run
from baseline_model.features import SERVED_FEATURES
from baseline_model.layout import etl_path, predictions_path, write_parquet_atomic
from baseline_model.scorer import (
    FALLBACK_RULE,
    PREDICTION_COLUMNS,
    ScoringError,
    is_control,
    score_day,
)
from baseline_model.simulator import generate_day
from baseline_model.train import train
from core.registry import Registry
from core.stores import OpsStore

from .conftest import START, fast_config


def _land(root: Path, seed: int = 1, volume: int = 60) -> tuple[pd.DataFrame, pd.DataFrame]:
    data = generate_day(START, seed, volume)
    assert data.bureau is not None
    write_parquet_atomic(data.applications, etl_path(root, "applications", START))
    write_parquet_atomic(data.bureau, etl_path(root, "bureau", START))
    return data.applications, data.bureau


def _jobs(ops: OpsStore) -> list[dict[str, object]]:
    return ops.query("SELECT * FROM scoring_jobs ORDER BY rowid")


def test_prediction_log_has_the_documented_schema(example_root: Path, example_ops: OpsStore) -> None:
    apps, _ = _land(example_root)
    job = score_day(example_root, START, example_ops)
    preds = pd.read_parquet(predictions_path(example_root, START))
    assert tuple(preds.columns) == PREDICTION_COLUMNS
    assert list(preds["application_id"]) == list(apps["application_id"])
    assert (preds["scored_at"] == apps["submitted_at"]).all()
    assert (preds["model_name"] == "loan_default").all() and (preds["model_version"] == 1).all()
    assert preds["score"].between(0, 1).all()
    assert set(preds["decision"]) <= {"approve", "refer"}
    assert (preds["control"] == preds["application_id"].map(is_control)).all()
    np.testing.assert_allclose(preds["loan_to_income"], preds["loan_amount"] / preds["income"])
    row = _jobs(example_ops)[-1]
    assert (row["status"], row["rows_in"], row["scored"], row["fallback"], row["model_version"]) == (
        "ok", len(apps), len(apps), 0, 1)
    assert job.output_path == str(predictions_path(example_root, START))


def test_invalid_records_fall_back_to_manual_review_with_the_reason(example_root: Path, example_ops: OpsStore) -> None:
    apps, bureau = _land(example_root)
    apps = apps.astype({"purpose": object})
    apps.loc[0, "purpose"] = "crypto"  # not an allowed category
    apps.loc[1, "income"] = -5.0  # out of range
    bureau = bureau.astype({"credit_score": "Int64"})
    bureau.loc[2, "credit_score"] = None  # missing required field
    apps.loc[3, "term_months"] = 48  # not an allowed term
    write_parquet_atomic(apps, etl_path(example_root, "applications", START))
    write_parquet_atomic(bureau, etl_path(example_root, "bureau", START))
    job = score_day(example_root, START, example_ops)
    preds = pd.read_parquet(predictions_path(example_root, START)).set_index("application_id")
    ids = list(apps["application_id"])
    bad = preds.loc[ids[:4]]
    assert bad["fallback"].all()
    assert (bad["decision"] == "refer").all()
    assert bad["score"].isna().all()
    reasons = list(bad["fallback_reason"])
    assert all(r.startswith(f"{FALLBACK_RULE}: invalid input") for r in reasons)
    assert "purpose" in reasons[0] and "income" in reasons[1]
    assert "credit_score: missing" in reasons[2] and "term_months" in reasons[3]
    good = preds.drop(index=ids[:4])
    assert not good["fallback"].any() and good["fallback_reason"].isna().all() and good["score"].notna().all()
    assert (job.scored, job.fallback) == (len(apps) - 4, 4)
    row = _jobs(example_ops)[-1]
    assert json.loads(str(row["fallback_reasons"])) == {
        "purpose": 1, "income, loan_to_income": 1, "credit_score": 1, "term_months": 1}


def test_missing_bureau_extract_means_every_record_falls_back(example_root: Path, example_ops: OpsStore) -> None:
    _land(example_root)
    etl_path(example_root, "bureau", START).unlink()
    job = score_day(example_root, START, example_ops)
    assert job.scored == 0 and job.fallback == job.rows_in > 0
    preds = pd.read_parquet(predictions_path(example_root, START))
    assert (preds["decision"] == "refer").all()


def test_failed_job_leaves_no_file_and_is_recorded(example_root: Path, example_ops: OpsStore) -> None:
    _land(example_root)

    def half_then_crash(table: pa.Table, path: str) -> None:
        Path(path).write_bytes(b"PAR1 partial")  # a partial file exists for a moment...
        raise OSError("disk full")

    with pytest.raises(ScoringError, match="disk full"):
        score_day(example_root, START, example_ops, writer=half_then_crash)
    folder = predictions_path(example_root, START).parent
    assert list(folder.iterdir()) == []  # ... and is gone: no partial, no temp file
    row = _jobs(example_ops)[-1]
    assert row["status"] == "failed" and "disk full" in str(row["error"]) and row["output_path"] is None
    assert row["errors"] == 1


def test_failed_job_keeps_the_previous_complete_file(example_root: Path, example_ops: OpsStore) -> None:
    _land(example_root)
    score_day(example_root, START, example_ops)
    before = predictions_path(example_root, START).read_bytes()

    def crash(table: pa.Table, path: str) -> None:
        raise OSError("killed")

    with pytest.raises(ScoringError):
        score_day(example_root, START, example_ops, writer=crash)
    assert predictions_path(example_root, START).read_bytes() == before


def test_no_champion_or_no_extract_fails_cleanly(tmp_path: Path, example_root: Path, example_ops: OpsStore) -> None:
    ops = OpsStore(tmp_path / "empty.sqlite")
    _land(example_root)
    with pytest.raises(ScoringError, match="has no champion"):
        score_day(example_root, START, ops)
    with pytest.raises(ScoringError, match="applications extract missing"):
        score_day(example_root, START + timedelta(days=1), example_ops)
    assert not predictions_path(example_root, START).exists()
    assert [r["status"] for r in _jobs(ops)] == ["failed"]


def test_champion_is_loaded_per_batch_so_a_rollback_takes_effect_next_batch(
    example_root: Path, example_ops: OpsStore, tmp_path: Path
) -> None:
    _land(example_root)
    reg = Registry(example_ops)
    run = train(fast_config(tmp_path, "logreg_c01", model={"type": "logistic_regression", "params": {"C": 0.01}}),
                example_root, example_ops, progress=False)
    v2 = register_run(reg, run).version
    reg.approve("loan_default", v2, "bob", "ok")
    reg.promote("loan_default", v2, "bob", "try v2", margin=1.0)
    score_day(example_root, START, example_ops)
    assert (pd.read_parquet(predictions_path(example_root, START))["model_version"] == v2).all()
    reg.rollback("loan_default", "carol", "back to v1")
    score_day(example_root, START, example_ops)
    preds = pd.read_parquet(predictions_path(example_root, START))
    assert (preds["model_version"] == 1).all()
    assert [r["model_version"] for r in _jobs(example_ops)] == [v2, 1]


def test_served_features_are_the_training_features(example_root: Path, example_ops: OpsStore) -> None:
    from baseline_model.features import build_features

    apps, bureau = _land(example_root)
    score_day(example_root, START, example_ops)
    preds = pd.read_parquet(predictions_path(example_root, START))
    rebuilt = build_features(apps, bureau)
    pd.testing.assert_frame_equal(
        preds[list(SERVED_FEATURES)].reset_index(drop=True), rebuilt[list(SERVED_FEATURES)].reset_index(drop=True),
        check_dtype=False,
    )


def test_prediction_log_types_do_not_depend_on_the_day(example_root: Path, example_ops: OpsStore) -> None:
    import pyarrow.parquet as pq

    from baseline_model.scorer import PREDICTION_SCHEMA

    _land(example_root)  # a clean day: fallback_reason is null on every row
    score_day(example_root, START, example_ops)
    schema = pq.read_schema(predictions_path(example_root, START))
    assert schema.field("fallback_reason").type == pa.string()
    assert schema.equals(PREDICTION_SCHEMA)


def test_shadow_scoring_matches_serving(example_root: Path, example_ops: OpsStore) -> None:
    from baseline_model.scorer import score_with_version

    _land(example_root)
    score_day(example_root, START, example_ops)
    preds = pd.read_parquet(predictions_path(example_root, START))
    broken = preds[list(SERVED_FEATURES)].copy()
    broken.loc[0, "credit_score"] = np.nan
    shadow = score_with_version(example_ops, "loan_default", 1, broken)
    assert np.isnan(shadow[0])
    np.testing.assert_allclose(shadow[1:], preds["score"].to_numpy()[1:])


def test_only_the_first_job_of_a_process_is_cold(example_root: Path, example_ops: OpsStore) -> None:
    """The heartbeat judges a cold job (imports, model load) only against other cold jobs."""
    import subprocess
    import sys

    _land(example_root)
    code = (
        "import sys; from pathlib import Path; from datetime import date; "
        "from baseline_model.scorer import score_day; from core.stores import OpsStore; "
        "root = Path(sys.argv[1]); ops = OpsStore(root / 'ops.sqlite'); "
        "[score_day(root, date.fromisoformat(sys.argv[2]), ops) for _ in range(3)]"
    )
    before = len(_jobs(example_ops))
    subprocess.run([sys.executable, "-c", code, str(example_root), START.isoformat()], check=True, timeout=300)
    jobs = _jobs(example_ops)[before:]
    assert [(j["status"], j["cold"]) for j in jobs] == [("ok", 1), ("ok", 0), ("ok", 0)]
