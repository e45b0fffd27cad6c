"""Evidently drill-down: a drift report for one batch against the reference, as HTML.

Vigil's own checks read statistics; this report reads rows (a bounded sample), so it is
for a human looking at one batch, not for the check cycle.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import duckdb
import pandas as pd

from core.config import VigilConfig
from core.sql import ident
from core.stores import Warehouse
from profilers.sources import bucket_sql, window_micros

DEFAULT_SAMPLE_ROWS = 20_000


def _evidently() -> tuple[Any, Any]:
    # Imported lazily: evidently takes seconds to import and only the drill-down needs it.
    from evidently import Report
    from evidently.presets import DataDriftPreset

    return Report, DataDriftPreset


def _frames(reference_df: pd.DataFrame, current_df: pd.DataFrame, columns: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    cols = list(columns)
    missing = [c for c in cols if c not in reference_df.columns or c not in current_df.columns]
    if missing:
        raise ValueError(f"drift report: columns not in both frames: {', '.join(missing)} "
                         "(hint: pass feature names present in the reference and the batch)")
    if current_df.empty or reference_df.empty:
        raise ValueError("drift report: the reference or the batch has no rows")
    return reference_df[cols].reset_index(drop=True), current_df[cols].reset_index(drop=True)


def run_drift_report(reference_df: pd.DataFrame, current_df: pd.DataFrame, columns: Sequence[str],
                     method: str | None = None) -> Any:
    """Evidently's DataDriftPreset on the given columns; returns the evaluated snapshot."""
    report_cls, preset_cls = _evidently()
    ref, cur = _frames(reference_df, current_df, columns)
    report = report_cls([preset_cls(columns=list(columns), method=method)])
    return report.run(current_data=cur, reference_data=ref)


def script_safe_json(value: Any) -> str:
    """JSON that cannot end the <script> block it sits in, whatever strings the data holds.

    `<`, `>` and `&` become \\u escapes (still the same JSON string), so a value such as
    ``</script><svg/onload=...>`` stays inert text; U+2028/2029 are escaped for old parsers.
    """
    from evidently.legacy.utils import NumpyEncoder

    text = json.dumps(value, cls=NumpyEncoder)
    for raw, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(raw, escaped)
    return text


def safe_report_html(snapshot: Any) -> str:
    """The snapshot as one self-contained HTML page, with every data value escaped.

    Evidently's own ``get_html_str`` writes the report data into a ``<script>`` block with
    ``json.dumps``, which leaves ``</script>`` in a categorical value live (the data would
    run as script). This renders the same page from Evidently's template, but the data
    block is written here with ``script_safe_json``.
    """
    from evidently.legacy.model.dashboard import DashboardInfo
    from evidently.legacy.model.widget import AdditionalGraphInfo, BaseWidgetInfo
    from evidently.legacy.renderers.base_renderer import DetailsInfo
    from evidently.legacy.renderers.html_widgets import group_widget
    from evidently.legacy.utils.dashboard import TemplateParams, file_html_template

    widgets = [group_widget(title="", widgets=snapshot._widgets), *snapshot._tests_widgets]
    items = []
    for info_item in widgets:
        for graph in info_item.get_additional_graphs():
            params = graph.params if isinstance(graph, AdditionalGraphInfo) else graph
            items.append(DetailsInfo(title="", info=params, id=graph.id))
    additional_graphs = {
        f"{item.id}": item.info.dict() if isinstance(item.info, BaseWidgetInfo) else item.info for item in items
    }
    dashboard_id = "metric_" + uuid.uuid4().hex
    info = DashboardInfo(name="Report", widgets=widgets)
    page = file_html_template(TemplateParams(dashboard_id=dashboard_id, dashboard_info=info,
                                             additional_graphs=additional_graphs, embed_data=False))
    as_dict = info.dict()
    for widget in as_dict["widgets"]:
        widget.pop("additionalGraphs", None)
    data_block = (
        f"<script>\n    var {dashboard_id} = {script_safe_json(as_dict)};\n"
        f"    var additional_graphs_{dashboard_id} = {script_safe_json(additional_graphs)};\n</script>"
    )
    marker = "<!-- no embedded data -->"
    if page.count(marker) != 1:  # Evidently's template changed: refuse rather than embed unsafely
        raise RuntimeError("Evidently's report template changed; the safe report renderer needs updating")
    return page.replace(marker, data_block)


def drift_report_html(reference_df: pd.DataFrame, current_df: pd.DataFrame, columns: Sequence[str]) -> str:
    """A self-contained HTML drift report (Evidently DataDriftPreset) for the columns; data escaped."""
    return safe_report_html(run_drift_report(reference_df, current_df, columns))


