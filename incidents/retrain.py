"""`vigil retrain`: train a candidate on recent production data, register it as challenger,
compare it with the champion on the live test set, and recommend promotion or not.

The training data is the live test set itself: served features of the prediction log
joined with matured labels, over the last `window_days` of labelled batches, minus the
event-time windows of upstream data incidents (`decisions.excluded_windows`): a model must
never learn from an extract that was broken. Those rows are written as a training snapshot
(applications / bureau / labels files) under `training/retrain/<id>/` and trained with the
unchanged `baseline_model.train.train`, so the run is reproducible like any other.

Two comparisons, both with their numbers:
- the registry's holdout gate: the candidate is scored on the champion's own holdout
  (its run's reference file), so `Registry.promote` compares the two on the same rows;
- shadow evaluation on the live test set after the candidate's training cutoff (rows it
  never saw), champion and candidate re-scored on the same labelled rows.
Promotion itself stays a decision: approve the version in the registry and carry out an
approved `retrain` decision with `--candidate VERSION` (`vigil decisions ...`).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.clock import Clock, SystemClock, iso
from core.config import VigilConfig
from core.ids import new_id
from core.sql import ident
from core.stores import OpsStore, StoreMissing, Warehouse, stores_for
from incidents.decisions import excluded_windows, registry_name
from incidents.schema import ensure_schema
from incidents.shadow import LABEL, VersionScore, better, live_test_set, score_of

DEFAULT_WINDOW_DAYS = 28
# Below this many labelled rows a candidate is not worth training (the time split needs both classes).
MIN_TRAINING_ROWS = 500
# The champion's holdout file must reproduce its registered AUC to this tolerance before the
# candidate's evaluation on it is recorded under the champion's holdout id.
HOLDOUT_AUC_TOLERANCE = 1e-4
APPLICATION_COLUMNS = ("income", "loan_amount", "term_months", "interest_rate", "employment_years", "home_ownership", "purpose")
BUREAU_COLUMNS = ("credit_score", "credit_history_years", "utilisation", "delinquencies", "open_accounts")


class RetrainError(ValueError):
    """Retraining cannot run; the message names what is missing and how to get it."""


@dataclass
class RetrainReport:
    model_name: str
    candidate_version: int
    champion_version: int | None
    run_id: str
    snapshot: str
    window: tuple[str, str]  # event time [start, end) of the training rows
    excluded_windows: list[tuple[str, str]]
    excluded_rows: int
    training_rows: int
    holdout_gate_ok: bool | None
    holdout_gate: str
    shadow_window: tuple[str, str]
    shadow: list[dict[str, Any]] = field(default_factory=list)
    recommend_promotion: bool = False
    reasons: list[str] = field(default_factory=list)
    next_steps: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---- the training window -----------------------------------------------------------------


def labelled_window(cfg: VigilConfig, wh: Warehouse, window_days: int) -> tuple[datetime, datetime]:
    """[start, end): the `window_days` batches up to and including the newest batch with matured labels."""
    if window_days < 1:
        raise RetrainError(f"--window-days must be >= 1 (got {window_days})")
    if cfg.labels is None:
        raise RetrainError(f"{cfg.source_file or 'config'}: no `labels:` section, so there is no live test set to train on")
    frame_end = _newest_labelled_prediction(cfg, wh)
    if frame_end is None:
        raise RetrainError("no prediction has a matured label yet (hint: `vigil run-once` after the outcomes land)")
    window = cfg.batch.window
    epoch = datetime(1970, 1, 1)
    end = epoch + ((frame_end - epoch) // window + 1) * window  # end of the newest labelled batch
    return end - timedelta(days=window_days), end


def _newest_labelled_prediction(cfg: VigilConfig, wh: Warehouse) -> datetime | None:
    assert cfg.labels is not None
    p, lab = cfg.predictions, cfg.labels
    sql = (
        f"SELECT max(p.{ident(p.timestamp_column)}) FROM predictions p "  # noqa: S608 (identifiers from the validated config)
        f"JOIN {ident('etl_' + lab.table)} l ON CAST(p.{ident(p.id_column)} AS VARCHAR) = CAST(l.{ident(lab.join_key)} AS VARCHAR) "
        f"WHERE l.{ident(lab.label_column)} IS NOT NULL"
    )
    try:
        with wh.read() as conn:
            row = conn.execute(sql).fetchone()
    except StoreMissing:
        raise RetrainError(f"{cfg.warehouse_path}: no warehouse yet (hint: `vigil run-once` first)") from None
    return row[0] if row and row[0] is not None else None


def parse_windows(windows: list[tuple[str, str]]) -> list[tuple[datetime, datetime]]:
    return [(datetime.fromisoformat(s), datetime.fromisoformat(e)) for s, e in windows]


def outside_windows(timestamps: pd.Series, windows: list[tuple[datetime, datetime]]) -> np.ndarray:
    """True for rows whose event time lies in none of the [start, end) windows."""
    ts = pd.to_datetime(timestamps)
    keep = np.ones(len(ts), dtype=bool)
    for start, end in windows:
        keep &= ~((ts >= pd.Timestamp(start)) & (ts < pd.Timestamp(end))).to_numpy()
    return keep


# ---- the training frame from the warehouse ----------------------------------------------


def production_training_frame(
    cfg: VigilConfig, wh: Warehouse, start: datetime, end: datetime, excluded: list[tuple[datetime, datetime]]
) -> tuple[pd.DataFrame, int]:
    """Served features + matured label of the live test set in [start, end), minus excluded windows.

    Returns (frame with application_id, submitted_at, the served features and `defaulted`,
    number of rows dropped because they lie in an excluded window). Fallback rows (a feature
    failed validation at serving) are dropped: the model never scored them either.
    """
    frame = live_test_set(cfg, wh, start, end)
    if frame.empty:
        return frame, 0
    ts_col = cfg.predictions.timestamp_column
    keep = outside_windows(frame[ts_col], excluded)
    dropped = int((~keep).sum())
    frame = frame.loc[keep]
    fallback = cfg.predictions.fallback_column
    if fallback and fallback in frame.columns:
        frame = frame.loc[~frame[fallback].fillna(False).astype(bool)]
    missing = [c for c in (*APPLICATION_COLUMNS, *BUREAU_COLUMNS) if c not in frame.columns]
    if missing:
        raise RetrainError(
            f"the prediction log has no served feature columns {missing} (hint: retraining needs the served features "
            "logged with each prediction, as baseline_model.scorer writes them)"
        )
    out = pd.DataFrame(
        {
            "application_id": frame[cfg.predictions.id_column].astype(str).to_numpy(),
            "submitted_at": pd.to_datetime(frame[ts_col]).astype("datetime64[us]").to_numpy(),
        }
    )
    for col in (*APPLICATION_COLUMNS, *BUREAU_COLUMNS):
        out[col] = frame[col].to_numpy()
    out["defaulted"] = frame[LABEL].astype("int64").to_numpy()
    out = out.dropna(subset=[*APPLICATION_COLUMNS, *BUREAU_COLUMNS])
    return out.sort_values(["submitted_at", "application_id"], kind="mergesort").reset_index(drop=True), dropped


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


# ---- evaluation -----------------------------------------------------------------------


def holdout_of(mv: Any) -> pd.DataFrame | None:
    """A version's holdout rows (served features + label), from its training run's reference file."""
    path = Path(mv.artifact_path).parent / "reference.parquet"
    return pd.read_parquet(path) if path.exists() else None


def metrics_on(artifact: Any, holdout: pd.DataFrame, business: Any) -> dict[str, Any]:
    """The training code's metrics of an artifact on a holdout frame (calibration table left out)."""
    from baseline_model.train import evaluate

    p = np.asarray(artifact.predict_default_proba(holdout), dtype=float)
    y = holdout["defaulted"].to_numpy(dtype=int)
    loans = holdout[["loan_amount", "interest_rate", "term_months"]]
    metrics = evaluate(y, p, p < artifact.threshold, loans, business)
    return {k: v for k, v in metrics.items() if k != "calibration"}


