"""What every page does first: page setup, the config, the empty state, the acting user.

Pages read through app.queries and write through app.actions; no SQL and no store
connection lives here or survives a rerun.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import streamlit as st

from app import settings
from app.queries import empty_hint, store_state
from core.config import ConfigError, VigilConfig
from core.stores import StoreBusy

STATUS_ICON = {"fail": "🔴", "error": "🟠", "warn": "🟡", "ok": "🟢", "skipped": "⚪"}
STATE_ICON = {"firing": "🔴", "pending": "🟡", "resolved": "🟢", "inactive": "⚪"}


def page(title: str) -> VigilConfig:
    """Set up the page and return the config; stops the page with the error if it is invalid."""
    st.set_page_config(page_title=f"Vigil · {title}", layout="wide")
    try:
        cfg = settings.load()
    except ConfigError as err:
        st.title(title)
        st.error(f"The config could not be loaded:\n\n```\n{err}\n```")
        st.caption(f"Set ${settings.CONFIG_ENV} or start the app with `vigil --config PATH app`.")
        st.stop()
        raise  # unreachable: st.stop() raises; keeps type checkers happy
    st.title(title)
    st.caption(f"model **{cfg.model.name}** · storage `{cfg.root}`")
    return cfg


def require_stores(cfg: VigilConfig, warehouse: bool = False) -> None:
    """Show the empty state with a hint and stop when there is nothing to read."""
    state = store_state(cfg)
    if state.empty or (warehouse and not state.warehouse):
        st.info(empty_hint(cfg))
        st.stop()


def user() -> str:
    return settings.current_user(os.environ.get(settings.USER_ENV))


def icon(status: Any) -> str:
    return f"{STATUS_ICON.get(str(status), '')} {status}"


def state_icon(state: Any) -> str:
    return f"{STATE_ICON.get(str(state), '')} {state}"


def pick_incident(cfg: VigilConfig, label: str = "Incident") -> str:
    """A select box over the model's incidents (newest first); stops the page when there are none."""
    from app.queries import incidents

    rows = incidents(cfg)
    if not rows:
        st.info("No incidents yet: a firing critical alert opens one, or open one by hand from the Alerts page.")
        st.stop()
    titles = {r["incident_id"]: f"{r['incident_id']} · {r['severity']} · {r['status']} · {r['title']}" for r in rows}
    chosen = st.selectbox(label, list(titles), format_func=lambda i: titles[i])
    return str(chosen)


@contextmanager
def store_busy_notice() -> Iterator[None]:
    """Wrap a page body: a store held by a long write shows a notice instead of a traceback."""
    try:
        yield
    except StoreBusy as err:
        st.warning(f"A check cycle is writing to the warehouse right now ({err}). Reload in a moment.")
    except sqlite3.OperationalError as err:
        if "locked" not in str(err):
            raise
        st.warning("The operational store is busy; reload in a moment.")
