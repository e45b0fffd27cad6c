"""`vigil drill TYPE [--column C]`: a game day without touching the real store.

Any model: the incident is injected by config (any table or column), into copies of the
landing data, with no example-specific code.

1. Under the cycle lock of the real storage root (so no cycle writes meanwhile), the
   configured landing folders, the reference file and both stores are copied to a sandbox
   root (the ops store through SQLite's backup API, consistent even with readers attached).
2. The latest batch of every source (the prediction log and each ETL table, read from the
   sandbox warehouse) is copied as the next batch (every timestamp + one batch window, ids
   suffixed) and the incident is injected into that copy: into the named table.column and
   into the served features whose lineage points at it.
3. The served features are re-scored with the registry's champion through the model's
   adapter (core.adapter), the files land in the sandbox's landing folders, and one cycle
   runs there without notifications (a drill must not page anyone).
4. The alerts it raised, their runbooks, the root cause and the recommended decision of
   the incident are printed. The sandbox is deleted unless --keep.
Registered model artifacts are read from their real paths (read-only, sha256-checked).

concept_drift changes outcomes, not inputs: the drilled batch is a copy of the newest batch
whose labels have matured, its served features re-scored by the champion as usual, and its
outcomes delivered with the drilled batch with the link between features and outcome broken
for a share of rows (the outcomes of `--size` of the rows shuffled among themselves: the
outcome column's distribution stays the same, only which row gets which changes). The
sandbox treats labels as matured on arrival (labels.maturity 0), so the drilled batch's
realized performance is judged in that one cycle; the adapter evaluates the champion on the
outcomes before and after, and the report prints both.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from app.drill_kinds import DRILL_KINDS
from core import exit_codes
from core.clock import Clock, SystemClock
from core.config import VigilConfig, format_duration
from core.stores import StoreMissing, Warehouse, cycle_lock, stores_for

DRILL_SUFFIX = "-drill"
# Incidents in the outcomes only: the drilled batch copies a batch whose labels have matured.
LABEL_KINDS = frozenset({"concept_drift"})


class DrillError(ValueError):
    """The drill cannot run here; the message says why and what to do."""


@dataclass
class DrillAlert:
    check: str
    subject: str
    severity: str
    state: str
    runbook: str
    inhibited_by: str | None
    explanation: str


@dataclass
class DrillReport:
    kind: str
    column: str | None
    batch: str
    sandbox: str | None  # kept sandbox root, None when deleted
    scoring: str
    alerts: list[DrillAlert] = field(default_factory=list)
    incidents: list[dict[str, Any]] = field(default_factory=list)  # id, title, action, reasons
    copied_from: str | None = None  # the batch the drilled batch copies (the latest, or the newest matured one)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---- the sandbox ----------------------------------------------------------------------------


def _relative(cfg: VigilConfig, path: str, what: str) -> Path:
    p = Path(path)
    if p.is_absolute():
        raise DrillError(
            f"{cfg.source_file}: {what} is an absolute path ({path}); a drill copies the storage root into a sandbox "
            "and could write to it (hint: make the path relative to storage.root)"
        )
    return p


def sandbox_paths(cfg: VigilConfig) -> list[Path]:
    """Root-relative files and folders a sandbox needs: landing sources, reference, stores."""
    paths = [_relative(cfg, cfg.predictions.source.path, "predictions.source.path")]
    paths += [_relative(cfg, t.source.path, f"etl_tables[{t.name}].source.path") for t in cfg.etl_tables]
    if cfg.reference is not None and cfg.reference.kind == "file" and cfg.reference.path:
        paths.append(_relative(cfg, cfg.reference.path, "reference.path"))
    paths.append(_relative(cfg, cfg.storage.warehouse, "storage.warehouse"))
    paths.append(_relative(cfg, cfg.storage.ops, "storage.ops"))
    return paths


def make_sandbox(cfg: VigilConfig, sandbox_root: Path) -> VigilConfig:
    """Copy what a cycle reads and writes into sandbox_root; returns the config pointing there."""
    ops_rel = Path(cfg.storage.ops)
    with cycle_lock(cfg.root / "cycle.lock"):
        for rel in sandbox_paths(cfg):
            src, dst = cfg.root / rel, sandbox_root / rel
            if not src.exists() or rel == ops_rel:
                continue
            dst.parent.mkdir(parents=True, exist_ok=True)
            if src.is_dir():
                shutil.copytree(src, dst)
            else:
                shutil.copy2(src, dst)
                wal = src.with_name(src.name + ".wal")  # DuckDB's write-ahead log, if a writer left one
                if wal.exists():
                    shutil.copy2(wal, dst.with_name(dst.name + ".wal"))
        if (cfg.root / ops_rel).exists():
            (sandbox_root / ops_rel).parent.mkdir(parents=True, exist_ok=True)
            # Read-only: a read-write connection could checkpoint the real WAL on close.
            source = sqlite3.connect(f"{(cfg.root / ops_rel).absolute().as_uri()}?mode=ro", uri=True)
            copy = sqlite3.connect(sandbox_root / ops_rel)
            try:
                source.backup(copy)
            finally:
                source.close()
                copy.close()
    return cfg.model_copy(update={"root_dir": str(sandbox_root.absolute())})


# ---- the drilled batch ---------------------------------------------------------------------

# Kinds aimed at a whole table (--column names the table; default: every ETL table / the first).
TABLE_KINDS = frozenset({"stale_table", "duplicates", "volume_drop"})
DEFAULT_SIZE = {"unit_change": 0.001, "nulls": 0.4, "duplicates": 0.2, "volume_drop": 0.3, "new_category": 0.3,
                "covariate_drift": 1.5, "prediction_shift": 0.3, "concept_drift": 0.6}
NEW_CATEGORY = "__drill_new_category__"
PREDICTIONS = "predictions"


def normalize_kind(kind: str) -> str:
    name = (kind or "").strip().lower().replace("-", "_")
    if name not in DRILL_KINDS:
        raise DrillError(f"unknown incident kind {kind!r} (hint: one of {', '.join(DRILL_KINDS)}; hyphens work too)")
    return name


@dataclass
class Landing:
    """One source's rows of the drilled batch: the prediction log or an ETL table."""

    name: str
    source: Any  # core.config.FileSource
    timestamp_column: str
    id_columns: list[str]
    frame: pd.DataFrame | None


