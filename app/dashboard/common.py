"""What every page does first: page setup, the config, sign-in, the empty state, the acting user.

Pages read through app.queries and write through app.actions; no SQL and no store
connection lives here or survives a rerun. Only the session token lives in
st.session_state; the user and role are read back from the ops store and the users file on
every rerun (core.auth.check_session), so an expired session, a removed user or a changed
role applies at the next click.
"""

from __future__ import annotations

import hashlib
import math
import sqlite3
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import altair as alt
import pandas as pd
import streamlit as st

from app import settings
from app.dashboard import session_cookie
from app.queries import empty_hint, store_state
from core import auth
from core.config import ConfigError, VigilConfig
from core.stores import OpsStore, StoreBusy, stores_for

# One colour scheme for statuses on every page, chart and table: fail red, error dark red,
# warn amber, ok green, skipped grey. Streamlit's Material icons, not emoji (emoji render as
# empty boxes where no emoji font is installed).
STATUS_COLORS = {"fail": "#d62728", "error": "#8c1d18", "warn": "#f0a202", "ok": "#2e9d3a", "skipped": "#9e9e9e"}
STATUS_ICON = {
    "fail": ":red[:material/cancel:]",
    "error": ":red[:material/error:]",
    "warn": ":orange[:material/warning:]",
    "ok": ":green[:material/check_circle:]",
    "skipped": ":gray[:material/remove_circle:]",
}
STATE_COLORS = {"firing": "#d62728", "pending": "#f0a202", "resolved": "#2e9d3a", "inactive": "#9e9e9e"}
STATE_ICON = {
    "firing": ":red[:material/notifications_active:]",
    "pending": ":orange[:material/hourglass_top:]",
    "resolved": ":green[:material/check_circle:]",
    "inactive": ":gray[:material/radio_button_unchecked:]",
}
T = TypeVar("T")
# st.session_state keys: the session token (the only credential kept) and the user it resolved to.
SESSION_KEY = "vigil_session_token"
USER_KEY = "vigil_signed_in_user"
HANDOFF_KEY = "vigil_cookie_handoff"
FLASH_KEY = "vigil_done_message"  # a write's confirmation, shown once after the rerun


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
    require_sign_in(cfg, title)
    st.title(title)
    st.caption(f"model **{cfg.model.name}** · storage `{cfg.root}`")
    show_done()
    return cfg


# ---- sign-in ------------------------------------------------------------------------------


def _ops(cfg: VigilConfig) -> OpsStore:
    return stores_for(cfg)[1]


def _client_source() -> str:
    """Where the sign-in comes from, for the per-source rate limit (the browser's address)."""
    try:
        address = st.context.ip_address
    except Exception:  # no request context (AppTest, bare script run)
        address = None
    return f"dashboard:{address}" if address else "dashboard"


def _session_user(cfg: VigilConfig, token: str) -> auth.User | None:
    if not cfg.ops_path.exists():  # no store, no session (and reading must not create the store)
        return None
    try:
        return auth.check_session(auth.users_file(cfg.root), _ops(cfg), token)
    except auth.UsersFileError as err:
        st.error(str(err))
        st.stop()
        raise


def require_sign_in(cfg: VigilConfig, title: str = "Vigil") -> auth.User:
    """The signed-in user; otherwise show only the sign-in form and stop the page."""
    token = st.session_state.get(SESSION_KEY)
    from_cookie = False
    if not token:
        # A refreshed browser has a new Streamlit session: its signed HttpOnly cookie brings the
        # session token back (still checked against the ops store like any token).
        token = _token_from_cookie(cfg)
        from_cookie = token is not None
    notice = None
    if token:
        user = _session_user(cfg, str(token))
        if user is not None:
            st.session_state[SESSION_KEY] = token
            st.session_state[USER_KEY] = user
            _hand_cookie_over()
            _sidebar(cfg, user, str(token))
            return user
        notice = "Your session has expired or was ended: sign in again."
    st.session_state.pop(SESSION_KEY, None)
    st.session_state.pop(USER_KEY, None)
    if from_cookie or _cookie_value():
        _embed_route(session_cookie.SIGNOUT_ROUTE)  # a dead cookie is cleared
    sign_in_form(cfg, title, notice)
    st.stop()
    raise RuntimeError("unreachable: st.stop() raises")


