"""Data: batches, ingested files, quarantine with reasons, per-column statistics over time."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from app import queries
from app.dashboard import common

cfg = common.page("Data")
common.require_stores(cfg, warehouse=True)

with common.store_busy_notice():
    batches = queries.batches(cfg)
    files = queries.ingested_files(cfg)
    quarantine = queries.quarantined_files(cfg)
    open_quarantine = quarantine[quarantine["status"] == "open"] if not quarantine.empty else quarantine

    c1, c2, c3 = st.columns(3)
    c1.metric("Batches", len(batches))
    c2.metric("Files ingested", int((files["status"] == "loaded").sum()) if not files.empty else 0)
    c3.metric("Quarantined (open)", len(open_quarantine))

    tab_stats, tab_batches, tab_files, tab_quarantine, tab_tables, tab_whylogs = st.tabs(
        ["Column statistics", "Batches", "Ingested files", "Quarantine", "ETL tables", "whylogs profile"]
    )

    with tab_stats:
        columns = queries.profiled_columns(cfg)
        if columns.empty:
            st.info("No column statistics yet: the profiler fills them in on the next cycle.")
        else:
            options = [f"{r.source}.{r.column_name}" for r in columns.itertuples(index=False)]
            # A wide table has 1,000 columns: search narrows the list before picking one.
            found = common.searched(options, key="data_columns")
            default = found.index("predictions.score") if "predictions.score" in found else 0
            subject = st.selectbox("Column", found, index=default) if found else None
            if subject is None:
                st.info("No column matches the search.")
            else:
                source, column = str(subject).split(".", 1)
                segments = queries.segment_labels(cfg, source, column)
                segment = None
                if segments:
                    whole = "(every row)"
                    picked = st.selectbox("Segment", [whole, *segments], key=f"data_segment::{subject}")
                    segment = None if picked == whole else str(picked)
                stats = queries.column_stats_over_time(cfg, source, column, segment)
                if stats.empty:
                    st.info("No statistics for this column.")
                else:
                    stats["batch"] = pd.to_datetime(stats["batch"])
                    # Both charts share one time axis: the same span, whichever statistic is missing.
                    span = alt.Scale(domain=[stats["batch"].min().isoformat(), stats["batch"].max().isoformat()])
                    kind = columns[(columns["source"] == source) & (columns["column_name"] == column)]["kind"].iloc[0]
                    if kind == "numeric":
                        band = alt.Chart(stats).mark_area(opacity=0.25).encode(
                            x=alt.X("batch:T", scale=span), y=alt.Y("p05:Q", title=column), y2="p95:Q"
                        )
                        lines = (
                            alt.Chart(stats.melt(id_vars=["batch"], value_vars=["mean", "p50"], var_name="statistic"))
                            .mark_line(point=True)
                            .encode(x=alt.X("batch:T", scale=span), y="value:Q", color="statistic:N",
                                    tooltip=["batch:T", "statistic:N", "value:Q"])
                        )
                        st.markdown("Mean and median per batch; the band is the 5th to 95th percentile.")
                        st.altair_chart(band + lines, width="stretch")
                    nulls = alt.Chart(stats).mark_bar().encode(
                        x=alt.X("batch:T", scale=span), y=alt.Y("null_rate:Q", title="null / NaN rate"), tooltip=["batch:T", "null_rate:Q", "count:Q"]
                    ).properties(height=160)
                    st.altair_chart(nulls, width="stretch")
                    st.dataframe(stats.sort_values("batch", ascending=False), hide_index=True, width="stretch")

    with tab_batches:
        if batches.empty:
            st.info("No batches yet.")
        else:
            st.dataframe(batches, hide_index=True, width="stretch")

    with tab_files:
        if files.empty:
            st.info("No files ingested yet. Landing folders are configured under `predictions.source` and `etl_tables`.")
        else:
            st.dataframe(files, hide_index=True, width="stretch")
        changes = queries.schema_changes(cfg)
        if not changes.empty:
            st.markdown("**Schema changes** (evidence for the input-quality checks)")
            st.dataframe(changes, hide_index=True, width="stretch")

    with tab_quarantine:
        if quarantine.empty:
            st.success("Nothing in quarantine.")
        else:
            st.markdown("Files that could not be loaded, with the reason. Fix the file and run `vigil quarantine retry ID`.")
            st.dataframe(quarantine, hide_index=True, width="stretch")

    with tab_tables:
        tables = queries.table_stats_over_time(cfg)
        if tables.empty:
            st.info("No table statistics yet.")
        else:
            tables["batch"] = pd.to_datetime(tables["batch"])
            rows = alt.Chart(tables).mark_line(point=True).encode(
                x="batch:T", y=alt.Y("row_count:Q", title="rows"), color="source:N", tooltip=list(tables.columns)
            )
            st.altair_chart(rows, width="stretch")
            st.dataframe(tables.sort_values("batch", ascending=False), hide_index=True, width="stretch")

    with tab_whylogs:
        # whylogs' own HTML viewer loads scripts from public CDNs (blank offline): our own table instead.
        if batches.empty:
            st.info("No batches yet.")
        else:
            sources = ["predictions"] + [t.name for t in cfg.etl_tables]
            w1, w2 = st.columns(2)
            source = w1.selectbox("Source", sources)
            batch_options = [pd.Timestamp(b).to_pydatetime() for b in batches["batch"]]
            chosen = w2.selectbox("Batch", batch_options, format_func=lambda b: b.strftime("%Y-%m-%d %H:%M"))
            summary = queries.whylogs_summary(cfg, str(source), chosen)
            if summary is None:
                st.info(
                    "No whylogs profile for this batch yet: the scheduler profiles batches after each cycle, "
                    "or run `vigil profile whylogs`."
                )
            else:
                st.caption(
                    f"{summary['sampled_rows']} of {summary['total_rows']} rows profiled"
                    + (" (uniform sample)" if summary["sampled_rows"] < summary["total_rows"] else "")
                )
                st.dataframe(pd.DataFrame(summary["columns"]), hide_index=True, width="stretch")
