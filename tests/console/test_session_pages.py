"""Signing in and out of the console over HTTP, the frame every page shares, and the directory browser."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from exchange.api.app import create_app
from exchange.bootstrap import bootstrap
from exchange.console import accounts
from exchange.console.i18n import MESSAGES
from exchange.db.engine import session_factory, session_scope
from tests.conftest import NOW

PASSWORD = "correct horse battery staple"


@pytest.fixture
def hub(settings, engine):
    bootstrap(settings, engine)
    with session_scope(session_factory(engine)) as session:
        accounts.create_user(
            session, username="gov", display_name="王治理", role="governance", password=PASSWORD, now=NOW
        )
        accounts.create_user(
            session,
            username="tax",
            display_name="李税务",
            role="department",
            department_id="tax",
            password=PASSWORD,
            now=NOW,
        )
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as client:
        yield client


def _form_token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def sign_in(client: TestClient, username: str, password: str = PASSWORD, next_path: str = ""):
    page = client.get("/console/login")
    return client.post(
        "/console/login",
        data={
            "username": username,
            "password": password,
            "csrf_token": _form_token(page.text),
            "next": next_path,
        },
        follow_redirects=False,
    )


def test_an_anonymous_browser_is_sent_to_sign_in_and_back(hub):
    answer = hub.get("/console/directory?q=tax", follow_redirects=False)
    assert (
        answer.status_code == 303
        and answer.headers["location"] == "/console/login?next=/console/directory%3Fq%3Dtax"
    )
    htmx = hub.get("/console/directory", headers={"HX-Request": "true"}, follow_redirects=False)
    assert htmx.headers["HX-Redirect"] == "/console/login"
    signed = sign_in(hub, "gov", next_path="/console/directory?q=tax")
    assert signed.status_code == 303 and signed.headers["location"] == "/console/directory?q=tax"
    cookie = signed.headers["set-cookie"]
    assert (
        "dxh_console=" in cookie
        and "HttpOnly" in cookie
        and "SameSite=strict" in cookie.replace("Strict", "strict")
    )
    assert "Path=/console" in cookie
    assert "王治理" in hub.get("/console/directory").text


def test_a_wrong_password_is_refused_with_one_message_for_every_cause(hub):
    for username, password in (("gov", "wrong password here"), ("nobody", PASSWORD)):
        answer = sign_in(hub, username, password)
        assert answer.status_code == 401
        assert "用户名或密码错误" in answer.text
    assert hub.get("/console/directory", follow_redirects=False).status_code == 303  # still anonymous


def test_signing_in_needs_the_login_forms_token(hub):
    answer = hub.post(
        "/console/login",
        data={"username": "gov", "password": PASSWORD, "csrf_token": "forged"},
        follow_redirects=False,
    )
    assert answer.status_code == 400 and "页面已过期" in answer.text
    assert "dxh_console" not in answer.headers.get("set-cookie", "")


@pytest.mark.parametrize(
    "target", ["//evil.example/x", "https://evil.example/", "/v1/audit/checkpoint", "/console\\@evil"]
)
def test_signing_in_never_redirects_outside_the_console(hub, target):
    assert sign_in(hub, "gov", next_path=target).headers["location"] == "/console/overview"


def test_signing_out_needs_the_session_csrf_token(hub):
    sign_in(hub, "gov")
    page = hub.get("/console/directory")
    refused = hub.post("/console/logout", data={"csrf_token": "forged"}, follow_redirects=False)
    assert refused.status_code == 403 and "CSRF" in refused.text
    assert hub.get("/console/directory", follow_redirects=False).status_code == 200  # still signed in
    done = hub.post("/console/logout", data={"csrf_token": _form_token(page.text)}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/console/login"
    assert hub.get("/console/directory", follow_redirects=False).status_code == 303


def test_console_pages_carry_a_strict_content_security_policy(hub):
    for path in ("/console/login", "/console/static/console.css"):
        headers = hub.get(path).headers
        assert "script-src 'self'" in headers["content-security-policy"]
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" not in hub.get("/health").headers  # the API is not a page


def test_every_asset_the_frame_loads_is_served_by_the_hub(hub):
    sign_in(hub, "gov")
    html = hub.get("/console/directory").text
    assets = re.findall(r'(?:src|href)="([^"#?]+)', html)
    assert assets and not [a for a in assets if a.startswith(("http:", "https:", "//"))]
    for asset in (a for a in assets if a.startswith("/console/static/")):
        assert hub.get(asset).status_code == 200, asset


def test_the_navigation_shows_what_the_role_may_open(hub):
    sign_in(hub, "tax")
    html = hub.get("/console/directory").text
    assert 'href="/console/audit"' in html and 'href="/console/quality"' in html
    assert "李税务" in html and "tax" in html


def test_the_directory_browser_searches_and_filters(hub):
    sign_in(hub, "gov")
    everything = hub.get("/console/directory").text
    assert "301001001-000001" in everything and "不予共享" in everything
    tax = hub.get("/console/directory", params={"provider": "tax"}).text
    assert "302001001-000001" in tax and "301001001-000001" not in tax
    conditional = hub.get("/console/directory", params={"sharing_type": "conditional"}).text
    assert "有条件共享" in conditional and 'class="badge none"' not in conditional
    nothing = hub.get("/console/directory", params={"q": "不存在的资源"}).text
    assert "没有符合条件的资源" in nothing
    odd = hub.get("/console/directory", params={"provider": "<script>", "sharing_type": "x", "page": 1})
    assert odd.status_code == 200 and "<script>" not in odd.text.split("<main>", 1)[1]
    bad = hub.get("/console/directory", params={"page": 0})
    assert (
        bad.status_code == 400 and "请求参数有误" in bad.text and "text/html" in bad.headers["content-type"]
    )
    assert (
        hub.get("/v1/directory/resources", params={"limit": -1}).headers["content-type"]
        == "application/problem+json"
    )


def test_the_language_follows_the_choice_and_is_remembered(hub):
    sign_in(hub, "gov")
    english = hub.get("/console/directory?lang=en")
    assert "Resource directory" in english.text and 'lang="en"' in english.text
    assert "dxh_lang=en" in english.headers["set-cookie"]
    assert "Resource directory" in hub.get("/console/directory").text  # the cookie remembers
    assert "资源目录" in hub.get("/console/directory?lang=zh").text
    fresh = TestClient(hub.app, base_url="http://127.0.0.1")
    assert "Sign in" in fresh.get("/console/login", headers={"Accept-Language": "en-GB,en;q=0.8"}).text


def test_both_languages_have_every_message():
    assert set(MESSAGES["zh"]) == set(MESSAGES["en"])
    assert all(MESSAGES["zh"].values()) and all(MESSAGES["en"].values())
