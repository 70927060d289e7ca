"""/docs in a real browser: headless Chromium from Debian, driven by Playwright, against a
real `python -m app`. `make browser-test`; marked `browser`, which `make test` deselects."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Request, expect, sync_playwright

from tests.processes import ServerProcess, service

pytestmark = pytest.mark.browser

TOTAL = "499500"
# The page is opened by a name that is not loopback's, as users would open it, so that
# Swagger UI's checks that skip local hosts (its online validator) would show here.
HOST = "total-service.test"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    env = {"NUMBERS_API_COUNT": "1000", "NUMBERS_API_DELAY": "0"}
    with service(env, tmp_path_factory.mktemp("browser")) as process:
        yield process


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = shutil.which("chromium")
    assert chromium is not None, "make browser-test installs Debian's chromium"
    with sync_playwright() as playwright:
        # Debian's browser, not one Playwright would download.
        rules = f"--host-resolver-rules=MAP {HOST} 127.0.0.1"
        launched = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox", rules])
        yield launched
        launched.close()


def test_runs_total_and_shows_it(server: ServerProcess, browser: Browser) -> None:
    """The docs page runs /total and shows the exact total."""
    page = browser.new_page()
    requested: list[str] = []

    def record(request: Request) -> None:
        requested.append(request.url)

    page.on("request", record)
    page.goto(f"http://{HOST}:{server.port}/docs")
    operation = page.locator("#operations-default-get_get_total, .opblock-get:has-text('/total')").first
    operation.locator(".opblock-summary").click()
    page.get_by_role("button", name="Try it out").click()
    page.get_by_role("button", name="Execute").click()
    body = operation.locator(".responses-wrapper .live-responses-table .response-col_description pre").first
    expect(body).to_contain_text(f'"total": {TOTAL}', timeout=15_000)
    page.close()
    hosts = {urlsplit(url).netloc for url in requested if not url.startswith(("data:", "blob:"))}
    assert hosts == {f"{HOST}:{server.port}"}


def test_shows_every_route(server: ServerProcess, browser: Browser) -> None:
    """The docs page shows every route."""
    page = browser.new_page()
    page.goto(server.url + "/docs")
    for path in ("/total", "/healthz", "/metrics"):
        operation = page.locator(f".opblock-get .opblock-summary-path[data-path='{path}']")
        expect(operation).to_be_visible(timeout=15_000)
    page.close()