def latest_batch(cfg: VigilConfig) -> datetime:
    from profilers.stats_store import list_batches

    try:
        with Warehouse(cfg.warehouse_path).read() as conn:
            batches = list_batches(conn)
    except StoreMissing:
        batches = []
    if not batches:
        raise DrillError(f"{cfg.warehouse_path}: no batch to copy yet (hint: `vigil run-once` after the first landing files)")
    return max(batches)


def _landings(cfg: VigilConfig) -> list[Landing]:
    p = cfg.predictions
    label_key = [cfg.labels.join_key] if cfg.labels else []
    out = [Landing(PREDICTIONS, p.source, p.timestamp_column, [p.id_column], None)]
    for t in cfg.etl_tables:
        ids = [c for c in {t.key, *label_key} if c]
        out.append(Landing(t.name, t.source, t.timestamp_column, ids, None))
    return out


def read_batch(cfg: VigilConfig, batch: datetime) -> list[Landing]:
    """Every source's raw rows of one batch, from the (sandbox) warehouse."""
    from core.sql import ident

    end = batch + cfg.batch.window
    landings = _landings(cfg)
    with Warehouse(cfg.warehouse_path).read() as conn:
        tables = {r[0] for r in conn.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        for land in landings:
            table = PREDICTIONS if land.name == PREDICTIONS else f"etl_{land.name}"
            if table not in tables:
                continue
            ts = ident(land.timestamp_column)
            sql = f"SELECT * FROM {ident(table)} WHERE {ts} >= ? AND {ts} < ?"  # noqa: S608 (identifiers from the config)
            frame = conn.execute(sql, [batch, end]).df()
            land.frame = frame.drop(columns=[c for c in frame.columns if c.startswith("_")])
    return landings


def shifted_copy(frame: pd.DataFrame, window: timedelta, id_columns: list[str]) -> pd.DataFrame:
    """The same rows as the next batch: every timestamp moved on one window, ids made new."""
    out = frame.copy()
    for col in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[col]):
            out[col] = out[col] + window
    for col in id_columns:
        if col in out.columns:
            out[col] = out[col].astype(str) + DRILL_SUFFIX
    return out