def sandboxed_frame_html(report_html: str, height: int = 900) -> str:
    """A page that shows `report_html` in an inner ``<iframe sandbox="allow-scripts" srcdoc=...>``.

    No ``allow-same-origin``: the report runs in an opaque origin, so even a script that got
    through could not read the dashboard's cookies, storage or DOM. The report is
    attribute-escaped into ``srcdoc``.
    """
    import html as html_lib

    return (
        "<!DOCTYPE html><html><head><meta charset=\"UTF-8\"><style>html,body{margin:0;padding:0}"
        "iframe{border:0;width:100%}</style></head><body>"
        f'<iframe title="Evidently report" sandbox="allow-scripts" referrerpolicy="no-referrer" '
        f'height="{int(height)}" srcdoc="{html_lib.escape(report_html, quote=True)}"></iframe>'
        "</body></html>"
    )


def evidently_drift_values(reference_df: pd.DataFrame, current_df: pd.DataFrame, columns: Sequence[str],
                           method: str) -> dict[str, float]:
    """Per-column drift value Evidently computes with one method ('psi', 'jensenshannon', 'wasserstein'...)."""
    snapshot = run_drift_report(reference_df, current_df, columns, method=method)
    out: dict[str, float] = {}
    for metric in snapshot.dict()["metrics"]:
        config = metric.get("config", {})
        if str(config.get("type", "")).endswith("ValueDrift") and config.get("column") in columns:
            out[str(config["column"])] = float(metric["value"])
    return out


def batch_rows(cfg: VigilConfig, wh: Warehouse, batch: datetime, columns: Sequence[str],
               limit: int = DEFAULT_SAMPLE_ROWS) -> pd.DataFrame:
    """A uniform sample (fixed seed) of the batch's served features from the prediction log."""
    cols = ", ".join(ident(c) for c in columns)
    ts = ident(cfg.predictions.timestamp_column)
    with wh.read() as conn:
        # The sample clause takes constants only: limit is an int, never user text.
        return conn.execute(
            f"SELECT * FROM (SELECT {cols} FROM predictions WHERE {bucket_sql(ts)} = ?) "  # noqa: S608
            f"USING SAMPLE reservoir({int(limit)} ROWS) REPEATABLE (7)",
            [window_micros(cfg), batch],
        ).df()


def reference_rows(cfg: VigilConfig, columns: Sequence[str], limit: int = DEFAULT_SAMPLE_ROWS,
                   wh: Warehouse | None = None) -> pd.DataFrame:
    """A sample of the reference's columns, under Vigil's names: a file in any landing format (source
    columns mapped by ``features[].column`` renamed), or a window of the prediction log."""
    from profilers.reference import ReferenceError, reference_relation

    if cfg.reference is None:
        raise ValueError("drift report needs a reference (config reference: {kind: file, path: ...})")
    if cfg.reference.kind == "window" and wh is None:
        raise ValueError("drift report: a window reference is read from the warehouse (hint: pass the warehouse)")

    def sample(conn: duckdb.DuckDBPyConnection) -> pd.DataFrame:
        try:
            found = reference_relation(cfg, conn)
        except ReferenceError as err:
            raise ValueError(f"{err} (hint: train the model or fix reference.path)") from None
        if found is None:
            raise ValueError("drift report: the reference window has no rows yet (hint: fix reference.start / end)")
        relation, params = found[0], found[1]
        present = {str(r[0]) for r in conn.execute(f"DESCRIBE SELECT * FROM {relation}", params).fetchall()}  # noqa: S608
        cols = ", ".join(ident(c) for c in columns if c in present)
        if not cols:
            return pd.DataFrame()
        frame: pd.DataFrame = conn.execute(
            f"SELECT {cols} FROM {relation} USING SAMPLE reservoir({int(limit)} ROWS) REPEATABLE (7)",  # noqa: S608
            params,
        ).df()
        return frame

    if cfg.reference.kind == "window":
        assert wh is not None
        with wh.read() as conn:
            return sample(conn)
    with duckdb.connect() as conn:
        return sample(conn)


def display_names(cfg: VigilConfig) -> dict[str, str]:
    """Vigil's feature name -> what a report shows: the source column with Vigil's name beside it when
    the config maps one (``features[].column``), so a reader finds the column in their own data."""
    return {f.name: f"{f.column} [{f.name}]" for f in cfg.features if f.column and f.column != f.name}


def batch_report_html(cfg: VigilConfig, wh: Warehouse, batch: datetime, columns: Sequence[str] | None = None,
                      limit: int = DEFAULT_SAMPLE_ROWS) -> str:
    """`vigil report BATCH`: Evidently's drift report of the batch's features against the reference.
    Columns show under their source names (and Vigil's), as the user's own files name them."""
    cols = list(columns) if columns else [f.name for f in cfg.features]
    ref = reference_rows(cfg, cols, limit, wh)
    cur = batch_rows(cfg, wh, batch, [c for c in cols if c in ref.columns], limit)
    if cur.empty:
        raise ValueError(f"no predictions in batch {batch.isoformat()} (hint: `vigil checks list` shows checked batches)")
    present = [c for c in cols if c in ref.columns and c in cur.columns]
    shown = display_names(cfg)
    labels = [shown.get(c, c) for c in present]
    rename = dict(zip(present, labels, strict=True))
    return drift_report_html(ref[present].rename(columns=rename), cur[present].rename(columns=rename), labels)