def _cookie_value() -> str | None:
    try:
        value = st.context.cookies.get(session_cookie.COOKIE)
    except Exception:  # no request context (AppTest, bare script run)
        return None
    return str(value) if value else None


def _token_from_cookie(cfg: VigilConfig) -> str | None:
    value = _cookie_value()
    if not value:
        return None
    return session_cookie.unsign(session_cookie.signing_key(cfg.root), value)


def _embed_route(route: str) -> None:
    """Call one of the dashboard server's cookie routes from the browser (same origin, 1 px)."""
    st.iframe(route, height=1, width=1)


def _hand_cookie_over() -> None:
    """Right after sign-in: have the browser fetch its HttpOnly cookie with the one-time code."""
    code = st.session_state.pop(HANDOFF_KEY, None)
    if code:
        _embed_route(f"{session_cookie.SESSION_ROUTE}?code={code}")


def sign_in_form(cfg: VigilConfig, title: str, notice: str | None = None) -> None:
    """Username and password; on success keep the session token and rerun the page."""
    path = auth.users_file(cfg.root)
    st.title("Vigil · sign in")
    st.caption(f"Sign in to see {title}.")
    if notice:
        st.warning(notice)
    if not path.exists():
        st.info(
            f"No users yet ({path}). The first `make run` creates an admin and prints its password once; "
            "or add one with `vigil users add NAME --role admin`."
        )
    # clear_on_submit: the password does not stay in the widget state after the attempt.
    with st.form("sign_in", clear_on_submit=True):
        username = st.text_input("Username", autocomplete="username")
        password = st.text_input("Password", type="password", autocomplete="current-password")
        submitted = st.form_submit_button("Sign in")
    if not submitted:
        return
    try:
        _user, token = auth.sign_in(path, _ops(cfg), username.strip(), password, source=_client_source())
    except auth.SignInLocked as err:
        st.error(f"{err} Retry after {err.retry_after_seconds} s.")
        return
    except auth.AuthError as err:  # SignInFailed, or a users file that cannot be read
        st.error(str(err))
        return
    st.session_state[SESSION_KEY] = token
    st.session_state[HANDOFF_KEY] = session_cookie.new_handoff(token, int(auth.SESSION_TTL.total_seconds()))
    st.rerun()


def _sidebar(cfg: VigilConfig, user: auth.User, token: str) -> None:
    # st.text, not markdown: the user name is shown as plain text.
    st.sidebar.text(f"Signed in as {user.username} ({user.role})")
    if st.sidebar.button("Sign out", key="sign_out"):
        auth.expire_session(_ops(cfg), token)
        st.session_state.pop(SESSION_KEY, None)
        st.session_state.pop(USER_KEY, None)
        st.rerun()


def signed_in() -> auth.User:
    """The user of this session (page() has signed them in)."""
    user = st.session_state.get(USER_KEY)
    if not isinstance(user, auth.User):
        raise RuntimeError("no signed-in user: call common.page() first")
    return user


def can(action: str) -> bool:
    """For disabling buttons; the action itself still checks with permitted()."""
    return signed_in().can(action)


def permitted(action: str) -> bool:
    """Check the role right before an action: False, with the reason shown, when it is missing."""
    try:
        auth.require(signed_in(), action)
    except auth.PermissionDenied as err:
        st.error(str(err))
        return False
    return True


def done(message: str) -> None:
    """Confirm a completed write, then rerun so the page shows the state after it.

    The message rides in st.session_state across the rerun (st.success alone would be wiped
    by it, and a page drawn from before the write shows stale aliases and buttons). No
    Streamlit call sits between the write and this, so an interrupted run cannot lose it."""
    st.session_state[FLASH_KEY] = str(message)
    st.rerun()


def show_done() -> None:
    """The confirmation of the write that led to this run, once (plain text, never markup)."""
    message = st.session_state.pop(FLASH_KEY, None)
    if message:
        st.success(escaped(str(message)), icon=":material/check_circle:")


