"""Reproducible training from a YAML config (kept apart from code).

`train(config_path, root, ops)` reads the training snapshot under the storage root,
builds features with the shared `build_features`, splits by time (the latest
`holdout_fraction` of applications is the holdout), fits the configured scikit-learn
model with a fixed seed, evaluates it and the non-ML baseline rule with the same
metrics, writes the artifact and a manifest, records the run in the ops store and
writes the monitoring reference. Same config + same data -> same metrics and the same
artifact sha256.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import platform
import shlex
import shutil
import subprocess
import sys
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import sklearn
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from baseline_model.artifact import ModelArtifact, save_model
from baseline_model.features import CATEGORICAL_FEATURES, SERVED_FEATURES, build_features
from baseline_model.layout import artifacts_dir, reference_path, write_parquet_atomic
from core.clock import Clock, SystemClock, iso
from core.ids import new_id, sha256_file
from core.runs import insert_run
from core.stores import OpsStore

REPO_ROOT = Path(__file__).resolve().parents[1]
SNAPSHOT_FILES = ("applications.parquet", "bureau.parquet", "labels.parquet")
_LOG_FEATURES = ("income", "loan_amount", "loan_to_income")
_PACKAGES = ("numpy", "pandas", "scikit-learn", "scipy", "joblib", "pyarrow", "pydantic")


class TrainingError(RuntimeError):
    """Training could not run: bad config, missing snapshot, ..."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataSection(_Strict):
    snapshot: str = "training/snapshot"  # folder under the storage root
    start: date | None = None  # optional window on submitted_at (inclusive)
    end: date | None = None  # exclusive
    holdout_fraction: float = Field(default=0.25, gt=0, lt=0.9)


class ModelSection(_Strict):
    type: Literal["logistic_regression", "gradient_boosting"]
    params: dict[str, Any] = Field(default_factory=dict)
    calibration: Literal["none", "sigmoid", "isotonic"] = "none"
    calibration_folds: int = Field(default=3, ge=2, le=10)


class DecisionSection(_Strict):
    threshold: float = Field(gt=0, lt=1)  # refer when P(default) >= threshold


class BusinessSection(_Strict):
    # Expected profit of an approved loan: a good one earns margin_share of its interest
    # over the term on the average balance of an amortising loan (half the amount);
    # a defaulted one loses loss_given_default of the amount.
    margin_share: float = Field(default=0.5, gt=0, le=1)
    loss_given_default: float = Field(default=0.6, gt=0, le=1)


class BaselineRuleSection(_Strict):
    credit_score_cutoff: float = Field(default=640, ge=300, le=850)


class PromotionSection(_Strict):
    metric: str = "roc_auc"
    margin: float = Field(default=0.0, ge=0)


class TrainConfig(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    model_name: str = "loan_default"
    description: str | None = None
    data: DataSection = DataSection()
    features: list[str] = Field(default_factory=lambda: list(SERVED_FEATURES), min_length=1)
    model: ModelSection
    seed: int = 0
    decision: DecisionSection
    business: BusinessSection = BusinessSection()
    baseline_rule: BaselineRuleSection = BaselineRuleSection()
    promotion: PromotionSection = PromotionSection()

    @field_validator("features")
    @classmethod
    def _known_features(cls, value: list[str]) -> list[str]:
        unknown = [f for f in value if f not in SERVED_FEATURES]
        if unknown:
            raise ValueError(f"unknown features {unknown} (served features: {', '.join(SERVED_FEATURES)})")
        if len(set(value)) != len(value):
            raise ValueError("features must not repeat")
        return value


def load_train_config(path: str | Path) -> TrainConfig:
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text())
    except FileNotFoundError:
        raise TrainingError(f"{p}: file not found (hint: baseline_model/configs/train_gbm.yaml)") from None
    except yaml.YAMLError as e:
        raise TrainingError(f"{p}: YAML syntax error: {e}") from None
    return train_config_from_dict(data, file=str(p))


def train_config_from_dict(data: Any, file: str = "<train config>") -> TrainConfig:
    if not isinstance(data, dict):
        raise TrainingError(f"{file}: expected a mapping of keys (hint: start with 'name:')")
    try:
        return TrainConfig.model_validate(data)
    except ValidationError as err:
        lines = [
            f"{file}: {'.'.join(str(x) for x in e['loc']) or '(top level)'}: {e['msg'].removeprefix('Value error, ')}"
            for e in err.errors()
        ]
        raise TrainingError("\n".join(lines)) from None


