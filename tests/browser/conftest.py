"""A running Vigil dashboard (a real `vigil app` subprocess) over a store built here, and a
headless Chromium (Debian's chromium + chromedriver) driving it through Selenium.

A failing test keeps a screenshot and the page text in tests/artifacts/ (git-ignored).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "tests" / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
START = date(2024, 3, 1)
UNIT_DAY = START + timedelta(days=6)  # the newest day: its unit-change alert is still firing
SERVER_START_SECONDS = 90

# Who signs in: an approver (may silence, update incidents, write postmortems and roll back).
APPROVER = ("olga", "olga-approver-pw")
ADMIN = ("ada", "ada-admin-pw-1")


@dataclass(frozen=True)
class Site:
    url: str
    cfg: Any  # core.config.VigilConfig
    log: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def register_two_versions(cfg: Any, folder: Path) -> None:
    """v1 approved champion, v2 approved and better: promoting v2 then rolling back is possible."""
    from core.registry import Registry
    from core.stores import stores_for

    registry = Registry(stores_for(cfg)[1])
    for auc in (0.71, 0.74):
        artifact = folder / f"model_{auc}.bin"
        artifact.write_bytes(b"a stand-in artifact: the browser test only moves registry aliases")
        registry.register(
            cfg.model.registry_name or cfg.model.name,
            run_id=f"run-{auc}",
            data_version="sha-data",
            environment={"python": "3.11"},
            evaluation={"holdout": "h1", "metrics": {"roc_auc": auc, "brier": 0.1}},
            artifact_path=str(artifact),
            artifact_sha256="sha-artifact",
        )
    name = cfg.model.registry_name or cfg.model.name
    registry.approve(name, 1, ADMIN[0], "first version")
    registry.approve(name, 2, ADMIN[0], "beats v1 on the holdout")
    registry.set_alias(name, "champion", 1, ADMIN[0], "first champion")


def build_store(folder: Path, before_cycle: Callable[[Path], None] | None = None) -> Path:
    """A week of history with a unit change on the last day, one real cycle, users, two versions.

    `before_cycle(folder)` may rewrite the landing files before the cycle loads them."""
    from app.cycle import run_cycle
    from core import auth
    from core.clock import ManualClock
    from core.config import load_config
    from core.stores import stores_for
    from tests.app.builders import write_history
    from tests.app.conftest import small_config, write_config

    config_path = write_config(folder, small_config())
    cfg = load_config(config_path, root=folder / "var")
    write_history(cfg.root, START, days=7, unit_change_day=UNIT_DAY)
    if before_cycle is not None:
        before_cycle(folder)
    run_cycle(cfg, clock=ManualClock(datetime(2024, 3, 8, 6, 0)), notify=False)
    users = auth.users_file(cfg.root)
    ops = stores_for(cfg)[1]
    auth.add_user(users, ADMIN[0], "admin", ADMIN[1], ops=ops)
    auth.add_user(users, APPROVER[0], "approver", APPROVER[1], ops=ops, actor=ADMIN[0])
    register_two_versions(cfg, folder)
    return config_path


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the dashboard exited with code {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"the dashboard did not answer within {SERVER_START_SECONDS}s:\n{log.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process group we started (vigil app stops its Streamlit child), then SIGKILL."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """`python -m app.cli --config CFG --root ROOT app --port PORT` over the built store."""
    folder = tmp_path_factory.mktemp("browser")
    with serve_dashboard(folder, build_store(folder)) as running:
        yield running


@contextmanager
def serve_dashboard(folder: Path, config_path: Path) -> Iterator[Site]:
    """A `vigil app` subprocess over the store of `config_path` (root folder/var) until exit."""
    from core.config import load_config

    root = folder / "var"
    port = _free_port()
    log = folder / "dashboard.log"
    from core import cli_session
    from core.stores import OpsStore

    env = {k: v for k, v in os.environ.items() if k not in ("VIGIL_USERS_FILE", "VIGIL_USER", "VIGIL_TOKEN")}
    env["HOME"] = str(folder)  # Streamlit writes ~/.streamlit; keep it out of the real home
    # Users exist, so the CLI that starts the app needs an identity: a viewer's service token
    # (what automation uses). The browser signs in on its own.
    cfg = load_config(config_path, root=root)
    env["VIGIL_TOKEN"], _ = cli_session.create_service_token(root, OpsStore(cfg.ops_path), "browser-test", "viewer",
                                                             actor=ADMIN[0])
    cmd = [sys.executable, "-m", "app.cli", "--config", str(config_path), "--root", str(root),
           "app", "--port", str(port), "--address", "127.0.0.1"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc, log)
        yield Site(url=url, cfg=load_config(config_path, root=root), log=log)
    finally:
        _stop(proc)


def chromium_options(profile: Path) -> Any:
    from selenium.webdriver.chrome.options import Options

    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--window-size=1600,1400", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    return options


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Headless Chromium; fails (never skips) when the Debian packages are missing."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} not found: the browser tests need Debian's chromium and chromium-driver "
            "(hint: `apt-get install chromium chromium-driver`; .ci/run installs them)",
            pytrace=False,
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tmp_path_factory.mktemp("chromium-profile")
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=chromium_options(profile))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[Any]:
    """On a failed browser test, keep a screenshot and the visible text for the post-mortem."""
    outcome: Any = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    driver = getattr(item, "funcargs", {}).get("browser")
    if driver is None:
        return
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    stem = item.nodeid.replace("/", "_").replace("::", "__").replace("[", "_").replace("]", "")
    try:
        driver.save_screenshot(str(ARTIFACTS / f"{stem}.png"))
        text = driver.find_element("tag name", "body").text
        (ARTIFACTS / f"{stem}.txt").write_text(text)
        (ARTIFACTS / f"{stem}.html").write_text(driver.page_source)
        # CI keeps only its log: the page's visible text and the server's last lines go in it too.
        report.sections.append(("browser", f"screenshot: {ARTIFACTS / f'{stem}.png'}\n"
                                           f"visible text (last 3,000 characters):\n{text[-3000:]}"))
    except Exception as err:  # a dead browser must not hide the test's own failure
        report.sections.append(("browser", f"no screenshot: {err}"))
    site = getattr(item, "funcargs", {}).get("site")
    log = getattr(site, "log", None)
    if isinstance(log, Path) and log.exists():
        report.sections.append(("dashboard log", log.read_text(errors="replace")[-3000:]))
