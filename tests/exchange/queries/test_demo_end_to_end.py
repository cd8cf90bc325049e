"""The embedded default as an integrator meets it: demo grants, the SDK, a real answer, its log entry."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from adapters.population import Population, in_all_systems
from directory import service as directory
from exchange.api.app import create_app
from exchange.bootstrap import bootstrap
from exchange.client import ExchangeClient, NotFound, verify_evidence
from exchange.db.engine import session_factory
from exchange.demo import DEMO_CLIENT_ID, DEMO_MATTER

PROVIDERS = {"01": "household", "02": "tax", "03": "social_insurance", "04": "real_estate"}


@pytest.fixture
def demo_hub(settings, engine, monkeypatch):
    monkeypatch.setenv("EXCHANGE_DEMO_GRANTS", "true")
    from exchange.config import get_settings

    get_settings.cache_clear()
    settings = get_settings()
    bootstrap(settings, engine)
    with TestClient(create_app(settings)) as client:
        yield settings, client


def _someone_everywhere() -> str:
    for household in Population(60).households():
        for person in household.members:
            if in_all_systems(person, household):
                return person.citizen_id
    raise AssertionError("nobody is known everywhere in 60 persons")


@pytest.mark.filterwarnings("ignore:EdDSA is deprecated")
def test_the_demo_consumer_can_ask_every_department_through_the_sdk(demo_hub, engine):
    settings, hub = demo_hub
    with session_factory(engine)() as session:
        grants = directory.list_grants(session, client_id=DEMO_CLIENT_ID)
        shared = [r for r in directory.search(session, limit=200)[0] if r.sharing_type != "none"]
    assert {g.resource_code for g in grants} == {r.code for r in shared}
    citizen = _someone_everywhere()
    client = ExchangeClient(
        DEMO_CLIENT_ID,
        settings.demo_dir / "consumer.key",
        "http://testserver",
        settings.ca_cert_path,
        transport=hub._transport,
    )
    asked = {
        "301001001-000001": ["name", "sex"],
        "302002001-000001": ["total_amount"],
        "303001001-000001": ["insured_status"],
        "304002001-000001": ["has_property"],
    }
    for code, fields in asked.items():
        evidence = client.query(
            code,
            "id_card",
            citizen,
            fields,
            matter_code=DEMO_MATTER,
            purpose="演示",
            operator_id="clerk-1",
            operator_name="演示窗口",
        )
        assert set(evidence.data) == set(fields), code
        assert evidence.department_id == PROVIDERS[code[1:3]]
        again = verify_evidence(
            evidence.token,
            ca_certificate=settings.ca_cert_path,
            client_id=DEMO_CLIENT_ID,
            request_body=evidence.request_body,
        )
        assert again.log_index == evidence.log_index
    assert evidence.data["has_property"] is True
    with pytest.raises(NotFound):
        client.query(
            "304001001-000001",
            "property_unit",
            "330106999999GB99999F99999999",
            ["certificate_no"],
            matter_code=DEMO_MATTER,
            purpose="演示",
            operator_id="clerk-1",
            operator_name="演示窗口",
        )
