"""`vigil retrain`: train a candidate on recent production data, register it as challenger,
compare it with the champion on the live test set, and recommend promotion or not.

The training data is the live test set itself: served features of the prediction log
joined with matured labels, over the last `window_days` of labelled batches, minus the
event-time windows of upstream data incidents (`decisions.excluded_windows`): a model must
never learn from an extract that was broken. The model's adapter (core.adapter, named by
`model.adapter`) turns those rows into a training set, trains the candidate and evaluates
it; the example's adapter writes a training snapshot and runs its unchanged training code,
the scikit-learn adapter refits the champion's estimator.

Two comparisons, both with their numbers:
- the registry's holdout gate: the candidate is scored on the champion's own holdout, so
  the registry compares the two on the same rows;
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

from core import exit_codes
from core.adapter import AdapterError, ModelAdapter, TrainRequest, adapter_for, ref_of
from core.clock import Clock, SystemClock, iso
from core.commands import Command, Opt
from core.config import VigilConfig
from core.ids import new_id
from core.registries import compare_evaluations, promotion_rule, registry_for
from core.sql import ident
from core.stores import OpsStore, StoreMissing, Warehouse, stores_for
from incidents.decisions import excluded_windows, registry_name
from incidents.schema import ensure_schema
from incidents.shadow import VersionScore, better, live_test_set, scores_on

DEFAULT_WINDOW_DAYS = 28
# Below this many labelled rows a candidate is not worth training (the time split needs both classes).
MIN_TRAINING_ROWS = 500
CHALLENGER = "challenger"


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
    cfg: VigilConfig, wh: Warehouse, start: datetime, end: datetime, excluded: list[tuple[datetime, datetime]],
    adapter: ModelAdapter | None = None,
) -> tuple[pd.DataFrame, int]:
    """The adapter's training set from the live test set in [start, end), minus excluded windows.

    Returns (training frame, number of rows dropped because they lie in an excluded window).
    """
    adapter = adapter or adapter_for(cfg)
    frame = live_test_set(cfg, wh, start, end)
    dropped = 0
    if not frame.empty:
        keep = outside_windows(frame[cfg.predictions.timestamp_column], excluded)
        dropped = int((~keep).sum())
        frame = frame.loc[keep]
    try:
        return adapter.training_set(frame, reference_frame(cfg)), dropped
    except AdapterError as err:
        raise RetrainError(str(err)) from None


def reference_frame(cfg: VigilConfig) -> pd.DataFrame | None:
    """The monitoring reference file, when the config names one (the adapter decides whether to train on it)."""
    ref = cfg.reference
    if ref is None or ref.kind != "file" or not ref.path:
        return None
    path = cfg.resolve(ref.path)
    if not path.exists():
        return None
    if path.suffix == ".csv":
        return pd.read_csv(path)
    if path.suffix in (".jsonl", ".json"):
        return pd.read_json(path, lines=True)
    return pd.read_parquet(path)


def shadow_scores(
    cfg: VigilConfig, wh: Warehouse, registry: Any, model_name: str, versions: list[int], start: datetime, end: datetime,
    excluded: list[tuple[datetime, datetime]], adapter: ModelAdapter | None = None,
) -> list[VersionScore]:
    """shadow_evaluate over [start, end) minus the excluded windows (broken inputs say nothing about a model)."""
    frame = live_test_set(cfg, wh, start, end)
    if not frame.empty:
        frame = frame.loc[outside_windows(frame[cfg.predictions.timestamp_column], excluded)]
    return scores_on(adapter or adapter_for(cfg), registry, model_name, versions, frame)


def _fmt(score: VersionScore) -> str:
    if score.mae is not None or score.rmse is not None:
        mae = "n/a" if score.mae is None else f"{score.mae:.4f}"
        rmse = "n/a" if score.rmse is None else f"{score.rmse:.4f}"
        return f"v{score.version}: MAE {mae}, RMSE {rmse} on {score.n} rows"
    auc = "n/a" if score.roc_auc is None else f"{score.roc_auc:.4f}"
    loss = "n/a" if score.log_loss is None else f"{score.log_loss:.4f}"
    return f"v{score.version}: ROC AUC {auc}, log loss {loss} on {score.n} rows ({score.positives} positives)"


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
    registry: Any = None,
) -> RetrainReport:
    """Train, register as challenger, compare, recommend (see the module docstring).

    incident_id: the incident this retrain answers; the result goes on its timeline.
    """
    clock = clock or SystemClock()
    adapter = adapter_for(cfg)
    model_name = registry_name(cfg)
    if incident_id:
        ensure_schema(ops)
        if not ops.query("SELECT 1 FROM incidents WHERE incident_id = ?", (incident_id,)):
            raise RetrainError(f"no incident {incident_id!r} (hint: `vigil incidents list --all`)")
    start, end = labelled_window(cfg, wh, window_days)
    windows = [w for w in parse_windows(excluded_windows(ops)) if w[1] > start and w[0] < end]
    frame, excluded_rows = production_training_frame(cfg, wh, start, end, windows, adapter)
    if len(frame) < MIN_TRAINING_ROWS:
        raise RetrainError(
            f"only {len(frame)} labelled rows in {start:%Y-%m-%d} .. {end:%Y-%m-%d} after excluding "
            f"{excluded_rows} rows of data incidents (need {MIN_TRAINING_ROWS}; hint: --window-days {window_days * 2})"
        )
    registry = registry if registry is not None else registry_for(cfg, ops, clock)
    champion = registry.champion(model_name)
    retrain_id = new_id("retrain")
    folder = cfg.root / "training" / "retrain" / retrain_id
    command = f"vigil retrain{f' --config {train_config}' if train_config else ''} --window-days {window_days}"
    request = TrainRequest(
        training=frame, folder=folder, champion=ref_of(champion) if champion is not None else None, root=cfg.root,
        ops=ops, clock=clock, user=user, train_config=str(train_config) if train_config else None, command=command,
    )
    try:
        candidate = adapter.train(request)
    except AdapterError as err:
        raise RetrainError(str(err)) from None
    window_text = (iso(start), iso(end))
    mv = registry.register(
        model_name, run_id=candidate.run_id, data_version=candidate.data_version, environment=candidate.environment,
        evaluation={**candidate.evaluation, "training_window": list(window_text),
                    "excluded_windows": [[iso(s), iso(e)] for s, e in windows]},
        artifact_path=candidate.artifact_path, artifact_sha256=candidate.artifact_sha256, config_path=candidate.config_path,
        description=f"retrained on production {start:%Y-%m-%d} .. {end:%Y-%m-%d} ({len(frame)} rows; {excluded_rows} excluded)",
        user=user,
    )
    registry.set_alias(model_name, CHALLENGER, mv.version, user, f"candidate of `vigil retrain` ({retrain_id})")
    if champion is not None:
        metric, margin = promotion_rule(mv, cfg.model.task)
        gate_ok, gate = compare_evaluations(mv.evaluation, champion.evaluation, metric, margin)
        adapter.load(ref_of(mv))  # the registered file is intact before it is compared
    else:
        gate_ok, gate = None, "no champion yet"
    cutoff = candidate.holdout_start
    versions = [mv.version] + ([champion.version] if champion else [])
    scores = shadow_scores(cfg, wh, registry, model_name, versions, cutoff, end, windows, adapter)
    promote, reasons = recommendation(gate_ok, gate, scores)
    snapshot = candidate.snapshot or (folder.relative_to(cfg.root).as_posix() if folder.exists() else "")
    report = RetrainReport(
        model_name=model_name,
        candidate_version=mv.version,
        champion_version=champion.version if champion else None,
        run_id=candidate.run_id,
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
    cfg: VigilConfig = args.load_config()
    wh, ops = stores_for(cfg)
    try:
        report = retrain(cfg, ops, wh, train_config=args.train_config, window_days=args.window_days,
                         user=args.user or "vigil", incident_id=args.incident)
    except (RetrainError, AdapterError) as err:
        print(f"vigil: {err}", file=sys.stderr)
        return exit_codes.USAGE
    if getattr(args, "json", False):
        print(json.dumps(report.to_dict(), indent=2, default=str))
    else:
        print(report_text(report))
    return exit_codes.OK


COMMANDS = (
    Command(
        "retrain", cmd_retrain, "models.train",
        "train a candidate on recent clean production data, register it as challenger, compare with the champion",
        (
            Opt("--config", dest="train_config", metavar="TRAIN_YAML",
                help="training config, for adapters that read one (the example: baseline_model/configs/train_gbm.yaml)"),
            Opt("--window-days", type=int, default=DEFAULT_WINDOW_DAYS, metavar="N",
                help=f"days of labelled batches to train on (default {DEFAULT_WINDOW_DAYS})"),
            Opt("--incident", metavar="INCIDENT_ID", help="record the result on this incident's timeline"),
        ),
        description="Train a candidate on the last N days of labelled production data (minus data-incident windows), "
        "register it as challenger, compare it with the champion on its holdout and on the live test set, and "
        "recommend promotion or not. The monitoring config goes before the command: vigil --config M.yaml retrain.",
    ),
)
