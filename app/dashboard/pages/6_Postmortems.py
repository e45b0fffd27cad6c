"""Postmortems: prefilled from the incident, edited as revisions, action items, Markdown export."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import actions, queries
from app.dashboard import common

ACTION_KINDS = ["prevent", "mitigate", "detect", "repair", "process"]
ACTION_STATUSES = ["open", "in_progress", "done", "wont_do"]

cfg = common.page("Postmortems")
common.require_stores(cfg)

with common.store_busy_notice():
    incident_id = common.pick_incident(cfg)
    me = common.user()
    common.role_note("postmortems.write")
    may_write = common.can("postmortems.write")

    current = queries.postmortem(cfg, incident_id)
    if current is None:
        st.info("This incident has no postmortem yet. Vigil drafts one from its timeline, alerts and evidence.")
        if st.button("Draft the postmortem", disabled=not may_write) and common.permitted("postmortems.write"):
            try:
                actions.create_postmortem(cfg, incident_id, me)
                common.done("Postmortem drafted.")
            except Exception as err:
                st.error(str(err))
        st.stop()

    history = queries.postmortem_revisions(cfg, incident_id)
    numbers = [int(r["revision"]) for r in history] or [int(current["revision"])]
    shown_revision = st.selectbox("Revision", sorted(numbers, reverse=True), format_func=lambda n: f"revision {n}")
    shown = current if shown_revision == current["revision"] else queries.postmortem(cfg, incident_id, int(shown_revision))
    assert shown is not None
    # st.text: the author's comment is shown as typed, never as Markdown or HTML.
    st.text(f"Revision {shown['revision']} of {current['revisions']}, saved by {shown['author']} at {shown['saved_at']}"
            + (f": {shown['comment']}" if shown.get("comment") else ""))

    tab_edit, tab_actions, tab_export = st.tabs(["Edit", "Action items", "Export"])

    with tab_edit:
        editable = shown["revision"] == current["revision"]
        if not editable:
            st.info("An older revision is read-only; pick the latest revision to edit.")
        with st.form("postmortem"):
            edited: dict[str, str] = {}
            for field, heading, prompt in queries.postmortem_template():
                edited[field] = st.text_area(heading, value=shown["fields"].get(field, ""), help=prompt,
                                             placeholder=prompt, disabled=not editable, key=f"pm_{field}")
            comment = st.text_input("What changed (optional)", disabled=not editable)
            if st.form_submit_button("Save revision", disabled=not editable or not may_write) and common.permitted(
                "postmortems.write"
            ):
                changes = {k: v for k, v in edited.items() if v != shown["fields"].get(k, "")}
                try:
                    actions.save_postmortem(cfg, incident_id, changes, me, comment or None)
                    common.done("Saved as a new revision.")
                except Exception as err:
                    st.error(str(err))

    with tab_actions:
        items = queries.action_items(cfg, incident_id)
        if items:
            st.dataframe(pd.DataFrame(items), hide_index=True, width="stretch")
            with st.form("action_status"):
                item = st.selectbox("Action item", [i["item_id"] for i in items],
                                    format_func=lambda i: next(x["title"] for x in items if x["item_id"] == i))
                status = st.selectbox("Status", ACTION_STATUSES)
                if st.form_submit_button("Update", disabled=not may_write) and common.permitted("postmortems.write"):
                    try:
                        actions.update_action_item(cfg, str(item), me, str(status))
                        common.done(f"Action item status: {status}.")
                    except Exception as err:
                        st.error(str(err))
        else:
            st.caption("No action items yet.")
        with st.form("new_action", clear_on_submit=True):
            title = st.text_input("New action item")
            c1, c2, c3 = st.columns(3)
            owner = c1.text_input("Owner (team or person)")
            kind = c2.selectbox("Type", ACTION_KINDS)
            due = c3.date_input("Due")
            if st.form_submit_button("Add", disabled=not may_write) and common.permitted("postmortems.write"):
                try:
                    actions.add_action_item(cfg, incident_id, title=title, owner=owner, kind=str(kind),
                                            due=due.isoformat() if due else "", user=me)
                    common.done("Action item added.")
                except Exception as err:
                    st.error(str(err))

    with tab_export:
        markdown = queries.postmortem_markdown(cfg, incident_id, int(shown["revision"]))
        if markdown:
            st.download_button("Download Markdown", markdown, file_name=f"postmortem-{incident_id}.md",
                               mime="text/markdown")
            st.caption(f"Also `vigil postmortem export {incident_id}`.")
            st.markdown(markdown)  # Markdown only, never unsafe HTML