def _target(cfg: VigilConfig, landings: list[Landing], column: str | None) -> tuple[Landing, str]:
    """(landing, column) a column-level incident hits: `table.column`, an ETL column, or a served feature."""
    by_name = {land.name: land for land in landings if land.frame is not None}
    if column and "." in column:
        table, col = column.split(".", 1)
        land = by_name.get(table)
        if land is not None and land.frame is not None and col in land.frame.columns:
            return land, col
    elif column:
        for land in landings:  # the upstream table first: a served feature follows its lineage
            if land.name != PREDICTIONS and land.frame is not None and column in land.frame.columns:
                return land, column
        pred = by_name.get(PREDICTIONS)
        if pred is not None and pred.frame is not None and column in pred.frame.columns:
            return pred, column
    known = sorted({f"{land.name}.{c}" for land in landings if land.frame is not None for c in land.frame.columns})
    raise DrillError(
        f"{column!r} is in neither extract nor the prediction log (hint: --column TABLE.COLUMN, one of: "
        f"{', '.join(known[:40])}{' ...' if len(known) > 40 else ''})"
    )


def _served(cfg: VigilConfig, table: str, column: str) -> list[str]:
    """Served features whose lineage is table.column (they carry the same broken value)."""
    if table == PREDICTIONS:
        return []
    return [f.name for f in cfg.features if f.lineage == f"{table}.{column}"]


def _tables(landings: list[Landing], column: str | None, default_all: bool) -> list[Landing]:
    present = [land for land in landings if land.frame is not None]
    if column:
        chosen = [land for land in present if land.name == column]
        if not chosen:
            raise DrillError(f"{column!r} is not a table here (hint: --column one of {', '.join(land.name for land in present)})")
        return chosen
    etl = [land for land in present if land.name != PREDICTIONS]
    return etl if default_all else etl[:1]


