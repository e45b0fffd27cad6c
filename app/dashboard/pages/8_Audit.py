"""Audit: every write from the app and the CLI (who, when, what, before and after), newest first."""

from __future__ import annotations

import json
from datetime import date, datetime, time
from typing import Any

import pandas as pd
import streamlit as st

from app import queries
from app.dashboard import common
from core.audit import AuditError

cfg = common.page("Audit")
common.require_stores(cfg)


def as_json(state: Any) -> str:
    """Before/after as compact JSON text (shown as text, never as markup)."""
    return "" if state is None else json.dumps(state, sort_keys=True, default=str)


with common.store_busy_notice():
    f1, f2, f3, f4 = st.columns([2, 2, 2, 1])
    actor = f1.text_input("Actor", help="Exact user name, e.g. alice; 'system' for the scheduler, 'anonymous' for failed sign-ins")
    action_prefix = f2.text_input("Action starts with", help="e.g. incidents, registry.promote, auth")
    since_day = f3.date_input("Since", value=None, help="Entries at or after the start of this day (UTC)")
    limit = int(f4.number_input("Show at most", min_value=10, max_value=10_000, value=500, step=100))
    since = datetime.combine(since_day, time(0, 0)) if isinstance(since_day, date) else None
    try:
        entries = queries.audit_entries(cfg, actor=actor, action_prefix=action_prefix, since=since, limit=limit)
    except AuditError as err:
        st.error(str(err))
        st.stop()

    st.write(f"{len(entries)} entries, newest first")
    if not entries:
        st.info("No audit entries match. Every write (acknowledge, silence, incident, postmortem, registry, "
                "users, sign-ins) is recorded here; `vigil audit` shows the same log.")
        st.stop()
    table = pd.DataFrame(
        [
            {
                "id": e["entry_id"],
                "at": e["at"],
                "actor": e["actor"],
                "action": e["action"],
                "target": e["target"],
                "before": as_json(e["before"]),
                "after": as_json(e["after"]),
            }
            for e in entries
        ]
    )
    # A dataframe renders every cell as text: nothing typed by a user becomes markup.
    st.dataframe(table, hide_index=True, width="stretch")

    chosen = st.selectbox("Entry", [int(e["entry_id"]) for e in entries], format_func=lambda i: f"entry {i}",
                          key="audit_entry")
    entry = next(e for e in entries if int(e["entry_id"]) == chosen)
    st.text(f"{entry['at']}  {entry['actor']}  {entry['action']}  {entry['target']}")
    left, right = st.columns(2)
    left.markdown("**Before**")
    left.code(json.dumps(entry["before"], indent=2, sort_keys=True, default=str), language="json")
    right.markdown("**After**")
    right.code(json.dumps(entry["after"], indent=2, sort_keys=True, default=str), language="json")
