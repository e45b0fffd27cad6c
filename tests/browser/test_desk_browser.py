"""The desk in a real browser: a refresh keeps the session (HttpOnly cookie) and a forged cookie
signs nobody in; the chosen batch stays chosen when a cycle adds one and re-checks it.

(Table cells are drawn on a canvas, so values shown whole are asserted on the table's data in
tests/app/test_desk.py.)"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import duckdb
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from app.dashboard import session_cookie
from tests.browser.conftest import APPROVER, Site
from tests.browser.test_dashboard_browser import (
    choose,
    click,
    go_to,
    page_text,
    type_into,
    wait_for,
    wait_idle,
    wait_text,
)

pytestmark = pytest.mark.browser


def sign_in(browser: WebDriver, site: Site) -> None:
    browser.get(site.url)
    wait_text(browser, "Vigil · sign in")
    type_into(browser, "Username", APPROVER[0])
    type_into(browser, "Password", APPROVER[1])
    click(browser, "Sign in")
    wait_text(browser, f"Signed in as {APPROVER[0]} (approver)")


def session_cookie_of(browser: WebDriver) -> dict | None:
    return next((c for c in browser.get_cookies() if c["name"] == session_cookie.COOKIE), None)


def test_a_refresh_keeps_the_user_signed_in(browser: WebDriver, site: Site) -> None:
    sign_in(browser, site)
    cookie = wait_for(browser, session_cookie_of, "the session cookie")
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert session_cookie.COOKIE not in browser.execute_script("return document.cookie"), "scripts cannot read it"
    browser.refresh()
    wait_text(browser, f"Signed in as {APPROVER[0]} (approver)")
    assert "Vigil · sign in" not in page_text(browser)


def test_a_forged_cookie_signs_nobody_in(browser: WebDriver, site: Site) -> None:
    cookie = session_cookie_of(browser)
    assert cookie is not None
    token, expires, _mac = cookie["value"].split(".")
    browser.delete_cookie(session_cookie.COOKIE)
    browser.add_cookie({"name": session_cookie.COOKIE, "value": f"{token}.{int(expires) + 10**6}.{'0' * 64}",
                        "path": "/"})
    browser.refresh()
    wait_text(browser, "Vigil · sign in")
    sign_in(browser, site)  # for the tests below


def test_the_chosen_batch_stays_chosen_when_a_cycle_adds_one(browser: WebDriver, site: Site) -> None:
    go_to(browser, "Checks")
    reader = duckdb.connect(str(site.cfg.warehouse_path), read_only=True)
    try:
        batches = [b for (b,) in reader.execute("SELECT DISTINCT batch FROM check_results ORDER BY batch DESC").fetchall()]
    finally:
        reader.close()
    older = batches[2]
    choose(browser, "Batch", older.strftime("%Y-%m-%d %H:%M"))
    # One more full run on the chosen batch, so the page has surely shown it before the re-check.
    toggle_xpath = '//label[.//*[normalize-space(text())="Only fail / warn / error"]]'
    browser.find_element(By.XPATH, toggle_xpath).click()
    wait_for(browser, lambda d: d.find_element(By.XPATH, toggle_xpath + "//input").is_selected(), "the toggle on")
    wait_idle(browser)
    time.sleep(1.0)  # the run the toggle started has finished (its status widget may show late)
    wait_idle(browser)
    # A cycle adds a newer batch and re-checks the chosen one.
    newest = batches[0] + timedelta(days=1)
    warehouse = duckdb.connect(str(site.cfg.warehouse_path))
    try:
        warehouse.execute(
            "INSERT INTO check_results SELECT check_name, family, subject, ?, model, status, severity, value, lower, "
            "upper, explanation, evidence_json, checked_at FROM check_results WHERE batch = ?",
            [newest, older],
        )
        warehouse.execute(
            "UPDATE check_results SET value = CASE WHEN check_name = 'psi' THEN 2139.298 ELSE 164.7273 END, "
            "checked_at = ? WHERE batch = ? AND family = 'feature_drift'",
            [datetime(2030, 1, 1), older],
        )
        written = warehouse.execute("SELECT max(checked_at) FROM check_results WHERE batch = ?", [older]).fetchall()
        assert written == [(datetime(2030, 1, 1),)]
    finally:
        warehouse.close()
    wait_for(browser, lambda d: d.find_element(By.XPATH, toggle_xpath), "the toggle").click()
    wait_idle(browser)
    box = browser.find_element(By.CSS_SELECTOR, '[data-testid="stSelectbox"] input[aria-label="Batch"]')
    assert older.strftime("%Y-%m-%d %H:%M") in (box.get_attribute("value") or ""), "the user's batch is kept"
    wait_text(browser, "was re-checked")