def inject(cfg: VigilConfig, kind: str, column: str | None, size: float | None, landings: list[Landing],
           seed: int = 0) -> tuple[str, list[str]]:
    """Apply the incident to the copied batch in place; returns (what, served columns touched)."""
    kind = normalize_kind(kind)
    amount = DEFAULT_SIZE.get(kind) if size is None else size
    rng = np.random.default_rng([seed, 99])
    preds = next(land for land in landings if land.name == PREDICTIONS)
    if kind == "prediction_shift":
        score = cfg.predictions.score_column
        if preds.frame is None or not score or score not in preds.frame.columns:
            raise DrillError("prediction_shift needs the prediction log's score column (hint: predictions.score_column)")
        values = preds.frame[score].astype(float)
        if cfg.model.task == "regression":  # in standard deviations of the scores
            shift = float(1.0 if size is None else size) * float(values.std() or 1.0)
            preds.frame[score] = values + shift
        else:
            shift = float(amount or 0.0)
            preds.frame[score] = (values + shift).clip(0.0, 1.0)
        return f"{PREDICTIONS}.{score} shifted by {shift:+.4g}", [score]
    if kind in LABEL_KINDS:
        return _inject_concept_drift(cfg, landings, float(amount or 0.0), rng), []
    if kind in TABLE_KINDS:
        chosen = _tables(landings, column, default_all=kind == "stale_table")
        for land in chosen:
            assert land.frame is not None
            if kind == "stale_table":
                land.frame = None  # the extract is not delivered
            elif kind == "duplicates":
                extra = land.frame.sample(frac=float(amount or 0.2), random_state=int(rng.integers(1 << 31)))
                land.frame = pd.concat([land.frame, extra], ignore_index=True)
            else:  # volume_drop: the same keys go missing from every table that carries them
                keep = rng.random(len(land.frame)) < float(amount if amount is not None else 1.0)
                kept = land.frame.loc[keep]
                land.frame = kept.reset_index(drop=True)
        return f"{kind} on {', '.join(land.name for land in chosen)}", []
    if not column:
        raise DrillError(f"{kind} needs --column (a table's column, e.g. TABLE.COLUMN, or a served feature)")
    land, col = _target(cfg, landings, column)
    targets = [(land, col)] + [(preds, f) for f in _served(cfg, land.name, col) if preds.frame is not None and f in preds.frame.columns]
    for target, name in targets:
        frame = target.frame
        assert frame is not None
        original = frame[name].dtype
        integer = pd.api.types.is_integer_dtype(original) and not pd.api.types.is_bool_dtype(original)
        if kind in ("unit_change", "covariate_drift"):
            values = pd.to_numeric(frame[name], errors="coerce")
            values = values * float(amount or 1.0) if kind == "unit_change" \
                else values + float(amount or 0.0) * float(values.std() or 1.0)
            # An integer column stays integer: only the values change, not the schema.
            frame[name] = values.round().astype(original) if integer else values
        elif kind == "nulls":
            hit = rng.random(len(frame)) < float(amount or 0.0)
            if integer:
                frame[name] = frame[name].astype("Int64").mask(hit)
            elif pd.api.types.is_numeric_dtype(original) and not pd.api.types.is_bool_dtype(original):
                frame[name] = frame[name].astype(float).where(~hit, np.nan)
            else:
                frame[name] = frame[name].astype(object).where(~hit, None)
        elif kind == "dropped_column":
            if target is land:  # upstream: the column is gone; the served feature is then missing at serving
                target.frame = frame.drop(columns=[name])
            else:
                frame[name] = np.nan
        elif kind == "renamed_column":
            if target is land:
                target.frame = frame.rename(columns={name: f"{name}_renamed"})
            else:
                frame[name] = np.nan
        elif kind == "retyped_column":
            frame[name] = frame[name].map(lambda v: None if pd.isna(v) else f"{v}")
        elif kind == "new_category":
            hit = rng.random(len(frame)) < float(amount or 0.0)
            frame[name] = frame[name].astype(object).where(~hit, NEW_CATEGORY)
    return f"{kind} on {land.name}.{col}", [name for target, name in targets if target is preds]


def matured_source_batch(cfg: VigilConfig) -> datetime:
    """The newest batch whose labels have all matured (what a concept-drift drill copies)."""
    from profilers.performance import labels_matured
    from profilers.stats_store import event_now, list_batches

    if cfg.labels is None:
        raise DrillError(f"{cfg.source_file}: concept_drift changes outcomes, and this config has no labels "
                         "(hint: configure labels: {table, join_key, label_column, maturity})")
    try:
        with Warehouse(cfg.warehouse_path).read() as conn:
            batches, now = list_batches(conn), event_now(conn)
    except StoreMissing:
        batches, now = [], None
    ripe = [b for b in batches if labels_matured(b, now, cfg.batch.window, cfg.labels.maturity)]
    if not ripe:
        raise DrillError(
            f"no batch has matured labels yet (labels.maturity {format_duration(cfg.labels.maturity)}): concept_drift copies one "
            "(hint: run the drill once the outcomes of a batch have all arrived)"
        )
    return max(ripe)


