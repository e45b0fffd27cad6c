"""Checks: results per batch, drift histograms, unit-change evidence, KPI trends, Evidently report."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from app import queries
from app.dashboard import common, segment_charts
from checks.report import sandboxed_frame_html


def unit_change_points(evidence: dict) -> pd.DataFrame | None:
    """Reference vs batch quantiles from a unit-change result's evidence."""
    ref = evidence.get("reference_quantiles") or {}
    cur = evidence.get("current_quantiles") or {}
    rows = [{"quantile": q, "reference": ref[q], "batch": cur[q]} for q in ref
            if q in cur and ref[q] is not None and cur[q] is not None]
    return pd.DataFrame(rows) if len(rows) >= 2 else None


def unit_change_chart(points: pd.DataFrame, evidence: dict) -> alt.LayerChart:
    factor = evidence.get("factor", evidence.get("estimated_factor"))
    offset = evidence.get("offset", evidence.get("estimated_offset")) or 0.0
    lo, hi = float(points["reference"].min()), float(points["reference"].max())
    lines = [{"reference": x, "batch": x, "line": "unchanged"} for x in (lo, hi)]
    if isinstance(factor, int | float):
        name = evidence.get("conversion") or f"x{factor:.4g}"
        lines += [{"reference": x, "batch": factor * x + float(offset), "line": str(name)} for x in (lo, hi)]
    guide = alt.Chart(pd.DataFrame(lines)).mark_line(strokeDash=[4, 3]).encode(
        x="reference:Q", y="batch:Q",
        color=alt.Color("line:N", scale=alt.Scale(range=["#9e9e9e", "#d62728"]), title="line"),
    )
    dots = alt.Chart(points).mark_circle(size=70, color="#1f77b4").encode(
        x=alt.X("reference:Q", title="reference quantile"), y=alt.Y("batch:Q", title="this batch's quantile"),
        tooltip=["quantile:N", alt.Tooltip("reference:Q", format=",.4g"), alt.Tooltip("batch:Q", format=",.4g")],
    )
    return guide + dots


def trend_chart(one: pd.DataFrame, extent: tuple[str, ...] = ()) -> alt.LayerChart:
    """Value per batch coloured by the one status scheme, over its allowed band (every trend has
    one where the check stored a bound; a one-sided bound is shaded to the chart's edge, which
    also covers the ``extent`` columns drawn on top of it)."""
    values = pd.concat([one[c] for c in ("value", "lower", "upper", *extent)]).dropna()
    top = float(values.max()) if not values.empty else 1.0
    bottom = float(values.min()) if not values.empty else 0.0
    margin = (top - bottom) * 0.05 or abs(top) * 0.05 or 0.05
    has_bound = one["lower"].notna() | one["upper"].notna()
    bands = one.assign(
        band_low=one["lower"].where(one["lower"].notna(), bottom - margin).where(has_bound),
        band_high=one["upper"].where(one["upper"].notna(), top + margin).where(has_bound),
    )
    base = alt.Chart(bands).encode(x=alt.X("batch:T", title="batch"))
    band = base.mark_area(opacity=0.18, color="#2e9d3a").encode(
        y=alt.Y("band_low:Q", title="value", scale=alt.Scale(zero=False)), y2="band_high:Q"
    )
    line = base.mark_line(color="#607d8b").encode(y="value:Q")
    points = base.mark_point(filled=True, size=60).encode(
        y="value:Q",
        color=alt.Color("status:N", scale=common.status_scale(), title="status"),
        tooltip=["batch:T", alt.Tooltip("value:Q", format=",.4g"), alt.Tooltip("lower:Q", format=",.4g"),
                 alt.Tooltip("upper:Q", format=",.4g"), "status:N"],
    )
    return band + line + points


