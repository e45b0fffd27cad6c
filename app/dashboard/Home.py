"""Overview: the model's health at a glance."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from app import queries
from app.dashboard import common
from app.reporting import format_age

cfg = common.page("Overview")
common.require_stores(cfg)

with common.store_busy_notice():
    status = queries.status_overview(cfg)

    # ---- the last cycle and its staleness (red when stale) ---------------------------------
    cycle = status["last_cycle"]
    if cycle is None:
        st.warning("No check cycle has run yet. Run `vigil run-once` or start the scheduler with `vigil schedule`.")
    else:
        age = status["last_cycle_age_seconds"]
        when = cycle.get("finished_at") or cycle["started_at"]
        if cycle["status"] == "failed":
            st.error(f"The last cycle **failed** at {when}: `{cycle.get('error')}`. See `vigil status`.")
        if status["stale"]:
            age_text = format_age(age) if age is not None else "unknown time"
            st.error(
                f"**Stale:** the last completed cycle finished {age_text} ago; cycles are expected every "
                f"{status['interval']}. Is the scheduler running? (`vigil schedule`)"
            )

    sched = status["scheduler"]
    if sched is not None and not sched["alive"]:
        st.warning(f"The scheduler is not running (last beat {sched['beat_at']} from pid {sched['pid']} on {sched['host']}).")

    c1, c2, c3, c4 = st.columns(4)
    # No deltas: an arrow on "97s ago" or "49 ok" reads as a trend, which these are not.
    c1.metric("Last cycle", cycle["status"] if cycle else "none")
    if status["last_cycle_age_seconds"] is not None:
        c1.caption(f"{format_age(status['last_cycle_age_seconds'])} ago")
    c2.metric("Firing alerts", status["firing_alerts"] if status["firing_alerts"] is not None else "n/a")
    c3.metric("Open incidents", status["open_incidents"] if status["open_incidents"] is not None else "n/a")
    c4.metric("Champion", status["champion"] or "none")

    # ---- what is wrong right now ------------------------------------------------------------
    st.subheader("What is wrong right now")
    firing = queries.alerts(cfg, states=["firing"])
    for group in common.root_cause_groups(firing):
        root = group["root"]
        with st.container(border=True):
            incident = f" · incident {root['incident_id']}" if root.get("incident_id") else " · no incident yet"
            ack = f"acknowledged by {root['acked_by']}" if root.get("acked_by") else "**not acknowledged**"
            st.markdown(
                f"{common.state_icon('firing')} **{root.get('check_name')}** on `{root.get('subject')}` "
                f"({root.get('severity')}){incident} · {ack} · firing since batch {root.get('started_batch') or '-'}"
            )
            st.text((root.get("annotations") or {}).get("explanation", ""))  # data-derived: plain text
            if group["explained"]:
                st.caption("Explained by this root cause (inhibited): " + ", ".join(
                    f"{a.get('check_name')} on {a.get('subject')}" for a in group["explained"]))
    if not firing:
        problems = status["open_incidents"] or 0
        latest_fail = any(
            counts.get("fail", 0) or counts.get("error", 0)
            for counts in ((status["latest_batch"] or {}).get("families") or {}).values()
        )
        if problems:
            st.warning(f"No alert is firing, but {problems} incident(s) are still open: see Incidents.")
        elif latest_fail:
            st.warning("No alert is firing yet, but the latest batch has failing checks (pending alerts): see Checks.")
        elif cycle is None or status["stale"]:
            st.warning("Cannot say all clear: the checks are not running (see above).")
        else:
            st.success("All clear: no alert is firing, no incident is open, the latest batch passed.")

    # ---- latest batch by family -------------------------------------------------------------
    st.subheader("Latest batch")
    latest = status["latest_batch"]
    if latest is None:
        st.info("No check results yet: the first cycle with data will fill this in.")
    else:
        st.write(f"Batch **{latest['batch']}**")
        health = queries.family_health(latest["families"])
        cols = st.columns(max(len(health), 1))
        for col, (family, worst) in zip(cols, sorted(health.items()), strict=False):
            counts = latest["families"][family]
            col.metric(family, str(worst))
            col.caption(f"{common.icon(worst)} · " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))

    # ---- failing checks per batch -----------------------------------------------------------
    st.subheader("Failing checks per batch")
    failing = queries.failing_checks_per_batch(cfg)
    if failing.empty:
        st.info("No check results yet.")
    else:
        failing["batch"] = pd.to_datetime(failing["batch"])
        chart = (
            alt.Chart(failing)
            .mark_bar()
            .encode(
                x=alt.X("batch:T", title="batch"),
                y=alt.Y("failed:Q", title="failed checks", stack=True),
                color=alt.Color("family:N", title="family"),
                tooltip=["batch:T", "family:N", "failed:Q", "warned:Q"],
            )
            .properties(height=260)
        )
        st.altair_chart(chart, width="stretch")

    # ---- recent cycles ----------------------------------------------------------------------
    st.subheader("Recent cycles")
    cycles = queries.recent_cycles(cfg, limit=20)
    if cycles:
        st.dataframe(
            common.styled(pd.DataFrame(
                [
                    {
                        "started": c["started_at"],
                        "finished": c["finished_at"],
                        "status": "ok" if c["status"] == "ok" else "fail" if c["status"] == "failed" else c["status"],
                        "files": c["summary"].get("files_loaded"),
                        "batches": c["summary"].get("batches_profiled"),
                        "checks": c["summary"].get("checks"),
                        "failed": c["summary"].get("failed_checks"),
                        "seconds": c["summary"].get("duration_seconds"),
                        "error": c["error"] or "",
                    }
                    for c in cycles
                ]
            )),
            hide_index=True,
            width="stretch",
        )
    else:
        st.info("No cycles recorded yet.")
