"""The loan-default model's adapter (`model.adapter: baseline_model.adapter:LoanModelAdapter`).

Vigil reaches the example model only through this class (core.adapter.ModelAdapter):
loading a registered artifact (sha256-checked, scikit-learn version warned), scoring
P(default), turning a window of the live test set into a training snapshot and training a
candidate with the unchanged `baseline_model.train.train` (so a retrain is a reproducible
run like any other), evaluated on the champion's own holdout for the registry's gate.
"""

from __future__ import annotations

import warnings
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.adapter import LABEL, AdapterError, Candidate, ModelRef, TrainRequest, metrics_for, verified_path
from core.config import VigilConfig

APPLICATION_COLUMNS = ("income", "loan_amount", "term_months", "interest_rate", "employment_years", "home_ownership", "purpose")
BUREAU_COLUMNS = ("credit_score", "credit_history_years", "utilisation", "delinquencies", "open_accounts")
# The champion's holdout file must reproduce its registered AUC to this tolerance before the
# candidate's evaluation on it is recorded under the champion's holdout id.
HOLDOUT_AUC_TOLERANCE = 1e-4


class LoanModelAdapter:
    def __init__(self, cfg: VigilConfig) -> None:
        self.cfg = cfg

    def load(self, ref: ModelRef) -> Any:
        from baseline_model.artifact import load_model

        path = verified_path(ref)
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            return load_model(path)

    def score(self, model: Any, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(model.predict_default_proba(frame), dtype=float)

    def evaluate(self, model: Any, holdout: pd.DataFrame) -> dict[str, float]:
        return metrics_for("binary", holdout[LABEL].to_numpy(), self.score(model, holdout))

    def training_set(self, live: pd.DataFrame, reference: pd.DataFrame | None) -> pd.DataFrame:
        """Served features + matured label of the live window, as the training snapshot's rows.

        Fallback rows (a feature failed validation at serving) are dropped: the model never
        scored them either. The reference is the champion's holdout: not trained on again.
        """
        cols = (*APPLICATION_COLUMNS, *BUREAU_COLUMNS)
        if live.empty:
            return pd.DataFrame(columns=["application_id", "submitted_at", *cols, "defaulted", LABEL])
        p = self.cfg.predictions
        frame = live
        if p.fallback_column and p.fallback_column in frame.columns:
            frame = frame.loc[~frame[p.fallback_column].fillna(False).astype(bool)]
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise AdapterError(
                f"the prediction log has no served feature columns {missing} (hint: retraining needs the served features "
                "logged with each prediction, as baseline_model.scorer writes them)"
            )
        out = pd.DataFrame(
            {
                "application_id": frame[p.id_column].astype(str).to_numpy(),
                "submitted_at": pd.to_datetime(frame[p.timestamp_column]).astype("datetime64[us]").to_numpy(),
            }
        )
        for col in cols:
            out[col] = frame[col].to_numpy()
        out["defaulted"] = frame[LABEL].astype("int64").to_numpy()
        out[LABEL] = out["defaulted"]
        out = out.dropna(subset=list(cols))
        return out.sort_values(["submitted_at", "application_id"], kind="mergesort").reset_index(drop=True)

    def train(self, request: TrainRequest) -> Candidate:
        from baseline_model.demo import DEFAULT_TRAIN_CONFIG
        from baseline_model.train import TrainingError, evaluation_of, load_train_config, train

        config_path = Path(request.train_config) if request.train_config else DEFAULT_TRAIN_CONFIG
        try:
            tcfg = load_train_config(config_path)
        except TrainingError as err:
            raise AdapterError(str(err)) from None
        model_name = self.cfg.model.registry_name or self.cfg.model.name
        if tcfg.model_name != model_name:
            raise AdapterError(
                f"{config_path}: model_name {tcfg.model_name!r} is not the monitored model {model_name!r} "
                "(hint: model.registry_name in the monitoring config)"
            )
        folder = write_training_snapshot(request.training, request.folder)
        snapshot = folder.relative_to(request.root).as_posix()
        data = tcfg.data.model_copy(update={"snapshot": snapshot, "start": None, "end": None})
        run_cfg = tcfg.model_copy(update={"data": data, "name": f"{tcfg.name}-retrain"})
        try:
            run = train(
                config_path, request.root, request.ops, config=run_cfg, kind="retrain", update_reference=False,
                progress=False, clock=request.clock, command=request.command or f"vigil retrain --config {config_path}",
            )
        except TrainingError as err:
            raise AdapterError(str(err)) from None
        own = evaluation_of(run)
        evaluation = None
        if request.champion is not None:
            evaluation = self.evaluation_on_champion_holdout(self._load_path(run["artifact_path"]), request.champion, tcfg.business, own)
        # The training config's promotion rule travels with the evaluation: the registry stores it.
        rule = {"metric": tcfg.promotion.metric, "margin": tcfg.promotion.margin}
        return Candidate(
            artifact_path=run["artifact_path"], artifact_sha256=run["artifact_sha256"],
            evaluation={**(evaluation or own), "promotion": rule},
            holdout_start=datetime.fromisoformat(run["manifest"]["data"]["holdout"]["start"]), run_id=run["run_id"],
            data_version=run["data_sha256"], environment=run["manifest"]["environment"], config_path=str(config_path),
            snapshot=snapshot,
        )

    @staticmethod
    def _load_path(path: str) -> Any:
        from baseline_model.artifact import load_model

        return load_model(path)

    def evaluation_on_champion_holdout(self, candidate: Any, champion: ModelRef, business: Any, own: dict[str, Any]) -> dict[str, Any] | None:
        """The candidate's evaluation on the champion's holdout, so the registry compares like with like.

        None when the champion's holdout file is missing or does not reproduce its registered AUC
        (then the rows are not provably the same and the registry keeps refusing, rightly).
        """
        holdout = holdout_of(champion)
        registered_auc = (champion.evaluation.get("metrics") or {}).get("roc_auc")
        if holdout is None or registered_auc is None:
            return None
        champion_metrics = metrics_on(self.load(champion), holdout, business)
        if abs(champion_metrics["roc_auc"] - float(registered_auc)) > HOLDOUT_AUC_TOLERANCE:
            return None
        return {
            **own,
            "holdout_id": champion.evaluation["holdout_id"],
            "holdout": champion.evaluation.get("holdout"),
            "metrics": metrics_on(candidate, holdout, business),
            "baseline_metrics": champion.evaluation.get("baseline_metrics"),
            "evaluated_on": f"champion v{champion.version}'s holdout",
            "own_holdout": {"holdout_id": own["holdout_id"], "holdout": own.get("holdout"), "metrics": own["metrics"]},
        }


def write_training_snapshot(frame: pd.DataFrame, folder: Path) -> Path:
    """The three snapshot files `baseline_model.train` reads (applications, bureau, labels)."""
    from baseline_model.layout import write_parquet_atomic

    apps = frame[["application_id", "submitted_at", *APPLICATION_COLUMNS]].copy()
    bureau = frame[["application_id", *BUREAU_COLUMNS]].copy()
    bureau.insert(1, "reported_at", frame["submitted_at"].to_numpy())
    for col in ("term_months", "credit_score", "delinquencies", "open_accounts"):
        apps_or_bureau = apps if col in apps.columns else bureau
        apps_or_bureau[col] = apps_or_bureau[col].astype("int64")
    labels = frame[["application_id", "submitted_at", "defaulted"]].copy()
    write_parquet_atomic(apps, folder / "applications.parquet")
    write_parquet_atomic(bureau, folder / "bureau.parquet")
    write_parquet_atomic(labels, folder / "labels.parquet")
    return folder


def holdout_of(ref: ModelRef) -> pd.DataFrame | None:
    """A version's holdout rows (served features + label), from its training run's reference file."""
    path = Path(ref.uri).parent / "reference.parquet"
    return pd.read_parquet(path) if path.exists() else None


def metrics_on(artifact: Any, holdout: pd.DataFrame, business: Any) -> dict[str, Any]:
    """The training code's metrics of an artifact on a holdout frame (calibration table left out)."""
    from baseline_model.train import evaluate

    p = np.asarray(artifact.predict_default_proba(holdout), dtype=float)
    y = holdout["defaulted"].to_numpy(dtype=int)
    loans = holdout[["loan_amount", "interest_rate", "term_months"]]
    metrics = evaluate(y, p, p < artifact.threshold, loans, business)
    return {k: v for k, v in metrics.items() if k != "calibration"}
