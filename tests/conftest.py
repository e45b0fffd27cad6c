"""Suite-wide fixtures."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest


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
