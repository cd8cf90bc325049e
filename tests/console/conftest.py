"""Browser tests: Playwright (sync API) driving Debian's Chromium against a real `exchange up`.

Chromium is ``/usr/bin/chromium`` (``apt-get install chromium``; .ci/run installs it), or the
executable named by ``EXCHANGE_TEST_CHROMIUM``. Playwright never downloads a browser. When Chromium
is missing the tests are skipped, except in CI (``CI`` set), where they fail.

Fixtures: ``chromium_path`` and ``browser`` (one per session, i.e. per xdist worker), ``live_hub`` (one
``exchange up --no-sync`` process per test module, with the 60-person demo population and the demo
grants; see tests/live_hub.py) and ``page`` (a fresh 1366x768 zh-CN context per test; a failing test's screenshot is saved in
its tmp dir and its path is printed in the failure report). Helpers: ``assert_no_outside_requests``
proves a page loads nothing from outside 127.0.0.1, and ``screenshot`` refreshes
``docs/screenshots/<name>.png``, but only when ``EXCHANGE_UPDATE_SCREENSHOTS=1``: by default the suite
never writes into the working tree.

The EXCHANGE_* variables are read when this module is imported, because the autouse fixture of
tests/conftest.py removes them from every test's environment.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, Request, sync_playwright

from tests.live_hub import LiveHub, serve

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"
CHROMIUM = os.environ.get("EXCHANGE_TEST_CHROMIUM") or "/usr/bin/chromium"
UPDATE_SCREENSHOTS = os.environ.get("EXCHANGE_UPDATE_SCREENSHOTS") == "1"
# Offline-friendly: without the background-networking flags Chromium keeps dialling Google services,
# its connections are refused and it slows down.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
VIEWPORT = {"width": 1366, "height": 768}
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# Schemes that never leave the browser.
LOCAL_SCHEMES = frozenset({"data", "blob", "about", "chrome-error"})

_FAILURE_SCREENSHOT = pytest.StashKey[Path]()


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Debian's Chromium (or $EXCHANGE_TEST_CHROMIUM); mandatory in CI, a skip elsewhere."""
    if not os.access(CHROMIUM, os.X_OK):
        if os.environ.get("CI"):
            pytest.fail(f"CI must provide Chromium at {CHROMIUM} (.ci/run installs Debian's chromium)")
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set EXCHANGE_TEST_CHROMIUM)")
    return CHROMIUM


@pytest.fixture(scope="session")
def browser(chromium_path: str) -> Iterator[Browser]:
    """One headless Chromium per session (so one per xdist worker)."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def live_hub(
    tmp_path_factory: pytest.TempPathFactory, module_database_env: dict[str, str]
) -> Iterator[LiveHub]:
    """`exchange up --no-sync` on a free port with its own EXCHANGE_HOME; stopped after the module."""
    base = tmp_path_factory.mktemp("live-hub")
    env = {"EXCHANGE_DEMO_PERSONS": "60", "EXCHANGE_DEMO_GRANTS": "true", **module_database_env}
    with serve(base, "--no-sync", env=env) as hub:
        yield hub


@pytest.fixture
def page(browser: Browser, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh context (1366x768, zh-CN) and page; a failing test leaves a screenshot in tmp_path."""
    request.node.stash[_FAILURE_SCREENSHOT] = tmp_path / "failure.png"
    context = browser.new_context(viewport=VIEWPORT, locale="zh-CN")
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Screenshot the page of a failed test while it is still open, and name the file in the report."""
    report = yield
    if report.when == "call" and report.failed and _FAILURE_SCREENSHOT in item.stash:
        page = getattr(item, "funcargs", {}).get("page")
        path = item.stash[_FAILURE_SCREENSHOT]
        if page is not None and not page.is_closed():
            try:
                page.screenshot(path=path, full_page=True)
            except Exception as exc:  # the report must survive a browser that is gone
                report.sections.append(("browser screenshot", f"could not save a screenshot: {exc}"))
            else:
                report.sections.append(("browser screenshot", str(path)))
    return report


def assert_no_outside_requests(page: Page, url: str) -> list[str]:
    """Load ``url`` and fail, listing them, if the page requested anything outside 127.0.0.1.

    Every request is recorded (documents, scripts, styles, fonts, images, fetches); outside requests are
    aborted, so the check never touches the network. Returns the URLs requested, in order.
    """
    requested: list[str] = []

    def record(request: Request) -> None:
        requested.append(request.url)

    page.on("request", record)
    page.route(_is_outside, lambda route: route.abort("blockedbyclient"))
    try:
        page.goto(url, wait_until="networkidle")
    finally:
        page.unroute(_is_outside)
        page.remove_listener("request", record)
    outside = [each for each in requested if _is_outside(each)]
    assert not outside, f"{url} requested {len(outside)} resource(s) from outside 127.0.0.1:\n" + "\n".join(
        outside
    )
    return requested


def screenshot(page: Page, name: str) -> Path | None:
    """Save ``docs/screenshots/<name>.png`` when EXCHANGE_UPDATE_SCREENSHOTS=1; otherwise do nothing."""
    if not UPDATE_SCREENSHOTS:
        return None
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=path)
    return path


def _is_outside(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in LOCAL_SCHEMES:
        return False
    return parts.hostname not in LOCAL_HOSTS