def estimate_chart(trend: pd.DataFrame) -> alt.LayerChart:
    """One trend for a performance estimate: the estimate made before labels (status-coloured
    points over its allowed band, as every trend) and, once a batch's labels matured, the
    realized value on the same axis (black diamonds on a dashed line), the error in the tooltip."""
    one = trend.rename(columns={"estimated": "value"})
    realized = alt.Chart(one).encode(x=alt.X("batch:T", title="batch"))
    line = realized.mark_line(color="#212121", strokeDash=[5, 3]).encode(y="realized:Q")
    marks = realized.mark_point(shape="diamond", filled=True, size=70, color="#212121").encode(
        y="realized:Q",
        tooltip=["batch:T", alt.Tooltip("realized:Q", title="realized", format=",.4g"),
                 alt.Tooltip("value:Q", title="estimated", format=",.4g"),
                 alt.Tooltip("estimate_error:Q", title="estimate error", format="+,.4g")],
    )
    return trend_chart(one, extent=("realized",)) + line + marks


def estimate_table(trend: pd.DataFrame) -> pd.DataFrame:
    """The trend's numbers, newest batch first; 'waiting for labels' where none matured yet."""
    shown = trend.iloc[::-1]
    return pd.DataFrame({
        "batch": shown["batch"],
        "estimated (before labels)": shown["estimated"].map(common.readable),
        "status": shown["status"],
        "realized (labels matured)": [common.readable(v) if pd.notna(v) else "waiting for labels"
                                      for v in shown["realized"]],
        "estimate error": [f"{v:+.4f}" if pd.notna(v) else "" for v in shown["estimate_error"]],
    })


cfg = common.page("Checks")
common.require_stores(cfg, warehouse=True)

