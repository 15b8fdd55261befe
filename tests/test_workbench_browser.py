"""The workbench page in a real browser (Debian's chromium via Selenium) against the real server process.

Sign in by keyboard, browse, search, rename a theme and see the name in the API and the next report (no
re-ingest), merge two themes, no console errors, no sideways scrolling at phone width.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from test_report_browser import NEEDS_CHROMIUM, browser  # noqa: F401 - the shared fixture
from test_service_server import KEY, running_server

from feedback_nlp.curation import CurationView
from feedback_nlp.report import compute_report, load_model_info
from feedback_nlp.report.compute import Week
from feedback_nlp.store import open_store

CURATOR_KEY = "browser-curator-key"
TEXTS = [
    "The CSV export times out on the full ledger",
    "Exporting to CSV fails for large reports",
    "We need single sign-on with Okta for the admin console",
    "SSO login loops back to the sign-in page",
    "The card was declined at the supermarket",
    "The mobile app crashes when I open receipts",
]

pytestmark = [pytest.mark.slow, NEEDS_CHROMIUM]


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_model_dir):
    tmp_path = tmp_path_factory.mktemp("workbench")
    with running_server(tmp_path, tiny_model_dir, FEEDBACK_NLP_CURATOR_KEYS=CURATOR_KEY) as (base, _):
        now = datetime.now(UTC)
        items = [
            {
                "id": f"WB-{n}",
                "text": text,
                "source": "ticket" if n % 2 else "call_note",
                "account_id": f"ACME-{n % 3}",
                "created_at": (now - timedelta(days=n % 14)).isoformat(),
            }
            for n, text in enumerate(TEXTS * 3)
        ]
        scored = httpx.post(f"{base}/v1/score", json={"items": items}, headers={"X-API-Key": KEY}, timeout=60)
        assert scored.status_code == 200
        yield base, tmp_path


def console_errors(driver) -> list:
    return [entry for entry in driver.get_log("browser") if entry["level"] in ("SEVERE", "ERROR")]


def wait_until(driver, timeout: float, condition, message: str = ""):
    """``WebDriverWait(driver, timeout).until(condition)``, looking again where the page changed between
    finding a node and reading it: a stale element, under either of chromedriver's names for it."""
    from selenium.common.exceptions import (
        NoSuchElementException,
        StaleElementReferenceException,
        WebDriverException,
    )
    from selenium.webdriver.support.ui import WebDriverWait

    def looked_again(d):
        try:
            return condition(d)
        except WebDriverException as exc:
            # chromedriver's own word for a stale element (a CI run failed on it)
            if "does not belong to the document" in str(exc):
                return False
            raise

    return WebDriverWait(
        driver, timeout, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)
    ).until(looked_again, message)


def wait_for_text(driver, css: str, text: str) -> None:
    """Until the element shows ``text``: a form's answer is a new page, which may not have loaded yet."""
    from selenium.webdriver.common.by import By

    wait_until(driver, 30, lambda d: text in d.find_element(By.CSS_SELECTOR, css).text)


def focused_field(driver, name: str, timeout: float = 10.0):
    """The focused element once it is the field ``name``; fails if it is not within ``timeout`` seconds."""

    def focused(d):
        element = d.switch_to.active_element
        return element if element.get_attribute("name") == name else False

    return wait_until(driver, timeout, focused, f"the field {name!r} never had the focus")


def api_themes(base: str) -> dict[int, dict]:
    answer = httpx.get(f"{base}/v1/themes", headers={"X-API-Key": KEY}, timeout=30)
    return {t["id"]: t for t in answer.json()["themes"]}


