"""The console's monitoring pages (overview, access log with CSV and anomalies, audit integrity), in process.

A booted hub (real PKI, directory, demo consumer and grants) behind FastAPI's TestClient; users sign in
through the real /console/login form. Audit entries come from real signed requests or from the audit
service's ``append``; checkpoints are signed with the hub key; tampering is done in SQL, as an attacker
with database access would.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from adapters.population import Population
from certs.keys import load_private_key
from certs.store import PkiPaths, read_certificate
from exchange.api.app import create_app
from exchange.audit import service as audit
from exchange.audit.models import AuditEntry
from exchange.audit.schemas import AuditRecord
from exchange.bootstrap import bootstrap
from exchange.config import get_settings
from exchange.console import accounts, monitoring
from exchange.console.accounts import ConsolePrincipal
from exchange.console.messages import access_log as access_log_messages
from exchange.console.messages import audit as audit_messages
from exchange.console.messages import overview as overview_messages
from exchange.console.monitoring import LogFilter, LogRow, Scope
from exchange.db.engine import session_factory, session_scope
from exchange.demo import DEMO_CLIENT_ID, DEMO_MATTER
from exchange.licenses.models import SyncRun
from tests.console.signing import signed_query_body
from tests.exchange.audit.tampering import tamper

PASSWORD = "correct horse battery staple"
HOUSEHOLD = "301001001-000001"  # household's resource
TAX = "302001001-000001"  # tax's resource (code checked against the catalogue in the fixture)
CITIZEN_A = "11010519491231002X"
CITIZEN_B = "110105194912310037"
OTHER = "other-approval"


# --- fixtures and helpers -------------------------------------------------------------------------


@pytest.fixture
def hub(settings, engine, monkeypatch):
    """A booted hub with demo grants; checkpoints only when a test signs them (no background timing)."""
    monkeypatch.setenv("EXCHANGE_DEMO_GRANTS", "true")
    monkeypatch.setenv("EXCHANGE_CHECKPOINT_EVERY_SECONDS", "86400")
    monkeypatch.setenv("EXCHANGE_CHECKPOINT_EVERY_ENTRIES", "1000000")
    get_settings.cache_clear()
    settings = get_settings()
    bootstrap(settings, engine)
    now = datetime.now(UTC)
    with session_scope(session_factory(engine)) as session:
        for username, role, scope in (
            ("gov", "governance", {}),
            ("tax-adm", "department", {"department_id": "tax"}),
            ("hh-adm", "department", {"department_id": "household"}),
            ("portal-adm", "consumer", {"client_id": DEMO_CLIENT_ID}),
        ):
            accounts.create_user(
                session,
                username=username,
                display_name=username,
                role=role,
                password=PASSWORD,
                now=now,
                **scope,
            )
        tax = session.execute(
            text("SELECT code FROM resources WHERE provider_id = 'tax' ORDER BY code")
        ).scalar()
    assert tax == TAX
    with TestClient(create_app(settings)) as client:
        client.settings, client.engine = settings, engine
        yield client


def sign_in(client: TestClient, username: str) -> None:
    """Through the real form: the login page's CSRF token, then the POST; the client keeps the cookie."""
    client.cookies.clear()
    page = client.get("/console/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    response = client.post(
        "/console/login",
        data={"csrf_token": token, "username": username, "password": PASSWORD, "next": "/console/overview"},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/console/overview", response.text


def record(**changes: object) -> AuditRecord:
    values: dict[str, object] = {
        "request_id": uuid.uuid4().hex,
        "client_id": DEMO_CLIENT_ID,
        "operator_id": "clerk-1",
        "operator_name": "李窗口",
        "resource_code": HOUSEHOLD,
        "provider_id": "household",
        "subject_type": "id_card",
        "subject_value": CITIZEN_A,
        "items_asked": ["name"],
        "items_returned": ["name"],
        "matter_code": DEMO_MATTER,
        "purpose": "核验",
        "decision": "allow",
        "http_status": 200,
        "latency_ms": 3,
        "request_hash": "h" * 43,
        "endpoint": "query",
    }
    values.update(changes)
    if values["decision"] == "deny" and "http_status" not in changes:
        values["http_status"] = 403
    return AuditRecord.model_validate(values)


def plant(engine, *records: AuditRecord, sign: bool = False, settings=None) -> None:
    """Append the records (and sign a checkpoint of the result) in one transaction."""
    with session_scope(session_factory(engine)) as session:
        for each in records:
            audit.append(session, each, datetime.now(UTC))
        if sign:
            sign_checkpoint(session, settings)


def sign_checkpoint(session: Session, settings) -> None:
    paths = PkiPaths(settings.pki_dir)
    audit.checkpoint(
        session,
        signer_key=load_private_key(paths.hub_key),
        signer_chain=[read_certificate(paths.hub_cert), read_certificate(paths.ca_cert)],
        hub_id=settings.hub_id,
        now=datetime.now(UTC),
    )


def yesterday_at(hour: int, minute: int = 0) -> datetime:
    """Yesterday at this China Standard Time, as UTC: inside every default window of the pages."""
    day = monitoring.local(datetime.now(UTC)).date() - timedelta(days=1)
    return (monitoring.day_start(day) + timedelta(hours=hour, minutes=minute)).astimezone(UTC)


def rows_of(page_text: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr data-index="(\d+)"', page_text)]


def read_csv(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


def signed_query(hub: TestClient, citizen: str, **changes: object):
    key = load_private_key(hub.settings.demo_dir / "consumer.key")
    wanted: dict = {"matter_code": DEMO_MATTER, "purpose": "核验申请材料", **changes}
    body = signed_query_body(
        key, resource=HOUSEHOLD, citizen=citizen, operator={"id": "clerk-9", "name": "王窗口"}, **wanted
    )
    return hub.post(f"/v1/query/{HOUSEHOLD}", content=body, headers={"Content-Type": "application/jwt"})


def living_citizen() -> str:
    for household in Population(60).households():
        for person in household.members:
            if person.alive:
                return person.citizen_id
    raise AssertionError("no living person in the demo population")


PAGES = ("/console/overview", "/console/access-log", "/console/access-log.csv", "/console/audit")


# --- access -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES)
def test_anonymous_browsers_are_sent_to_sign_in(hub, path):
    response = hub.get(path + "?decision=deny", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/console/login?next=" + path)


def test_a_consumer_may_not_open_the_audit_page(hub):
    sign_in(hub, "portal-adm")
    response = hub.get("/console/audit")
    assert response.status_code == 403 and "无权访问" in response.text
    assert 'href="/console/audit"' not in hub.get("/console/overview").text  # nor sees it offered


def test_the_pages_are_served_with_the_strict_policy(hub):
    sign_in(hub, "gov")
    for path in PAGES:
        response = hub.get(path)
        assert response.status_code == 200, path
        assert "script-src 'self'" in response.headers["content-security-policy"]
        assert "style=" not in response.text and "<script>" not in response.text


# --- overview -------------------------------------------------------------------------------------


def test_real_signed_requests_are_counted_on_the_overview(hub):
    citizen = living_citizen()
    assert signed_query(hub, citizen).status_code == 200
    assert signed_query(hub, citizen, matter_code="NOT-GRANTED").status_code == 403
    sign_in(hub, "gov")
    page = hub.get("/console/overview").text
    assert re.search(r'data-testid="metric-total">2<', page)
    assert re.search(r'data-testid="metric-denied">1<', page)
    assert "<svg" in page and "近 14 天每日请求数" in page
    consumers = page.split('data-testid="top-consumers"')[1].split("</table>")[0]
    assert DEMO_CLIENT_ID in consumers and ">2<" in consumers and ">1<" in consumers
    denials = page.split('data-testid="recent-denials"')[1].split("</table>")[0]
    assert citizen not in denials and monitoring.mask_subject(citizen) in denials  # masked on the overview
    log = hub.get("/console/access-log").text
    assert len(rows_of(log)) == 2 and citizen in log  # governance searches by subject, so sees it


def test_each_role_sees_its_own_part_of_the_overview(hub):
    plant(
        hub.engine,
        record(decision="deny"),
        record(client_id=OTHER, resource_code=TAX, provider_id="tax", subject_value=CITIZEN_B),
        record(
            client_id=OTHER, resource_code=TAX, provider_id="tax", subject_value=CITIZEN_B, decision="deny"
        ),
        record(client_id=OTHER, resource_code=TAX, provider_id="tax", subject_value=CITIZEN_B),
    )
    sign_in(hub, "gov")
    assert re.search(r'data-testid="metric-total">4<', hub.get("/console/overview").text)
    sign_in(hub, "tax-adm")
    page = hub.get("/console/overview").text
    assert re.search(r'data-testid="metric-total">3<', page) and re.search(
        r'data-testid="metric-denied">1<', page
    )
    assert DEMO_CLIENT_ID not in page and OTHER in page
    assert monitoring.mask_subject(CITIZEN_A) not in page
    sign_in(hub, "portal-adm")
    page = hub.get("/console/overview").text
    assert re.search(r'data-testid="metric-total">1<', page) and OTHER not in page
    assert 'data-testid="sync-status"' not in page and 'data-testid="integrity"' not in page


def test_sync_status_shows_each_departments_latest_run_to_those_who_may_see_it(hub):
    started = datetime.now(UTC) - timedelta(hours=2)
    with session_scope(session_factory(hub.engine)) as session:
        for department, status, counts in (
            ("tax", "failed", {"read": 5}),
            ("tax", "succeeded", {"read": 120, "created": 118, "quarantined": 2}),
            ("household", "running", {"read": 7}),
        ):
            session.add(
                SyncRun(
                    department_id=department,
                    started_at=started,
                    finished_at=None if status == "running" else started + timedelta(minutes=3),
                    status=status,
                    counts=counts,
                )
            )
    sign_in(hub, "gov")
    table = hub.get("/console/overview").text.split('data-testid="sync-status"')[1].split("</table>")[0]
    tax_row = table.split('data-department="tax"')[1].split("</tr>")[0]
    assert "成功" in tax_row and "新增 118" in tax_row and "隔离 2" in tax_row and "失败" not in tax_row
    assert "进行中" in table.split('data-department="household"')[1].split("</tr>")[0]
    assert "尚未同步" in table.split('data-department="real_estate"')[1].split("</tr>")[0]
    sign_in(hub, "tax-adm")
    table = hub.get("/console/overview").text.split('data-testid="sync-status"')[1].split("</table>")[0]
    assert 'data-department="tax"' in table and 'data-department="household"' not in table


def test_the_overview_checks_the_latest_checkpoint_and_says_when(hub):
    plant(hub.engine, *[record() for _ in range(5)], sign=True, settings=hub.settings)
    plant(hub.engine, record())  # one entry after it, not signed yet
    sign_in(hub, "hh-adm")
    panel = hub.get("/console/overview").text.split('data-testid="integrity"')[1].split("</section>")[0]
    assert 'data-testid="integrity-state">通过' in panel and "树大小 5" in panel
    assert "检查时间" in panel and "6 条，其中 1 条" in panel
    with session_scope(session_factory(hub.engine)) as session:
        tamper(session, "UPDATE audit_checkpoints SET root_hash = :r", r="A" * 43 + "=")
    panel = hub.get("/console/overview").text.split('data-testid="integrity"')[1].split("</section>")[0]
    assert 'data-testid="integrity-state">未通过' in panel and "签名无法核验" in panel


# --- access log -----------------------------------------------------------------------------------


def test_a_department_never_sees_another_departments_exchanges(hub):
    plant(
        hub.engine,
        record(subject_value=CITIZEN_A),
        record(resource_code=TAX, provider_id="tax", subject_value=CITIZEN_B),
        sign=True,
        settings=hub.settings,
    )
    sign_in(hub, "tax-adm")
    log = hub.get("/console/access-log").text
    assert rows_of(log) == [1] and HOUSEHOLD not in log.split('data-testid="access-log"')[1]
    assert CITIZEN_B not in log and monitoring.mask_subject(CITIZEN_B) in log  # masked for departments
    assert rows_of(hub.get("/console/access-log", params={"subject": CITIZEN_A}).text) == []
    assert rows_of(hub.get("/console/access-log", params={"resource": HOUSEHOLD}).text) == []
    csv_rows = read_csv(hub.get("/console/access-log.csv"))
    assert [row[0] for row in csv_rows[1:]] == ["1"]
    assert CITIZEN_A not in hub.get("/console/access-log.csv", params={"subject": CITIZEN_A}).text
    audit_page = hub.get("/console/audit").text
    assert audit_page.count('data-state="ok"') == 1
    assert CITIZEN_A not in audit_page and CITIZEN_B not in audit_page and HOUSEHOLD not in audit_page


def test_a_consumer_sees_only_its_own_requests_whatever_it_asks(hub):
    plant(hub.engine, record(), record(client_id=OTHER), record(client_id=None, decision="deny"))
    sign_in(hub, "portal-adm")
    assert rows_of(hub.get("/console/access-log").text) == [0]
    assert rows_of(hub.get("/console/access-log", params={"consumer": OTHER}).text) == [0]
    page = hub.get("/console/access-log").text
    assert 'name="consumer"' not in page and OTHER not in page
    csv_rows = read_csv(hub.get("/console/access-log.csv", params={"consumer": OTHER}))
    assert [row[0] for row in csv_rows[1:]] == ["0"]
    assert "原因" not in csv_rows[0]  # the internal reason is not the consumer's to read


def test_the_filters_narrow_the_log(hub):
    two_days_ago = yesterday_at(12) - timedelta(days=1)
    plant(
        hub.engine,
        record(subject_value=CITIZEN_A, recorded_at=two_days_ago),  # 0
        record(subject_value=CITIZEN_B, decision="deny", recorded_at=yesterday_at(9)),  # 1
        record(client_id=OTHER, resource_code=TAX, provider_id="tax", recorded_at=yesterday_at(10)),  # 2
        record(subject_value=CITIZEN_A, decision="deny", recorded_at=yesterday_at(11)),  # 3
    )
    sign_in(hub, "gov")

    def found(**params: str) -> list[int]:
        return rows_of(hub.get("/console/access-log", params=params).text)

    assert found() == [3, 2, 1, 0]
    assert found(subject=CITIZEN_A.lower()) == [3, 2, 0]  # the check character X typed in lower case
    assert found(consumer=OTHER) == [2]
    assert found(resource=TAX) == [2]
    assert found(decision="deny") == [3, 1]
    assert found(subject=CITIZEN_A, decision="deny") == [3]
    day = monitoring.local(yesterday_at(12)).date().isoformat()
    assert found(**{"from": day}) == [3, 2, 1]
    assert found(**{"to": (monitoring.local(two_days_ago).date()).isoformat()}) == [0]
    page = hub.get("/console/access-log", params={"from": "2026-13-01"}).text
    assert "开始日期无法识别" in page and rows_of(page) == [3, 2, 1, 0]
    assert 'data-testid="access-log-total">共 4 条' in hub.get("/console/access-log").text


def test_pages_go_back_in_time_by_the_log_index(hub):
    plant(hub.engine, *[record(subject_value=f"11010519491231{i:04d}") for i in range(60)])
    sign_in(hub, "gov")
    first = hub.get("/console/access-log").text
    assert rows_of(first) == list(range(59, 9, -1))
    older = re.search(r'href="\?([^"]+)" data-testid="older"', first).group(1).replace("&amp;", "&")
    second = hub.get("/console/access-log?" + older).text
    assert rows_of(second) == list(range(9, -1, -1)) and 'data-testid="older"' not in second
    newer = re.search(r'href="\?([^"]+)" data-testid="newer"', second).group(1).replace("&amp;", "&")
    assert rows_of(hub.get("/console/access-log?" + newer).text) == list(range(59, 9, -1))


def test_the_csv_export_has_a_bom_a_header_and_the_filtered_rows(hub):
    plant(
        hub.engine,
        record(),
        record(decision="deny", reason="no grant covers address", purpose='=HYPERLINK("http://x")'),
        record(client_id=OTHER, decision="deny"),
    )
    sign_in(hub, "gov")
    response = hub.get("/console/access-log.csv", params={"decision": "deny", "consumer": DEMO_CLIENT_ID})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert response.content.startswith("\ufeff".encode())
    assert 'attachment; filename="access-log-' in response.headers["content-disposition"]
    assert (
        response.headers["x-export-limit"] == "100000" and response.headers["x-export-truncated"] == "false"
    )
    rows = read_csv(response)
    assert rows[0][:4] == ["日志序号", "时间", "使用方系统", "经办人编号"] and "原因" in rows[0]
    assert len(rows) == 2
    entry = dict(zip(rows[0], rows[1], strict=True))
    assert entry["日志序号"] == "1" and entry["数据主体标识"] == CITIZEN_A and entry["结果"] == "deny"
    assert entry["原因"] == "no grant covers address"
    assert entry["用途"] == '\'=HYPERLINK("http://x")'  # never a formula in a spreadsheet
    assert entry["时间"].endswith("+08:00")
    english = read_csv(hub.get("/console/access-log.csv?lang=en"))
    assert english[0][:3] == ["log_index", "time", "consumer"] and len(english) == 4
    sign_in(hub, "hh-adm")
    department = read_csv(hub.get("/console/access-log.csv"))
    assert {row[8] for row in department[1:]} == {monitoring.mask_subject(CITIZEN_A)}


def test_the_csv_export_stops_at_its_documented_maximum(hub, monkeypatch):
    monkeypatch.setattr(monitoring, "CSV_MAX_ROWS", 3)
    plant(hub.engine, *[record() for _ in range(5)])
    sign_in(hub, "gov")
    response = hub.get("/console/access-log.csv")
    assert response.headers["x-export-truncated"] == "true"
    assert [row[0] for row in read_csv(response)[1:]] == ["4", "3", "2"]


def test_the_anomaly_rules_flag_planted_patterns_and_leave_normal_traffic_alone(hub):
    harvest = [
        record(client_id=OTHER, subject_value=f"1101051949123{i:05d}", recorded_at=yesterday_at(10, i % 60))
        for i in range(monitoring.DISTINCT_SUBJECTS_PER_HOUR + 1)
    ]
    normal = [
        record(subject_value=f"1101051949124{i:05d}", recorded_at=yesterday_at(10, i % 60))
        for i in range(monitoring.DISTINCT_SUBJECTS_PER_HOUR)
    ]
    night = [record(recorded_at=yesterday_at(22, i)) for i in range(monitoring.OFF_HOURS_PER_DAY + 1)]
    refusals = [
        record(client_id=OTHER, decision="deny", recorded_at=yesterday_at(15, i))
        for i in range(monitoring.DENIALS_PER_HOUR + 1)
    ]
    plant(hub.engine, *harvest, *normal, *night, *refusals)
    sign_in(hub, "gov")
    page = hub.get("/console/access-log").text
    listed = page.split('data-testid="anomalies"')[1].split("</section>")[0]
    assert listed.count("<li data-rule=") == 3
    assert f'data-rule="many_subjects" data-client="{OTHER}"' in listed
    assert f'data-rule="off_hours" data-client="{DEMO_CLIENT_ID}"' in listed
    assert f'data-rule="denial_spike" data-client="{OTHER}"' in listed
    flagged = hub.get("/console/access-log", params={"consumer": DEMO_CLIENT_ID}).text
    # The demo consumer's 50 daytime subjects are normal; only its night burst is flagged.
    assert 'data-rule="many_subjects"' not in flagged
    night_rows = re.findall(r'<tr data-index="\d+" class="flagged">', flagged)
    assert len(night_rows) == monitoring.OFF_HOURS_PER_DAY + 1
    denied = hub.get("/console/access-log", params={"consumer": OTHER, "decision": "deny"}).text
    assert denied.count('data-flag="denial_spike"') == monitoring.DENIALS_PER_HOUR + 1
    csv_rows = read_csv(hub.get("/console/access-log.csv", params={"consumer": OTHER, "decision": "deny"}))
    assert {row[-1] for row in csv_rows[1:]} == {"denial_spike"}


def test_a_department_sees_no_anomaly_of_another_department(hub):
    plant(hub.engine, *[record(decision="deny", recorded_at=yesterday_at(15, i)) for i in range(20)])
    sign_in(hub, "tax-adm")
    page = hub.get("/console/access-log").text
    assert "<li data-rule=" not in page and "检查范围内没有异常" in page


# --- audit ----------------------------------------------------------------------------------------


def test_the_audit_page_lists_verified_checkpoints_newest_first(hub):
    plant(hub.engine, *[record() for _ in range(4)], sign=True, settings=hub.settings)
    plant(hub.engine, *[record() for _ in range(3)], sign=True, settings=hub.settings)
    sign_in(hub, "gov")
    page = hub.get("/console/audit").text
    assert re.findall(r'data-tree-size="(\d+)" data-state="(\w+)"', page) == [("7", "ok"), ("4", "ok")]
    assert "对照检查点 7" in page and "对照当前日志 7" in page
    full = hub.get("/console/audit", params={"verify": "full"}).text
    assert "核验通过：7 个条目，2 个签名检查点" in full


def test_a_tampered_checkpoint_is_marked_failing(hub):
    plant(hub.engine, *[record() for _ in range(4)], sign=True, settings=hub.settings)
    plant(hub.engine, *[record() for _ in range(4)], sign=True, settings=hub.settings)
    with session_scope(session_factory(hub.engine)) as session:
        tamper(session, "UPDATE audit_checkpoints SET root_hash = :r WHERE tree_size = 4", r="B" * 43 + "=")
    sign_in(hub, "gov")
    page = hub.get("/console/audit").text
    assert re.findall(r'data-tree-size="(\d+)" data-state="(\w+)"', page) == [("8", "ok"), ("4", "failed")]
    assert "签名无法核验，或记录与签名内容不符" in page


def test_an_entry_rewritten_with_its_leaf_hash_fails_the_checkpoints_covering_it(hub):
    plant(hub.engine, *[record() for _ in range(4)], sign=True, settings=hub.settings)
    plant(hub.engine, *[record() for _ in range(4)], sign=True, settings=hub.settings)
    with session_scope(session_factory(hub.engine)) as session:
        entry = audit.get_entry(session, 5)
        changed = {**entry.fields, "purpose": "改过的用途"}
        tamper(
            session,
            'UPDATE audit_entries SET purpose = :p, leaf_hash = :h WHERE "index" = 5',
            p="改过的用途",
            h=audit.leaf_of(changed),
        )
    sign_in(hub, "hh-adm")
    page = hub.get("/console/audit").text
    states = dict(re.findall(r'data-tree-size="(\d+)" data-state="(\w+)"', page))
    assert states == {"8": "failed", "4": "failed"}  # 4 no longer extends to the signed 8
    assert "树根与签名不符" in page and "不一致" in page


def test_an_entry_edited_under_its_old_leaf_hash_is_named_by_the_full_verification(hub):
    plant(hub.engine, *[record() for _ in range(6)], sign=True, settings=hub.settings)
    with session_scope(session_factory(hub.engine)) as session:
        tamper(session, "UPDATE audit_entries SET purpose = 'x' WHERE \"index\" = 2")
    sign_in(hub, "gov")
    full = hub.get("/console/audit", params={"verify": "full"}).text
    result = full.split('data-testid="full-result"')[1].split("</p>")[0]
    assert "核验未通过" in result and "entry 2 was changed" in result


def test_the_console_leaves_large_logs_to_the_command_line(hub, monkeypatch):
    monkeypatch.setattr(monitoring, "FULL_VERIFY_MAX_ENTRIES", 2)
    plant(hub.engine, *[record() for _ in range(3)], sign=True, settings=hub.settings)
    sign_in(hub, "gov")
    assert (
        "exchange audit verify"
        in hub.get("/console/audit", params={"verify": "full"})
        .text.split('data-testid="full-verification"')[1]
        .split("控制台不做完整核验")[1]
    )


# --- languages ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "zh", "en"),
    [
        ("/console/overview", "近 14 天请求总数", "Requests, last 14 days"),
        ("/console/access-log", "异常提示", "Anomalies"),
        ("/console/audit", "签名检查点", "Signed checkpoints"),
    ],
)
def test_both_languages_render(hub, path, zh, en):
    plant(hub.engine, record(), record(decision="deny"), sign=True, settings=hub.settings)
    sign_in(hub, "gov")
    assert zh in hub.get(path).text
    english = hub.get(path + "?lang=en").text
    assert en in english and zh not in english


@pytest.mark.parametrize("catalogue", [overview_messages, access_log_messages, audit_messages])
def test_the_catalogues_hold_the_same_keys_in_both_languages(catalogue):
    assert set(catalogue.ZH) == set(catalogue.EN)
    assert all(value.strip() for value in [*catalogue.ZH.values(), *catalogue.EN.values()])


# --- monitoring.py, without the web ---------------------------------------------------------------


def _principal(role: str, department_id: str | None = None, client_id: str | None = None) -> ConsolePrincipal:
    return ConsolePrincipal(1, "u", "u", role, department_id, client_id, "csrf", 1)


def test_scopes_are_built_from_the_principal_and_deny_by_default():
    assert Scope.of(_principal("governance")) == Scope(everything=True)
    assert Scope.of(_principal("department", department_id="tax")) == Scope(provider_id="tax")
    assert Scope.of(_principal("consumer", client_id="c")) == Scope(client_id="c")
    assert Scope.of(_principal("department")) == Scope()  # no department: nothing
    assert Scope.of(_principal("citizen", client_id="c")) == Scope()
    with pytest.raises(ValueError):
        Scope(everything=True, client_id="c")


def _append(session: Session, *records: AuditRecord) -> None:
    for each in records:
        audit.append(session, each, datetime.now(UTC))
    session.flush()


def _window() -> dict:
    return {"since": yesterday_at(0), "until": yesterday_at(0) + timedelta(days=1)}


@pytest.mark.parametrize(("subjects", "flagged"), [(50, False), (51, True)])
def test_many_subjects_counts_distinct_subjects_in_one_clock_hour(session, subjects, flagged):
    assert monitoring.DISTINCT_SUBJECTS_PER_HOUR == 50
    _append(
        session,
        *[record(subject_value=f"S{i}", recorded_at=yesterday_at(10, i % 60)) for i in range(subjects)],
    )
    _append(
        session, *[record(subject_value="S0", recorded_at=yesterday_at(10, 30)) for _ in range(20)]
    )  # repeats
    found = monitoring.many_subjects(session, scope=Scope(everything=True), **_window())
    assert [(a.client_id, a.period, a.count) for a in found] == (
        [(DEMO_CLIENT_ID, monitoring.hour_key(yesterday_at(10)), subjects)] if flagged else []
    )


def test_many_subjects_does_not_add_up_two_clock_hours(session):
    _append(session, *[record(subject_value=f"S{i}", recorded_at=yesterday_at(10, 59)) for i in range(40)])
    _append(session, *[record(subject_value=f"T{i}", recorded_at=yesterday_at(11, 0)) for i in range(40)])
    assert monitoring.many_subjects(session, scope=Scope(everything=True), **_window()) == []


@pytest.mark.parametrize(("requests", "flagged"), [(20, False), (21, True)])
def test_off_hours_bursts_count_requests_outside_office_hours_on_one_day(session, requests, flagged):
    assert monitoring.OFF_HOURS_PER_DAY == 20
    # 07:59 and 20:00 are off hours; 08:00 and 19:59 are office hours and never count.
    times = [yesterday_at(7, 59), yesterday_at(20, 0)] + [yesterday_at(21, i) for i in range(requests - 2)]
    office = [yesterday_at(8, 0), yesterday_at(19, 59)] * 10
    _append(session, *[record(recorded_at=t) for t in times + office])
    found = monitoring.off_hours_bursts(session, scope=Scope(everything=True), **_window())
    assert [(a.period, a.count) for a in found] == (
        [(monitoring.day_key(yesterday_at(12)), requests)] if flagged else []
    )


@pytest.mark.parametrize(("denials", "flagged"), [(10, False), (11, True)])
def test_denial_spikes_count_refusals_in_one_clock_hour(session, denials, flagged):
    assert monitoring.DENIALS_PER_HOUR == 10
    _append(session, *[record(decision="deny", recorded_at=yesterday_at(15, i)) for i in range(denials)])
    _append(session, *[record(recorded_at=yesterday_at(15, 30)) for _ in range(20)])  # allowed: not counted
    found = monitoring.denial_spikes(session, scope=Scope(everything=True), **_window())
    assert [a.count for a in found] == ([denials] if flagged else [])


def test_the_rules_keep_to_the_scope_and_the_window(session):
    _append(session, *[record(decision="deny", recorded_at=yesterday_at(15, i)) for i in range(11)])
    window = _window()
    assert monitoring.denial_spikes(session, scope=Scope(provider_id="tax"), **window) == []
    assert monitoring.denial_spikes(session, scope=Scope(client_id=OTHER), **window) == []
    assert monitoring.denial_spikes(session, scope=Scope(), **window) == []
    assert len(monitoring.denial_spikes(session, scope=Scope(provider_id="household"), **window)) == 1
    later = {"since": window["until"], "until": window["until"] + timedelta(days=1)}
    assert monitoring.denial_spikes(session, scope=Scope(everything=True), **later) == []


def test_flags_mark_exactly_the_rows_of_a_pattern():
    hour = yesterday_at(22, 10)
    found = [
        monitoring.Anomaly("off_hours", "c", monitoring.day_key(hour), 30, 20),
        monitoring.Anomaly("denial_spike", "c", monitoring.hour_key(hour), 12, 10),
        monitoring.Anomaly("many_subjects", "d", monitoring.hour_key(hour), 60, 50),
    ]

    def row(**changes: object) -> LogRow:
        values = {
            "index": 1,
            "recorded_at": hour,
            "client_id": "c",
            "operator_id": None,
            "operator_name": None,
            "resource_code": None,
            "provider_id": None,
            "subject_type": None,
            "subject_value": None,
            "matter_code": None,
            "purpose": None,
            "decision": "deny",
            "reason": None,
            "http_status": 403,
            "endpoint": "query",
        } | changes
        return LogRow(**values)

    assert monitoring.flags(row(), found) == ["off_hours", "denial_spike"]
    assert monitoring.flags(row(decision="allow"), found) == ["off_hours"]
    assert monitoring.flags(row(recorded_at=yesterday_at(12)), found) == []  # same day, office hours
    assert monitoring.flags(row(client_id="d"), found) == ["many_subjects"]
    assert monitoring.flags(row(client_id="e"), found) == []


def test_the_anomaly_window_defaults_to_a_week_and_never_exceeds_a_month():
    now = datetime(2026, 11, 21, 9, tzinfo=UTC)
    assert monitoring.anomaly_window(None, None, now=now) == (now - timedelta(days=7), now)
    since = now - timedelta(days=400)
    assert monitoring.anomaly_window(since, now, now=now) == (now - timedelta(days=31), now)


def _assert_local_time_in_sql_matches_python(session) -> None:
    moments = [yesterday_at(0, 0), yesterday_at(7, 59), yesterday_at(23, 59)]
    _append(session, *[record(recorded_at=m) for m in moments])
    found = session.execute(
        select(
            monitoring.local_day(AuditEntry.recorded_at),
            monitoring.local_hour(AuditEntry.recorded_at),
            monitoring.local_hour_of_day(AuditEntry.recorded_at),
        ).order_by(AuditEntry.index)
    ).all()
    assert [tuple(r) for r in found] == [
        (monitoring.day_key(m), monitoring.hour_key(m), monitoring.local(m).hour) for m in moments
    ]


def test_local_days_and_hours_in_sql_match_python(session):
    _assert_local_time_in_sql_matches_python(session)


def test_daily_counts_fill_every_day_and_split_the_decisions(session):
    now = datetime.now(UTC)
    _append(
        session, record(recorded_at=yesterday_at(9)), record(decision="deny", recorded_at=yesterday_at(9))
    )
    _append(session, record(recorded_at=now - timedelta(days=30)))  # outside the 14 days
    days = monitoring.daily_counts(session, scope=Scope(everything=True), days=14, now=now)
    assert len(days) == 14 and days[-1].day == monitoring.local(now).date()
    assert [(d.allowed, d.denied) for d in days if d.allowed or d.denied] == [(1, 1)]
    assert sum(d.allowed for d in monitoring.daily_counts(session, scope=Scope(), days=14, now=now)) == 0


def test_subjects_are_masked_keeping_only_both_ends():
    assert monitoring.mask_subject(CITIZEN_A) == "110*************2X"
    assert monitoring.mask_subject("12345") == "*****"
    assert monitoring.mask_subject(None) == ""


def test_a_filtered_search_reads_only_matching_rows(session):
    _append(session, *[record(decision="deny" if i % 2 else "allow") for i in range(7)])
    page = monitoring.search(
        session, scope=Scope(everything=True), filters=LogFilter(decision="deny"), limit=2
    )
    assert [r.index for r in page.rows] == [5, 3] and page.older == 3 and page.newer is None
    older = monitoring.search(
        session, scope=Scope(everything=True), filters=LogFilter(decision="deny"), limit=2, before=page.older
    )
    assert [r.index for r in older.rows] == [1] and older.older is None and older.newer == 1
    assert monitoring.count(session, scope=Scope(everything=True), filters=LogFilter(), cap=5) == 6


def test_the_monitoring_queries_run_alike_on_postgresql(postgres_url):
    from exchange.db import migrate
    from exchange.db.engine import make_engine

    engine = make_engine(postgres_url)
    try:
        migrate.upgrade(engine)
        with session_factory(engine)() as session:
            _assert_local_time_in_sql_matches_python(session)
            _append(
                session, *[record(subject_value=f"S{i}", recorded_at=yesterday_at(10, i)) for i in range(51)]
            )
            _append(
                session, *[record(recorded_at=yesterday_at(21, i)) for i in range(19)]
            )  # + 00:00, 07:59, 23:59
            _append(session, *[record(decision="deny", recorded_at=yesterday_at(15, i)) for i in range(11)])
            everything = Scope(everything=True)
            assert [
                (a.rule, a.count) for a in monitoring.anomalies(session, scope=everything, **_window())
            ] == [
                ("many_subjects", 51),
                ("off_hours", 22),
                ("denial_spike", 11),
            ]
            days = monitoring.daily_counts(session, scope=everything, days=14, now=datetime.now(UTC))
            assert sum(d.allowed + d.denied for d in days) == 3 + 51 + 19 + 11
            top = monitoring.top_consumers(session, scope=everything, since=yesterday_at(0))
            assert [(c.client_id, c.requests, c.denied) for c in top] == [(DEMO_CLIENT_ID, 84, 11)]
            page = monitoring.search(session, scope=everything, filters=LogFilter(subject="s1"), limit=5)
            assert [r.subject_value for r in page.rows] == ["S1"]
            session.rollback()
    finally:
        engine.dispose()
