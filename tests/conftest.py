"""Suite-wide fixtures."""

from __future__ import annotations

import faulthandler
import os
import sys
from collections.abc import Iterator

import pytest
from hypothesis import settings

# Property tests draw the same examples on every run (a fixed seed per test), so CI is
# reproducible; HYPOTHESIS_PROFILE=explore draws new ones each run, to look across seeds.
settings.register_profile("vigil", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "vigil"))

# CI stops the whole run at 90 minutes, install included. A test that hangs past its own
# timeout (a stuck thread that pytest-timeout cannot interrupt) would eat that silently:
# past this many seconds the run dumps every thread's stack and exits, so the log says where.
SUITE_LIMIT_S = int(os.environ.get("VIGIL_TEST_SUITE_LIMIT_S", "4500"))


def pytest_sessionstart(session: pytest.Session) -> None:
    faulthandler.dump_traceback_later(SUITE_LIMIT_S, exit=True)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    faulthandler.cancel_dump_traceback_later()


@pytest.fixture(autouse=True)
def _restore_main_module() -> Iterator[None]:
    """Streamlit's AppTest installs the page it runs as ``__main__`` and leaves it there.
    multiprocessing's spawn then re-runs that page in every child; restore the real one."""
    main = sys.modules.get("__main__")
    yield
    if main is not None and sys.modules.get("__main__") is not main:
        sys.modules["__main__"] = main


@pytest.fixture(autouse=True)
def _cli_credentials(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """`vigil login` keeps tokens under the user's home: each test gets its own file, and no
    token from the environment of whoever runs the suite leaks in."""
    monkeypatch.setenv("VIGIL_CREDENTIALS_FILE", str(tmp_path_factory.mktemp("home") / "credentials.json"))
    monkeypatch.delenv("VIGIL_TOKEN", raising=False)
