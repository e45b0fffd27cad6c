"""Decisions: the recommendation with its evidence, approval, carrying it out, reversal, history."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import actions, queries
from app.dashboard import common

ACTION_TEXT = {
    "fix_monitoring": "Fix the monitoring",
    "fix_upstream": "Fix upstream data (hold model alerts; never retrain on the affected window)",
    "roll_back": "Roll back to the previous model version",
    "retrain": "Retrain, and promote only a candidate that beats the champion",
    "hold_and_watch": "Hold and watch",
}

cfg = common.page("Decisions")
common.require_stores(cfg)

with common.store_busy_notice():
    incident_id = common.pick_incident(cfg)
    me = common.user()
    common.role_note("decisions.recommend", "decisions.approve", "decisions.carry_out")

    if st.button("Recommend a decision from the current evidence",
                 disabled=not common.can("decisions.recommend")) and common.permitted("decisions.recommend"):
        try:
            actions.recommend_decision(cfg, incident_id, user=me)
            common.done("Decision recommended from the current evidence.")
        except Exception as err:
            st.error(str(err))

    rows = queries.decisions(cfg, incident_id)
    if not rows:
        st.info("No decision yet for this incident. Ask Vigil for a recommendation above (or `vigil decisions recommend`).")
        st.stop()

    for decision in reversed(rows):
        action = str(decision.get("action"))
        state = str(decision.get("state"))
        with st.container(border=True):
            st.subheader(f"{ACTION_TEXT.get(action, action)} · {state}")
            first = (decision.get("history") or [{}])[0]
            st.text(first.get("reason", ""))  # typed by a user: plain text, not Markdown
            if decision.get("target_version") is not None:
                st.write(f"Target version: v{decision['target_version']}")
            with st.expander("Evidence"):
                evidence = first.get("evidence") or {}
                facts = {k: v for k, v in evidence.items() if not isinstance(v, dict | list)}
                if facts:
                    st.dataframe(pd.DataFrame({"evidence": list(facts),
                                               "value": [common.readable(v) for v in facts.values()]}),
                                 hide_index=True, width="stretch")
                for key, value in evidence.items():
                    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                        st.markdown(f"**{key}**")
                        st.dataframe(pd.DataFrame(value).map(
                            lambda v: common.readable(v) if isinstance(v, int | float) else
                            (", ".join(map(str, v)) if isinstance(v, list) else v)), hide_index=True, width="stretch")
                    elif isinstance(value, dict) and value:
                        st.markdown(f"**{key}**")
                        st.dataframe(pd.DataFrame({"item": list(value), "value": [
                            common.readable(v) if not isinstance(v, dict | list) else str(v) for v in value.values()]}),
                            hide_index=True, width="stretch")
                    elif isinstance(value, list) and value:
                        st.markdown(f"**{key}**")
                        st.text("\n".join(str(v) for v in value))
            st.dataframe(
                pd.DataFrame([{k: h.get(k) for k in ("at", "kind", "actor", "reason")} for h in decision.get("history") or []]),
                hide_index=True,
                width="stretch",
            )
            decision_id = str(decision["decision_id"])
            with st.form(f"act_{decision_id}"):
                reason = st.text_input("Reason (required)", key=f"reason_{decision_id}")
                candidate = None
                if action == "retrain" and state == "approved":
                    candidate = st.number_input("Candidate version", min_value=1, step=1, key=f"cand_{decision_id}")
                b1, b2, b3, b4 = st.columns(4)
                may_approve, may_carry = common.can("decisions.approve"), common.can("decisions.carry_out")
                why_not = {
                    "approve": None if state == "recommended" else f"only a recommended decision is approved (this one is {state})",
                    "reject": None if state in ("recommended", "approved") else f"a {state} decision cannot be rejected",
                    "carry": None if state == "approved" else "approve it first" if state == "recommended"
                    else f"a {state} decision cannot be carried out",
                    "reverse": None if state == "carried_out" else "only a carried-out decision is reversed",
                }
                approve = b1.form_submit_button("Approve", disabled=bool(why_not["approve"]) or not may_approve,
                                                help=why_not["approve"])
                reject = b2.form_submit_button("Reject", disabled=bool(why_not["reject"]) or not may_approve,
                                               help=why_not["reject"])
                carry = b3.form_submit_button("Carry out", disabled=bool(why_not["carry"]) or not may_carry,
                                              help=why_not["carry"])
                reverse = b4.form_submit_button("Reverse", disabled=bool(why_not["reverse"]) or not may_carry,
                                                help=why_not["reverse"])
                # Approving and rejecting are one permission; carrying out and reversing another.
                needed = "decisions.approve" if approve or reject else "decisions.carry_out"
                clicked = approve or reject or carry or reverse
                try:
                    if clicked and common.permitted(needed):
                        if approve:
                            actions.approve_decision(cfg, decision_id, me, reason)
                        elif reject:
                            actions.reject_decision(cfg, decision_id, me, reason)
                        elif carry:
                            actions.carry_out_decision(cfg, decision_id, me, reason,
                                                       int(candidate) if candidate is not None else None)
                        else:
                            actions.reverse_decision(cfg, decision_id, me, reason)
                        common.done(f"Decision {decision_id}: " + ("approved." if approve else "rejected." if reject
                                                                   else "carried out." if carry else "reversed."))
                except Exception as err:  # DecisionError / refused registry moves carry their reason
                    st.error(str(err))
