"""Checks: results per batch, drift histograms, unit-change evidence, KPI trends, Evidently report."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st
import streamlit.components.v1 as components

from app import queries
from app.dashboard import common

cfg = common.page("Checks")
common.require_stores(cfg, warehouse=True)

with common.store_busy_notice():
    batch_values = queries.checked_batches(cfg)
    if not batch_values:
        st.info("No check results yet: they appear after the first cycle with data (`vigil run-once`).")
        st.stop()

    labels = {pd.Timestamp(b): pd.Timestamp(b).strftime("%Y-%m-%d %H:%M") for b in batch_values}
    batch = st.selectbox("Batch", list(labels), format_func=lambda b: labels[b])
    in_batch = queries.batch_results(cfg, pd.Timestamp(batch).to_pydatetime())

    counts = in_batch["status"].value_counts().to_dict()
    cols = st.columns(5)
    for col, status in zip(cols, ("fail", "error", "warn", "ok", "skipped"), strict=True):
        col.metric(common.icon(status), int(counts.get(status, 0)))

    tab_results, tab_drift, tab_units, tab_trends, tab_report = st.tabs(
        ["Results", "Drift histograms", "Unit changes", "KPI and performance trends", "Evidently report"]
    )

    with tab_results:
        families = sorted(in_batch["family"].unique())
        chosen = st.multiselect("Family", families, default=families)
        only_problems = st.toggle("Only fail / warn / error", value=False)
        shown = in_batch[in_batch["family"].isin(chosen)]
        if only_problems:
            shown = shown[shown["status"].isin(["fail", "warn", "error"])]
        order = {"fail": 0, "error": 1, "warn": 2, "skipped": 3, "ok": 4}
        shown = shown.assign(_order=shown["status"].map(order)).sort_values(["_order", "family", "check", "subject"])
        st.dataframe(
            shown.assign(status=shown["status"].map(common.icon))[
                [c for c in ("status", "family", "check", "subject", "value", "lower", "upper", "severity", "explanation")
                 if c in shown.columns]
            ],
            hide_index=True,
            width="stretch",
        )

    with tab_drift:
        # Per-column drift only (table.column); the multivariate check's subject is a whole table.
        drift = in_batch[(in_batch["family"] == "feature_drift") & in_batch["subject"].str.contains(".", regex=False)]
        drifted = drift[drift["status"].isin(["fail", "warn"])]
        subjects = sorted(drifted["subject"].unique()) or sorted(drift["subject"].unique())
        if not subjects:
            st.info("No feature-drift results in this batch.")
        else:
            if drifted.empty:
                st.success("No feature drifted in this batch; pick any feature to compare with the reference.")
            subject = st.selectbox("Feature", subjects)
            source, column = str(subject).split(".", 1)
            histogram = queries.reference_vs_current(cfg, source, column, pd.Timestamp(batch).to_pydatetime())
            if histogram is None:
                st.info("No histogram statistics stored for this column.")
            else:
                chart = (
                    alt.Chart(histogram.frame())
                    .mark_bar(opacity=0.7)
                    .encode(
                        x=alt.X("bin:N", sort=None, title=column),
                        xOffset="which:N",
                        y=alt.Y("share:Q", title="share of rows", axis=alt.Axis(format="%")),
                        color=alt.Color("which:N", scale=alt.Scale(domain=["reference", "current"])),
                        tooltip=["bin:N", "which:N", alt.Tooltip("share:Q", format=".2%")],
                    )
                )
                st.altair_chart(chart, width="stretch")
            for row in drift[drift["subject"] == subject].itertuples(index=False):
                st.write(f"{common.icon(row.status)} **{row.check}**: {row.explanation}")

    with tab_units:
        units = in_batch[in_batch["family"] == "unit_change"]
        flagged = units[units["status"].isin(["fail", "warn"])]
        if units.empty:
            st.info("No unit-change results in this batch.")
        elif flagged.empty:
            st.success(f"No unit change detected among {len(units)} numeric columns.")
        for row in flagged.itertuples(index=False):
            st.markdown(f"{common.icon(row.status)} **{row.subject}**")
            st.write(row.explanation)
            st.json(row.evidence if isinstance(row.evidence, dict) else {}, expanded=True)

    with tab_trends:
        series_list = queries.trend_series(cfg, "performance")
        if not series_list:
            st.info("No KPI or performance results yet: they need matured labels (the live test set).")
        else:
            check, subject = st.selectbox("Metric", series_list, format_func=lambda cs: f"{cs[0]} · {cs[1]}")
            one = queries.series_trend(cfg, check, subject)
            one["batch"] = pd.to_datetime(one["batch"])
            base = alt.Chart(one).encode(x=alt.X("batch:T"))
            band = base.mark_area(opacity=0.2).encode(y=alt.Y("lower:Q", title="value"), y2="upper:Q")
            line = base.mark_line(point=True).encode(
                y="value:Q", color=alt.Color("status:N"), tooltip=["batch:T", "value:Q", "lower:Q", "upper:Q", "status:N"]
            )
            st.markdown("Value per batch; the shaded band is the allowed range (estimated values are marked in the evidence).")
            st.altair_chart(band + line, width="stretch")
        performance = queries.performance_over_time(cfg)
        if not performance.empty:
            st.markdown("**Live test set per batch**")
            st.dataframe(performance, hide_index=True, width="stretch")

    with tab_report:
        st.markdown("Evidently's data-drift report of this batch against the reference (also `vigil report BATCH`).")
        if st.button("Build the Evidently report"):
            try:
                with st.spinner("Evidently is computing the report ..."):
                    html = queries.drift_report_html(cfg, pd.Timestamp(batch).to_pydatetime())
                # HTML generated by Evidently from the data, never from user-typed text.
                components.html(html, height=900, scrolling=True)
            except Exception as err:
                st.error(f"The report could not be built: {err}")
