"""Browser tests: the real Flask app served over HTTP, driven by Debian's headless Chromium.

``make test`` installs the browser (``make browser`` → scripts/install-browser.sh). If it is
missing, every browser test fails with that hint: they are never skipped silently. Each test
leaves a full-page screenshot in ``test-artifacts/screenshots/<test name>.png``, pass or fail.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, Response, sync_playwright

from engine.context import EngineContext
from tests.support.live import serve

CHROMIUM = Path("/usr/bin/chromium")
PASSWORD = "correct horse 1"  # the `people` fixture's password (tests/conftest.py)
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test under tests/browser with ``browser`` (select with -m browser / deselect with -m 'not browser')."""
    for item in items:
        if HERE in item.path.resolve().parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture
def live_server(ctx: EngineContext) -> Iterator[str]:
    """The real app on 127.0.0.1:<free port>, in a background thread; yields the base URL."""
    with serve(ctx) as url:
        yield url


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[Playwright]:
    driver = sync_playwright().start()
    try:
        yield driver
    finally:
        driver.stop()


@pytest.fixture(scope="session")
def browser(playwright_driver: Playwright) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make test` (or `make browser`), which installs Debian's chromium "
                    "via scripts/install-browser.sh", pytrace=False)
    chromium = playwright_driver.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
    try:
        yield chromium
    finally:
        chromium.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh context (zh-CN, Asia/Shanghai, 1280x800) and page; screenshot saved at teardown."""
    context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", viewport={"width": 1280, "height": 800})
    tab = context.new_page()
    try:
        yield tab
    finally:
        try:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            name = re.sub(r"[^\w.\-\[\]]+", "_", request.node.name)
            tab.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
        finally:
            context.close()


@pytest.fixture
def login(page: Page, live_server: str, people: object) -> Callable[..., Response | None]:
    """``login(username, password=PASSWORD)``: submit the form at /login; returns the navigation's final response."""

    def _login(username: str, password: str = PASSWORD) -> Response | None:
        page.goto(f"{live_server}/login")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", password)
        with page.expect_navigation() as navigation:
            page.click("button[type=submit]")
        return navigation.value

    return _login
