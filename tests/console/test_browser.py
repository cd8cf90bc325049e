"""The browser harness itself: Chromium reaches a real `exchange up` and sees only what it serves."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Page, Route

from tests.console.conftest import LiveHub, assert_no_outside_requests


def test_the_browser_reads_the_health_answer_of_a_live_hub(page: Page, live_hub: LiveHub) -> None:
    response = page.goto(f"{live_hub.url}/health")
    assert response is not None and response.status == 200
    health = json.loads(page.locator("body").inner_text())
    assert health["status"] == "ok"
    assert health["database"]["ok"] and health["pki"]["ok"]
    # live_hub.run reaches the same home as the server: the CLI reads the revision the page shows.
    assert f"current: {health['database']['revision']}" in live_hub.run("db", "current").stdout


def test_health_loads_nothing_from_outside(page: Page, live_hub: LiveHub) -> None:
    requested = assert_no_outside_requests(page, f"{live_hub.url}/health")
    assert requested[0] == f"{live_hub.url}/health"


def test_an_outside_asset_is_caught_and_never_fetched(page: Page, live_hub: LiveHub) -> None:
    """The check is not vacuous: a local page that pulls a script from a CDN fails it."""
    probe = f"{live_hub.url}/__harness-probe"
    html = '<!doctype html><script src="https://cdn.example.invalid/ui.js"></script><p>probe</p>'

    def serve(route: Route) -> None:
        route.fulfill(status=200, content_type="text/html", body=html)

    page.route(probe, serve)
    with pytest.raises(AssertionError, match=r"cdn\.example\.invalid/ui\.js"):
        assert_no_outside_requests(page, probe)
