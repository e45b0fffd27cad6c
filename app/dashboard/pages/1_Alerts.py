"""Alerts: state, severity, subject, incident, "inhibited by", and the runbook beside the selection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import streamlit as st

from app import actions, queries
from app.dashboard import common

cfg = common.page("Alerts")
common.require_stores(cfg)

with common.store_busy_notice():
    all_alerts = queries.alerts(cfg)
    if not all_alerts:
        st.info("No alerts yet: alerts appear when a check fails (see the Checks page).")
        st.stop()

    # ---- filters ----------------------------------------------------------------------------
    states = sorted({str(a.get("state")) for a in all_alerts})
    default_states = [s for s in ("firing", "pending") if s in states] or states
    f1, f2, f3 = st.columns(3)
    chosen_states = f1.multiselect("State", states, default=default_states)
    severities = sorted({str(a.get("severity")) for a in all_alerts})
    chosen_severities = f2.multiselect("Severity", severities, default=severities)
    families = sorted({str(a.get("family")) for a in all_alerts})
    chosen_families = f3.multiselect("Family", families, default=families)
    shown = [
        a
        for a in all_alerts
        if str(a.get("state")) in chosen_states
        and str(a.get("severity")) in chosen_severities
        and str(a.get("family")) in chosen_families
    ]


    def inhibited_label(alert: dict) -> str:
        if not alert.get("inhibited_by"):
            return ""
        check = alert.get("inhibited_by_check")
        subject = alert.get("inhibited_by_subject")
        return f"{check} on {subject}" if check else str(alert["inhibited_by"])


    table = pd.DataFrame(
        [
            {
                "state": common.state_icon(a.get("state")),
                "severity": a.get("severity"),
                "check": a.get("check_name"),
                "subject": a.get("subject"),
                "batch": (a.get("annotations") or {}).get("batch") or a.get("last_batch"),
                "incident": a.get("incident_id") or "",
                "inhibited by": inhibited_label(a),
                "silenced": "yes" if a.get("silenced_by") else "",
                "acked by": a.get("acked_by") or "",
                "explanation": (a.get("annotations") or {}).get("explanation", ""),
            }
            for a in shown
        ]
    )
    st.write(f"{len(shown)} of {len(all_alerts)} alerts")
    if table.empty:
        st.info("No alert matches the filters.")
        st.stop()
    st.dataframe(table, hide_index=True, width="stretch")

    # ---- the selected alert, its runbook and actions ----------------------------------------
    labels = [f"{a.get('check_name')} · {a.get('subject')} · {a.get('state')}" for a in shown]
    index = st.selectbox("Alert", range(len(shown)), format_func=lambda i: labels[i])
    alert = shown[index if index is not None else 0]
    fingerprint = str(alert["fingerprint"])

    left, right = st.columns([1, 1])
    with left:
        st.subheader(f"{alert.get('check_name')} on {alert.get('subject')}")
        notes = alert.get("annotations") or {}
        st.write(notes.get("explanation", ""))
        st.write(
            f"State **{alert.get('state')}**, severity **{alert.get('severity')}**, "
            f"first failing batch {alert.get('started_batch') or '-'}, fired {alert.get('fired_batch') or '-'}"
        )
        if alert.get("inhibited_by"):
            st.warning(f"Inhibited by **{inhibited_label(alert)}**: the upstream problem explains this alert.")
        if alert.get("incident_id"):
            st.write(f"Incident: **{alert['incident_id']}** ({alert.get('incident_status') or ''})")
        with st.expander("Evidence"):
            st.json({k: notes.get(k) for k in ("value", "lower", "upper", "batch", "evidence") if k in notes})
        with st.expander("History"):
            history = queries.alert_history(cfg, fingerprint)
            if history:
                st.dataframe(pd.DataFrame(history), hide_index=True, width="stretch")

        st.markdown("**Actions**")
        me = common.user()
        common.role_note("alerts.acknowledge", "incidents.write", "silences.write")
        a1, a2 = st.columns(2)
        if a1.button("Acknowledge", key="ack",
                     disabled=bool(alert.get("acked_by")) or not common.can("alerts.acknowledge")):
            if common.permitted("alerts.acknowledge"):
                try:
                    actions.acknowledge_alert(cfg, fingerprint, me)
                    st.success(f"Acknowledged by {me}.")
                except Exception as err:  # the package's refusal, with its hint
                    st.error(str(err))
        if a2.button("Open incident", key="open_incident",
                     disabled=bool(alert.get("incident_id")) or not common.can("incidents.write")):
            if common.permitted("incidents.write"):
                try:
                    incident_id = actions.open_incident_for_alert(cfg, fingerprint, me)
                    st.success(f"Opened incident {incident_id}.")
                except Exception as err:
                    st.error(str(err))
        with st.form("silence"):
            st.markdown("Silence this alert")
            hours = st.number_input("for hours", min_value=1, max_value=24 * 14, value=4)
            comment = st.text_input("comment (required)")
            if st.form_submit_button("Silence", disabled=not common.can("silences.write")):
                if not comment.strip():
                    st.error("A silence needs a comment: say why and who is on it.")
                elif common.permitted("silences.write"):
                    try:
                        ends = datetime.now(UTC) + timedelta(hours=int(hours))
                        silence_id = actions.silence_alert(cfg, alert, ends, comment.strip(), me)
                        st.success(f"Silence {silence_id} until {ends:%Y-%m-%d %H:%M} UTC.")
                    except Exception as err:
                        st.error(str(err))
    with right:
        st.subheader("Runbook")
        runbook = queries.runbook_markdown(str(alert.get("check_name")))
        if runbook is None:
            st.warning(f"No runbook found for `{alert.get('check_name')}` (expected runbooks/{alert.get('check_name')}.md).")
        else:
            st.markdown(runbook)  # Markdown only: unsafe_allow_html stays off

    # ---- silences -----------------------------------------------------------------------------
    with st.expander("Silences (expired ones stay listed)"):
        rows = queries.silences(cfg)
        if rows:
            st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
        else:
            st.caption("No silences. Silence an alert above, or `vigil silence add --match check=NAME --ends 2h --comment '...'`.")
