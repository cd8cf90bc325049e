"""E-licenses over HTTP: status lists, a license by identifier, verification, and the signed search."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from adapters.simulation import running
from certs import jose
from certs.jwk import jwk_thumbprint
from certs.keys import load_private_key
from certs.store import read_certificate
from exchange.api.app import create_app
from exchange.audit.models import AuditEntry
from exchange.bootstrap import bootstrap
from exchange.db.engine import session_factory
from exchange.demo import DEMO_CLIENT_ID, DEMO_MATTER
from exchange.identifiers import make_license_id, validate_license_id
from exchange.licenses.models import License
from exchange.licenses.runner import sync_departments
from exchange.licenses.status_list import read_status_list_token


@pytest.fixture
def hub(settings, engine, monkeypatch):
    monkeypatch.setenv("EXCHANGE_DEMO_GRANTS", "true")
    from exchange.config import get_settings

    get_settings.cache_clear()
    settings = get_settings()
    bootstrap(settings, engine)
    sync_departments(settings, ["real_estate"])
    with TestClient(create_app(settings)) as client:
        client.settings = settings
        client.engine = engine
        yield client


def _licenses(hub) -> list[License]:
    with session_factory(hub.engine)() as session:
        return list(session.scalars(select(License).order_by(License.id)))


def test_a_license_by_identifier_shows_metadata_and_no_personal_data(hub):
    row = _licenses(hub)[0]
    body = hub.get(f"/v1/licenses/{row.identifier}").json()
    assert body["status"] == "valid" and body["license_name"] == "不动产权证书"
    assert row.record["holder_name"] not in json.dumps(body, ensure_ascii=False)
    assert row.record["holder_code"] not in body["credential_without_disclosures"]
    invalid = hub.get("/v1/licenses/1.2.156.3005.2.1.X.1.001.0")  # not a GB/T 36904 identifier
    assert invalid.status_code == 422 and invalid.json()["type"] == "/problems/invalid-identifier"
    parts = validate_license_id(row.identifier)
    unknown = make_license_id(parts.type_code, parts.issuer_uscc, parts.serial, 999)  # never issued
    assert hub.get(f"/v1/licenses/{unknown}").status_code == 404


def test_verify_reports_each_check_and_revocation_shows(hub):
    row = _licenses(hub)[0]
    report = hub.post("/v1/licenses/verify", json={"identifier": row.identifier}).json()
    assert report["valid"] and {c["name"] for c in report["checks"]} >= {
        "signature",
        "chain",
        "issuer",
        "validity_period",
        "status",
    }
    presented = hub.post("/v1/licenses/verify", json={"credential": row.credential}).json()
    assert presented["valid"] and presented["identifier"] == row.identifier
    with running(hub.settings.legacy_dir, ["real_estate"]) as systems:
        cancelled = systems["real_estate"].cancel_one()
    sync_departments(hub.settings, ["real_estate"])
    revoked = next(r for r in _licenses(hub) if r.source_id == cancelled)
    after = hub.post("/v1/licenses/verify", json={"credential": revoked.credential}).json()
    assert not after["valid"]
    assert next(c for c in after["checks"] if c["name"] == "status")["ok"] is False
    assert hub.get(f"/v1/licenses/{revoked.identifier}").json()["status"] == "revoked"
    assert hub.post("/v1/licenses/verify", json={}).status_code == 400


def test_the_status_list_is_a_signed_token(hub):
    row = _licenses(hub)[0]
    response = hub.get(f"/v1/status-lists/{row.status_list_id}")
    assert response.status_code == 200 and response.headers["content-type"].startswith(
        "application/statuslist+jwt"
    )
    ca = read_certificate(hub.settings.ca_cert_path)
    uri = hub.settings.base_url + f"/v1/status-lists/{row.status_list_id}"
    statuses = read_status_list_token(response.text, ca_certificate=ca, uri=uri, now=datetime.now(UTC))
    assert statuses.get(row.status_index) == 0
    assert hub.get("/v1/status-lists/nowhere-1").status_code == 404


def _search(hub, holder: str, **changes) -> bytes:
    key = load_private_key(hub.settings.demo_dir / "consumer.key")
    now = int(time.time())
    claims = {
        "iss": DEMO_CLIENT_ID,
        "aud": "exchange-hub",
        "iat": now,
        "exp": now + 60,
        "jti": uuid.uuid4().hex,
        "subject": {"type": "id_card", "value": holder},
        "license_type": "real_estate_title",
        "matter_code": DEMO_MATTER,
        "purpose": "购房资格审核",
        "operator": {"id": "c1", "name": "窗口"},
    } | changes
    return jose.sign(claims, key, typ="exchange-request+jwt", kid=jwk_thumbprint(key.public_key())).encode()


def test_the_signed_search_answers_the_holders_credentials_and_is_audited(hub):
    row = _licenses(hub)[0]
    response = hub.post(
        "/v1/licenses/search",
        content=_search(hub, row.holder_code),
        headers={"Content-Type": "application/jwt"},
    )
    assert response.status_code == 200, response.text
    claims = jose.verify(
        response.text,
        read_certificate(hub.settings.pki_dir / "departments" / "real_estate.pem").public_key(),
        typ="exchange-evidence+jwt",
        audience=DEMO_CLIENT_ID,
    )
    assert row.credential in claims["credentials"] and claims["resource"] == "304001001-000001"
    with session_factory(hub.engine)() as session:
        entry = session.scalars(select(AuditEntry).order_by(AuditEntry.index.desc())).first()
    assert (
        entry.endpoint == "license" and entry.decision == "allow" and entry.subject_value == row.holder_code
    )
    unknown_type = hub.post(
        "/v1/licenses/search",
        content=_search(hub, row.holder_code, license_type="passport"),
        headers={"Content-Type": "application/jwt"},
    )
    assert unknown_type.status_code == 404
    no_grant = hub.post(
        "/v1/licenses/search",
        content=_search(hub, row.holder_code, matter_code="OTHER-1"),
        headers={"Content-Type": "application/jwt"},
    )
    assert no_grant.status_code == 403
