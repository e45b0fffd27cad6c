"""Incidents: status, roles, alerts with their runbooks, the timeline, notes."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from streamlit.errors import StreamlitAPIException

from app import actions, queries
from app.dashboard import common

STATUSES = ["triage", "investigating", "mitigated", "resolved", "closed"]

cfg = common.page("Incidents")
common.require_stores(cfg)

with common.store_busy_notice():
    rows = queries.incidents(cfg)
    if not rows:
        st.info("No incidents yet: a firing critical alert opens one, or open one by hand from the Alerts page.")
        st.stop()

    show_closed = st.toggle("Show resolved and closed", value=True)
    listed = [r for r in rows if show_closed or r.get("status") not in ("resolved", "closed")]
    st.dataframe(
        common.styled(pd.DataFrame(
            [
                {
                    "incident": r["incident_id"],
                    "title": r["title"],
                    "severity": r["severity"],
                    "status": r["status"],
                    "commander": r.get("commander") or "",
                    "scribe": r.get("scribe") or "",
                    "opened": r["opened_at"],
                    "by": r["opened_by"],
                }
                for r in listed
            ]
        ), status=()),
        hide_index=True,
        width="stretch",
    )
    if not listed:
        st.stop()

    ids = [r["incident_id"] for r in listed]
    titles = {r["incident_id"]: f"{r['incident_id']} · {r['severity']} · {r['title']}" for r in listed}
    incident_id = common.pick("Incident", ids, key="incident", format_func=lambda i: titles.get(i, str(i)))
    st.caption("Postmortem and decisions of this incident: the Postmortems and Decisions pages.")
    try:
        st.page_link("pages/1_Alerts.py", label="This incident's alerts, resolved ones included",
                     icon=":material/notifications:", query_params={"incident": str(incident_id)})
    except StreamlitAPIException:  # the page run on its own (tests): no multipage navigation
        st.caption(f"This incident's alerts: the Alerts page with ?incident={incident_id}")
    detail = queries.incident_detail(cfg, str(incident_id))
    if detail is None:
        st.warning("This incident no longer exists.")
        st.stop()

    st.subheader(f"{detail['title']}")
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Status", detail["status"])
    c2.metric("Severity", detail["severity"])
    c3.metric("Commander", detail.get("commander") or "unassigned")
    c4.metric("Scribe", detail.get("scribe") or "unassigned")
    stamps = {s: detail.get(f"{s}_at") for s in ("opened", "investigating", "mitigated", "resolved", "closed")}
    st.caption(" → ".join(f"{s} {t}" for s, t in stamps.items() if t))

    me = common.user()
    common.role_note("incidents.write")
    may_write = common.can("incidents.write")
    left, right = st.columns([3, 2])
    with left:
        st.markdown("**Timeline** (newest first)")
        timeline = detail.get("timeline") or []
        if timeline:
            # Two clocks: the batch an entry is about (event time, from the data) and when it was
            # written (wall time). A replay of 60 days writes them all within a minute of wall time.
            st.dataframe(
                pd.DataFrame(
                    [
                        {
                            "event time (batch)": (e.get("detail") or {}).get("batch") or ""
                            if isinstance(e.get("detail"), dict) else "",
                            "wall time": e.get("at"),
                            "kind": e.get("kind"),
                            "actor": e.get("actor"),
                            "text": e.get("text"),
                        }
                        for e in reversed(timeline)
                    ]
                ),
                hide_index=True,
                width="stretch",
                column_config={"text": st.column_config.TextColumn("text", width="large")},
            )
        with st.form("note", clear_on_submit=True):
            note = st.text_area("Add a note to the timeline")
            if st.form_submit_button("Add note", disabled=not may_write) and common.permitted("incidents.write"):
                try:
                    actions.add_incident_note(cfg, str(incident_id), me, note)
                    common.done("Note added to the timeline.")
                except Exception as err:
                    st.error(str(err))
    with right:
        st.markdown("**Alerts**")
        for a in detail.get("alerts") or []:
            st.markdown(f"{common.state_icon(a.get('state'))} `{a.get('check_name')}`")
            st.text(f"on {a.get('subject')}")
            moved = a.get("current_incident") and a.get("current_incident") != detail["incident_id"]
            if moved or (a.get("current_episode") and a.get("episode") and a["current_episode"] != a["episode"]):
                where = f"; it now belongs to incident {a['current_incident']}" if moved else ""
                st.caption(f"Episode {a.get('episode')} of this alert (batch {a.get('started_batch') or '-'}) belonged "
                           f"here{where}: its state above is its current one.")
        runbooks = detail.get("runbooks") or []
        if runbooks:
            st.markdown("**Runbooks**")
            for check in runbooks:
                name = str(check).removeprefix("runbooks/").removesuffix(".md")
                text = queries.runbook_markdown(name)
                with st.expander(name):
                    st.markdown(text or f"No runbook for `{name}`.")
        st.markdown("**Status and roles**")
        current = STATUSES.index(detail["status"]) if detail["status"] in STATUSES else 0
        later = STATUSES[current + 1 :]
        if later:
            with st.form("status"):
                new_status = st.selectbox("Move to", later)
                status_note = st.text_input("Why (optional)")
                if st.form_submit_button("Update status", disabled=not may_write) and common.permitted("incidents.write"):
                    try:
                        actions.set_incident_status(cfg, str(incident_id), str(new_status), me, status_note or None)
                        common.done(f"Status saved: {new_status}.")
                    except Exception as err:
                        st.error(str(err))
        with st.form("roles"):
            commander = st.text_input("Commander", value=detail.get("commander") or "")
            scribe = st.text_input("Scribe", value=detail.get("scribe") or "")
            if st.form_submit_button("Set roles", disabled=not may_write) and common.permitted("incidents.write"):
                try:
                    actions.set_incident_roles(cfg, str(incident_id), me, commander.strip(), scribe.strip())
                    common.done("Roles saved.")
                except Exception as err:
                    st.error(str(err))
