"""Child processes of ``vigil app`` and ``vigil demo``: the Streamlit server and the scheduler.

Children get the config path and storage root through the environment (``settings.child_env``)
and are stopped with SIGTERM, then SIGKILL after a grace period, so Ctrl-C leaves nothing behind.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

DASHBOARD_HOME = Path(__file__).resolve().parent / "dashboard" / "Home.py"
# The server script: Home.py's pages plus the session-cookie routes (st.App).
DASHBOARD_SERVER = Path(__file__).resolve().parent / "dashboard" / "server.py"
DEFAULT_PORT = 8501


def streamlit_command(port: int = DEFAULT_PORT, address: str | None = None) -> list[str]:
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(DASHBOARD_SERVER),
        "--server.headless",
        "true",
        "--server.port",
        str(port),
        "--browser.gatherUsageStats",
        "false",
        # A served dashboard never reloads itself: no source-file watcher, no rerun on save.
        # (An edited or upgraded checkout takes effect at the next `vigil app`, not mid-click.)
        "--server.fileWatcherType",
        "none",
        "--server.runOnSave",
        "false",
    ]
    if address:
        cmd += ["--server.address", address]
    return cmd


def scheduler_command(simulate: bool) -> list[str]:
    """The scheduler as a `vigil schedule` child; config and root come from the environment."""
    cmd = [sys.executable, "-m", "app.cli", "schedule"]
    if simulate:
        cmd.append("--simulate")
    return cmd


@contextmanager
def stop_signals_interrupt() -> Iterator[None]:
    """Inside: SIGINT and SIGTERM raise KeyboardInterrupt, so the parent can stop its children.

    Explicit, because a parent started in the background inherits SIGINT as ignored.
    """

    def on_stop(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, on_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def spawn(cmd: Sequence[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(list(cmd), env=env)


def stop_children(children: Sequence[subprocess.Popen[bytes]], grace_seconds: float = 20.0) -> None:
    """SIGTERM every child still running, wait for them, SIGKILL what is left."""
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    for child in children:
        remaining = max(deadline - time.monotonic(), 0.1)
        try:
            child.wait(timeout=remaining)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(timeout=5)


def wait_any(children: Sequence[subprocess.Popen[bytes]], poll_seconds: float = 0.5) -> subprocess.Popen[bytes]:
    """Block until one child exits; returns it."""
    while True:
        for child in children:
            if child.poll() is not None:
                return child
        time.sleep(poll_seconds)
