"""Take the README's screenshots from what ``make demo`` wrote: the weekly report and the workbench pages.

``make screenshots`` (after ``make demo``) runs it: the report's HTML is opened from ``reports/``; the service
is started on a free loopback port over ``models/`` and the demo's store, signed in with a key made for this
run only, and the overview, a theme page and the map are captured. Debian's chromium and chromedriver drive it
(no download: the driver's path is given).
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

DOCS = Path(__file__).resolve().parent
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def _browser(width: int, height: int):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    options.add_argument(f"--window-size={width},{height}")
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.implicitly_wait(10)
    return driver


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_ready(base: str, process: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the service exited with {process.returncode}; see its log above")
        try:
            with urllib.request.urlopen(f"{base}/readyz", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit("the service did not become ready in time")


def report_screenshot(report_html: Path) -> Path:
    out = DOCS / f"{report_html.stem.replace('report-', 'report-sample-')}.png"
    driver = _browser(1280, 1500)
    try:
        driver.get(report_html.resolve().as_uri())
        driver.save_screenshot(str(out))
    finally:
        driver.quit()
    return out


def workbench_screenshots(models_dir: Path, theme_id: int) -> list[Path]:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    key = "screenshot-" + secrets.token_urlsafe(16)
    port = _free_port()
    env = {**os.environ, "FEEDBACK_NLP_API_KEYS": key, "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "feedback_nlp.cli", "serve", "--models-dir", str(models_dir)]
    process = subprocess.Popen([*command, "--host", "127.0.0.1", "--port", str(port)], env=env)
    base = f"http://127.0.0.1:{port}"
    written = []
    try:
        _wait_ready(base, process)
        driver = _browser(1280, 1000)
        try:
            driver.get(f"{base}/ui/login")
            driver.find_element(By.ID, "api_key").send_keys(key, Keys.ENTER)
            driver.find_element(By.CSS_SELECTOR, "td a[href^='/ui/themes/']")
            for page, name in (
                ("/ui", "workbench-overview.png"),
                (f"/ui/themes/{theme_id}", "workbench-theme.png"),
                ("/ui/map", "workbench-map.png"),
            ):
                driver.get(base + page)
                driver.save_screenshot(str(DOCS / name))
                written.append(DOCS / name)
        finally:
            driver.quit()
    finally:
        process.terminate()
        process.wait(timeout=30)
    return written


def main() -> int:
    parser = argparse.ArgumentParser(prog="python docs/screenshots.py", description=__doc__)
    parser.add_argument("--models-dir", type=Path, default=Path("models"))
    parser.add_argument("--report", type=Path, default=Path("reports/report-2026-W47.html"))
    parser.add_argument("--theme", type=int, default=8, help="the theme page to capture (default 8)")
    args = parser.parse_args()
    if not args.report.is_file():
        raise SystemExit(f"{args.report} does not exist: run make demo first")
    for path in [report_screenshot(args.report), *workbench_screenshots(args.models_dir, args.theme)]:
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
