"""The console in a real browser (Chromium through Playwright) against a real `exchange up`.

Each test signs in through the sign-in page as one of the demo accounts that `exchange up` made
(their passwords are in $EXCHANGE_HOME/demo/console-accounts.txt) and uses the pages as a person
would. With EXCHANGE_UPDATE_SCREENSHOTS=1 the main pages are saved to docs/screenshots/.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.console.conftest import LiveHub, assert_no_outside_requests, screenshot


def _passwords(hub: LiveHub) -> dict[str, str]:
    lines = (hub.home / "demo" / "console-accounts.txt").read_text(encoding="utf-8").splitlines()[1:]
    return {line.split("\t")[0]: line.split("\t")[3] for line in lines}


def sign_in(page: Page, hub: LiveHub, username: str, *, then: str = "/console/directory") -> None:
    page.goto(f"{hub.url}/console/login?next={then}")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(_passwords(hub)[username])
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"{hub.url}{then}*")


def test_sign_in_browse_the_directory_switch_language_and_sign_out(page: Page, live_hub: LiveHub):
    page.goto(f"{live_hub.url}/console/directory")
    expect(page).to_have_url(f"{live_hub.url}/console/login?next=/console/directory")
    page.get_by_label("用户名").fill("governance")
    page.get_by_label("密码").fill("not the password at all")
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("alert")).to_contain_text("用户名或密码错误")

    sign_in(page, live_hub, "governance")
    expect(page.get_by_test_id("signed-in-as")).to_contain_text("数据治理人员")
    expect(page.get_by_role("heading", name="资源目录")).to_be_visible()
    page.get_by_label("提供部门").select_option("tax")
    page.get_by_role("button", name="搜索").click()
    expect(page.locator("table.data tbody tr")).to_have_count(2)
    expect(page.locator("table.data")).to_contain_text("302001001-000001")
    screenshot(page, "directory")

    page.get_by_role("link", name="English").click()
    expect(page.get_by_role("heading", name="Resource directory")).to_be_visible()
    page.get_by_role("link", name="中文").click()
    page.get_by_role("button", name="退出").click()
    expect(page).to_have_url(f"{live_hub.url}/console/login")
    page.goto(f"{live_hub.url}/console/directory")
    expect(page).to_have_url(f"{live_hub.url}/console/login?next=/console/directory")


@pytest.mark.parametrize("path", ["/console/login", "/console/directory"])
def test_console_pages_load_nothing_from_outside(page: Page, live_hub: LiveHub, path: str):
    sign_in(page, live_hub, "governance")
    requested = assert_no_outside_requests(page, f"{live_hub.url}{path}")
    assert any(url.endswith("htmx-2.0.8.min.js") for url in requested)


@pytest.fixture(scope="module")
def exchanged(live_hub: LiveHub) -> str:
    """One answered query about a demo citizen, through the real CLI: an entry for the access log."""
    subject = live_hub.run("demo", "subjects", "--count", "1").stdout.strip()
    live_hub.run(
        "client", "query", "301001001-000001", "--subject", subject, "--fields", "name,sex",
        "--matter", "DEMO-0001", "--purpose", "核验户籍", "--operator-id", "clerk-1", "--operator-name", "演示窗口",
        "--hub", live_hub.url,
    )  # fmt: skip
    return subject


def test_governance_sees_the_overview_and_finds_an_exchange_in_the_access_log(
    page: Page, live_hub: LiveHub, exchanged: str
):
    sign_in(page, live_hub, "governance", then="/console/overview")
    expect(page.get_by_test_id("metric-total")).not_to_have_text("0")
    expect(page.get_by_test_id("daily-chart").locator("svg")).to_be_visible()
    screenshot(page, "overview")

    page.get_by_role("link", name="访问日志").click()
    page.get_by_label("数据主体标识").fill(exchanged)
    page.get_by_role("button", name="查询").click()
    rows = page.get_by_test_id("access-log").locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("301001001-000001")
    expect(rows.first.get_by_test_id("subject")).to_have_text(exchanged)
    screenshot(page, "access-log")
    with page.expect_download() as download:
        page.get_by_test_id("csv-export").click()
    exported = download.value.path().read_bytes().decode("utf-8-sig")
    assert exchanged in exported and exported.count("\n") == 2  # the header and the one entry


def test_a_department_sees_only_its_own_resources_exchanges(page: Page, live_hub: LiveHub, exchanged: str):
    sign_in(page, live_hub, "tax-admin", then="/console/access-log")
    page.get_by_label("数据主体标识").fill(exchanged)
    page.get_by_role("button", name="查询").click()
    expect(page.get_by_test_id("access-log").locator("tbody tr")).to_have_count(0)
    page.goto(f"{live_hub.url}/console/audit")
    expect(page.get_by_role("heading", level=1)).to_be_visible()


def test_a_department_approves_an_application_from_its_inbox(page: Page, live_hub: LiveHub):
    live_hub.run(
        "applications", "file", "demo-approval", "301001001-000001", "--matter", "BROWSER-0001",
        "--purpose", "入学资格审核", "--legal-basis", "义务教育法第十二条", "--fields", "name,sex",
    )  # fmt: skip
    sign_in(page, live_hub, "household-admin", then="/console/applications")
    row = page.get_by_test_id("application-row").filter(has_text="BROWSER-0001")
    expect(row).to_have_attribute("data-status", "pending")
    row.get_by_text("答复此申请").click()
    row.get_by_test_id("approve").click()
    expect(page.get_by_test_id("decided-notice")).to_be_visible()
    decided = page.get_by_test_id("application-row").filter(has_text="BROWSER-0001")
    expect(decided).to_have_attribute("data-status", "approved")
    expect(decided).to_contain_text("department:household:household-admin")
    screenshot(page, "applications")


def test_the_quality_page_shows_a_sync_and_opens_the_data_docs(page: Page, live_hub: LiveHub):
    live_hub.run("sync", "real_estate")
    sign_in(page, live_hub, "governance", then="/console/quality")
    expect(page.get_by_test_id("quality-type-real_estate_title")).to_be_visible()
    screenshot(page, "quality")
    docs = page.get_by_test_id("docs-index").get_attribute("href")
    requested = assert_no_outside_requests(page, f"{live_hub.url}{docs}")
    assert any("/console/static/vendor/data-docs/" in url for url in requested)