def escaped(text: str) -> str:
    """Text for a Markdown-rendering element (st.success, st.error) shown as typed, on one line.

    Whitespace runs become one space (no line can start a block: list, heading, code, quote);
    control characters are dropped.
    The characters that open inline markup (emphasis, links, HTML, code, LaTeX, tables,
    entities) are backslash-escaped, and so are a colon before a letter or a slash (Streamlit's
    `:red[...]` and `:material/icon:` directives, autolinked URLs), a leading `-` and the `.`
    of a leading number (lists). Plain prose such as "Rollback: done." is left as it is."""
    line = " ".join("".join(c for c in text if c.isspace() or unicodedata.category(c) != "Cc").split())
    lead = len(line) - len(line.lstrip("0123456789"))
    out = []
    for i, c in enumerate(line):
        after = line[i + 1] if i + 1 < len(line) else ""
        if (c in _MARKDOWN_OPENERS or (c == ":" and (after.isalnum() or after == "/"))
                or (i == 0 and c in "-=") or (i == lead and lead > 0 and c == ".")):
            out.append("\\" + c)
        else:
            out.append(c)
    return "".join(out)


_MARKDOWN_OPENERS = frozenset("\\`*_{}[]()<>#+!|~$&\"")


def role_note(*actions: str) -> None:
    """Tell a user whose role lacks some of this page's actions why their buttons are disabled."""
    user = signed_in()
    missing = [a for a in actions if not user.can(a)]
    if missing:
        needed = sorted({auth.role_needed(a) for a in missing}, key=auth.ROLES.index)
        st.info(
            f"Signed in as {user.username} with the {user.role} role: {', '.join(missing)} need(s) the "
            f"{' or '.join(needed)} role, so those buttons are disabled."
        )


def require_stores(cfg: VigilConfig, warehouse: bool = False) -> None:
    """Show the empty state with a hint and stop when there is nothing to read."""
    state = store_state(cfg)
    if state.empty or (warehouse and not state.warehouse):
        st.info(empty_hint(cfg))
        st.stop()


def user() -> str:
    """The acting user's name for every action: the signed-in user."""
    return signed_in().username


def icon(status: Any) -> str:
    """A status with its coloured Material icon, for Markdown (st.markdown, st.write, labels)."""
    return f"{STATUS_ICON.get(str(status), '')} {status}".strip()


def state_icon(state: Any) -> str:
    """An alert state with its coloured Material icon, for Markdown."""
    return f"{STATE_ICON.get(str(state), '')} {state}".strip()


def status_scale() -> alt.Scale:
    """The one status colour scheme, for Altair charts (statuses not seen still keep their colour)."""
    return alt.Scale(domain=list(STATUS_COLORS), range=list(STATUS_COLORS.values()))


def _cell_colour(palette: dict[str, str]) -> Callable[[Any], str]:
    def colour(value: Any) -> str:
        hue = palette.get(str(value))
        return f"color: {hue}; font-weight: 600" if hue else ""

    return colour


def styled(frame: pd.DataFrame, status: Sequence[str] = ("status",), state: Sequence[str] = ()) -> Any:
    """A table whose status / state cells are coloured like everywhere else (tables cannot show
    Markdown icons, so the colour is the cue, and the word stays readable without it)."""
    styler = frame.style
    status_cols = [c for c in status if c in frame.columns]
    state_cols = [c for c in state if c in frame.columns]
    if status_cols:
        styler = styler.map(_cell_colour(STATUS_COLORS), subset=status_cols)
    if state_cols:
        styler = styler.map(_cell_colour(STATE_COLORS), subset=state_cols)
    return styler