# ---- data -----------------------------------------------------------------
def snapshot_sha256(folder: Path) -> tuple[str, dict[str, str]]:
    """sha256 over the snapshot files' own sha256s (the data version)."""
    files = {}
    for name in SNAPSHOT_FILES:
        path = folder / name
        if not path.exists():
            raise TrainingError(
                f"{path}: training snapshot file missing "
                "(hint: `vigil simulate` or baseline_model.simulator.make_training_snapshot writes it)"
            )
        files[name] = sha256_file(str(path))
    combined = hashlib.sha256("".join(f"{k}={v}\n" for k, v in sorted(files.items())).encode()).hexdigest()
    return combined, files


def load_training_frame(folder: Path, cfg: DataSection) -> pd.DataFrame:
    """Served features + label for every snapshot row in the window, in time order."""
    apps = pd.read_parquet(folder / "applications.parquet")
    bureau = pd.read_parquet(folder / "bureau.parquet")
    labels = pd.read_parquet(folder / "labels.parquet", columns=["application_id", "defaulted"])
    frame = build_features(apps, bureau).merge(labels, on="application_id", how="inner", validate="one_to_one")
    if cfg.start is not None:
        frame = frame[frame["submitted_at"] >= pd.Timestamp(cfg.start)]
    if cfg.end is not None:
        frame = frame[frame["submitted_at"] < pd.Timestamp(cfg.end)]
    frame = frame.dropna(subset=list(SERVED_FEATURES))
    if len(frame) < 50:
        raise TrainingError(f"{folder}: only {len(frame)} usable rows in the data window (hint: widen data.start/end)")
    return frame.sort_values(["submitted_at", "application_id"], kind="mergesort").reset_index(drop=True)


def time_split(frame: pd.DataFrame, holdout_fraction: float) -> tuple[pd.DataFrame, pd.DataFrame, pd.Timestamp]:
    """Train on the earlier applications, hold out the latest ones (no look-ahead)."""
    cut_index = int(len(frame) * (1 - holdout_fraction))
    cutoff = frame["submitted_at"].iloc[cut_index]
    train, holdout = frame[frame["submitted_at"] < cutoff], frame[frame["submitted_at"] >= cutoff]
    if holdout["defaulted"].nunique() < 2 or train["defaulted"].nunique() < 2:
        raise TrainingError("the time split left a side with only one class (hint: more data or another holdout_fraction)")
    return train, holdout, cutoff


# ---- model ----------------------------------------------------------------
def build_estimator(cfg: TrainConfig) -> Any:
    cats = [f for f in cfg.features if f in CATEGORICAL_FEATURES]
    nums = [f for f in cfg.features if f not in CATEGORICAL_FEATURES]
    logs = [f for f in nums if f in _LOG_FEATURES]
    plain = [f for f in nums if f not in _LOG_FEATURES]
    onehot = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    if cfg.model.type == "logistic_regression":
        log_scaled = Pipeline([("log", FunctionTransformer(np.log1p)), ("scale", StandardScaler())])
        prep = ColumnTransformer([("log", log_scaled, logs), ("num", StandardScaler(), plain), ("cat", onehot, cats)])
        clf: Any = LogisticRegression(random_state=cfg.seed, **{"max_iter": 2000, **cfg.model.params})
    else:
        prep = ColumnTransformer([("num", "passthrough", nums), ("cat", onehot, cats)])
        # early_stopping off: its validation split would add a second source of randomness.
        params = {"early_stopping": False, **cfg.model.params}
        clf = HistGradientBoostingClassifier(random_state=cfg.seed, **params)
    pipeline = Pipeline([("prep", prep), ("clf", clf)])
    if cfg.model.calibration == "none":
        return pipeline
    # Unshuffled stratified folds: deterministic without a random state.
    return CalibratedClassifierCV(pipeline, method=cfg.model.calibration, cv=cfg.model.calibration_folds)


# ---- metrics --------------------------------------------------------------
def calibration_summary(y: np.ndarray, p: np.ndarray, bins: int = 10) -> dict[str, Any]:
    """Deciles of predicted risk: mean prediction vs observed rate, and the ECE."""
    order = np.argsort(p, kind="mergesort")
    table = []
    ece = 0.0
    for chunk in np.array_split(order, bins):
        if len(chunk) == 0:
            continue
        mean_pred, observed = float(p[chunk].mean()), float(y[chunk].mean())
        ece += len(chunk) / len(p) * abs(mean_pred - observed)
        table.append({"n": int(len(chunk)), "mean_pred": round(mean_pred, 6), "observed": round(observed, 6)})
    return {"ece": round(ece, 6), "bins": table}


