"""Lineage of one prediction: which model version scored it, from which run, config and data."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from baseline_model.layout import etl_path, predictions_path
from core.ids import sha256_file
from core.registry import Registry
from core.runs import RunNotFound, get_run
from core.scoring_jobs import successful_jobs_for
from core.stores import OpsStore

_ID_DATE = re.compile(r"^A(\d{4})(\d{2})(\d{2})-")


class LineageNotFound(LookupError):
    pass


def _find_prediction(root: Path, prediction_id: str) -> tuple[dict[str, Any], Path]:
    # Application ids carry their day (A20260301-000123): read that one file first.
    candidates: list[Path] = []
    m = _ID_DATE.match(prediction_id)
    if m:
        candidates.append(predictions_path(root, date(int(m[1]), int(m[2]), int(m[3]))))
    folder = root / "landing" / "predictions"
    candidates += sorted(folder.glob("predictions_*.parquet")) if folder.is_dir() else []
    for path in dict.fromkeys(candidates):
        if not path.exists():
            continue
        conn = duckdb.connect()
        try:
            frame = conn.execute(
                "SELECT * FROM read_parquet(?) WHERE application_id = ?", [str(path), prediction_id]
            ).df()
        finally:
            conn.close()
        if len(frame):
            row = frame.iloc[0].to_dict()
            return {k: (None if (not isinstance(v, str) and pd.isna(v)) else v) for k, v in row.items()}, path
    raise LineageNotFound(
        f"no prediction {prediction_id!r} in {folder} (hint: ids look like A20260301-000123; see the prediction log)"
    )


def lineage(root: str | Path, ops: OpsStore, prediction_id: str) -> dict[str, Any]:
    """Prediction -> scoring job -> model version -> training run -> config and data snapshot."""
    root = Path(root)
    row, path = _find_prediction(root, prediction_id)
    model_name, version = str(row["model_name"]), int(row["model_version"])
    day = pd.Timestamp(row["scored_at"]).date()
    jobs = successful_jobs_for(ops, model_name, day, version)
    mv = Registry(ops).get(model_name, version)
    out: dict[str, Any] = {
        "prediction": {
            k: row.get(k) for k in ("application_id", "scored_at", "score", "decision", "fallback", "fallback_reason", "control")
        },
        "prediction_file": {"path": str(path), "sha256": sha256_file(str(path))},
        "upstream_extracts": {
            t: str(etl_path(root, t, day)) if etl_path(root, t, day).exists() else None
            for t in ("applications", "bureau")
        },
        "scoring_job": jobs[0] if jobs else None,
        "model_version": {
            "model_name": model_name,
            "version": version,
            "approval_state": mv.approval_state,
            "artifact_path": mv.artifact_path,
            "artifact_sha256": mv.artifact_sha256,
            "data_version": mv.data_version,
            "aliases_now": list(mv.aliases),
        },
        "run": None,
    }
    try:
        run = get_run(ops, mv.run_id)
    except RunNotFound:
        return out
    manifest: dict[str, Any] = {}
    if run.get("manifest_path") and Path(run["manifest_path"]).exists():
        manifest = json.loads(Path(run["manifest_path"]).read_text())
    out["run"] = {
        "run_id": run["run_id"],
        "config_name": run["config_name"],
        "config_path": run["config_path"],
        "git_commit": run.get("git_commit"),
        "git_dirty": run.get("git_dirty"),
        "started_at": run["started_at"],
        "data": {k: manifest.get("data", {}).get(k) for k in ("path", "sha256", "rows", "window", "holdout")},
        "manifest_path": run.get("manifest_path"),
    }
    return out