def readable(value: Any) -> str:
    """A number as a person reads it: all its integer digits, sensible decimals, no float noise
    (164.7273 stays 164.7273, 2139.298 stays 2,139.298, 138.97101999999998 becomes 138.971)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int) or float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    magnitude = abs(float(value))
    if not math.isfinite(float(value)):
        return str(value)
    if magnitude >= 1e6:
        return f"{value:,.0f}"  # every integer digit, never 1.235e+06
    if magnitude < 1e-4:
        return f"{value:.3g}"
    decimals = 2 if magnitude >= 1000 else 4 if magnitude >= 1 else 5
    text = f"{value:,.{decimals}f}".rstrip("0").rstrip(".")
    return text


def pick(label: str, options: Sequence[T], *, key: str, format_func: Callable[[Any], str] = str,
         default: int = 0, container: Any = None) -> T:
    """A select box that keeps the user's choice BY VALUE across reruns and when the options
    change (a new batch from a cycle must not move the user to another batch).

    Streamlit maps a kept selection by position when the options change; here the widget's key
    carries a digest of the options, so a changed list builds a new widget whose index is the
    remembered value's new position."""
    options = list(options)
    remembered_key = f"{key}::value"
    remembered = st.session_state.get(remembered_key)
    index = options.index(remembered) if remembered in options else min(default, max(len(options) - 1, 0))
    digest = hashlib.sha256(repr([format_func(o) for o in options]).encode()).hexdigest()[:12]
    where = container if container is not None else st
    chosen = where.selectbox(label, options, index=index, format_func=format_func, key=f"{key}::{digest}")
    st.session_state[remembered_key] = chosen
    return chosen  # type: ignore[no-any-return]


# Wide tables (1,000 columns, thousands of results per batch): per-column views are searched
# and paged, never rendered whole.
PAGE_SIZE = 100


def matching(options: Sequence[str], query: str) -> list[str]:
    """Options containing every word of the query (case-insensitive); all of them for an empty query."""
    words = str(query or "").lower().split()
    return [o for o in options if all(w in str(o).lower() for w in words)]


def page_bounds(n: int, page: int, page_size: int = PAGE_SIZE) -> tuple[int, int, int]:
    """(start, stop, pages) of 1-based ``page`` of ``n`` rows (clamped to the pages there are)."""
    pages = max(1, math.ceil(n / page_size))
    page = min(max(int(page), 1), pages)
    return (page - 1) * page_size, min(page * page_size, n), pages


def searched(options: Sequence[str], *, key: str, what: str = "columns") -> list[str]:
    """A search box over ``options``; returns the matching ones and says how many matched."""
    query = st.text_input(f"Search {what}", key=f"{key}::search", placeholder="part of a name, e.g. income")
    found = matching(options, query)
    if query:
        st.caption(f"{len(found):,} of {len(options):,} {what} match {query!r}.")
    return found


def paged(frame: pd.DataFrame, *, key: str, page_size: int = PAGE_SIZE) -> pd.DataFrame:
    """One page of ``frame`` (with a page picker when there is more than one page)."""
    if len(frame) <= page_size:
        return frame
    pages = max(1, math.ceil(len(frame) / page_size))
    page = st.number_input(f"Page (of {pages:,})", min_value=1, max_value=pages, value=1, step=1, key=f"{key}::page")
    start, stop, _ = page_bounds(len(frame), int(page), page_size)
    st.caption(f"Rows {start + 1:,}-{stop:,} of {len(frame):,}.")
    return frame.iloc[start:stop]


def root_cause_groups(firing: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Firing alerts grouped by root cause: each alert not inhibited by another firing alert is a
    root, with the alerts it explains; the oldest unacknowledged root first."""
    by_fp = {str(a.get("fingerprint")): a for a in firing}
    explained: dict[str, list[dict[str, Any]]] = {}
    roots = []
    for alert in firing:
        cause = alert.get("inhibited_by")
        if cause and str(cause) in by_fp:
            explained.setdefault(str(cause), []).append(alert)
        else:
            roots.append(alert)

    def order(alert: dict[str, Any]) -> tuple[bool, str, str]:
        return (bool(alert.get("acked_by")), str(alert.get("fired_at") or alert.get("started_batch") or ""),
                str(alert.get("fingerprint")))

    return [{"root": r, "explained": explained.get(str(r.get("fingerprint")), [])} for r in sorted(roots, key=order)]


def pick_incident(cfg: VigilConfig, label: str = "Incident") -> str:
    """A select box over the model's incidents (newest first); stops the page when there are none."""
    from app.queries import incidents

    rows = incidents(cfg)
    if not rows:
        st.info("No incidents yet: a firing critical alert opens one, or open one by hand from the Alerts page.")
        st.stop()
    titles = {r["incident_id"]: f"{r['incident_id']} · {r['severity']} · {r['status']} · {r['title']}" for r in rows}
    chosen = pick(label, list(titles), key="incident", format_func=lambda i: titles.get(i, str(i)))
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