def label_rows(cfg: VigilConfig, keys: list[str]) -> pd.DataFrame:
    """The newest outcome row of each key (the label table's own columns), from the warehouse."""
    from core.sql import ident

    assert cfg.labels is not None
    lab = cfg.labels
    ts = ident(cfg.etl_table(lab.table).timestamp_column)
    key = ident(lab.join_key)
    sql = (f"SELECT * FROM {ident('etl_' + lab.table)} WHERE CAST({key} AS VARCHAR) IN (SELECT unnest(?::VARCHAR[])) "  # noqa: S608
           f"AND {ident(lab.label_column)} IS NOT NULL QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY {ts} DESC) = 1")
    with Warehouse(cfg.warehouse_path).read() as conn:
        frame: pd.DataFrame = conn.execute(sql, [keys]).df()
    return frame.drop(columns=[c for c in frame.columns if c.startswith("_")])


def _inject_concept_drift(cfg: VigilConfig, landings: list[Landing], share: float, rng: np.random.Generator) -> str:
    """Deliver the drilled predictions' outcomes with the drilled batch, shuffled among `share` of the rows."""
    assert cfg.labels is not None
    lab = cfg.labels
    preds = next(land for land in landings if land.name == PREDICTIONS)
    outcomes = next((land for land in landings if land.name == lab.table), None)
    if preds.frame is None or outcomes is None:
        raise DrillError(f"concept_drift: the label table {lab.table!r} is not a configured ETL table "
                         "(hint: labels.table names one of etl_tables)")
    drilled = preds.frame[cfg.predictions.id_column].astype(str)
    originals = drilled.str.removesuffix(DRILL_SUFFIX)
    rows = label_rows(cfg, originals.tolist())
    if rows.empty:
        raise DrillError(f"concept_drift: the copied batch's predictions have no outcomes in {lab.table!r} "
                         "(hint: check labels.join_key)")
    from profilers.sources import batch_of

    batch = batch_of(pd.Timestamp(preds.frame[cfg.predictions.timestamp_column].min()).to_pydatetime(), cfg.batch.window)
    ts = cfg.etl_table(lab.table).timestamp_column
    # Delivered with the drilled batch (inside its window), under the drilled predictions' keys.
    rows[ts] = pd.to_datetime(rows[ts]).clip(lower=batch, upper=batch + cfg.batch.window - timedelta(seconds=1))
    for col in {lab.join_key, *outcomes.id_columns}:
        if col in rows.columns:
            rows[col] = rows[col].astype(str) + DRILL_SUFFIX
    hit = np.flatnonzero(rng.random(len(rows)) < share)
    values = rows[lab.label_column].to_numpy(copy=True)
    values[hit] = values[rng.permutation(hit)]
    changed = int((values != rows[lab.label_column].to_numpy()).sum())
    rows[lab.label_column] = values
    kept = outcomes.frame
    if kept is not None:  # the copied outcome rows of the same keys give way to the drilled ones
        kept = kept[~kept[lab.join_key].astype(str).isin(set(rows[lab.join_key]))]
    outcomes.frame = pd.concat([kept, rows], ignore_index=True) if kept is not None and not kept.empty else rows
    return (f"concept_drift on {lab.table}.{lab.label_column}: the outcomes of {len(hit)} of {len(rows)} rows "
            f"shuffled among themselves ({changed} changed)")


def _format_of(source: Any) -> str:
    fmt = source.format or Path(source.glob).suffix.lstrip(".") or "parquet"
    return {"json": "jsonl", "ndjson": "jsonl"}.get(fmt, fmt)


