"""A real browser for the browser tests: Debian's headless Chromium, driven by Selenium through chromedriver.

Both come from the system (``apt-get install chromium chromium-driver``); Selenium is given their paths,
so Selenium Manager never looks for, nor downloads, a browser or a driver. When either is missing the
tests fail, saying what to install: CI installs them, and a browser test that silently skips tests nothing.

Screenshots go to ``artifacts/screenshots/`` under the repository's root, or to ``$BROWSER_ARTIFACTS_DIR``.
"""

import contextlib
import os
import re
import shutil
import tempfile
import threading
import time
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,900",
]
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def browser(django_db_setup, live_server):
    """A headless Chromium with a fresh profile (no cookie, no cache, no saved credential), for the whole session.

    It starts after the test database and the live server, so it quits before them: its kept-alive
    connections hold the live server's threads, and their database connections, until it does.
    """
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not (os.path.isfile(path) and os.access(path, os.X_OK))]
    if missing:
        pytest.fail(
            f"The browser tests need Debian's Chromium and its driver; missing: {', '.join(missing)}. "
            "Install them with: apt-get install -y chromium chromium-driver",
            pytrace=False,
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="browser-tests-profile-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    # The network log shows the headers the browser really sent (cookies included).
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    try:
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    except Exception as error:
        shutil.rmtree(profile, ignore_errors=True)
        pytest.fail(f"Could not start {CHROMIUM} through {CHROMEDRIVER}: {error}", pytrace=False)
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(30)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)
    _wait_for_live_server_requests()


def _wait_for_live_server_requests(timeout: float = 10) -> None:
    """Let the live server's request threads end now that the browser's kept-alive connections are closed.

    Each thread closes its database connection as it ends; one still open would keep PostgreSQL from
    dropping the test database at the end of the session.
    """
    deadline = time.monotonic() + timeout
    for thread in threading.enumerate():
        if thread.name.endswith("(process_request_thread)"):  # socketserver's thread per connection
            thread.join(max(0.0, deadline - time.monotonic()))


CALL_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Remember whether the test itself failed, for :func:`clean_browser` to take a screenshot."""
    report = yield
    if report.when == "call":
        item.stash[CALL_FAILED] = report.failed
    return report


@pytest.fixture(autouse=True)
def clean_browser(request, browser, screenshots_dir):
    """Each test starts on a blank page with no cookie, no cache and an empty network log.

    A test that fails leaves a screenshot of where the browser was: ``{test name}-failed.png``.
    """
    browser.get("about:blank")
    browser.execute_cdp_cmd("Network.clearBrowserCookies", {})
    browser.execute_cdp_cmd("Network.clearBrowserCache", {})
    browser.get_log("performance")
    yield browser
    if request.node.stash.get(CALL_FAILED, False):
        with contextlib.suppress(Exception):  # a browser that crashed has no screenshot to give
            browser.save_screenshot(str(screenshots_dir / f"{_file_name(request.node.name)}-failed.png"))


def _file_name(test_name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", test_name)


@pytest.fixture(scope="session")
def screenshots_dir() -> Path:
    folder = Path(os.environ.get("BROWSER_ARTIFACTS_DIR") or REPO_ROOT / "artifacts" / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def screenshot(request, browser, screenshots_dir):
    """``screenshot()`` saves the viewport as ``{test name}.png``, ``screenshot("step")`` as ``{test}-step.png``."""

    def save(suffix: str = "") -> Path:
        name = _file_name(request.node.name) + (f"-{suffix}" if suffix else "")
        path = screenshots_dir / f"{name}.png"
        assert browser.save_screenshot(str(path)), f"could not save the screenshot {path}"
        return path

    return save
