"""The directory over HTTP: public discovery per DESIGN.md, and grants and applications by role."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from exchange.access.service import issue_token
from exchange.api.app import create_app
from exchange.bootstrap import bootstrap
from exchange.db.engine import session_factory, session_scope
from exchange.demo import DEMO_CLIENT_ID
from tests.conftest import NOW

PERSON = "301001001-000001"
EMPLOYER = "303003001-000001"


@pytest.fixture
def hub(settings, engine):
    bootstrap(settings, engine, now=NOW)
    tokens = {}
    with session_scope(session_factory(engine)) as session:
        for key, role, extra in (
            ("admin", "admin", {}),
            ("governance", "governance", {}),
            ("household", "department", {"department_id": "household"}),
            ("tax", "department", {"department_id": "tax"}),
            ("consumer", "consumer", {"client_id": DEMO_CLIENT_ID}),
        ):
            _, tokens[key] = issue_token(session, name=f"{key} tester", role=role, now=NOW, **extra)
    with TestClient(create_app(settings)) as client:
        client.tokens = tokens
        yield client


def _as(hub, who):
    return {"Authorization": f"Bearer {hub.tokens[who]}"}


def _application(**changes):
    return {
        "client_id": DEMO_CLIENT_ID,
        "resource_code": PERSON,
        "matter_code": "330100-SCHOOL-01",
        "purpose": "小学入学资格审核",
        "legal_basis": "《义务教育法》第十二条",
        "items": ["name", "birth_date", "address"],
        "period_from": "2026-11-20",
        "period_to": "2027-11-19",
    } | changes


def test_resources_are_listed_with_the_contract_fields(hub):
    body = hub.get("/v1/directory/resources", params={"limit": 200}).json()
    assert body["total"] == len(body["items"]) >= 10
    resource = next(r for r in body["items"] if r["code"] == PERSON)
    for key in (
        "code",
        "name",
        "summary",
        "provider",
        "sharing_type",
        "update_cycle",
        "data_items",
        "access_methods",
    ):
        assert key in resource
    assert resource["provider"]["id"] == "household" and resource["provider"]["name"]
    assert set(resource["data_items"][0]) >= {"name", "title", "type", "personal"}
    assert resource["sharing_type"] == "conditional" and "query" in resource["access_methods"]


def test_search_filters_and_paging_over_http(hub):
    page = hub.get("/v1/directory/resources", params={"provider": "tax", "limit": 1, "offset": 1}).json()
    assert page["total"] == 2 and len(page["items"]) == 1 and page["items"][0]["provider"]["id"] == "tax"
    assert hub.get("/v1/directory/resources", params={"sharing_type": "unconditional"}).json()["total"] == 1
    assert hub.get("/v1/directory/resources", params={"q": "不动产"}).json()["total"] >= 2
    for bad in ({"limit": 0}, {"limit": 1000}, {"offset": -1}, {"sharing_type": "sometimes"}):
        response = hub.get("/v1/directory/resources", params=bad)
        assert response.status_code == 400 and response.json()["type"] == "/problems/malformed-request"


def test_one_resource_and_an_unknown_one(hub):
    assert hub.get(f"/v1/directory/resources/{PERSON}").json()["code"] == PERSON
    missing = hub.get("/v1/directory/resources/309999999-000001")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"


def test_management_needs_a_token_and_the_right_role(hub):
    assert hub.get("/v1/grants").status_code == 401
    assert hub.get("/v1/grants", headers={"Authorization": "Bearer dxh_forged"}).status_code == 401
    assert hub.get("/v1/grants", headers={"Authorization": "Basic abc"}).status_code == 401
    grant = {
        "client_id": DEMO_CLIENT_ID,
        "resource_code": EMPLOYER,
        "items": ["employer_name"],
        "matter_codes": ["M1"],
        "valid_from": "2026-11-01",
        "valid_to": "2027-10-31",
    }
    for who in ("consumer", "household", "governance"):
        response = hub.post("/v1/grants", json=grant, headers=_as(hub, who))
        assert response.status_code == 403 and response.json()["type"] == "/problems/forbidden"
    created = hub.post("/v1/grants", json=grant, headers=_as(hub, "admin"))
    assert created.status_code == 201 and created.json()["granted_by"].startswith("admin:")


def test_the_administrator_is_refused_a_conditional_grant(hub):
    grant = {
        "client_id": DEMO_CLIENT_ID,
        "resource_code": PERSON,
        "items": ["name"],
        "matter_codes": ["M1"],
        "valid_from": "2026-11-01",
        "valid_to": "2027-10-31",
    }
    response = hub.post("/v1/grants", json=grant, headers=_as(hub, "admin"))
    assert response.status_code == 403 and response.json()["type"] == "/problems/refused"


def test_the_application_workflow_over_http(hub):
    filed = hub.post("/v1/applications", json=_application(), headers=_as(hub, "consumer"))
    assert filed.status_code == 201, filed.text
    application = filed.json()
    assert application["status"] == "pending" and application["due_on"] > application["filed_at"][:10]
    number = application["id"]
    assert (
        hub.post(
            f"/v1/applications/{number}/decision", json={"approve": True}, headers=_as(hub, "tax")
        ).status_code
        == 403
    )
    assert (
        hub.post(
            f"/v1/applications/{number}/decision", json={"approve": False}, headers=_as(hub, "household")
        ).status_code
        == 400
    )  # a rejection needs a reason
    decided = hub.post(
        f"/v1/applications/{number}/decision",
        json={"approve": True, "items": ["name"]},
        headers=_as(hub, "household"),
    )
    assert decided.status_code == 200 and decided.json()["approved_items"] == ["name"]
    grant_id = decided.json()["grant_id"]
    assert (
        hub.post(
            f"/v1/applications/{number}/decision", json={"approve": True}, headers=_as(hub, "household")
        ).status_code
        == 409
    )
    mine = hub.get("/v1/grants", headers=_as(hub, "consumer")).json()
    assert [g["id"] for g in mine] == [grant_id] and mine[0]["items"] == ["name"]
    assert hub.get("/v1/grants", headers=_as(hub, "tax")).json() == []
    revoked = hub.post(
        f"/v1/grants/{grant_id}/revoke", json={"reason": "matter closed"}, headers=_as(hub, "household")
    )
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    assert (
        hub.post(f"/v1/grants/{grant_id}/revoke", json={"reason": "x"}, headers=_as(hub, "tax")).status_code
        == 403
    )


def test_a_consumer_files_only_for_itself_and_sees_only_its_own(hub):
    other = hub.post(
        "/v1/applications", json=_application(client_id="someone-else"), headers=_as(hub, "consumer")
    )
    assert other.status_code == 403
    assert hub.post("/v1/applications", json=_application(), headers=_as(hub, "admin")).status_code == 403
    number = hub.post("/v1/applications", json=_application(), headers=_as(hub, "consumer")).json()["id"]
    assert hub.get(f"/v1/applications/{number}", headers=_as(hub, "tax")).status_code == 404
    assert hub.get(f"/v1/applications/{number}", headers=_as(hub, "household")).status_code == 200
    assert [a["id"] for a in hub.get("/v1/applications", headers=_as(hub, "governance")).json()] == [number]
    assert hub.get("/v1/applications", params={"overdue": True}, headers=_as(hub, "governance")).json() == []


def test_bad_applications_get_clear_problems(hub):
    none = hub.post(
        "/v1/applications",
        json=_application(resource_code="301003001-000001", items=["name"]),
        headers=_as(hub, "consumer"),
    )
    assert none.status_code == 403 and "不予共享" in none.json()["detail"]
    bad_items = hub.post(
        "/v1/applications", json=_application(items=["salary"]), headers=_as(hub, "consumer")
    )
    assert bad_items.status_code == 400 and "salary" in bad_items.json()["detail"]
    backwards = hub.post(
        "/v1/applications", json=_application(period_to="2025-01-01"), headers=_as(hub, "consumer")
    )
    assert backwards.status_code == 400
