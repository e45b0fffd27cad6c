"""whylogs profiles per batch: the portable, mergeable artifact beside the DuckDB stats.

Computed off the check cycle's critical path (the scheduler calls profile_whylogs after
the cycle): rows are read in a short read transaction, profiled in memory, and the
serialized profile written in a short write transaction. Large batches are profiled on
a uniform reservoir sample of at most ``max_rows`` rows; the sample size is recorded.
whylogs is imported only through core.whylogs_compat.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from core.config import VigilConfig
from core.sql import ident
from core.stores import Warehouse
from core.whylogs_compat import import_whylogs
from profilers.profile import profiled_columns, table_exists
from profilers.sources import SourceSpec, all_specs, bucket_sql, fetch_one, spec_for, window_micros

DEFAULT_MAX_ROWS = 100_000


def _view_class() -> Any:
    import_whylogs()
    from whylogs.core import DatasetProfileView

    return DatasetProfileView


def _stale(conn: Any, spec: SourceSpec) -> list[datetime]:
    """Batches with rows whose profile is missing or was made from another row count."""
    rows = conn.execute(
        "SELECT t.batch FROM table_stats t LEFT JOIN whylogs_profiles w ON w.source = t.source AND w.batch = t.batch "
        "WHERE t.source = ? AND t.row_count > 0 AND (w.batch IS NULL OR w.total_rows <> t.row_count) ORDER BY t.batch",
        [spec.name],
    ).fetchall()
    return [r[0] for r in rows]


def _batch_rows(
    cfg: VigilConfig, conn: Any, spec: SourceSpec, batch: datetime, max_rows: int, seed: int
) -> tuple[Any, int]:
    cols = [c for c, _, top_k, epoch in profiled_columns(cfg, spec) if top_k and not epoch]
    ts = ident(spec.timestamp_column)
    select = ", ".join(ident(c) for c in cols)
    where = f"{ts} >= ? AND {ts} < ? AND {bucket_sql(ts)} = ?"
    params: list[Any] = [batch, batch + cfg.batch.window, window_micros(cfg), batch]
    row = fetch_one(conn.execute(f"SELECT count(*) FROM {spec.raw_ident} WHERE {where}", params))  # noqa: S608
    total = int(row[0]) if row else 0
    sample = (
        f" USING SAMPLE reservoir({int(max_rows)} ROWS) REPEATABLE ({int(seed)})" if total > max_rows else ""
    )
    sql = f"SELECT {select} FROM (SELECT {select} FROM {spec.raw_ident} WHERE {where}){sample}"  # noqa: S608
    return conn.execute(sql, params).df(), total


def profile_whylogs(
    cfg: VigilConfig,
    wh: Warehouse,
    batches: Iterable[datetime] | None = None,
    max_rows: int = DEFAULT_MAX_ROWS,
    seed: int = 0,
    sources: Iterable[str] | None = None,
) -> list[tuple[str, datetime]]:
    """Profile the given batches (None: every batch whose profile is missing or stale).

    Returns the (source, batch) pairs profiled.
    """
    why = import_whylogs()
    done: list[tuple[str, datetime]] = []
    wanted = set(sources) if sources is not None else None
    for spec in all_specs(cfg):
        if wanted is not None and spec.name not in wanted:
            continue
        with wh.read() as conn:
            if not table_exists(conn, spec.raw_table):
                continue
            targets = sorted(set(batches)) if batches is not None else _stale(conn, spec)
        for batch in targets:
            with wh.read() as conn:
                frame, total = _batch_rows(cfg, conn, spec, batch, max_rows, seed)
            if total == 0:
                continue
            profile = why.log(pandas=frame).profile()
            profile.set_dataset_timestamp(batch.replace(tzinfo=UTC))
            blob = profile.view().serialize()
            with wh.write() as conn:
                conn.execute(
                    "DELETE FROM whylogs_profiles WHERE source = ? AND batch = ?", [spec.name, batch]
                )
                conn.execute(
                    "INSERT INTO whylogs_profiles VALUES (?, ?, ?, ?, ?, now())",
                    [spec.name, batch, total, len(frame), blob],
                )
            done.append((spec.name, batch))
    return done


def load_profile(wh: Warehouse, source: str, batch: datetime) -> Any | None:
    """The DatasetProfileView of one batch, or None."""
    with wh.read() as conn:
        row = fetch_one(
            conn.execute(
                "SELECT profile FROM whylogs_profiles WHERE source = ? AND batch = ?", [source, batch]
            )
        )
    return _view_class().deserialize(bytes(row[0])) if row else None


def rollup(wh: Warehouse, source: str, start: datetime, end: datetime) -> Any | None:
    """Merge the batch profiles of [start, end) into one view (None if there are none)."""
    with wh.read() as conn:
        rows = conn.execute(
            "SELECT profile FROM whylogs_profiles WHERE source = ? AND batch >= ? AND batch < ? ORDER BY batch",
            [source, start, end],
        ).fetchall()
    view_cls = _view_class()
    merged = None
    for (blob,) in rows:
        view = view_cls.deserialize(bytes(blob))
        merged = view if merged is None else merged.merge(view)
    return merged


def week_start(batch: datetime) -> datetime:
    """Monday 00:00 of the batch's ISO week."""
    day = batch.replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


