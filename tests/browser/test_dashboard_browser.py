"""End to end in a real browser: headless Chromium drives the running dashboard.

One signed-in session walks the incident response of a unit change: sign in, open the alert,
read its runbook, silence it, open the incident and move it on, write a postmortem section,
promote a better version and roll it back, then find all of it on the Audit page. Each step
checks the page and the store. The steps share the browser session, so they run in order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from core import audit
from core.stores import stores_for
from tests.browser.conftest import APPROVER, Site

pytestmark = pytest.mark.browser
WAIT_SECONDS = 30


# ---- small helpers over Streamlit's DOM (data-testid, aria-label, visible text) ------------


def wait_for(driver: WebDriver, condition: Callable[[WebDriver], Any], what: str, timeout: float = WAIT_SECONDS) -> Any:
    def safe(d: WebDriver) -> Any:
        try:
            return condition(d)
        except StaleElementReferenceException:  # Streamlit re-rendered under us: try again
            return False

    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.2).until(safe)
    except TimeoutException:
        raise AssertionError(f"timed out after {timeout}s waiting for {what}") from None


def page_text(driver: WebDriver) -> str:
    return str(driver.find_element(By.TAG_NAME, "body").text)


def wait_text(driver: WebDriver, text: str, timeout: float = WAIT_SECONDS) -> None:
    wait_for(driver, lambda d: text in page_text(d), f"the text {text!r} on the page", timeout)


def wait_idle(driver: WebDriver) -> None:
    """Until the script run finished (Streamlit shows its status widget while running)."""
    wait_for(driver, lambda d: not d.find_elements(By.CSS_SELECTOR, '[data-testid="stStatusWidget"] *'),
             "the page to finish running")


def button(driver: WebDriver, label: str) -> WebElement:
    xpath = (f'//*[@data-testid="stButton" or @data-testid="stFormSubmitButton" or @data-testid="stBaseButton-secondary"'
             f' or @data-testid="stBaseButton-secondaryFormSubmit"]//button[normalize-space(.)="{label}"]'
             f' | //button[normalize-space(.)="{label}"]')
    return wait_for(driver, lambda d: next((b for b in d.find_elements(By.XPATH, xpath) if b.is_displayed()), None),
                    f"a button {label!r}")


def click(driver: WebDriver, label: str) -> None:
    """Click the enabled button `label`: the click event goes to the element itself.

    A pointer click lands on coordinates; a page still re-rendering above the button (a
    confirmation that goes away, a table that grows) can move it between locating and clicking,
    and the click is lost. A button replaced under us (stale) is looked up again; the click is
    sent once."""

    def press(d: WebDriver) -> bool:
        target = button(d, label)
        if not target.is_enabled():
            return False
        d.execute_script("arguments[0].scrollIntoView({block: 'center'}); arguments[0].click();", target)
        return True

    wait_for(driver, press, f"the button {label!r} to be enabled")


def field(driver: WebDriver, label: str) -> WebElement:
    css = f'input[aria-label="{label}"], textarea[aria-label="{label}"]'
    return wait_for(driver, lambda d: next((e for e in d.find_elements(By.CSS_SELECTOR, css) if e.is_displayed()), None),
                    f"an input labelled {label!r}")


def type_into(driver: WebDriver, label: str, text: str, commit: bool = False) -> None:
    """Replace the field's text; `commit` (outside forms) presses Tab so Streamlit reruns with it."""
    element = field(driver, label)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
    element.click()
    element.send_keys(Keys.CONTROL, "a")
    element.send_keys(Keys.DELETE)
    element.send_keys(text)
    if commit:
        element.send_keys(Keys.TAB)
        wait_idle(driver)


def choose(driver: WebDriver, label: str, option_contains: str) -> None:
    """Open the select box labelled `label` (a combobox) and pick the first option containing the text."""
    css = f'[data-testid="stSelectbox"] input[role="combobox"][aria-label="{label}"]'
    box = wait_for(driver, lambda d: next(iter(d.find_elements(By.CSS_SELECTOR, css)), None), f"a select box {label!r}")
    if option_contains in (box.get_attribute("value") or ""):
        return
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", box)
    box.click()
    option = wait_for(
        driver,
        lambda d: next((o for o in d.find_elements(By.CSS_SELECTOR, '[role="option"]') if option_contains in o.text), None),
        f"an option containing {option_contains!r} in {label!r}",
    )
    option.click()
    wait_for(driver, lambda d: option_contains in (d.find_element(By.CSS_SELECTOR, css).get_attribute("value") or ""),
             f"{label!r} to show {option_contains!r}")
    wait_idle(driver)


def open_tab(driver: WebDriver, label: str) -> None:
    xpath = f'//*[@role="tab"][normalize-space(.)="{label}"]'
    tab = wait_for(driver, lambda d: next(iter(d.find_elements(By.XPATH, xpath)), None), f"the tab {label!r}")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", tab)  # not under the header bar
    tab.click()
    wait_for(driver, lambda d: d.find_element(By.XPATH, xpath).get_attribute("aria-selected") == "true",
             f"the tab {label!r} to open")


def go_to(driver: WebDriver, page: str) -> None:
    """Through the sidebar, as a user does (a fresh URL would start a new, signed-out session)."""
    link_xpath = f'//*[@data-testid="stSidebarNav"]//a[.//span[normalize-space(.)="{page}"]]'
    link = wait_for(driver, lambda d: next(iter(d.find_elements(By.XPATH, link_xpath)), None), f"the {page} link")
    link.click()
    wait_for(driver, lambda d: any(h.text.strip() == page for h in d.find_elements(By.CSS_SELECTOR, "h1")),
             f"the {page} page title")
    wait_idle(driver)