def _cast_like_landing(frame: pd.DataFrame, folder: Path, glob: str, keep: set[str]) -> Any:
    """The frame as an Arrow table with the column types of the source's newest Parquet file, so
    the copy differs from a real extract only by the injected incident (an all-null column would
    otherwise change type and raise a schema alert the drill did not ask for). `keep`: columns
    whose new type is the incident."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    files = sorted(folder.glob(glob))
    if not files:
        return table
    schema = pq.read_schema(files[-1])
    columns = []
    for field_ in table.schema:
        column = table.column(field_.name)
        if field_.name in schema.names and field_.name not in keep:
            try:
                column = column.cast(schema.field(field_.name).type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
                pass
        columns.append(column)
    return pa.table(columns, names=table.column_names)


def write_landing(root: Path, land: Landing, batch: datetime, window: timedelta, keep: set[str] | None = None) -> Path:
    """Write a source's drilled rows as one new landing file matching its glob (atomically)."""
    assert land.frame is not None
    fmt = _format_of(land.source)
    glob = land.source.glob if "*" in land.source.glob else f"*.{fmt}"
    stamp = f"{batch:%Y-%m-%d}" if window >= timedelta(days=1) else f"{batch:%Y-%m-%dT%H%M}"
    name = glob.replace("*", stamp, 1).replace("*", "")
    path = root / land.source.path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    frame = land.frame.reset_index(drop=True)
    if fmt == "csv":
        frame.to_csv(tmp, index=False)
    elif fmt == "jsonl":
        frame.to_json(tmp, orient="records", lines=True, date_format="iso")
    else:
        import pyarrow.parquet as pq

        pq.write_table(_cast_like_landing(frame, path.parent, land.source.glob, keep or set()), tmp)
    tmp.replace(path)
    return path


def rescore(cfg: VigilConfig, ops: Any, preds: Landing, clock: Clock) -> str:
    """Score the drilled served features with the champion, through the model's adapter (a
    multiclass model: one probability column per class, and the predicted class)."""
    from core.scoring import score_with_champion

    columns = cfg.score_columns  # {'': score} or {class: probability column}
    if preds.frame is None or not columns or not cfg.model.registry_name:
        return "kept the logged scores (no registered model to re-score with)"
    try:
        scored = score_with_champion(cfg, ops, preds.frame, clock=clock)
    except Exception as err:  # a drill may break scoring itself: the logged scores stay, and it says why
        return f"scoring failed, kept the logged scores: {type(err).__name__}: {str(err)[:200]}"
    if scored.scores.ndim == 1:
        preds.frame[columns[""]] = scored.scores
    else:
        classes = scored.classes or []
        if sorted(classes) != sorted(columns):
            return (f"kept the logged scores (the champion's classes {classes or 'are unknown'} are not "
                    f"predictions.class_scores {sorted(columns)})")
        for i, cls in enumerate(classes):
            preds.frame[columns[cls]] = scored.scores[:, i]
        decision = cfg.predictions.decision_column
        if decision and decision in preds.frame.columns:  # the predicted class, in the column's own type
            predicted = np.asarray(classes, dtype=object)[scored.scores.argmax(axis=1)]
            as_logged = preds.frame[decision].dtype
            series = pd.Series(predicted, index=preds.frame.index)
            preds.frame[decision] = series.astype(as_logged) if pd.api.types.is_numeric_dtype(as_logged) else series
    if cfg.predictions.model_version_column and cfg.predictions.model_version_column in preds.frame.columns:
        preds.frame[cfg.predictions.model_version_column] = scored.version
    return f"scored {len(preds.frame)} rows with v{scored.version} ({scored.uri})"


def write_drill_batch(cfg: VigilConfig, ops: Any, kind: str, column: str | None, size: float | None,
                      clock: Clock) -> tuple[datetime, str]:
    """Copy the latest batch of every source as the next batch, with the incident injected
    (concept_drift: a copy of the newest batch whose labels have matured, outcomes included)."""
    kind = normalize_kind(kind)
    batch = latest_batch(cfg) + cfg.batch.window
    source_batch = matured_source_batch(cfg) if kind in LABEL_KINDS else batch - cfg.batch.window
    landings = read_batch(cfg, source_batch)
    preds = next(land for land in landings if land.name == PREDICTIONS)
    if preds.frame is None or preds.frame.empty:
        raise DrillError(f"batch {source_batch:%Y-%m-%d %H:%M} has no predictions to copy (hint: `vigil run-once` first)")
    for land in landings:
        if land.frame is not None:
            land.frame = shifted_copy(land.frame, batch - source_batch, land.id_columns)
    what, served = inject(cfg, kind, column, size, landings)
    # A retyped column keeps its new type; every other column is written in the source's types.
    keep = {what.rsplit(".", 1)[-1], *served} if kind == "retyped_column" else set()
    if kind == "prediction_shift":
        scoring = f"scores shifted: {what}"
    else:
        scoring = rescore(cfg, ops, preds, clock)
    if kind in LABEL_KINDS:
        scoring += evaluate_outcomes(cfg, ops, preds, landings, clock)
    # Every source is delivered again (ids suffixed, so labels label nothing): a missing extract
    # would itself raise volume and freshness alerts that the drill did not ask for.
    for land in landings:
        if land.frame is not None:
            write_landing(cfg.root, land, batch, cfg.batch.window, keep)
    return batch, f"{what}; {scoring}" + (f" (served {', '.join(served)})" if served else "")


