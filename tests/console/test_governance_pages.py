"""The governance pages in-process: data quality and its Data Docs, the applications inbox, the citizen's page.

One booted hub per module (real PKI, directory, simulated departments): the household sync runs clean,
the tax sync has planted bad rows that the quality gate quarantines, two citizens are asked about
through the signed query API. Console users sign in through the real /console/login form; every
decision is a real POST with the session's CSRF token. Nothing is mocked.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from adapters.base import Change
from adapters.population import Population
from adapters.registry import DEPARTMENTS
from adapters.simulation import running
from certs import jose
from certs.keys import generate_private_key, load_private_key
from certs.store import PkiPaths
from directory import service as directory
from directory.calendar import WorkCalendar
from directory.models import Application
from directory.schemas import ApplicationCreate, ApplicationDecision
from exchange.api.app import create_app
from exchange.bootstrap import bootstrap
from exchange.config import Settings
from exchange.console import accounts
from exchange.console.messages import applications as applications_messages
from exchange.console.messages import me as me_messages
from exchange.console.messages import quality as quality_messages
from exchange.console.pages import me as me_page
from exchange.console.pages import quality as quality_page
from exchange.consumers import service as consumers
from exchange.consumers.schemas import ConsumerCreate
from exchange.db.engine import engine_for, session_factory, session_scope
from exchange.demo import DEMO_CLIENT_ID, DEMO_NAME
from exchange.identifiers import make_citizen_id
from exchange.licenses.models import QualityResult, QuarantinedRecord
from exchange.licenses.runner import sync_departments
from exchange.licenses.sync import publish_quality, run_sync
from exchange.queries.evidence import DepartmentSigner
from tests.console.signing import signed_query_body

pytestmark = pytest.mark.filterwarnings(
    "ignore::DeprecationWarning:great_expectations.*",
    "ignore::FutureWarning:great_expectations.*",
    "ignore:EdDSA is deprecated",
)

PASSWORD = "a long console password"
OTHER_CLIENT = "other-portal"
PERSON = "301001001-000001"  # household, conditional
MATTER = "330100-SCHOOL-01"
PURPOSE_A = "小学入学资格审核（甲）"
PURPOSE_B = "居住证办理（乙）"
USERS = {
    "gov": ("governance", None, None),
    "household-admin": ("department", "household", None),
    "tax-admin": ("department", "tax", None),
    "si-admin": ("department", "social_insurance", None),
    "demo-admin": ("consumer", None, DEMO_CLIENT_ID),
    "other-admin": ("consumer", None, OTHER_CLIENT),
}


# --- the hub -------------------------------------------------------------------------------------


class Planted:
    """The real tax feed with two records spoiled in ways the quality gate must stop."""

    def __init__(self, adapter) -> None:
        self.adapter, self.department = adapter, adapter.department

    def changes_since(self, watermark: str | None) -> Iterator[Change]:
        for position, change in enumerate(self.adapter.changes_since(watermark)):
            record = change.record
            if position == 0:
                record = dataclasses.replace(record, valid_to=date(1990, 1, 1))  # ends before it starts
            elif position == 1:
                record = dataclasses.replace(record, fields={**record.fields, "amount": "-5.00"})
            yield Change(record, change.watermark)


def _citizens() -> tuple[str, str]:
    alive = [p.citizen_id for h in Population(60).households() for p in h.members if p.alive]
    return alive[0], alive[1]


@pytest.fixture(scope="module")
def hub(tmp_path_factory, module_database_env) -> Iterator[TestClient]:
    home = tmp_path_factory.mktemp("governance-pages") / "home"
    settings = Settings(
        home=home,
        database_url=module_database_env.get("EXCHANGE_DATABASE_URL", ""),
        demo_persons=60,
        demo_grants=False,
        subject_auth="demo",
        _env_file=None,
    )
    engine = engine_for(settings)
    bootstrap(settings, engine)
    sync_departments(settings, ["household"])
    sessions = session_factory(engine)
    now = lambda: datetime.now(UTC)  # noqa: E731
    with running(settings.legacy_dir, ["tax"]) as systems:
        run = run_sync(
            sessions,
            department=DEPARTMENTS["tax"],
            adapter=Planted(systems["tax"].adapter()),
            signer=DepartmentSigner.load(PkiPaths(settings.pki_dir), "tax"),
            now=now,
            public_url=settings.base_url,
        )
    with session_scope(sessions) as session:
        publish_quality(session, run_id=run.id, home=settings.home)
        consumers.register(
            session,
            paths=PkiPaths(settings.pki_dir),
            data=ConsumerCreate(client_id=OTHER_CLIENT, name="另一个审批系统"),
            public_key=generate_private_key().public_key(),
            passphrase=None,
            now=now(),
        )
        for username, (role, department_id, client_id) in USERS.items():
            accounts.create_user(
                session,
                username=username,
                display_name=username,
                role=role,
                password=PASSWORD,
                now=now(),
                department_id=department_id,
                client_id=client_id,
            )
        granted = directory.file_application(
            session,
            data=ApplicationCreate(
                client_id=DEMO_CLIENT_ID,
                resource_code=PERSON,
                matter_code=MATTER,
                purpose="小学入学资格审核",
                legal_basis="《义务教育法》第十二条",
                items=["name", "birth_date", "sex"],
                period_from=date(2020, 1, 1),
                period_to=date(2099, 12, 31),
            ),
            calendar=WorkCalendar(),
            now=now(),
        )
        directory.decide(
            session,
            application_id=granted.id,
            decision=ApplicationDecision(approve=True),
            provider_id="household",
            decided_by="department:household:setup",
            now=now(),
        )
    with TestClient(create_app(settings)) as client:
        client.settings, client.engine = settings, engine
        key = load_private_key(settings.demo_dir / "consumer.key")
        first, second = _citizens()
        for citizen, purpose in ((first, PURPOSE_A), (first, PURPOSE_A), (second, PURPOSE_B)):
            response = client.post(
                f"/v1/query/{PERSON}",
                content=signed_query_body(
                    key, resource=PERSON, citizen=citizen, matter_code=MATTER, purpose=purpose
                ),
                headers={"Content-Type": "application/jwt"},
            )
            assert response.status_code == 200, response.text
        yield client
    engine.dispose()


def _as(hub: TestClient, username: str) -> TestClient:
    """A browser of its own, signed in through the real login form."""
    client = TestClient(hub.app)
    form = client.get("/console/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    signed = client.post(
        "/console/login",
        data={"csrf_token": token, "username": username, "password": PASSWORD, "next": "/console/quality"},
        follow_redirects=False,
    )
    assert signed.status_code == 303, signed.text
    return client


def _csrf(page: str) -> str:
    return re.search(r'<meta name="csrf-token" content="([^"]+)">', page).group(1)


def _session(hub: TestClient):
    return session_scope(session_factory(hub.engine))


# --- data quality --------------------------------------------------------------------------------


def _expected_rate(hub, license_type: str) -> str:
    with _session(hub) as session:
        rows = session.scalars(select(QualityResult).where(QualityResult.license_type == license_type)).all()
        latest = max(row.run_id for row in rows)
        stats = [row.statistics for row in rows if row.run_id == latest]
    return f"{100 * sum(s['passed_records'] for s in stats) / sum(s['records'] for s in stats):.1f}%"


def test_governance_sees_every_license_type_the_failures_and_the_quarantine(hub):
    page = _as(hub, "gov").get("/console/quality")
    assert page.status_code == 200
    for license_type in ("household_register", "tax_payment_certificate", "real_estate_title"):
        assert f'data-testid="quality-type-{license_type}"' in page.text
    assert _expected_rate(hub, "tax_payment_certificate") in page.text
    assert _expected_rate(hub, "tax_payment_certificate") != "100.0%"
    assert _expected_rate(hub, "household_register") in page.text
    assert page.text.count("<svg") >= 2  # one trend chart per synced type
    failures = page.text.split('data-testid="failed-expectations"')[1].split("</table>")[0]
    assert "amount" in failures and "expect_column_values_to_be_between" in failures
    quarantine = page.text.split('data-testid="quarantine"')[1].split("</table>")[0]
    with _session(hub) as session:
        stopped = session.scalars(select(QuarantinedRecord)).all()
        assert len(stopped) >= 2
        for row in stopped:
            assert row.source_id in quarantine and row.reasons[0] in page.text.replace("&#39;", "'")
            assert row.record["holder_name"] not in page.text  # no personal data on the page
    assert 'href="/console/quality/docs/index.html"' in page.text


def test_a_department_sees_only_its_own_quality(hub):
    household = _as(hub, "household-admin").get("/console/quality")
    assert household.status_code == 200
    assert 'data-testid="quality-type-household_register"' in household.text
    assert "tax_payment_certificate" not in household.text and "税收完税证明" not in household.text
    assert 'data-testid="quarantine"' not in household.text  # the tax department's records stay its own
    assert 'data-testid="failed-expectations"' not in household.text
    assert "/console/quality/docs/index.html" not in household.text  # the index lists every type
    tax = _as(hub, "tax-admin").get("/console/quality")
    assert 'data-testid="quality-type-tax_payment_certificate"' in tax.text
    assert "household_register" not in tax.text and 'data-testid="quarantine"' in tax.text
    with _session(hub) as session:
        assert all(row.source_id in tax.text for row in session.scalars(select(QuarantinedRecord)))


def test_consumers_may_not_see_quality(hub):
    consumer = _as(hub, "demo-admin")
    assert consumer.get("/console/quality").status_code == 403
    assert consumer.get("/console/quality/docs/index.html").status_code == 403
    anonymous = TestClient(hub.app).get("/console/quality", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/console/login")


def test_the_quarantine_is_paginated(hub, monkeypatch):
    monkeypatch.setattr(quality_page, "PAGE_SIZE", 1)
    gov = _as(hub, "gov")
    first = gov.get("/console/quality?license_type=tax_payment_certificate")
    second = gov.get("/console/quality?license_type=tax_payment_certificate&page=2")
    assert "page=2" in first.text
    with _session(hub) as session:
        newest, older = session.scalars(
            select(QuarantinedRecord).order_by(QuarantinedRecord.id.desc())
        ).all()[:2]
    assert newest.source_id in first.text and older.source_id not in first.text
    assert older.source_id in second.text and "page=1" in second.text


# --- the Data Docs -------------------------------------------------------------------------------


def _outside_references(page: str) -> list[str]:
    return re.findall(r"(?i)(?:https?:)?//[a-z0-9-]+(?:\.[a-z0-9-]+)+", page)


def test_the_data_docs_are_served_with_nothing_from_outside(hub):
    gov = _as(hub, "gov")
    index = gov.get("/console/quality/docs/index.html")
    assert index.status_code == 200 and index.headers["content-type"].startswith("text/html")
    assert "license_tax_payment_certificate" in index.text
    assert _outside_references(index.text) == [] and "https://" not in index.text
    policy = index.headers["content-security-policy"]
    assert (
        "default-src 'self'" in policy
        and "'unsafe-inline'" not in policy
        and "frame-ancestors 'none'" in policy
    )
    assert "'sha256-" in policy  # GX's own inline table script, allowed by its hash only
    assets = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', index.text)
    assert "/console/static/vendor/data-docs/jquery-3.7.1/jquery.min.js" in assets
    for asset in assets:
        assert asset.startswith(("/console/", "./static/")), asset
        absolute = asset if asset.startswith("/") else "/console/quality/docs/" + asset.removeprefix("./")
        assert gov.get(absolute).status_code == 200, absolute
    quality = gov.get("/console/quality").text
    report = re.search(
        r'href="(/console/quality/docs/validations/license_tax_payment_certificate/[^"]+)"', quality
    )
    page = gov.get(report.group(1))
    assert page.status_code == 200 and _outside_references(page.text) == []
    assert "amount" in page.text
    css = gov.get("/console/quality/docs/static/styles/data_docs_default_styles.css")
    assert css.status_code == 200 and "https://" not in css.text
    assert (
        gov.get("/console/quality/docs", follow_redirects=False).headers["location"].endswith("/index.html")
    )


@pytest.mark.parametrize(
    "path",
    [
        "..%2F..%2Fexchange.db",
        "%2e%2e/%2e%2e/exchange.db",
        "%2E%2E%2F%2E%2E%2Fpki%2Fca.pem",
        "static/..%2F..%2F..%2Fexchange.db",
        "%2Fetc%2Fpasswd",
        "..%5C..%5Cexchange.db",
        "static/%00.css",
        "nowhere.html",
        "escape.html",
    ],
)
def test_traversal_out_of_the_docs_site_is_a_404(hub, path):
    site = hub.settings.home / "quality-docs" / "site"
    link = site / "escape.html"
    if not link.is_symlink():
        link.symlink_to(hub.settings.home / "exchange.db")  # a symlink out of the site is no way out
    response = _as(hub, "gov").get(f"/console/quality/docs/{path}")
    assert response.status_code == 404
    assert "页面不存在" in response.text  # the docs route itself answered, not the router
    assert "SQLite" not in response.text and "BEGIN CERTIFICATE" not in response.text


def test_a_department_reads_only_its_own_data_docs(hub):
    household = _as(hub, "household-admin")
    assert (
        household.get("/console/quality/docs/expectations/license_household_register.html").status_code == 200
    )
    assert household.get(
        "/console/quality/docs/expectations/license_tax_payment_certificate.html"
    ).status_code == (404)
    tax_report = re.search(
        r'href="/console/quality/docs/(validations/license_tax_payment_certificate/[^"]+)"',
        _as(hub, "gov").get("/console/quality").text,
    ).group(1)
    assert household.get(f"/console/quality/docs/{tax_report}").status_code == 404
    assert _as(hub, "tax-admin").get(f"/console/quality/docs/{tax_report}").status_code == 200
    assert (
        household.get("/console/quality/docs/static/styles/data_docs_default_styles.css").status_code == 200
    )
    home = household.get("/console/quality/docs/index.html", follow_redirects=False)
    assert home.status_code == 303 and home.headers["location"] == "/console/quality"


def test_the_docs_paths_match_the_quality_package(hub):
    from exchange.quality import docs_index
    from exchange.quality.suites import suite_name

    assert docs_index(hub.settings.home).parent == hub.settings.home.joinpath(*quality_page.SITE)
    assert all(
        quality_page.suite_name(key) == suite_name(key)
        for key in ("household_register", "tax_payment_certificate")
    )


# --- the applications inbox ----------------------------------------------------------------------


def _file(hub, provider: str, *, client_id: str = DEMO_CLIENT_ID, filed_at: datetime | None = None) -> int:
    with _session(hub) as session:
        resource = directory.search(session, provider=provider, sharing_type="conditional")[0][0]
        application = directory.file_application(
            session,
            data=ApplicationCreate(
                client_id=client_id,
                resource_code=resource.code,
                matter_code="330100-TEST-01",
                purpose="审核申请材料",
                legal_basis="《政务信息资源共享管理暂行办法》",
                items=[item.name for item in resource.data_items][:3],
                period_from=date(2026, 1, 1),
                period_to=date(2027, 12, 31),
            ),
            calendar=WorkCalendar(),
            now=filed_at or datetime.now(UTC),
        )
        return application.id


def _application(hub, application_id: int) -> Application:
    with _session(hub) as session:
        row = session.get(Application, application_id)
        session.expunge(row)
        return row


def _decide(client: TestClient, application_id: int, **form) -> object:
    token = _csrf(client.get("/console/applications").text)
    return client.post(
        f"/console/applications/{application_id}/decision",
        data={"csrf_token": token, **form},
        follow_redirects=False,
    )


def _row_ids(page: str) -> list[int]:
    return [int(i) for i in re.findall(r'data-application-id="(\d+)"', page)]


def test_each_role_sees_the_applications_of_its_scope(hub):
    household_app = _file(hub, "household")
    tax_app = _file(hub, "tax")
    other_app = _file(hub, "household", client_id=OTHER_CLIENT)
    household = _row_ids(_as(hub, "household-admin").get("/console/applications").text)
    assert household_app in household and other_app in household and tax_app not in household
    tax = _row_ids(_as(hub, "tax-admin").get("/console/applications").text)
    assert tax_app in tax and household_app not in tax
    governance = _as(hub, "gov").get("/console/applications").text
    assert {household_app, tax_app, other_app} <= set(_row_ids(governance))
    assert "/decision" not in governance  # read-only
    demo = _as(hub, "demo-admin").get("/console/applications").text
    assert {household_app, tax_app} <= set(_row_ids(demo)) and other_app not in _row_ids(demo)
    assert "/decision" not in demo
    other = _row_ids(_as(hub, "other-admin").get("/console/applications").text)
    assert other == [other_app]


def test_a_department_approves_an_application(hub):
    application_id = _file(hub, "household")
    client = _as(hub, "household-admin")
    page = client.get("/console/applications").text
    assert f'action="/console/applications/{application_id}/decision"' in page
    response = _decide(client, application_id, action="approve")
    assert response.status_code == 303
    decided = _application(hub, application_id)
    assert decided.status == "approved" and decided.approved_items == decided.items
    assert decided.decided_by == "department:household:household-admin"
    with _session(hub) as session:
        grant = directory.get_application(session, application_id=application_id).grant
        assert grant is not None and grant.items == decided.items
    assert 'data-testid="decided-notice"' in client.get(response.headers["location"]).text


def test_a_department_approves_part_of_the_items(hub):
    application_id = _file(hub, "household")
    asked = _application(hub, application_id).items
    response = _decide(_as(hub, "household-admin"), application_id, action="partial", items=asked[:1])
    assert response.status_code == 303
    decided = _application(hub, application_id)
    assert decided.status == "approved" and decided.approved_items == asked[:1]
    nothing = _file(hub, "household")
    refused = _decide(_as(hub, "household-admin"), nothing, action="partial")
    assert refused.status_code == 422 and "至少勾选一个数据项" in refused.text
    assert _application(hub, nothing).status == "pending"
    foreign = _decide(_as(hub, "household-admin"), nothing, action="partial", items=["not_an_item"])
    assert foreign.status_code == 422 and _application(hub, nothing).status == "pending"


def test_a_rejection_needs_its_reason(hub):
    application_id = _file(hub, "household")
    client = _as(hub, "household-admin")
    refused = _decide(client, application_id, action="reject", reason="   ")
    assert refused.status_code == 422
    assert "拒绝申请必须填写理由" in refused.text and 'data-testid="decision-error"' in refused.text
    unchanged = _application(hub, application_id)
    assert unchanged.status == "pending" and unchanged.decided_at is None and unchanged.decided_by is None
    done = _decide(client, application_id, action="reject", reason="不符合共享条件：缺少当事人授权")
    assert done.status_code == 303
    rejected = _application(hub, application_id)
    assert rejected.status == "rejected" and rejected.decision_reason == "不符合共享条件：缺少当事人授权"
    again = _decide(client, application_id, action="approve")
    assert again.status_code == 409 and "已经答复过" in again.text
    assert _application(hub, application_id).status == "rejected"


def test_a_department_cannot_decide_another_departments_application(hub):
    application_id = _file(hub, "household")
    for username in ("tax-admin", "gov", "demo-admin"):
        response = _decide(_as(hub, username), application_id, action="approve")
        assert response.status_code == 403, username
    assert _application(hub, application_id).status == "pending"
    tax_page = _as(hub, "tax-admin").get("/console/applications").text
    assert f'action="/console/applications/{application_id}/decision"' not in tax_page
    assert _decide(_as(hub, "tax-admin"), 999_999, action="approve").status_code == 403


def test_a_decision_without_the_csrf_token_is_refused(hub):
    application_id = _file(hub, "household")
    client = _as(hub, "household-admin")
    missing = client.post(f"/console/applications/{application_id}/decision", data={"action": "approve"})
    assert missing.status_code == 403
    wrong = client.post(
        f"/console/applications/{application_id}/decision", data={"action": "approve", "csrf_token": "forged"}
    )
    assert wrong.status_code == 403
    other_session = _csrf(_as(hub, "household-admin").get("/console/applications").text)
    stolen = client.post(
        f"/console/applications/{application_id}/decision",
        data={"action": "approve", "csrf_token": other_session},
    )
    assert stolen.status_code == 403
    assert _application(hub, application_id).status == "pending"


def test_overdue_applications_come_first(hub):
    pending = _file(hub, "social_insurance")
    decided = _file(hub, "social_insurance", filed_at=datetime.now(UTC) - timedelta(days=20))
    overdue = _file(hub, "social_insurance", filed_at=datetime.now(UTC) - timedelta(days=40))
    later_overdue = _file(hub, "social_insurance", filed_at=datetime.now(UTC) - timedelta(days=30))
    assert _decide(_as(hub, "si-admin"), decided, action="approve").status_code == 303
    page = _as(hub, "si-admin").get("/console/applications").text
    assert _row_ids(page) == [overdue, later_overdue, pending, decided]
    assert re.search(rf'data-application-id="{overdue}" data-status="overdue" class="flagged"', page)
    assert "已逾期" in page
    governance = _as(hub, "gov").get("/console/applications").text
    statuses = re.findall(r'data-application-id="(\d+)" data-status="(\w+)"', governance)
    flags = [status == "overdue" for _, status in statuses]
    assert flags == sorted(flags, reverse=True)  # every overdue one before every other
    assert (str(overdue), "overdue") in statuses
    only = _row_ids(_as(hub, "gov").get("/console/applications?status=overdue").text)
    assert overdue in only and pending not in only


# --- the citizen's page --------------------------------------------------------------------------


def _citizen_signs_in(hub, citizen_id: str) -> tuple[TestClient, object]:
    browser = TestClient(hub.app)
    form = browser.get("/console/me")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    return browser, browser.post(
        "/console/me", data={"csrf_token": token, "citizen_id": citizen_id}, follow_redirects=False
    )


def test_the_citizen_page_shows_the_demo_warning_and_checks_the_id(hub):
    browser = TestClient(hub.app)
    page = browser.get("/console/me")
    assert page.status_code == 200 and 'data-testid="demo-banner"' in page.text and "DEMO" in page.text
    assert 'name="citizen_id"' in page.text
    first, _ = _citizens()
    wrong_check = first[:17] + ("0" if first[17] != "0" else "1")
    _, response = _citizen_signs_in(hub, wrong_check)
    assert response.status_code == 422 and "校验码（第 18 位）不正确" in response.text
    assert "dxh_subject" not in response.headers.get("set-cookie", "")
    _, short = _citizen_signs_in(hub, "11010119900307")
    assert short.status_code == 422 and "应为 18 位" in short.text
    _, bad_date = _citizen_signs_in(
        hub, make_citizen_id("110101", date(1990, 3, 7), 1)[:10] + "1399" + "0011"
    )
    assert bad_date.status_code == 422 and 'data-testid="me-error"' in bad_date.text


def test_a_citizen_sees_only_their_own_entries(hub):
    first, second = _citizens()
    browser, response = _citizen_signs_in(hub, first)
    assert response.status_code == 303 and response.headers["location"] == "/console/me"
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("dxh_subject="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console/me" in cookie
    assert "Max-Age=1800" in cookie
    page = browser.get("/console/me").text
    entries = page.split('data-testid="access-log"')[1].split("</table>")[0]
    assert entries.count('data-testid="access-entry"') == 2
    assert PURPOSE_A in entries and PURPOSE_B not in entries
    assert DEMO_NAME in entries and "某市公安局（户籍管理）" in entries and "常住人口基本信息" in entries
    assert MATTER in entries and first not in page  # the ID is shown masked
    assert first[:6] + "********" + first[-4:] in page
    other, _ = _citizen_signs_in(hub, second)
    theirs = other.get("/console/me").text
    assert theirs.count('data-testid="access-entry"') == 1 and PURPOSE_B in theirs and PURPOSE_A not in theirs


def test_the_access_record_is_paginated(hub, monkeypatch):
    monkeypatch.setattr(me_page, "PAGE_SIZE", 1)
    browser, _ = _citizen_signs_in(hub, _citizens()[0])
    first = browser.get("/console/me").text
    second = browser.get("/console/me?page=2").text
    assert first.count('data-testid="access-entry"') == 1 and "?page=2" in first
    assert second.count('data-testid="access-entry"') == 1 and "?page=1" in second


def test_the_citizen_signs_out(hub):
    browser, _ = _citizen_signs_in(hub, _citizens()[0])
    page = browser.get("/console/me").text
    assert 'data-testid="me-sign-out"' in page
    refused = browser.post("/console/me/logout", data={"csrf_token": "forged"}, follow_redirects=False)
    assert refused.status_code == 400
    assert 'data-testid="access-log"' in browser.get("/console/me").text  # still signed in
    token = re.search(
        r'action="/console/me/logout"[^>]*>\s*<input type="hidden" name="csrf_token" value="([^"]+)"', page
    )
    out = browser.post("/console/me/logout", data={"csrf_token": token.group(1)}, follow_redirects=False)
    assert out.status_code == 303
    after = browser.get("/console/me").text
    assert 'data-testid="access-log"' not in after and 'name="citizen_id"' in after


def test_only_a_token_of_the_identity_provider_signs_a_citizen_in(hub):
    first, _ = _citizens()
    stranger = jose.sign(
        {"iss": "x", "aud": "exchange-hub", "sub": first, "exp": int(time.time()) + 60},
        generate_private_key(),
        typ="JWT",
    )
    for forged in (stranger, "not-a-token"):
        browser = TestClient(hub.app)
        browser.cookies.set("dxh_subject", forged, path="/console/me")
        page = browser.get("/console/me").text
        assert 'data-testid="access-log"' not in page and 'name="citizen_id"' in page
    no_csrf = TestClient(hub.app).post("/console/me", data={"citizen_id": first}, follow_redirects=False)
    assert no_csrf.status_code == 400 and "dxh_subject" not in no_csrf.headers.get("set-cookie", "")


def test_with_oidc_the_citizen_page_points_to_the_government_portal(tmp_path, hub_database_url):
    settings = Settings(
        home=tmp_path / "oidc-home",
        database_url=hub_database_url or "",
        subject_auth="oidc",
        oidc_issuer="https://idp.example.gov.cn/realms/citizens",
        oidc_audience="exchange-hub",
        oidc_jwks_url="http://127.0.0.1:9/jwks",
        _env_file=None,
    )
    with TestClient(create_app(settings)) as client:
        page = client.get("/console/me")
        assert page.status_code == 200 and 'data-testid="oidc-notice"' in page.text
        assert "政务服务平台" in page.text and 'name="citizen_id"' not in page.text
        assert "DEMO" not in page.text
        assert "OpenID Connect" in client.get("/console/me?lang=en").text
        assert client.post("/console/me", data={"citizen_id": _citizens()[0]}).status_code == 404


# --- both languages ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "zh", "en"),
    [
        ("/console/quality", "数据质量", "Data quality"),
        ("/console/applications", "共享申请", "Sharing applications"),
        ("/console/me", "谁用了我的数据", "Who used my data"),
    ],
)
def test_the_pages_render_in_both_languages(hub, path, zh, en):
    gov = _as(hub, "gov")
    chinese = gov.get(path)
    english = gov.get(f"{path}?lang=en")
    assert chinese.status_code == english.status_code == 200
    assert f"<h1>{zh}</h1>" in chinese.text and f"<h1>{en}</h1>" in english.text
    for page in (chinese.text, english.text):  # no message key shown untranslated
        assert not re.findall(
            r"\b(?:quality|applications|me|license)\.[a-z_.]+", re.sub(r"<[^>]+>", " ", page)
        )


@pytest.mark.parametrize("catalogue", [quality_messages, applications_messages, me_messages])
def test_the_catalogues_hold_the_same_keys(catalogue):
    assert set(catalogue.ZH) == set(catalogue.EN)
    assert all(value.strip() for value in [*catalogue.ZH.values(), *catalogue.EN.values()])


def test_a_path_is_resolved_before_it_is_served(hub):
    site = hub.settings.home / "quality-docs" / "site"
    assert (hub.settings.home / "pki" / "ca.key").is_file()
    assert quality_page.resolve_inside(site, "../../pki/ca.key") is None
    assert quality_page.resolve_inside(site, str(hub.settings.home / "pki" / "ca.key")) is None
    assert quality_page.resolve_inside(site, "static/../index.html") == (site / "index.html").resolve()