def evaluation_on_champion_holdout(
    candidate_artifact: Any, champion: Any, business: Any, own: dict[str, Any]
) -> dict[str, Any] | None:
    """The candidate's evaluation on the champion's holdout, so the registry compares like with like.

    None when the champion's holdout file is missing or does not reproduce its registered AUC
    (then the rows are not provably the same and the registry keeps refusing, rightly).
    """
    from baseline_model.registry import load_artifact

    holdout = holdout_of(champion)
    registered_auc = (champion.evaluation.get("metrics") or {}).get("roc_auc")
    if holdout is None or registered_auc is None:
        return None
    champion_metrics = metrics_on(load_artifact(champion), holdout, business)
    if abs(champion_metrics["roc_auc"] - float(registered_auc)) > HOLDOUT_AUC_TOLERANCE:
        return None
    return {
        **own,
        "holdout_id": champion.evaluation["holdout_id"],
        "holdout": champion.evaluation.get("holdout"),
        "metrics": metrics_on(candidate_artifact, holdout, business),
        "baseline_metrics": champion.evaluation.get("baseline_metrics"),
        "evaluated_on": f"champion v{champion.version}'s holdout",
        "own_holdout": {"holdout_id": own["holdout_id"], "holdout": own.get("holdout"), "metrics": own["metrics"]},
    }


