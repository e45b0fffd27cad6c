"""Benchmark: first render of every dashboard page over a year of hourly batches (issue 7).

Builds one year of hourly batches (8,760) with their check results, alerts, incidents and
paperwork directly in the stores (bench/synthetic_history.py), then renders each Streamlit
page (app/dashboard/Home.py and app/dashboard/pages/*.py) with streamlit.testing.v1.AppTest,
configured through the same environment variables the app uses ($VIGIL_CONFIG, $VIGIL_ROOT),
signed in as an admin (a session token in st.session_state, as the sign-in form keeps it),
and prints the first-render time per page against the 2 s target. A page that raises is
reported with its exception. With --profile, the slowest app.queries calls of each page are
printed too (the queries that make a page slow).

Usage: .venv/bin/python bench/app_bench.py [--hours 8760] [--root DIR] [--profile]
This is a benchmark, not a test: it prints figures and never asserts on time.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.synthetic_history import HOURS_PER_YEAR, build_history  # noqa: E402

DASHBOARD = ROOT / "app" / "dashboard"
TARGET_SECONDS = 2.0


def pages() -> list[Path]:
    return [DASHBOARD / "Home.py", *sorted((DASHBOARD / "pages").glob("*.py"))]


class QueryTimer:
    """Wraps every public function of app.queries to time it (AppTest runs pages in this process)."""

    def __init__(self) -> None:
        self.calls: dict[str, list[float]] = {}
        self._originals: dict[str, Callable[..., Any]] = {}

    def install(self) -> None:
        import app.queries as queries

        for name in dir(queries):
            fn = getattr(queries, name)
            if name.startswith("_") or not callable(fn) or getattr(fn, "__module__", None) != queries.__name__:
                continue
            if isinstance(fn, type):
                continue
            self._originals[name] = fn
            setattr(queries, name, self._timed(name, fn))

    def _timed(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.calls.setdefault(name, []).append(time.perf_counter() - began)

        return wrapper

    def take(self) -> list[tuple[str, float, int]]:
        """(query, total seconds, calls), slowest first; resets the record."""
        rows = sorted(((n, sum(t), len(t)) for n, t in self.calls.items()), key=lambda r: -r[1])
        self.calls = {}
        return rows


def quiet_streamlit() -> None:
    """AppTest's bare-mode warnings ('missing ScriptRunContext') are noise in the printed figures."""
    os.environ["STREAMLIT_LOGGER_LEVEL"] = "error"  # AppTest re-applies the config's logger level on run
    import streamlit.logger

    streamlit.logger.set_log_level("error")
    logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").disabled = True


def signed_in_session(cfg: Any) -> str | None:
    """A session token of an admin, as the sign-in form would keep it (None without sign-in support)."""
    try:
        from core import auth
    except ModuleNotFoundError:
        return None
    from core.stores import stores_for

    ops = stores_for(cfg)[1]
    path = auth.users_file(cfg.root)
    user = auth.get_user(path, "bench") or auth.add_user(path, "bench", "admin", "bench-password-123", ops=ops)
    return str(auth.create_session(ops, user, source="bench"))


def render_page(page: Path, timeout: float, session: str | None) -> tuple[float, list[str], bool]:
    """First-render time of a fresh AppTest of the page (signed in), its exceptions, and
    whether the page got past the sign-in form."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(page), default_timeout=timeout)
    if session is not None:
        from app.dashboard.common import SESSION_KEY

        at.session_state[SESSION_KEY] = session
    began = time.perf_counter()
    at.run()
    took = time.perf_counter() - began
    signed_in = not any("sign in" in str(t.value) for t in at.title)
    return took, [str(e.value) for e in at.exception], signed_in


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="First render of every dashboard page over a year of batches.")
    parser.add_argument("--hours", type=int, default=HOURS_PER_YEAR, help="hourly batches to synthesise")
    parser.add_argument("--root", type=Path, default=None, help="storage root (default: a temporary folder)")
    parser.add_argument("--profile", action="store_true", help="also print the slowest app.queries calls per page")
    parser.add_argument("--timeout", type=float, default=120.0, help="give up on a page after this many seconds")
    args = parser.parse_args(argv)
    quiet_streamlit()

    with tempfile.TemporaryDirectory(prefix="vigil-app-bench-") as tmp:
        root = args.root or Path(tmp) / "var"
        began = time.perf_counter()
        cfg = build_history(root, args.hours)
        print(f"synthesised {args.hours} hourly batches in {time.perf_counter() - began:.1f} s under {root}")
        os.environ["VIGIL_CONFIG"] = str(cfg.source_file)
        os.environ["VIGIL_ROOT"] = str(cfg.root)
        os.environ.setdefault("VIGIL_USER", "bench")
        session = signed_in_session(cfg)
        timer = QueryTimer()
        if args.profile:
            timer.install()
        # Warm the interpreter (imports of streamlit, altair, pandas) so the first page is not charged for them.
        render_page(pages()[0], args.timeout, session)
        timer.take()
        print(f"{'page':<22} {'first render':>12}  target {TARGET_SECONDS:.0f} s")
        slow = 0
        for page in pages():
            took, errors, signed_in = render_page(page, args.timeout, session)
            verdict = "ERROR" if errors else "SIGN-IN FORM" if not signed_in else "SLOW" if took >= TARGET_SECONDS else "ok"
            slow += verdict != "ok"
            print(f"{page.stem:<22} {took:>10.2f} s  {verdict}")
            for error in errors:
                print(f"    exception: {error.splitlines()[0][:200]}")
            if args.profile:
                for name, seconds, calls in timer.take()[:4]:
                    print(f"    {name:<32} {seconds:>7.2f} s  ({calls} call{'s' if calls != 1 else ''})")
        print(f"{'exporter scrape':<22} {exporter_scrape_seconds(cfg):>10.2f} s  (vigil exporter, same stores)")
    return 0 if slow == 0 else 1


def exporter_scrape_seconds(cfg: Any) -> float:
    """One scrape of the Prometheus exporter's collector over the same stores."""
    from prometheus_client.exposition import generate_latest

    from app.exporter import metrics_registry

    registry = metrics_registry(cfg)
    began = time.perf_counter()
    generate_latest(registry)
    return time.perf_counter() - began


if __name__ == "__main__":
    sys.exit(main())