def weekly_rollups(wh: Warehouse, source: str) -> dict[datetime, Any]:
    with wh.read() as conn:
        rows = conn.execute(
            "SELECT DISTINCT batch FROM whylogs_profiles WHERE source = ?", [source]
        ).fetchall()
    weeks = sorted({week_start(r[0]) for r in rows})
    out = {}
    for w in weeks:
        view = rollup(wh, source, w, w + timedelta(days=7))
        if view is not None:
            out[w] = view
    return out


def export_profiles(
    wh: Warehouse, out_dir: str | Path, source: str | None = None, weekly: bool = False
) -> list[Path]:
    """Write serialized profiles (readable with whylogs' DatasetProfileView.read) to out_dir.

    Files: <source>_<YYYY-MM-DDTHH-MM>.bin per batch, or <source>_week_<YYYY-MM-DD>.bin with weekly.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with wh.read() as conn:
        sources = [
            r[0]
            for r in conn.execute("SELECT DISTINCT source FROM whylogs_profiles ORDER BY source").fetchall()
            if source is None or r[0] == source
        ]
        pairs = conn.execute("SELECT source, batch FROM whylogs_profiles ORDER BY source, batch").fetchall()
    written: list[Path] = []
    for src in sources:
        if weekly:
            for w, view in weekly_rollups(wh, src).items():
                written.append(_write(view, out / f"{src}_week_{w:%Y-%m-%d}.bin"))
        else:
            for s, b in pairs:
                if s == src:
                    view = load_profile(wh, s, b)
                    if view is not None:
                        written.append(_write(view, out / f"{s}_{b:%Y-%m-%dT%H-%M}.bin"))
    return written


def _write(view: Any, path: Path) -> Path:
    view.write(str(path))
    return path


_SUMMARY = {
    "counts/n": "count",
    "counts/null": "nulls",
    "counts/nan": "nan",
    "counts/inf": "inf",
    "distribution/mean": "mean",
    "distribution/stddev": "std",
    "distribution/min": "min",
    "distribution/q_25": "p25",
    "distribution/median": "median",
    "distribution/q_75": "p75",
    "distribution/max": "max",
    "cardinality/est": "distinct_est",
}


def summarize_view(view: Any) -> list[dict[str, Any]]:
    """One row per column of a profile view, for the Data page's own table (no whylogs.viz)."""
    frame = view.to_pandas()
    rows = []
    for column, rec in frame.iterrows():
        row: dict[str, Any] = {"column": str(column)}
        for key, name in _SUMMARY.items():
            v = rec.get(key)
            row[name] = None if v is None or (isinstance(v, float) and v != v) else v
        items = rec.get("frequent_items/frequent_strings")
        row["top_values"] = (
            ", ".join(f"{i.value} ({int(i.est)})" for i in items[:5]) if isinstance(items, list) else ""
        )
        rows.append(row)
    return rows


def profile_summary(wh: Warehouse, source: str, batch: datetime) -> dict[str, Any] | None:
    """A batch's whylogs profile summary: total and sampled rows, and per-column rows."""
    with wh.read() as conn:
        row = fetch_one(
            conn.execute(
                "SELECT total_rows, sampled_rows, created_at, profile FROM whylogs_profiles WHERE source = ? AND batch = ?",
                [source, batch],
            )
        )
    if row is None:
        return None
    view = _view_class().deserialize(bytes(row[3]))
    return {
        "source": source,
        "batch": batch,
        "total_rows": int(row[0]),
        "sampled_rows": int(row[1]),
        "created_at": row[2],
        "columns": summarize_view(view),
    }


def profile_for(cfg: VigilConfig, wh: Warehouse, source: str, batch: datetime) -> None:
    """Profile one (source, batch) now (e.g. from the Data page)."""
    spec_for(cfg, source)  # raises KeyError for an unknown ETL table
    profile_whylogs(cfg, wh, [batch], sources=[source])
