"""The weekly report in a real headless browser: Debian's chromium driven by Selenium.

`.ci/run` installs chromium and chromium-driver from Debian's packages; where they are missing the test is
skipped and says why.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from feedback_nlp.report import compute_report, write_report
from tests.test_report import HISTORY, WEEK, build_store, model_info

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"

# every browser test's: without the browser they are skipped and say why, never an error at setup
NEEDS_CHROMIUM = pytest.mark.skipif(
    not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
    reason="Debian's chromium and chromium-driver are not installed (.ci/run installs them)",
)
pytestmark = [pytest.mark.slow, NEEDS_CHROMIUM]


@pytest.fixture(scope="module")
def browser():
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1280,2000",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # an explicit driver path: Selenium Manager would otherwise try to download one
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def test_report_renders_without_console_errors_and_shows_its_plots(browser, tmp_path):
    from selenium.webdriver.common.by import By

    url = f"sqlite:///{tmp_path / 'feedback.sqlite'}"
    feedback_store = build_store().write(url)
    report = compute_report(
        feedback_store.engine,
        model_info(),
        WEEK,
        weeks_of_history=HISTORY,
        generated_at=datetime(2026, 11, 23, tzinfo=UTC),
    )
    feedback_store.close()
    paths = write_report(report, tmp_path / "out")
    browser.get(paths["html"].resolve().as_uri())
    assert WEEK in browser.title
    errors = [entry for entry in browser.get_log("browser") if entry["level"] in ("SEVERE", "ERROR")]
    assert errors == []
    plots = browser.find_elements(By.CSS_SELECTOR, "figure svg")
    assert len(plots) == 3
    for plot in plots:  # drawn, not just present: each has a real size on the page
        assert plot.size["width"] > 100 and plot.size["height"] > 50
    headings = [h.text for h in browser.find_elements(By.CSS_SELECTOR, "h2")]
    assert any("Rising" in h for h in headings) and any("Unplanned" in h for h in headings)


def test_report_fits_a_phone_screen(browser, tmp_path):
    """At 375 px the page itself never scrolls sideways: wide tables scroll inside their own box."""
    url = f"sqlite:///{tmp_path / 'feedback.sqlite'}"
    feedback_store = build_store().write(url)
    report = compute_report(feedback_store.engine, model_info(), WEEK, weeks_of_history=HISTORY)
    feedback_store.close()
    paths = write_report(report, tmp_path / "out")
    browser.set_window_size(375, 800)
    try:
        browser.get(paths["html"].resolve().as_uri())
        viewport = browser.execute_script("return document.documentElement.clientWidth")
        page_width = browser.execute_script("return document.documentElement.scrollWidth")
        assert page_width <= viewport, (page_width, viewport)
        # and the tables that are wider than the phone can be scrolled to, not cut off
        widths = browser.execute_script(
            "return [...document.querySelectorAll('.scroll')].map(b => [b.scrollWidth, b.clientWidth,"
            " getComputedStyle(b).overflowX])"
        )
        assert widths and all(overflow == "auto" for _, _, overflow in widths)
        assert any(scroll > client for scroll, client, _ in widths)  # the rising table is wider than 375 px
    finally:
        browser.set_window_size(1280, 2000)
