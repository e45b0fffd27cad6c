"""Alerts: state, severity, subject, incident, "inhibited by", and the runbook beside the selection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import streamlit as st

from app import actions, queries
from app.dashboard import common, segment_charts

cfg = common.page("Alerts")
common.require_stores(cfg)

with common.store_busy_notice():
    all_alerts = queries.alerts(cfg)
    if not all_alerts:
        st.info("No alerts yet: alerts appear when a check fails (see the Checks page).")
        st.stop()

    # ---- filters ----------------------------------------------------------------------------
    # Opened from an incident (?incident=ID): that incident's alerts, resolved ones included.
    incident_filter = st.query_params.get("incident")
    incident_ids = {str(a.get("incident_id")) for a in all_alerts if a.get("incident_id")}
    if incident_filter and incident_filter in incident_ids:
        only_incident = st.toggle(f"Only the alerts of incident {incident_filter}", value=True)
        if only_incident:
            all_alerts = [a for a in all_alerts if str(a.get("incident_id")) == incident_filter]
    states = sorted({str(a.get("state")) for a in all_alerts})
    # Resolved alerts stay in the default view: a resolved root cause is part of the story.
    default_states = [s for s in ("firing", "pending", "resolved") if s in states] or states
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
                "state": a.get("state"),
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
    st.dataframe(
        common.styled(table, status=(), state=("state",)),
        hide_index=True,
        width="stretch",
        column_config={"explanation": st.column_config.TextColumn("explanation", width="large"),
                       "subject": st.column_config.TextColumn("subject", width="medium"),
                       "check": st.column_config.TextColumn("check", width="medium")},
    )

    # ---- the selected alert, its runbook and actions ----------------------------------------
    by_fp = {str(a["fingerprint"]): a for a in shown}
    labels = {fp: f"{a.get('check_name')} · {a.get('subject')} · {a.get('state')}" for fp, a in by_fp.items()}
    # A notification's link (?alert=FINGERPRINT, alerts.dashboard_url) opens on its alert.
    linked = st.query_params.get("alert")
    first = list(by_fp).index(linked) if linked in by_fp else 0
    fingerprint = str(common.pick("Alert", list(by_fp), key="alerts_alert", format_func=lambda fp: labels.get(fp, fp),
                                  default=first))
    alert = by_fp[fingerprint]

    left, right = st.columns([1, 1])
    with left:
        st.subheader(f"{alert.get('check_name')} on {alert.get('subject')}")
        notes = alert.get("annotations") or {}
        st.text(notes.get("explanation", ""))  # data-derived: plain text
        st.write(
            f"State **{alert.get('state')}**, severity **{alert.get('severity')}**, "
            f"first failing batch {alert.get('started_batch') or '-'}, fired {alert.get('fired_batch') or '-'}"
        )
        if alert.get("inhibited_by"):
            st.warning(f"Inhibited by **{inhibited_label(alert)}**: the upstream problem explains this alert.")
        if alert.get("possible_causes"):
            st.info("Possible causes, most likely first: upstream data alerts that could explain this alert (it notifies anyway).")
            st.dataframe(
                pd.DataFrame(
                    [
                        {"rank": c.get("rank"), "check": c.get("check"), "subject": c.get("subject"), "state": c.get("state"),
                         "from batch": c.get("started_batch"), "explanation": c.get("explanation"), "value": c.get("value"),
                         "bounds": f"{c.get('lower')} .. {c.get('upper')}"}
                        for c in alert["possible_causes"]
                    ]
                ),
                hide_index=True,
                width="stretch",
            )
        if alert.get("incident_id"):
            st.write(f"Incident: **{alert['incident_id']}** ({alert.get('incident_status') or ''})")
        records = queries.alert_batch_records(cfg, fingerprint)
        fired = next((r for r in records if str(r.get("batch")) == str(alert.get("fired_batch"))), None)
        if fired is None:
            fired = next((r for r in records if r.get("status") in ("fail", "warn")), None)
        latest = records[-1] if records else None
        with st.expander("Evidence: when it fired, and now", expanded=True):
            shown_records = [("when it fired", fired)] + ([("latest", latest)] if latest is not fired else [])
            cols = st.columns(len(shown_records))
            for col, (title, record) in zip(cols, shown_records, strict=True):
                if record is None:
                    col.caption(f"{title}: no per-batch record")
                    continue
                col.markdown(f"**{title}** · batch {record.get('batch')} · {common.icon(record.get('status'))}")
                col.text(str(record.get("explanation") or ""))
                facts = {"value": record.get("value"), "lower": record.get("lower"), "upper": record.get("upper")}
                raw = record.get("evidence")
                evidence: dict = raw if isinstance(raw, dict) else {}
                facts |= {k: v for k, v in evidence.items() if not isinstance(v, dict | list)}
                col.dataframe(pd.DataFrame({"evidence": list(facts), "value": [common.readable(v) for v in facts.values()]}),
                              hide_index=True, width="stretch")
        decompositions = segment_charts.decompositions_of((latest or {}).get("evidence")) or \
            segment_charts.decompositions_of((fired or {}).get("evidence"))
        if decompositions:
            with st.expander("Where did it break: the change decomposed over segments", expanded=True):
                names = [str(d.get("segmentation")) for d in decompositions]
                chosen = common.pick("Segmentation", names, key=f"alerts_decomposition::{fingerprint}")
                d = decompositions[names.index(chosen)]
                st.text(str(d.get("sentence") or ""))  # data-derived: plain text
                st.altair_chart(segment_charts.decomposition_chart(d), width="stretch")
                st.caption("Counterfactual swap: each bar is how much of the model-level change goes away when "
                           "that segment's statistics are put back to the reference's (Shapley-averaged up to ten "
                           "segments); the mix bar is the segments' shares moving. The bars sum to the change.")
        with st.expander("History"):
            history = queries.alert_history(cfg, fingerprint)
            if history:
                st.dataframe(pd.DataFrame(history).iloc[::-1], hide_index=True, width="stretch")

        st.markdown("**Actions**")
        me = common.user()
        common.role_note("alerts.acknowledge", "incidents.write", "silences.write")
        a1, a2 = st.columns(2)
        if a1.button("Acknowledge", key="ack",
                     disabled=bool(alert.get("acked_by")) or not common.can("alerts.acknowledge")):
            if common.permitted("alerts.acknowledge"):
                try:
                    actions.acknowledge_alert(cfg, fingerprint, me)
                    common.done(f"Acknowledged by {me}.")
                except Exception as err:  # the package's refusal, with its hint
                    st.error(str(err))
        if a2.button("Open incident", key="open_incident",
                     disabled=bool(alert.get("incident_id")) or not common.can("incidents.write")):
            if common.permitted("incidents.write"):
                try:
                    incident_id = actions.open_incident_for_alert(cfg, fingerprint, me)
                    common.done(f"Opened incident {incident_id}.")
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
                        common.done(f"Silence {silence_id} until {ends:%Y-%m-%d %H:%M} UTC.")
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