def evaluate_outcomes(cfg: VigilConfig, ops: Any, preds: Landing, landings: list[Landing], clock: Clock) -> str:
    """The champion's metrics on the drilled batch's outcomes, through the adapter (text for the report)."""
    from core.adapter import LABEL, PRIMARY_METRIC, adapter_for, model_task, ref_of
    from core.registries import registry_for

    assert cfg.labels is not None and preds.frame is not None
    name = cfg.model.registry_name
    outcomes = next((land.frame for land in landings if land.name == cfg.labels.table), None)
    if not name or outcomes is None:
        return ""
    try:
        registry = registry_for(cfg, ops, clock)
        champion = registry.champion(name)
        if champion is None:
            return ""
        adapter = adapter_for(cfg)
        model = adapter.load(ref_of(champion))
        newest = outcomes.drop_duplicates(cfg.labels.join_key, keep="last")
        labels = pd.Series(newest[cfg.labels.label_column].to_numpy(), index=newest[cfg.labels.join_key].astype(str))
        frame = preds.frame.assign(**{LABEL: preds.frame[cfg.predictions.id_column].astype(str).map(labels)})
        frame = frame[frame[LABEL].notna()]
        metric = PRIMARY_METRIC[model_task(cfg)]
        value = adapter.evaluate(model, frame).get(metric)
    except Exception as err:  # the drill still runs; the report says why this line is missing
        return f"; the adapter could not evaluate the champion on the drilled outcomes: {type(err).__name__}: {str(err)[:160]}"
    expected = (champion.evaluation or {}).get("metrics", {}).get(metric)
    was = f" (its holdout: {expected:.4g})" if isinstance(expected, int | float) else ""
    return f"; champion v{champion.version} {metric} on the drilled outcomes {value:.4g}{was}" if value is not None else ""


# ---- the drill ------------------------------------------------------------------------------