def ops(site: Site) -> Any:
    return stores_for(site.cfg)[1]


# ---- the walk-through ----------------------------------------------------------------------


def test_sign_in_refuses_a_wrong_password_then_signs_in(browser: WebDriver, site: Site) -> None:
    browser.get(site.url)
    wait_text(browser, "Vigil · sign in")
    assert "Firing alerts" not in page_text(browser), "nothing but the form before sign-in"
    type_into(browser, "Username", APPROVER[0])
    type_into(browser, "Password", "certainly-wrong")
    click(browser, "Sign in")
    wait_text(browser, "wrong user name or password")
    assert field(browser, "Password").get_attribute("value") == "", "the typed password is cleared"
    type_into(browser, "Username", APPROVER[0])
    type_into(browser, "Password", APPROVER[1])
    click(browser, "Sign in")
    wait_text(browser, f"Signed in as {APPROVER[0]} (approver)")
    wait_text(browser, "Firing alerts")


def test_open_an_alert_and_read_its_runbook(browser: WebDriver, site: Site) -> None:
    go_to(browser, "Alerts")
    choose(browser, "Alert", "unit_change · applications.income")
    wait_text(browser, "unit_change on applications.income")
    wait_text(browser, "Runbook: unit_change")
    assert "Never fix this by retraining" in page_text(browser), "the runbook's mitigation is shown"


def test_silence_the_alert(browser: WebDriver, site: Site) -> None:
    from incidents.silences import list_silences

    type_into(browser, "comment (required)", "upstream re-delivers the extract, ticket 42")
    click(browser, "Silence")
    wait_text(browser, "until")
    wait_for(browser, lambda d: "Silence " in page_text(d) and " UTC." in page_text(d), "the silence confirmation")
    silences = list_silences(ops(site))
    assert [(s.author, s.comment) for s in silences] == [(APPROVER[0], "upstream re-delivers the extract, ticket 42")]
    assert {(m.name, m.value) for m in silences[0].matchers} >= {("check", "unit_change"),
                                                                  ("subject", "applications.income")}


def test_open_the_incident_and_move_it_to_investigating(browser: WebDriver, site: Site) -> None:
    go_to(browser, "Incidents")
    choose(browser, "Incident", "unit_change on applications.income")
    wait_text(browser, "triage")
    click(browser, "Update status")  # "Move to" offers the next status first: investigating
    wait_for(browser, lambda d: "investigating" in " ".join(
        m.text for m in d.find_elements(By.CSS_SELECTOR, '[data-testid="stMetricValue"]')), "status investigating")
    rows = ops(site).query("SELECT status FROM incidents")
    assert [r["status"] for r in rows] == ["investigating"]


def test_write_a_postmortem_section(browser: WebDriver, site: Site) -> None:
    from incidents.postmortem import get_postmortem

    go_to(browser, "Postmortems")
    click(browser, "Draft the postmortem")
    # The markup must come back as text: no user-typed HTML is ever rendered.
    summary = 'Income arrived in thousands from the extract. <b id="vigil-injected">bold</b>'
    type_into(browser, "Summary", summary)
    click(browser, "Save revision")
    wait_text(browser, f"Revision 2 of 2, saved by {APPROVER[0]}")
    open_tab(browser, "Export")  # the tab renders the postmortem's Markdown
    wait_text(browser, "Income arrived in thousands from the extract.")
    assert browser.find_elements(By.ID, "vigil-injected") == [], "user-typed HTML was rendered"
    incident_id = ops(site).query("SELECT incident_id FROM incidents")[0]["incident_id"]
    saved = get_postmortem(ops(site), incident_id)
    assert saved is not None and saved.revision == 2 and saved.author == APPROVER[0]
    assert saved.fields["summary"] == summary


def test_promote_a_better_version_then_approve_a_rollback(browser: WebDriver, site: Site) -> None:
    from core.registry import Registry

    registry, name = Registry(ops(site)), site.cfg.model.registry_name or site.cfg.model.name
    go_to(browser, "Model")
    choose(browser, "Version", "v2")
    type_into(browser, "Reason (required)", "v2 beats v1 on the holdout", commit=True)
    click(browser, "Promote to champion")
    wait_text(browser, "Promote: done.")
    champion = registry.champion(name)
    assert champion is not None and champion.version == 2
    type_into(browser, "Reason (required)", "v2 misbehaves on the live batch: back to v1", commit=True)
    click(browser, "Roll back champion")
    wait_text(browser, "Rollback: done.")
    champion = registry.champion(name)
    assert champion is not None and champion.version == 1
    moves = audit.list_entries(ops(site), actor=APPROVER[0], action="registry.", limit=None)
    assert len(moves) >= 2, [m.action for m in moves]


def test_the_audit_page_shows_who_did_it(browser: WebDriver, site: Site) -> None:
    go_to(browser, "Audit")
    type_into(browser, "Actor", APPROVER[0], commit=True)
    type_into(browser, "Action starts with", "postmortems", commit=True)
    expected = len(audit.list_entries(ops(site), actor=APPROVER[0], action="postmortems.", limit=None))
    assert expected >= 2, "drafted and saved"
    # Each filter reruns the page: wait for the result of both, not the first one's.
    wait_for(browser, lambda d: f"{expected} entries, newest first" in page_text(d)
             and f"{APPROVER[0]}  postmortems.save" in page_text(d), "the entries filtered by actor and action")
    assert "registry." not in page_text(browser).split("newest first", 1)[1], "the action filter applies"


def test_sign_out_returns_to_the_form(browser: WebDriver, site: Site) -> None:
    click(browser, "Sign out")
    wait_text(browser, "Vigil · sign in")
    assert "Signed in as" not in page_text(browser)