def shadow_scores(
    cfg: VigilConfig, wh: Warehouse, registry: Any, model_name: str, versions: list[int], start: datetime, end: datetime,
    excluded: list[tuple[datetime, datetime]],
) -> list[VersionScore]:
    """shadow_evaluate over [start, end) minus the excluded windows (broken inputs say nothing about a model)."""
    from baseline_model.registry import load_artifact

    frame = live_test_set(cfg, wh, start, end)
    if not frame.empty:
        frame = frame.loc[outside_windows(frame[cfg.predictions.timestamp_column], excluded)]
    if frame.empty:
        return [VersionScore(v, 0, 0, None, None, None) for v in versions]
    y = frame[LABEL].to_numpy(dtype=float)
    return [
        score_of(v, y, np.asarray(load_artifact(registry.get(model_name, v)).predict_default_proba(frame), dtype=float))
        for v in versions
    ]


def _fmt(score: VersionScore) -> str:
    auc = "n/a" if score.roc_auc is None else f"{score.roc_auc:.4f}"
    loss = "n/a" if score.log_loss is None else f"{score.log_loss:.4f}"
    return f"v{score.version}: ROC AUC {auc}, log loss {loss} on {score.n} rows ({score.positives} defaults)"


def recommendation(gate_ok: bool | None, gate: str, scores: list[VersionScore]) -> tuple[bool, list[str]]:
    """Promote only when the candidate passes the holdout gate and beats the champion on the live test set."""
    if len(scores) < 2:
        return gate_ok is True, [f"no champion to compare with; holdout gate: {gate}"]
    candidate, champion = scores
    reasons = [f"holdout gate: {gate}", f"live test set: candidate {_fmt(candidate)}; champion {_fmt(champion)}"]
    if not candidate.n:
        return False, [*reasons, "no labelled rows after the candidate's training cutoff: nothing to compare on yet"]
    beats = better(candidate, champion)
    reasons.append(
        "the candidate beats the champion on the live test set" if beats else "the candidate does not beat the champion on the live test set"
    )
    return bool(gate_ok) and beats, reasons


# ---- the action ---------------------------------------------------------------------------


