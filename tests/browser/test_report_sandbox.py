"""A hostile value in the data cannot reach the dashboard through the Evidently report.

The newest batch's `purpose` column carries script payloads. The Checks page builds the
report; the test asserts the report draws, runs in an opaque origin (no cookie, no access to
the dashboard's window), and that nothing it carried ran on the dashboard: no alert, no
marker, no title change, no live `onload` / `onerror` elements in any frame.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.browser.conftest import ADMIN, UNIT_DAY, Site, build_store, serve_dashboard
from tests.browser.test_dashboard_browser import click, go_to, open_tab, type_into, wait_for, wait_text

pytestmark = pytest.mark.browser
MARKER = "vigilPwned"
PAYLOADS = [
    "</script><svg/onload=alert(document.domain)>",
    f"</script><img src=x onerror=\"window.top.{MARKER}=document.cookie;top.document.title='pwned'\">",
    f"</script><svg/onload=\"parent.{MARKER}=1;localStorage.setItem('{MARKER}','1')\">",
]
COOKIE = ("vigil_probe", "dashboard-secret")


def _poison(folder: Path) -> None:
    """Put the payloads in the newest day's categorical column (before the store is built)."""
    path = folder / "var" / "landing" / "predictions" / f"predictions_{UNIT_DAY.isoformat()}.parquet"
    frame = pd.read_parquet(path)
    frame["purpose"] = [PAYLOADS[i % len(PAYLOADS)] if i % 3 == 0 else p for i, p in enumerate(frame["purpose"])]
    frame.to_parquet(path, index=False)


@pytest.fixture(scope="module")
def hostile_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("hostile")
    with serve_dashboard(folder, build_store(folder, before_cycle=_poison)) as running:
        yield running


def _no_alert(driver: WebDriver) -> None:
    try:
        text = driver.switch_to.alert.text
    except NoAlertPresentException:
        return
    raise AssertionError(f"a script from the data opened an alert: {text!r}")


def _live_handlers(driver: WebDriver) -> int:
    return len(driver.find_elements(By.CSS_SELECTOR, "svg[onload], img[onerror], [onload*='alert']"))


def test_hostile_report_draws_sandboxed_and_reaches_nothing(browser: WebDriver, hostile_site: Site) -> None:
    browser.get(hostile_site.url)
    browser.add_cookie({"name": COOKIE[0], "value": COOKIE[1], "path": "/"})
    wait_text(browser, "Vigil · sign in")
    type_into(browser, "Username", ADMIN[0])
    type_into(browser, "Password", ADMIN[1])
    click(browser, "Sign in")
    wait_text(browser, f"Signed in as {ADMIN[0]} (admin)")
    go_to(browser, "Checks")
    title_before = browser.title
    open_tab(browser, "Evidently report")
    click(browser, "Build the Evidently report")
    outer = wait_for(browser, lambda d: next(iter(d.find_elements(By.CSS_SELECTOR, 'iframe[title="Evidently drift report"]')),
                                             None), "the report frame", timeout=120)
    _no_alert(browser)
    browser.switch_to.frame(outer)
    inner = wait_for(browser, lambda d: next(iter(d.find_elements(By.CSS_SELECTOR, 'iframe[title="Evidently report"]')),
                                             None), "the sandboxed inner frame")
    assert inner.get_attribute("sandbox") == "allow-scripts", "opaque origin: no allow-same-origin"
    assert _live_handlers(browser) == 0
    browser.switch_to.frame(inner)
    # The report still draws: Evidently's app renders the column names and its drift table.
    wait_for(browser, lambda d: "purpose" in d.find_element(By.TAG_NAME, "body").text, "the report to draw", timeout=60)
    assert _live_handlers(browser) == 0, "no payload became an element inside the report"
    probe: dict[str, Any] = browser.execute_script(
        """
        const out = {origin: String(window.origin)};
        try { out.cookie = document.cookie; } catch (e) { out.cookie = 'blocked: ' + e.name; }
        try { out.top = String(window.top.document.title); } catch (e) { out.top = 'blocked: ' + e.name; }
        try { out.parent = String(window.parent.document.body.innerHTML.length); }
        catch (e) { out.parent = 'blocked: ' + e.name; }
        try { localStorage.getItem('x'); out.storage = 'open'; } catch (e) { out.storage = 'blocked: ' + e.name; }
        return out;
        """
    )
    assert probe["origin"] == "null", probe
    assert COOKIE[1] not in str(probe["cookie"]) and str(probe["cookie"]).startswith("blocked"), probe
    assert str(probe["top"]).startswith("blocked") and str(probe["parent"]).startswith("blocked"), probe
    assert str(probe["storage"]).startswith("blocked"), probe

    browser.switch_to.default_content()
    _no_alert(browser)
    state = browser.execute_script(
        f"return {{marker: typeof window.{MARKER}, stored: window.localStorage.getItem('{MARKER}'), "
        "title: document.title, cookie: document.cookie}")
    assert state["marker"] == "undefined" and state["stored"] is None, state
    assert state["title"] == title_before and "pwned" not in state["title"], state
    assert f"{COOKIE[0]}={COOKIE[1]}" in state["cookie"], "the dashboard's own cookie is still there, unread"
    assert _live_handlers(browser) == 0
