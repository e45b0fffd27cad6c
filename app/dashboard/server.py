"""The dashboard's server: Streamlit (Home.py and its pages) plus the session-cookie routes.

Started by `vigil app` / `vigil demo` as `streamlit run app/dashboard/server.py`; Streamlit finds
the ``st.App`` below and serves Home.py's multipage app with two extra routes (see
app/dashboard/session_cookie.py). Pages still run as plain scripts (and under AppTest).
"""

from __future__ import annotations

import time
from pathlib import Path

import streamlit as st
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app import settings
from app.dashboard import session_cookie

HOME = Path(__file__).resolve().parent / "Home.py"


async def set_session_cookie(request: Request) -> Response:
    """Exchange a one-time code from the sign-in form for the HttpOnly session cookie."""
    handed = session_cookie.take_handoff(request.query_params.get("code"))
    response = Response(status_code=204, headers={"Cache-Control": "no-store"})
    if handed is None:
        response.status_code = 403
        return response
    token, max_age = handed
    key = session_cookie.signing_key(settings.load().root)
    expires = int(time.time()) + max_age
    response.set_cookie(session_cookie.COOKIE, session_cookie.sign(key, token, expires), max_age=max_age,
                        path="/", httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")
    return response


async def clear_session_cookie(_request: Request) -> Response:
    response = Response(status_code=204, headers={"Cache-Control": "no-store"})
    response.delete_cookie(session_cookie.COOKIE, path="/", httponly=True, samesite="strict")
    return response


app = st.App(
    str(HOME),
    routes=[
        Route(session_cookie.SESSION_ROUTE, set_session_cookie, methods=["GET"]),
        Route(session_cookie.SIGNOUT_ROUTE, clear_session_cookie, methods=["GET"]),
    ],
)