def retrain(
    cfg: VigilConfig,
    ops: OpsStore,
    wh: Warehouse,
    *,
    train_config: str | Path | None = None,
    window_days: int = DEFAULT_WINDOW_DAYS,
    user: str = "vigil",
    clock: Clock | None = None,
    incident_id: str | None = None,
) -> RetrainReport:
    """Train, register as challenger, compare, recommend (see the module docstring).

    incident_id: the incident this retrain answers; the result goes on its timeline.
    """
    from baseline_model.demo import DEFAULT_TRAIN_CONFIG
    from baseline_model.registry import CHALLENGER, Registry, compare_evaluations, load_artifact
    from baseline_model.train import evaluation_of, load_train_config, train

    clock = clock or SystemClock()
    config_path = Path(train_config) if train_config else DEFAULT_TRAIN_CONFIG
    tcfg = load_train_config(config_path)
    model_name = registry_name(cfg)
    if tcfg.model_name != model_name:
        raise RetrainError(
            f"{config_path}: model_name {tcfg.model_name!r} is not the monitored model {model_name!r} "
            "(hint: model.registry_name in the monitoring config)"
        )
    if incident_id:
        ensure_schema(ops)
        if not ops.query("SELECT 1 FROM incidents WHERE incident_id = ?", (incident_id,)):
            raise RetrainError(f"no incident {incident_id!r} (hint: `vigil incidents list --all`)")
    start, end = labelled_window(cfg, wh, window_days)
    windows = [w for w in parse_windows(excluded_windows(ops)) if w[1] > start and w[0] < end]
    frame, excluded_rows = production_training_frame(cfg, wh, start, end, windows)
    if len(frame) < MIN_TRAINING_ROWS:
        raise RetrainError(
            f"only {len(frame)} labelled rows in {start:%Y-%m-%d} .. {end:%Y-%m-%d} after excluding "
            f"{excluded_rows} rows of data incidents (need {MIN_TRAINING_ROWS}; hint: --window-days {window_days * 2})"
        )
    retrain_id = new_id("retrain")
    folder = write_training_snapshot(frame, cfg.root / "training" / "retrain" / retrain_id)
    snapshot = folder.relative_to(cfg.root).as_posix()
    data = tcfg.data.model_copy(update={"snapshot": snapshot, "start": None, "end": None})
    run_cfg = tcfg.model_copy(update={"data": data, "name": f"{tcfg.name}-retrain"})
    run = train(
        config_path, cfg.root, ops, config=run_cfg, kind="retrain", update_reference=False, progress=False, clock=clock,
        command=f"vigil retrain --config {config_path} --window-days {window_days}",
    )
    registry = Registry(ops, clock)
    champion = registry.champion(model_name)
    artifact = _load(run["artifact_path"])
    own = evaluation_of(run)
    evaluation = evaluation_on_champion_holdout(artifact, champion, tcfg.business, own) if champion else None
    evaluation = evaluation or own
    window_text = (iso(start), iso(end))
    mv = registry.register(
        model_name, run_id=run["run_id"], data_version=run["data_sha256"], environment=run["manifest"]["environment"],
        evaluation={**evaluation, "training_window": list(window_text), "excluded_windows": [[iso(s), iso(e)] for s, e in windows]},
        artifact_path=run["artifact_path"], artifact_sha256=run["artifact_sha256"], config_path=str(config_path),
        description=f"retrained on production {start:%Y-%m-%d} .. {end:%Y-%m-%d} ({len(frame)} rows; {excluded_rows} excluded)",
        user=user,
    )
    registry.set_alias(model_name, CHALLENGER, mv.version, user, f"candidate of `vigil retrain` ({retrain_id})")
    if champion is not None:
        gate_ok, gate = compare_evaluations(mv.evaluation, champion.evaluation, tcfg.promotion.metric, tcfg.promotion.margin)
        load_artifact(mv)  # the registered file is intact before it is compared
    else:
        gate_ok, gate = None, "no champion yet"
    cutoff = datetime.fromisoformat(run["manifest"]["data"]["holdout"]["start"])
    versions = [mv.version] + ([champion.version] if champion else [])
    scores = shadow_scores(cfg, wh, registry, model_name, versions, cutoff, end, windows)
    promote, reasons = recommendation(gate_ok, gate, scores)
    report = RetrainReport(
        model_name=model_name,
        candidate_version=mv.version,
        champion_version=champion.version if champion else None,
        run_id=run["run_id"],
        snapshot=snapshot,
        window=window_text,
        excluded_windows=[(iso(s), iso(e)) for s, e in windows],
        excluded_rows=excluded_rows,
        training_rows=len(frame),
        holdout_gate_ok=gate_ok,
        holdout_gate=gate,
        shadow_window=(iso(cutoff), iso(end)),
        shadow=[s.to_dict() for s in scores],
        recommend_promotion=promote,
        reasons=reasons,
        next_steps=_next_steps(mv.version, promote),
    )
    if incident_id:
        from incidents.incidents import record_event

        verdict = "recommended for promotion" if promote else "not recommended for promotion"
        record_event(ops, clock, incident_id, "decision", user,
                     f"Retrain candidate v{mv.version} {verdict}: {'; '.join(reasons)}", report.to_dict())
    return report


