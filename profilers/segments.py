"""Segments: slices of the prediction log by one column, cut the same way in every batch.

The cut is fixed from the reference: a categorical column's ``top`` most frequent
reference values (every other value is ``(other)``), or a numeric column's configured
``bins``; a missing value is ``(missing)``. Each segmentation becomes one label column
``_s<position>`` of the relation the statistics are computed over, so the profiler's
grouped queries add it as a grouping set (profilers.column_sql) instead of looping over
segments: cost grows with segments x columns, not with rows.

The live test set per segment is a table of counts and sums per (score bin, labelled,
positive, approved) cell (``live_cells_sql``): every model-level metric the checks and the
decomposition need (AUC, label rate, approval rate, mean score, calibration, MAE) is a
function of such tables, so a segment's contribution can be swapped for its reference. A
multiclass model's cells have the same layout over its predicted class (right or wrong)
instead of score bins (profilers.multiclass.top_class_inner).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from core.config import ConfigError, VigilConfig
from core.sql import ident

MISSING = "(missing)"
OTHER = "(other)"
SCORE_BINS = 50  # live-table score bins: reference score quantiles (49 cut points)
OVERALL = ""  # segment name of the whole batch's live-table rows


class SegmentError(ConfigError):
    """A configured segment cannot be cut (its column is not in the reference...)."""


@dataclass(frozen=True)
class SegmentDef:
    """One segmentation, as fixed from the reference."""

    name: str
    position: int
    column: str
    values: tuple[str, ...] = ()  # top reference values (categorical)
    edges: tuple[float, ...] = ()  # numeric cut points
    min_rows: int = 100

    @property
    def key(self) -> str:
        return f"_s{self.position}"

    @property
    def bin_labels(self) -> tuple[str, ...]:
        e = [f"{x:g}" for x in self.edges]
        if not e:
            return ()
        return (f"<{e[0]}", *(f"[{a}, {b})" for a, b in zip(e, e[1:], strict=False)), f">={e[-1]}")

    @property
    def labels(self) -> tuple[str, ...]:
        """Every label a row can get, in display order."""
        if self.edges:
            return (*self.bin_labels, MISSING)
        return (*self.values, OTHER, MISSING)

    def label_sql(self) -> tuple[str, list[Any]]:
        """CASE expression giving each row its label (parameters alongside)."""
        col = ident(self.column)
        if self.edges:
            parts = [f"CASE WHEN {col} IS NULL THEN ?"]
            params: list[Any] = [MISSING]
            for edge, label in zip(self.edges, self.bin_labels, strict=False):
                parts.append(f"WHEN CAST({col} AS DOUBLE) < ? THEN ?")
                params += [float(edge), label]
            parts.append("ELSE ? END")
            params.append(self.bin_labels[-1])
            return " ".join(parts), params
        if not self.values:
            return f"CASE WHEN {col} IS NULL THEN ? ELSE ? END", [MISSING, OTHER]
        marks = ", ".join("?" for _ in self.values)
        return (
            f"CASE WHEN {col} IS NULL THEN ? WHEN CAST({col} AS VARCHAR) IN ({marks}) "
            f"THEN CAST({col} AS VARCHAR) ELSE ? END",
            [MISSING, *self.values, OTHER],
        )

    def display(self, label: str) -> str:
        return f"{self.name}={label}"


def segment_projection(defs: Sequence[SegmentDef]) -> tuple[str, list[Any]]:
    """``CASE ... AS _s0, CASE ... AS _s1`` for a SELECT list (empty when no segments)."""
    parts: list[str] = []
    params: list[Any] = []
    for d in defs:
        sql, p = d.label_sql()
        parts.append(f"{sql} AS {d.key}")
        params += p
    return ", ".join(parts), params


def source_column(cfg: VigilConfig, column: str) -> str:
    """The prediction-log column after renames (a feature's source column reads as its name)."""
    return cfg.column_map.get(column, column)


def define_segments(
    cfg: VigilConfig, conn: duckdb.DuckDBPyConnection, relation: str, params: list[Any], columns: Sequence[str]
) -> list[SegmentDef]:
    """Fix every configured segmentation's labels from the reference relation."""
    out = []
    for i, seg in enumerate(cfg.segments):
        col = source_column(cfg, seg.column)
        if col not in columns:
            raise SegmentError(
                f"{cfg.source_file or '<config>'}: segments[{i}].column: {seg.column!r} is not a column of the "
                f"reference (hint: a segment column must be in the prediction log and the reference; columns: "
                f"{', '.join(sorted(columns)[:30])})"
            )
        if seg.bins is not None:
            out.append(SegmentDef(seg.name, i, col, edges=tuple(float(b) for b in seg.bins), min_rows=seg.min_rows))
            continue
        rows = conn.execute(
            f"SELECT CAST({ident(col)} AS VARCHAR) AS v, count(*) AS k FROM {relation} "  # noqa: S608
            f"WHERE {ident(col)} IS NOT NULL GROUP BY v ORDER BY k DESC, v LIMIT ?",
            [*params, seg.top_values],
        ).fetchall()
        values = tuple(str(r[0]) for r in rows if str(r[0]) not in (OTHER, MISSING))
        out.append(SegmentDef(seg.name, i, col, values=values, min_rows=seg.min_rows))
    return out


def store_definitions(conn: duckdb.DuckDBPyConnection, defs: Sequence[SegmentDef], score_edges: Sequence[float]) -> None:
    conn.execute("DELETE FROM segment_definitions")
    conn.execute("DELETE FROM segment_score_bins")
    for d in defs:
        conn.execute(
            "INSERT INTO segment_definitions VALUES (?, ?, ?, ?, ?, ?)",
            [d.name, d.position, d.column, json.dumps(list(d.values)), json.dumps(list(d.edges)), d.min_rows],
        )
    conn.execute("INSERT INTO segment_score_bins VALUES (?)", [json.dumps([float(e) for e in score_edges])])


def _table_exists(conn: duckdb.DuckDBPyConnection, name: str) -> bool:
    rows = conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]).fetchall()
    return bool(rows and rows[0][0])