def run_drill(
    cfg: VigilConfig,
    kind: str,
    column: str | None = None,
    *,
    size: float | None = None,
    keep: bool = False,
    clock: Clock | None = None,
    sandbox_dir: Path | None = None,
) -> DrillReport:
    """Inject `kind` into a copy of the latest batch in a sandbox, run the cycle there, report."""
    from app.cycle import run_cycle
    from incidents.decisions import recommend
    from incidents.incidents import runbook_links
    from incidents.queries import alerts_with_incidents, list_incidents

    clock = clock or SystemClock()
    kind = normalize_kind(kind)
    # Refused with its hint before anything is copied.
    copied = matured_source_batch(cfg) if kind in LABEL_KINDS else None
    sandbox = Path(tempfile.mkdtemp(prefix="vigil-drill-", dir=sandbox_dir))
    try:
        sb_cfg = make_sandbox(cfg, sandbox)
        if kind in LABEL_KINDS and sb_cfg.labels is not None:
            # The drilled outcomes count as matured on arrival, so this one cycle judges them.
            sb_cfg = sb_cfg.model_copy(update={"labels": sb_cfg.labels.model_copy(update={"maturity": timedelta(0)})})
        wh, ops = stores_for(sb_cfg)
        before = {i["incident_id"] for i in list_incidents(ops, status=None)}
        batch, scoring = write_drill_batch(sb_cfg, ops, kind, column, size, clock)
        report = run_cycle(sb_cfg, clock=clock, notify=False)
        failing = {(r.check, r.subject): r for r in report.results if r.status == "fail" and r.batch == batch}
        # The sandbox has no scheduler, so its cycle heartbeat says nothing; a broken scoring job does.
        failing.update({(r.check, r.subject): r for r in report.heartbeats if r.status == "fail" and r.check.startswith("scoring_job")})
        alerts, drill_incidents = [], set()
        for a in alerts_with_incidents(ops, state=["pending", "firing"]):
            result = failing.get((a["check_name"], a["subject"]))
            if result is None:
                continue
            if a.get("incident_id"):
                drill_incidents.add(a["incident_id"])
            root_cause = f"{a['inhibited_by_check']} on {a['inhibited_by_subject']}" if a.get("inhibited_by") else None
            alerts.append(
                DrillAlert(a["check_name"], a["subject"], a["severity"], a["state"], runbook_links([a["check_name"]])[0],
                           root_cause, result.explanation)
            )
        alerts.sort(key=lambda x: (x.inhibited_by is not None, x.check, x.subject))
        incidents = []
        for inc in list_incidents(ops, status=None):
            if inc["incident_id"] in before or inc["incident_id"] not in drill_incidents:
                continue
            decision = recommend(sb_cfg, ops, clock, inc["incident_id"], wh=wh)
            incidents.append({"incident_id": inc["incident_id"], "title": inc.get("title"), "severity": inc.get("severity"),
                              "action": decision.action, "reasons": decision.history[0]["reason"]})
        return DrillReport(kind, column, batch.isoformat(), str(sandbox) if keep else None, scoring, alerts, incidents,
                           (copied or batch - cfg.batch.window).isoformat())
    finally:
        if not keep:
            shutil.rmtree(sandbox, ignore_errors=True)


def report_text(r: DrillReport) -> str:
    source = "the latest batch" if r.kind not in LABEL_KINDS else f"batch {r.copied_from}, whose labels had matured"
    lines = [f"DRILL {r.kind}" + (f" on {r.column}" if r.column else "") + f": batch {r.batch} (a copy of {source}, in a sandbox)",
             f"  {r.scoring}"]
    root_alerts = [a for a in r.alerts if a.inhibited_by is None]
    held = [a for a in r.alerts if a.inhibited_by is not None]
    if not r.alerts:
        lines.append("no alert fired: this incident went unnoticed by the checks (worth a look)")
    for a in root_alerts:
        lines.append(f"ALERT {a.severity.upper():8s} {a.check} on {a.subject} [{a.state}]  runbook: {a.runbook}")
        lines.append(f"      {a.explanation}")
    if held:
        lines.append(f"inhibited (root cause shown, not notified): {len(held)}")
        lines += [f"  {a.check} on {a.subject}  <- inhibited by {a.inhibited_by}  runbook: {a.runbook}" for a in held]
    for inc in r.incidents:
        lines.append(f"INCIDENT {inc['severity']} {inc['title']}: recommended decision {inc['action'].replace('_', ' ').upper()}")
        lines.append(f"      {inc['reasons']}")
    if r.alerts and not r.incidents:
        lines.append("no incident opened automatically (no critical alert); open one by hand with `vigil incidents open`")
    lines.append(f"sandbox kept at {r.sandbox}" if r.sandbox else "sandbox deleted; the real store was not touched")
    return "\n".join(lines)


# ---- command line ---------------------------------------------------------------------------


def cmd_drill(args: Any) -> int:
    cfg = args.load_config()
    try:
        report = run_drill(cfg, args.kind, args.column, size=args.size, keep=args.keep)
    except DrillError as err:
        print(f"vigil: {err}", file=sys.stderr)
        return exit_codes.USAGE
    if getattr(args, "json", False):
        print(json.dumps(report.to_dict(), indent=2, default=str))
    else:
        print(report_text(report))
    return exit_codes.OK