def _load(path: str) -> Any:
    from baseline_model.artifact import load_model

    return load_model(path)


def _next_steps(version: int, promote: bool) -> list[str]:
    if not promote:
        return [f"keep the champion; v{version} stays registered as challenger for the record"]
    return [
        f"vigil registry approve {version} --reason '...'",
        "vigil decisions approve DECISION --reason '...'  (a retrain decision of the incident)",
        f"vigil decisions carry-out DECISION --candidate {version} --reason '...'",
    ]


def report_text(r: RetrainReport) -> str:
    verdict = "RECOMMEND PROMOTION" if r.recommend_promotion else "DO NOT PROMOTE"
    lines = [
        f"{r.model_name}: candidate v{r.candidate_version} registered as challenger (run {r.run_id})",
        f"  trained on {r.training_rows} labelled production rows, {r.window[0]} .. {r.window[1]} (snapshot {r.snapshot})",
    ]
    if r.excluded_windows:
        spans = ", ".join(f"{s} .. {e}" for s, e in r.excluded_windows)
        lines.append(f"  excluded {r.excluded_rows} rows in data-incident windows: {spans}")
    lines.append(f"  live test set compared on {r.shadow_window[0]} .. {r.shadow_window[1]} (after the training cutoff)")
    lines.append(f"{verdict} (champion v{r.champion_version})")
    lines += [f"  - {reason}" for reason in r.reasons]
    lines += ["next:"] + [f"  {step}" for step in r.next_steps]
    return "\n".join(lines)


# ---- command line -------------------------------------------------------------------------


def cmd_retrain(args: argparse.Namespace) -> int:
    from baseline_model.train import TrainingError

    cfg: VigilConfig = args.load_config()
    wh, ops = stores_for(cfg)
    try:
        report = retrain(cfg, ops, wh, train_config=args.train_config, window_days=args.window_days,
                         user=args.user or "vigil", incident_id=args.incident)
    except (RetrainError, TrainingError) as err:
        print(f"vigil: {err}", file=sys.stderr)
        return 2
    if getattr(args, "json", False):
        print(json.dumps(report.to_dict(), indent=2, default=str))
    else:
        print(report_text(report))
    return 0


def add_commands(subparsers: Any) -> None:
    """`vigil retrain [--config TRAIN_YAML] [--window-days N]` (the monitoring config goes before the command)."""
    p = subparsers.add_parser(
        "retrain",
        help="train a candidate on recent clean production data, register it as challenger, compare with the champion",
        description="Train a candidate on the last N days of labelled production data (minus data-incident windows), "
        "register it as challenger, compare it with the champion on its holdout and on the live test set, and "
        "recommend promotion or not. The monitoring config goes before the command: vigil --config M.yaml retrain.",
    )
    p.add_argument("--config", dest="train_config", metavar="TRAIN_YAML", default=None,
                   help="training config (default: baseline_model/configs/train_gbm.yaml)")
    p.add_argument("--window-days", type=int, default=DEFAULT_WINDOW_DAYS, metavar="N",
                   help=f"days of labelled batches to train on (default {DEFAULT_WINDOW_DAYS})")
    p.add_argument("--incident", metavar="INCIDENT_ID", help="record the result on this incident's timeline")
    p.add_argument("--root", default=argparse.SUPPRESS, metavar="DIR", help="storage root")
    p.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output")
    p.add_argument("--user", default=argparse.SUPPRESS, metavar="NAME", help="who is acting")
    p.set_defaults(func=cmd_retrain)