with common.store_busy_notice():
    batch_values = queries.checked_batches(cfg)
    if not batch_values:
        st.info("No check results yet: they appear after the first cycle with data (`vigil run-once`).")
        st.stop()

    # Batches are picked by value: a cycle that adds a batch must not move the user to another.
    labels = {pd.Timestamp(b).isoformat(): pd.Timestamp(b).strftime("%Y-%m-%d %H:%M") for b in batch_values}
    batch = common.pick("Batch", list(labels), key="checks_batch", format_func=lambda b: labels.get(b, str(b)))
    in_batch = queries.batch_results(cfg, pd.Timestamp(batch).to_pydatetime())

    # Tell the user when the batch they are looking at was re-checked since they picked it.
    checked_at = str(in_batch["checked_at"].max()) if "checked_at" in in_batch.columns and not in_batch.empty else ""
    seen_key = f"checks_batch_checked::{batch}"
    seen = st.session_state.get(seen_key)
    if seen and checked_at and seen != checked_at:
        st.info(f"Batch {labels.get(batch, batch)} was re-checked at {checked_at} (late rows or labels) since you "
                "opened it: the results below are the new ones.")
    st.session_state[seen_key] = checked_at

    counts = in_batch["status"].value_counts().to_dict()
    cols = st.columns(5)
    for col, status in zip(cols, ("fail", "error", "warn", "ok", "skipped"), strict=True):
        col.metric(status, int(counts.get(status, 0)), label_visibility="visible")
        col.caption(common.icon(status))

    tab_results, tab_drift, tab_units, tab_trends, tab_segments, tab_report = st.tabs(
        ["Results", "Drift histograms", "Unit changes", "KPI and performance trends", "Segments", "Evidently report"]
    )

    with tab_results:
        families = sorted(in_batch["family"].unique())
        chosen = st.multiselect("Family", families, default=families)
        only_problems = st.toggle("Only fail / warn / error", value=False)
        shown = in_batch[in_batch["family"].isin(chosen)]
        if only_problems:
            shown = shown[shown["status"].isin(["fail", "warn", "error"])]
        # A wide table gives thousands of results per batch: searched by check or subject, paged.
        query = st.text_input("Search checks and subjects", key="checks_results::search",
                              placeholder="part of a check or column name, e.g. psi income")
        if query:
            keep = set(common.matching((shown["check"] + " " + shown["subject"]).tolist(), query))
            shown = shown[(shown["check"] + " " + shown["subject"]).isin(keep)]
            st.caption(f"{len(shown):,} results match {query!r}.")
        order = {"fail": 0, "error": 1, "warn": 2, "skipped": 3, "ok": 4}
        shown = shown.assign(_order=shown["status"].map(order)).sort_values(["_order", "family", "check", "subject"])
        table = shown.assign(**{c: shown[c].map(common.readable) for c in ("value", "lower", "upper")
                                 if c in shown.columns})[
            [c for c in ("status", "family", "check", "subject", "value", "lower", "upper", "severity", "explanation")
             if c in shown.columns]
        ]
        table = common.paged(table, key="checks_results")
        st.dataframe(
            common.styled(table),
            hide_index=True,
            width="stretch",
            # Values are shown whole (all integer digits) and rounded, in columns wide enough to read.
            # (text columns size to their content, so no digit is cut off)
            column_config={"explanation": st.column_config.TextColumn("explanation", width="large")},
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
            subjects = common.searched(subjects, key="checks_drift", what="features") or subjects
            subject = common.pick("Feature", subjects, key="checks_drift_feature")
            source, column = str(subject).split(".", 1)
            feature = next((f for f in cfg.features if f.name == column), None)
            unit = getattr(feature, "unit", None) if feature is not None else None
            histogram = queries.reference_vs_current(cfg, source, column, pd.Timestamp(batch).to_pydatetime(),
                                                     unit=unit)
            if histogram is None:
                st.info("No histogram statistics stored for this column.")
            else:
                chart = (
                    alt.Chart(histogram.frame())
                    .mark_bar(opacity=0.7)
                    .encode(
                        x=alt.X("bin:N", sort=None, title=f"{column} ({unit})" if unit else column,
                                axis=alt.Axis(labelAngle=-40, labelLimit=160)),
                        xOffset="which:N",
                        y=alt.Y("share:Q", title="share of rows", axis=alt.Axis(format="%")),
                        color=alt.Color("which:N", scale=alt.Scale(domain=["reference", "current"])),
                        tooltip=["bin:N", "which:N", alt.Tooltip("share:Q", format=".2%")],
                    )
                )
                st.altair_chart(chart, width="stretch")
            for row in drift[drift["subject"] == subject].itertuples(index=False):
                st.markdown(f"{common.icon(row.status)} **{row.check}**")
                st.text(row.explanation)  # data-derived text: never rendered as Markdown

    with tab_units:
        units = in_batch[in_batch["family"] == "unit_change"]
        flagged = units[units["status"].isin(["fail", "warn"])]
        if units.empty:
            st.info("No unit-change results in this batch.")
        elif flagged.empty:
            st.success(f"No unit change detected among {len(units)} numeric columns.")
        for row in flagged.itertuples(index=False):
            st.markdown(f"{common.icon(row.status)} **{row.subject}**")
            st.text(row.explanation)
            evidence = row.evidence if isinstance(row.evidence, dict) else {}
            points = unit_change_points(evidence)
            if points is not None:
                st.altair_chart(unit_change_chart(points, evidence), width="stretch")
                st.caption("Each point is one quantile: the reference's value across, this batch's up. A unit change "
                           "puts them on the conversion's line; the grey line is 'unchanged'.")
            facts = {k: common.readable(v) for k, v in evidence.items()
                     if not isinstance(v, dict | list) and v is not None}
            if facts:
                st.dataframe(pd.DataFrame({"evidence": list(facts), "value": list(facts.values())}),
                             hide_index=True, width="stretch")

    with tab_trends:
        estimates = queries.estimate_series(cfg)
        if estimates:
            st.markdown("**Estimated and realized performance**")
            est_keys = [f"{c}\u00b7{s}" for c, s in estimates]
            est_key = common.pick("Estimate", est_keys, key="checks_estimate",
                                  format_func=lambda k: k.replace("\u00b7", " · "))
            est_check, est_subject = estimates[est_keys.index(est_key)]
            trend = queries.estimate_trend(cfg, est_check, est_subject)
            if trend.empty:
                st.info("No estimate yet: every result of this check so far was skipped.")
            else:
                st.altair_chart(estimate_chart(trend), width="stretch")
                matured = int(trend["realized"].notna().sum())
                st.caption(f"Points: the estimate made before labels, coloured by its status, over its allowed band. "
                           f"Black diamonds on the dashed line: the realized value once the batch's labels matured "
                           f"({matured} of {len(trend)} batches so far); the estimate's error is in the table.")
                st.dataframe(estimate_table(trend), hide_index=True, width="stretch")
        series_list = queries.trend_series(cfg, "performance")
        if not series_list:
            st.info("No KPI or performance results yet: they need matured labels (the live test set).")
        else:
            keys = [f"{c}\u00b7{s}" for c, s in series_list]
            chosen_key = common.pick("Metric", keys, key="checks_trend", format_func=lambda k: k.replace("\u00b7", " · "))
            check, subject = series_list[keys.index(chosen_key)]
            segment_options = queries.segment_series(cfg, check, subject)
            if segment_options:
                whole = "(whole model)"
                seg_names = [whole] + [seg for _, _, seg in segment_options]
                seg_choice = common.pick("Segment", seg_names, key=f"checks_trend_segment::{chosen_key}")
                if seg_choice != whole:
                    check, subject, _ = segment_options[seg_names.index(seg_choice) - 1]
            one = queries.series_trend(cfg, check, subject)
            one["batch"] = pd.to_datetime(one["batch"])
            st.altair_chart(trend_chart(one), width="stretch")
            if one[["lower", "upper"]].isna().all().all():
                st.caption("Value per batch, coloured by status. This check stored no numeric bounds.")
            else:
                st.caption("Value per batch, coloured by status; the shaded band is the allowed range (a one-sided "
                           "bound is shaded to the edge of the chart).")
        performance = queries.performance_over_time(cfg)
        if not performance.empty:
            st.markdown("**Live test set per batch**")
            st.dataframe(performance, hide_index=True, width="stretch")

    with tab_segments:
        seg_families = ["feature_drift", "input_quality", "prediction", "performance"]
        seg_family = common.pick("Family", seg_families, key="checks_segment_family")
        heat = queries.segment_heatmap(cfg, str(seg_family))
        if heat.empty:
            st.info("No segment results in this family. Segments are configured under `segments:` (README "
                    "'Segments'); their checks share the model's false-alarm budget.")
        else:
            st.altair_chart(segment_charts.heatmap_chart(heat), width="stretch")
            st.caption("Each cell: the worst status of this family's segment checks for that segment and batch. "
                       "All segment tests of a batch share one false-alarm budget (Holm or Benjamini-Hochberg); "
                       "'skipped' is a segment below its min_rows in that batch.")
            bad = heat[heat["status"].isin(["fail", "warn"])].sort_values(["batch", "status"], ascending=[False, True])
            if not bad.empty:
                st.dataframe(common.styled(bad[["batch", "segment", "status", "check", "subject", "adjusted_pvalue",
                                                "rows"]]), hide_index=True, width="stretch")

    with tab_report:
        st.markdown("Evidently's data-drift report of this batch against the reference (also `vigil report BATCH`).")
        if st.button("Build the Evidently report"):
            try:
                with st.spinner("Evidently is computing the report ..."):
                    html = queries.drift_report_html(cfg, pd.Timestamp(batch).to_pydatetime())
                # The data values are escaped (checks.report.safe_report_html) and the report runs
                # in a sandboxed inner frame without allow-same-origin: an opaque origin that
                # cannot reach this dashboard's cookies, storage or page.
                st.iframe(sandboxed_frame_html(html, height=900), height=920, alt="Evidently drift report")
            except Exception as err:
                st.error(f"The report could not be built: {err}")