def load_definitions(conn: duckdb.DuckDBPyConnection, cfg: VigilConfig | None = None) -> list[SegmentDef]:
    """The stored cut of each segmentation (only those still configured when cfg is given)."""
    if not _table_exists(conn, "segment_definitions"):
        return []
    rows = conn.execute(
        "SELECT segment, position, column_name, values_json, edges_json, min_rows FROM segment_definitions "
        "ORDER BY position"
    ).fetchall()
    defs = [
        SegmentDef(str(r[0]), int(r[1]), str(r[2]), tuple(json.loads(r[3])), tuple(float(e) for e in json.loads(r[4])),
                   int(r[5]))
        for r in rows
    ]
    if cfg is not None:
        configured = {(i, s.name) for i, s in enumerate(cfg.segments)}
        defs = [d for d in defs if (d.position, d.name) in configured]
    return defs


def load_score_edges(conn: duckdb.DuckDBPyConnection) -> tuple[float, ...]:
    if not _table_exists(conn, "segment_score_bins"):
        return ()
    rows = conn.execute("SELECT edges_json FROM segment_score_bins").fetchall()
    return tuple(float(e) for e in json.loads(rows[0][0])) if rows else ()


def score_bin_edges(conn: duckdb.DuckDBPyConnection, relation: str, params: list[Any], score: str) -> tuple[float, ...]:
    """Cut points of the reference scores at SCORE_BINS quantiles, deduplicated."""
    cuts = "[" + ", ".join(repr(i / SCORE_BINS) for i in range(1, SCORE_BINS)) + "]"
    v = f"CAST({ident(score)} AS DOUBLE)"
    rows = conn.execute(
        f"SELECT quantile_cont(CASE WHEN isfinite({v}) THEN {v} END, {cuts}) FROM {relation}", params  # noqa: S608
    ).fetchall()
    q = rows[0][0] if rows else None
    return tuple(sorted({float(x) for x in q})) if q else ()


def bin_sql(score_sql: str, edges: Sequence[float]) -> tuple[str, list[Any]]:
    """The score bin index (0..len(edges)); -1 for a missing score."""
    parts = [f"CASE WHEN {score_sql} IS NULL THEN -1"]
    params: list[Any] = []
    for i, e in enumerate(edges):
        parts.append(f"WHEN {score_sql} <= ? THEN {i}")
        params.append(float(e))
    parts.append(f"ELSE {len(edges)} END")
    return " ".join(parts), params


# Arrow types of (segment, label, *cell) in segment_live_stats / segment_reference_live.
LIVE_ARROW_TYPES = [pa.string(), pa.string(), pa.int64(), pa.bool_(), pa.bool_(), pa.bool_(), pa.int64(),
                    pa.float64(), pa.float64(), pa.float64(), pa.float64()]
LIVE_CELL_COLUMNS = ("bin", "labeled", "positive", "approved", "n", "sum_score", "sum_y", "sum_abs_err", "sum_sq_err")


def live_cells_sql(inner: str, group: str, keys: Sequence[str], edges: Sequence[float],
                   bin_column: str | None = None) -> tuple[str, list[Any]]:
    """The live-test-set cells of ``inner`` (columns: ``group``, score, y, approved and the
    segment keys), overall and per segment in one grouped query. Parameters of the bin CASE
    come before the inner relation's. ``bin_column``: a column of ``inner`` that is the bin
    already (a multiclass model's predicted class index, profilers.multiclass), instead of the
    score's bin over ``edges``."""
    b, params = (bin_column, []) if bin_column else bin_sql("score", edges)
    cells = ("bin", "labeled", "positive", "approved")
    base = ", ".join([group, *cells])
    sets = [f"({base})"] + [f"({group}, {k}, {', '.join(cells)})" for k in keys]
    grouping = f"GROUP BY GROUPING SETS ({', '.join(sets)})" if keys else f"GROUP BY {base}"
    head = ", ".join([group, *keys])
    sql = (
        f"SELECT {head}, bin, labeled, positive, approved, count(*) AS n, sum(score) AS sum_score, sum(y) AS sum_y, "  # noqa: S608
        "sum(abs(score - y)) AS sum_abs_err, sum((score - y) * (score - y)) AS sum_sq_err "
        f"FROM (SELECT {head}, {b} AS bin, y IS NOT NULL AS labeled, coalesce(y = 1, false) AS positive, "
        f"coalesce(approved, false) AS approved, score, y FROM {inner}) {grouping}"
    )
    return sql, params


def split_cells(rows: Sequence[tuple[Any, ...]], defs: Sequence[SegmentDef]) -> list[tuple[Any, str, str, tuple[Any, ...]]]:
    """(group, segment name or OVERALL, label, cell values) from live_cells_sql rows."""
    out = []
    k = len(defs)
    for r in rows:
        group, labels, cell = r[0], r[1 : 1 + k], tuple(r[1 + k :])
        name, label = OVERALL, ""
        for d, lab in zip(defs, labels, strict=True):
            if lab is not None:
                name, label = d.name, str(lab)
                break
        out.append((group, name, label, cell))
    return out