def test_sign_in_browse_search_rename_and_merge(browser, server):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    base, tmp_path = server
    browser.implicitly_wait(10)  # a form post navigates: wait for the next page under load
    browser.set_window_size(1280, 1000)
    browser.get(f"{base}/ui")
    assert "/ui/login" in browser.current_url
    # autofocus: sign in with the keyboard only. The browser focuses an autofocus field at its next rendering
    # update, which may come after the load that get() waits for (a CI run read the body): wait for it.
    key_field = focused_field(browser, "api_key")
    key_field.send_keys(CURATOR_KEY, Keys.ENTER)
    assert browser.current_url.rstrip("/").endswith("/ui")
    links = browser.find_elements(By.CSS_SELECTOR, "td a[href^='/ui/themes/']")
    assert len(links) >= 2
    assert browser.find_elements(By.CSS_SELECTOR, "svg.spark polyline")

    # rename the first theme on its page
    theme_id = int(links[0].get_attribute("href").rsplit("/", 1)[-1])
    browser.get(f"{base}/ui/themes/{theme_id}")
    name_field = browser.find_element(By.ID, "rename-name")
    name_field.clear()
    name_field.send_keys("Renamed in the browser", Keys.ENTER)
    wait_for_text(browser, ".msg", "recorded")
    assert browser.find_element(By.ID, "theme-name").text == "Renamed in the browser"
    assert api_themes(base)[theme_id]["name"] == "Renamed in the browser"

    # ... and in the next report, without re-ingesting
    store = open_store(f"sqlite:///{tmp_path}/server.sqlite")
    try:
        info = load_model_info(tmp_path / "models", None)
        week = Week.containing(datetime.now(UTC))
        report = compute_report(store.engine, info, week, 2, curation=CurationView.of(store.curation()))
    finally:
        store.close()
    assert "Renamed in the browser" in {row["name"] for row in report["themes"]}

    # merge another theme into it
    other = Select(browser.find_element(By.ID, "merge-other"))
    absorbed = int(other.options[0].get_attribute("value"))
    other.select_by_index(0)
    browser.find_element(By.CSS_SELECTOR, "#merge-form button").click()
    wait_for_text(browser, ".msg", "recorded: merge")
    themes = api_themes(base)
    assert absorbed not in themes and absorbed in themes[theme_id]["merged_from"]

    # search by words, then by meaning (the default), through the form
    browser.get(f"{base}/ui/search?q=csv&mode=words")
    assert int(browser.find_element(By.ID, "result-count").text.split()[0]) >= 3
    box = browser.find_element(By.ID, "q")
    box.clear()
    box.send_keys("the spreadsheet download never finishes")
    browser.find_element(By.CSS_SELECTOR, 'input[name="mode"][value="meaning"]').click()
    box.submit()
    wait_for_text(browser, "thead", "Match")  # the similarity column: a search by meaning
    assert int(browser.find_element(By.ID, "result-count").text.split()[0]) >= 3
    for page in ("/ui/map", "/ui/roadmap", "/docs"):
        browser.get(f"{base}{page}")
    assert console_errors(browser) == []


def test_the_pages_fit_a_phone(browser, server):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    base, _ = server
    browser.get(f"{base}/ui/login")
    if "/ui/login" in browser.current_url:
        browser.find_element(By.ID, "api_key").send_keys(KEY, Keys.ENTER)
    browser.set_window_size(375, 800)
    try:
        for page in ("/ui", "/ui/map", "/ui/roadmap", "/ui/search?q=export"):
            browser.get(f"{base}{page}")
            width = browser.execute_script("return document.documentElement.scrollWidth")
            viewport = browser.execute_script("return window.innerWidth")
            assert width <= viewport, f"{page} scrolls sideways at phone width ({width} > {viewport})"
        assert console_errors(browser) == []
    finally:
        browser.set_window_size(1280, 2000)


def test_split_a_theme_and_see_the_new_theme_everywhere(browser, server):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    base, tmp_path = server
    more = ["The PDF export cuts off the last column", "PDF export is missing the header row"] * 4
    items = [
        {"id": f"WB-PDF-{n}", "text": f"{text}, case {n}", "source": "ticket"} for n, text in enumerate(more)
    ]
    assert httpx.post(
        f"{base}/v1/score", json={"items": items}, headers={"X-API-Key": KEY}, timeout=60
    ).is_success
    store = open_store(f"sqlite:///{tmp_path}/server.sqlite")
    try:
        theme_id = max(store.theme_volumes().items(), key=lambda kv: kv[1])[0]
    finally:
        store.close()
    browser.implicitly_wait(10)
    browser.set_window_size(1280, 1000)
    browser.get(f"{base}/ui/login?next=/ui/themes/{theme_id}")
    if "/ui/login" in browser.current_url:
        browser.find_element(By.ID, "api_key").send_keys(CURATOR_KEY, Keys.ENTER)
    browser.find_element(By.ID, "split-link").click()
    groups = browser.find_elements(By.CSS_SELECTOR, "fieldset.sub-group")
    assert len(groups) >= 2 and all(g.find_elements(By.CSS_SELECTOR, "blockquote") for g in groups)
    browser.find_element(By.ID, "pick-1").click()
    name = browser.find_element(By.ID, "name-1")
    name.clear()
    name.send_keys("Split in the browser")
    browser.find_element(By.CSS_SELECTOR, "#split-form button").click()
    wait_for_text(browser, ".msg", "recorded: split")
    new_id = next(
        group["theme_id"]
        for action in httpx.get(f"{base}/v1/curation", headers={"X-API-Key": KEY}, timeout=30).json()[
            "actions"
        ]
        for group in action["groups"]
    )
    assert api_themes(base)[new_id]["name"] == "Split in the browser"
    browser.get(f"{base}/ui/themes/{new_id}")
    assert browser.find_element(By.ID, "theme-name").text == "Split in the browser"
    assert f"split off theme {theme_id}" in browser.find_element(By.CSS_SELECTOR, "p.note").text
    assert browser.find_elements(By.CSS_SELECTOR, "blockquote")  # its stored feedback moved with it
    store = open_store(f"sqlite:///{tmp_path}/server.sqlite")
    try:
        info = load_model_info(tmp_path / "models", None)
        week = Week.containing(datetime.now(UTC))
        report = compute_report(store.engine, info, week, 2, curation=CurationView.of(store.curation()))
    finally:
        store.close()
    assert "Split in the browser" in {row["name"] for row in report["themes"]}
    assert console_errors(browser) == []