def loan_profit(
    defaulted: np.ndarray, loan_amount: np.ndarray, interest_rate: np.ndarray, term_months: np.ndarray,
    business: BusinessSection,
) -> np.ndarray:
    """Profit of each loan if approved (see BusinessSection)."""
    interest = interest_rate / 100 * term_months / 12 * 0.5 * loan_amount
    return np.where(defaulted == 1, -business.loss_given_default * loan_amount, business.margin_share * interest)


def evaluate(
    y: np.ndarray, p: np.ndarray, approve: np.ndarray, loans: pd.DataFrame, business: BusinessSection,
) -> dict[str, Any]:
    """Model-quality and business metrics of a score and an approve/refer decision.

    loans: loan_amount, interest_rate and term_months of the same rows.
    """
    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype=float)
    approve = np.asarray(approve, dtype=bool)
    profit = loan_profit(
        y, loans["loan_amount"].to_numpy(dtype=float), loans["interest_rate"].to_numpy(dtype=float),
        loans["term_months"].to_numpy(dtype=float), business,
    )
    n_approved = int(approve.sum())
    return {
        "rows": int(len(y)),
        "positives": int(y.sum()),
        "roc_auc": round(float(roc_auc_score(y, p)), 6),
        "pr_auc": round(float(average_precision_score(y, p)), 6),
        "brier": round(float(brier_score_loss(y, np.clip(p, 0, 1))), 6),
        "calibration": calibration_summary(y, p),
        "approval_rate": round(n_approved / len(y), 6),
        "default_rate_approved": round(float(y[approve].mean()) if n_approved else 0.0, 6),
        "expected_profit_per_application": round(float(np.where(approve, profit, 0.0).sum() / len(y)), 4),
    }


def baseline_rule_scores(train: pd.DataFrame, holdout: pd.DataFrame) -> np.ndarray:
    """Non-ML baseline's risk score: the training default rate of the 50-point credit-score band."""
    band_train = (train["credit_score"] // 50).astype(int)
    rates = train.groupby(band_train)["defaulted"].mean()
    band = (holdout["credit_score"] // 50).astype(int)
    return band.map(rates).fillna(float(train["defaulted"].mean())).to_numpy(dtype=float)


# ---- provenance -----------------------------------------------------------
def git_state(repo: Path = REPO_ROOT) -> dict[str, Any]:
    def run(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=10, check=True)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip()

    commit = run("rev-parse", "HEAD")
    status = run("status", "--porcelain")
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def environment() -> dict[str, Any]:
    versions: dict[str, str | None] = {}
    for pkg in _PACKAGES:
        try:
            versions[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            versions[pkg] = None
    return {"python": platform.python_version(), "platform": platform.platform(), "packages": versions}


# ---- the run --------------------------------------------------------------
def train(
    config_path: str | Path,
    root: str | Path,
    ops: OpsStore,
    *,
    command: str | None = None,
    update_reference: bool | None = None,
    progress: bool = True,
    clock: Clock | None = None,
    kind: str = "train",
    config: TrainConfig | None = None,
) -> dict[str, Any]:
    """Train from a YAML config; returns the run record (also in the ops `runs` table).

    update_reference: write `<root>/training/reference.parquet` from this run's holdout
    (None: only if there is none yet).
    """
    cfg = config or load_train_config(config_path)
    root = Path(root)
    clock = clock or SystemClock()
    run_id = new_id("run")
    started = clock.now()
    t0 = time.perf_counter()
    run_dir = artifacts_dir(root) / cfg.model_name / run_id
    record: dict[str, Any] = {
        "run_id": run_id,
        "model_name": cfg.model_name,
        "kind": kind,
        "config_name": cfg.name,
        "config_path": str(config_path),
        "status": "running",
        "started_at": iso(started),
        "model_type": cfg.model.type,
        "params": _params(cfg),
        "command": command or shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        **{f"git_{k}": v for k, v in git_state().items()},
    }
    insert_run(ops, record)
    steps = tqdm(total=5, desc=f"train {cfg.name}", unit="step", disable=not progress, leave=False)
    try:
        folder = root / cfg.data.snapshot
        data_sha, file_shas = snapshot_sha256(folder)
        frame = load_training_frame(folder, cfg.data)
        train_rows, holdout, cutoff = time_split(frame, cfg.data.holdout_fraction)
        steps.update()
        estimator = build_estimator(cfg)
        # One native thread: on a shared machine OpenMP oversubscription makes boosting 10x
        # slower, and a single thread keeps floating-point summation order fixed.
        with threadpool_limits(limits=1):
            estimator.fit(train_rows[cfg.features], train_rows["defaulted"].to_numpy())
            steps.update()
            p = np.asarray(estimator.predict_proba(holdout[cfg.features])[:, 1], dtype=float)
        y = holdout["defaulted"].to_numpy()
        loans = holdout[["loan_amount", "interest_rate", "term_months"]]
        metrics = evaluate(y, p, p < cfg.decision.threshold, loans, cfg.business)
        rule_p = baseline_rule_scores(train_rows, holdout)
        rule_approve = holdout["credit_score"].to_numpy() >= cfg.baseline_rule.credit_score_cutoff
        baseline = evaluate(y, rule_p, rule_approve, loans, cfg.business)
        steps.update()
        artifact = ModelArtifact(
            model=estimator, features=list(cfg.features), threshold=cfg.decision.threshold,
            model_type=cfg.model.type, config_name=cfg.name, sklearn_version=sklearn.__version__,
        )
        artifact_path = run_dir / "model.joblib"
        save_model(artifact, artifact_path)
        artifact_sha = sha256_file(str(artifact_path))
        holdout_id = hashlib.sha256(f"{data_sha}|{cutoff.isoformat()}|{len(holdout)}".encode()).hexdigest()[:16]
        ref = _reference_frame(holdout, p, cfg.decision.threshold)
        write_parquet_atomic(ref, run_dir / "reference.parquet")
        if update_reference or (update_reference is None and not reference_path(root).exists()):
            reference_path(root).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(run_dir / "reference.parquet", reference_path(root))
        steps.update()
        duration = round(time.perf_counter() - t0, 3)
        manifest = {
            "run_id": run_id,
            "model_name": cfg.model_name,
            "config_name": cfg.name,
            "config_path": str(config_path),
            "config": cfg.model_dump(mode="json"),
            "command": record["command"],
            "git": git_state(),
            "params": record["params"],
            "seed": cfg.seed,
            "environment": environment(),
            "data": {
                "path": str(folder),
                "sha256": data_sha,
                "files": file_shas,
                "rows": int(len(frame)),
                "train_rows": int(len(train_rows)),
                "holdout_rows": int(len(holdout)),
                "window": {"start": _ts(frame["submitted_at"].min()), "end": _ts(frame["submitted_at"].max())},
                "holdout": {"id": holdout_id, "start": _ts(cutoff), "end": _ts(holdout["submitted_at"].max())},
            },
            "artifact": {"path": str(artifact_path), "sha256": artifact_sha, "sklearn_version": sklearn.__version__},
            "metrics": metrics,
            "baseline_metrics": baseline,
            "started_at": iso(started),
            "duration_s": duration,
        }
        manifest_path = run_dir / "manifest.json"
        manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        record.update(
            status="ok", duration_s=duration, metrics=metrics, baseline_metrics=baseline, data_sha256=data_sha,
            artifact_path=str(artifact_path), artifact_sha256=artifact_sha, manifest_path=str(manifest_path),
        )
        insert_run(ops, record)
        steps.update()
        return {**record, "manifest": manifest}
    except Exception as err:
        record.update(status="failed", error=f"{type(err).__name__}: {err}", duration_s=round(time.perf_counter() - t0, 3))
        insert_run(ops, record)
        if isinstance(err, TrainingError):
            raise
        raise TrainingError(f"training {cfg.name} failed: {record['error']}") from err
    finally:
        steps.close()


def _ts(value: Any) -> str:
    return pd.Timestamp(value).isoformat()


def _params(cfg: TrainConfig) -> dict[str, Any]:
    return {
        "model_type": cfg.model.type,
        "model_params": dict(cfg.model.params),
        "calibration": cfg.model.calibration,
        "features": list(cfg.features),
        "seed": cfg.seed,
        "threshold": cfg.decision.threshold,
        "holdout_fraction": cfg.data.holdout_fraction,
        "data_window": {"start": _iso_or_none(cfg.data.start), "end": _iso_or_none(cfg.data.end)},
    }


def _iso_or_none(d: date | datetime | None) -> str | None:
    return None if d is None else d.isoformat()


def _reference_frame(holdout: pd.DataFrame, p: np.ndarray, threshold: float) -> pd.DataFrame:
    """Served features + score + label of the holdout: monitoring's reference."""
    from baseline_model.scorer import is_control

    ref = pd.DataFrame(
        {
            "application_id": holdout["application_id"].to_numpy(),
            "submitted_at": holdout["submitted_at"].astype("datetime64[us]").to_numpy(),
            "scored_at": holdout["submitted_at"].astype("datetime64[us]").to_numpy(),
            "score": p,
            "defaulted": holdout["defaulted"].astype("int64").to_numpy(),
        }
    )
    # Same decision rule as serving (control slice approved regardless of score), so
    # monitoring can compare a live metric with the reference on the same selection:
    # outcomes only exist for approved rows, and AUC among them is lower by design.
    control = ref["application_id"].map(is_control).to_numpy(dtype=bool)
    ref["control"] = control
    ref["decision"] = np.where(control | (p < threshold), "approve", "refer").astype(object)
    for col in SERVED_FEATURES:
        ref[col] = holdout[col].to_numpy()
    return ref


def evaluation_of(run: dict[str, Any]) -> dict[str, Any]:
    """What the registry stores as a version's evaluation."""
    manifest = run["manifest"] if "manifest" in run else json.loads(Path(run["manifest_path"]).read_text())
    return {
        "holdout_id": manifest["data"]["holdout"]["id"],
        "holdout": manifest["data"]["holdout"],
        "metrics": {k: v for k, v in manifest["metrics"].items() if k != "calibration"},
        "baseline_metrics": {k: v for k, v in manifest["baseline_metrics"].items() if k != "calibration"},
        "threshold": manifest["params"]["threshold"],
        "config_name": manifest["config_name"],
    }


def _comparable(manifest: dict[str, Any]) -> dict[str, Any]:
    """The fields a reproduction must match: data, artifact, metrics."""
    metrics = {k: v for k, v in manifest["metrics"].items() if k != "calibration"}
    metrics["calibration.ece"] = manifest["metrics"]["calibration"]["ece"]
    out: dict[str, Any] = {
        "data.sha256": manifest["data"]["sha256"],
        "data.rows": manifest["data"]["rows"],
        "data.holdout.id": manifest["data"]["holdout"]["id"],
        "artifact.sha256": manifest["artifact"]["sha256"],
    }
    out.update({f"metrics.{k}": v for k, v in metrics.items()})
    return out


def reproduce(
    root: str | Path, ops: OpsStore, model_name: str, version: int, *, progress: bool = True,
    clock: Clock | None = None,
) -> dict[str, Any]:
    """Retrain a registered version from its manifest and compare, field by field.

    The retrained artifact goes to a new run folder (the registered one is untouched);
    the run is recorded with kind 'reproduce'. Environment differences are reported
    alongside, since they usually explain a mismatch.
    """
    from core.registry import Registry
    from core.runs import get_run

    mv = Registry(ops, clock).get(model_name, version)
    run = get_run(ops, mv.run_id)
    if not run.get("manifest_path") or not Path(run["manifest_path"]).exists():
        raise TrainingError(f"{model_name} v{version}: manifest of run {mv.run_id} is missing ({run.get('manifest_path')})")
    manifest = json.loads(Path(run["manifest_path"]).read_text())
    cfg = train_config_from_dict(manifest["config"], file=f"manifest of run {mv.run_id}")
    new = train(
        manifest["config_path"], root, ops, config=cfg, kind="reproduce", update_reference=False, progress=progress,
        clock=clock, command=f"vigil reproduce {version}",
    )
    want, got = _comparable(manifest), _comparable(new["manifest"])
    fields = [{"field": k, "registered": want.get(k), "reproduced": got.get(k), "match": want.get(k) == got.get(k)}
              for k in want]
    env_then, env_now = manifest["environment"], new["manifest"]["environment"]
    env_diff = [
        {"field": f"environment.{k}", "registered": v, "reproduced": env_now["packages"].get(k)}
        for k, v in env_then["packages"].items() if env_now["packages"].get(k) != v
    ]
    if env_then["python"] != env_now["python"]:
        env_diff.append({"field": "environment.python", "registered": env_then["python"], "reproduced": env_now["python"]})
    return {
        "model_name": model_name,
        "version": version,
        "registered_run_id": mv.run_id,
        "reproduce_run_id": new["run_id"],
        "match": all(f["match"] for f in fields),
        "fields": fields,
        "environment_differences": env_diff,
    }
