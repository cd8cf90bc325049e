"""POST /v1/query and /v1/verify end to end: real PKI, real directory, real simulated departments.

Every answer is checked with a second JOSE library (joserfc) and every request, allowed or denied,
must leave exactly one audit entry with the status the consumer saw.
"""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from datetime import UTC, date, datetime

import pytest
from cryptography.hazmat.primitives import serialization
from fastapi.testclient import TestClient
from joserfc import jws as rfc_jws
from joserfc.jwk import OKPKey
from sqlalchemy import func, select

from adapters.population import Population
from adapters.simulation import Fault
from certs import jose
from certs import service as pki
from certs.jwk import jwk_thumbprint
from certs.keys import generate_private_key, load_private_key
from certs.store import PkiPaths
from directory import service as directory
from directory.calendar import WorkCalendar
from directory.schemas import ApplicationCreate, ApplicationDecision
from exchange.api.app import create_app
from exchange.audit.models import AuditEntry
from exchange.bootstrap import bootstrap
from exchange.db.engine import session_factory, session_scope
from exchange.demo import DEMO_CLIENT_ID
from exchange.identifiers import make_citizen_id

PERSON = "301001001-000001"  # household, conditional: query + verify
EMPLOYER = "303003001-000001"  # social insurance, unconditional
MATTER = "330100-SCHOOL-01"


@pytest.fixture(scope="module")
def citizen() -> str:
    for household in Population(60).households():
        for person in household.members:
            if person.alive:
                return person.citizen_id
    raise AssertionError("no living person in the demo population")


@pytest.fixture
def hub(settings, engine, citizen):
    bootstrap(settings, engine)
    now = datetime.now(UTC)
    with session_scope(session_factory(engine)) as session:
        application = directory.file_application(
            session,
            data=ApplicationCreate(
                client_id=DEMO_CLIENT_ID,
                resource_code=PERSON,
                matter_code=MATTER,
                purpose="小学入学资格审核",
                legal_basis="《义务教育法》第十二条",
                items=["name", "birth_date", "address", "sex"],
                period_from=date(2020, 1, 1),
                period_to=date(2099, 12, 31),
            ),
            calendar=WorkCalendar(),
            now=now,
        )
        directory.decide(
            session,
            application_id=application.id,
            decision=ApplicationDecision(approve=True, items=["name", "birth_date", "sex"]),
            provider_id="household",
            decided_by="department:household:test",
            now=now,
        )
    key = load_private_key(settings.demo_dir / "consumer.key")
    with TestClient(create_app(settings)) as client:
        client.key = key
        client.engine = engine
        yield client


def _token(key, *, fields=None, claims=None, resource=PERSON, subject=None, **overrides) -> bytes:
    now = int(time.time())
    body = {
        "iss": DEMO_CLIENT_ID,
        "aud": "exchange-hub",
        "iat": now,
        "exp": now + 60,
        "jti": uuid.uuid4().hex,
        "resource": resource,
        "subject": subject,
        "matter_code": MATTER,
        "purpose": "小学入学资格审核",
        "operator": {"id": "clerk-007", "name": "李窗口"},
    }
    body["fields" if claims is None else "claims"] = fields if claims is None else claims
    body.update(overrides)
    body = {k: v for k, v in body.items() if v is not ...}
    return jose.sign(body, key, typ="exchange-request+jwt", kid=jwk_thumbprint(key.public_key())).encode()


def _post(hub, body: bytes, *, kind="query", resource=PERSON, content_type="application/jwt"):
    return hub.post(f"/v1/{kind}/{resource}", content=body, headers={"Content-Type": content_type})


def _entries(hub) -> list[AuditEntry]:
    with session_factory(hub.engine)() as session:
        return list(session.scalars(select(AuditEntry).order_by(AuditEntry.index)))


def _independently_verified(hub, token: str) -> dict:
    """joserfc, not our code, checks the department's signature over the evidence."""
    header = jose.header(token)
    from cryptography import x509

    certificate = x509.load_der_x509_certificate(base64.b64decode(header["x5c"][0]))
    raw = certificate.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    key = OKPKey.import_key(
        {"kty": "OKP", "crv": "Ed25519", "x": base64.urlsafe_b64encode(raw).rstrip(b"=").decode()}
    )
    import json

    registry = rfc_jws.JWSRegistry(algorithms=["EdDSA"])
    registry.max_header_length = 8192  # x5c carries two certificates
    return json.loads(rfc_jws.deserialize_compact(token, key, registry=registry).payload)


@pytest.mark.filterwarnings("ignore:EdDSA is deprecated")
def test_a_granted_query_answers_signed_evidence_with_only_the_granted_items(hub, citizen):
    body = _token(hub.key, fields=["name", "sex"], subject={"type": "id_card", "value": citizen})
    response = _post(hub, body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/jwt")
    claims = _independently_verified(hub, response.text)
    assert claims["iss"] == "household" and claims["aud"] == DEMO_CLIENT_ID
    assert set(claims["data"]) == {"name", "sex"} and claims["data"]["name"]
    digest = base64.urlsafe_b64encode(hashlib.sha256(body).digest()).rstrip(b"=").decode()
    assert claims["req_hash"] == digest and claims["subject"] == {"type": "id_card", "value": citizen}
    entries = _entries(hub)
    assert len(entries) == 1 and entries[0].index == claims["log"]["index"]
    entry = entries[0]
    assert entry.decision == "allow" and entry.http_status == 200 and entry.client_id == DEMO_CLIENT_ID
    assert entry.items_returned == ["name", "sex"] and entry.subject_value == citizen
    assert entry.operator_name == "李窗口" and entry.matter_code == MATTER


@pytest.mark.filterwarnings("ignore:EdDSA is deprecated")
def test_verify_answers_match_and_mismatch_without_values(hub, citizen):
    person = next(p for h in Population(60).households() for p in h.members if p.citizen_id == citizen)
    body = _token(
        hub.key,
        claims={"name": person.name, "birth_date": "1900-01-01"},
        subject={"type": "id_card", "value": citizen},
    )
    response = _post(hub, body, kind="verify")
    assert response.status_code == 200, response.text
    claims = _independently_verified(hub, response.text)
    assert claims["results"] == {"name": "match", "birth_date": "mismatch"} and "data" not in claims


def _denied(hub, response, status, slug):
    assert response.status_code == status, response.text
    problem = response.json()
    assert problem["type"] == f"/problems/{slug}" and problem["request_id"]
    entry = _entries(hub)[-1]
    assert entry.decision == "deny" and entry.http_status == status and entry.reason
    assert entry.request_id == problem["request_id"]
    return entry


def test_items_outside_the_grant_are_refused_and_audited(hub, citizen):
    body = _token(hub.key, fields=["name", "address"], subject={"type": "id_card", "value": citizen})
    entry = _denied(hub, _post(hub, body), 403, "no-grant")
    assert entry.items_returned == [] and "address" in entry.reason


def test_no_grant_at_all_for_another_resource(hub, citizen):
    body = _token(
        hub.key,
        fields=["employer_name"],
        resource=EMPLOYER,
        subject={"type": "uscc", "value": Population(60).employer(0).uscc},
    )
    _denied(hub, _post(hub, body, resource=EMPLOYER), 403, "no-grant")


def test_a_replayed_request_is_409(hub, citizen):
    body = _token(hub.key, fields=["name"], subject={"type": "id_card", "value": citizen})
    assert _post(hub, body).status_code == 200
    _denied(hub, _post(hub, body), 409, "replay")


@pytest.mark.parametrize(
    ("change", "status", "slug"),
    [
        ({"aud": "another-hub"}, 401, "unauthenticated"),
        ({"exp": int(time.time()) - 3600, "iat": int(time.time()) - 3660}, 401, "unauthenticated"),
        ({"exp": int(time.time()) + 3600}, 401, "unauthenticated"),
        ({"iss": "someone-else"}, 401, "unauthenticated"),
        ({"resource": EMPLOYER}, 400, "malformed-request"),
        ({"operator": ...}, 400, "malformed-request"),
        ({"matter_code": ...}, 400, "malformed-request"),
        ({"subject": {"type": "id_card", "value": "110101199003070000"}}, 422, "invalid-identifier"),
        ({"subject": {"type": "passport", "value": "E12345678"}}, 400, "malformed-request"),
        ({"fields": []}, 400, "malformed-request"),
    ],
)
def test_each_bad_request_has_its_status_and_is_audited(hub, citizen, change, status, slug):
    change = {"subject": {"type": "id_card", "value": citizen}} | change
    body = _token(hub.key, fields=change.pop("fields", ["name"]), **change)
    _denied(hub, _post(hub, body), status, slug)


def test_an_unknown_key_a_forged_signature_and_garbage_are_refused(hub, citizen):
    stranger = generate_private_key()
    _denied(
        hub,
        _post(hub, _token(stranger, fields=["name"], subject={"type": "id_card", "value": citizen})),
        401,
        "unauthenticated",
    )
    genuine = _token(hub.key, fields=["name"], subject={"type": "id_card", "value": citizen}).decode()
    head, payload, signature = genuine.split(".")
    forged = f"{head}.{payload}.{signature[:-4]}AAAA".encode()
    _denied(hub, _post(hub, forged), 401, "unauthenticated")
    _denied(hub, _post(hub, b"not a token"), 400, "malformed-request")
    _denied(hub, _post(hub, genuine.encode(), content_type="application/json"), 415, "unsupported-media-type")


def test_a_revoked_consumer_certificate_is_401(hub, citizen, settings):
    from cryptography import x509

    paths = PkiPaths(settings.pki_dir)
    serial = format(
        x509.load_pem_x509_certificate(paths.consumer_cert(DEMO_CLIENT_ID).read_bytes()).serial_number, "x"
    )
    with session_scope(session_factory(hub.engine)) as session:
        authority = pki.load_authority(paths, None)
        pki.revoke(session, authority, paths, serial=serial, reason="key_compromise", now=datetime.now(UTC))
    entry = _denied(
        hub,
        _post(hub, _token(hub.key, fields=["name"], subject={"type": "id_card", "value": citizen})),
        401,
        "unauthenticated",
    )
    assert "revocation" in entry.reason


def test_an_unknown_subject_and_resource_are_404(hub):
    stranger = {"type": "id_card", "value": make_citizen_id("110101", date(1950, 1, 1), 998)}
    _denied(hub, _post(hub, _token(hub.key, fields=["name"], subject=stranger)), 404, "subject-not-found")
    body = _token(hub.key, fields=["name"], resource="309999999-000001", subject=stranger)
    _denied(hub, _post(hub, body, resource="309999999-000001"), 404, "unknown-resource")


def test_a_body_over_the_limit_is_413_and_audited(hub):
    _denied(hub, _post(hub, b"x" * 70_000), 413, "body-too-large")


@pytest.mark.parametrize(
    ("fault", "status", "slug"),
    [
        (Fault.UNAVAILABLE, 503, "legacy-unavailable"),
        (Fault.GARBAGE, 502, "legacy-bad-data"),
    ],
)
def test_legacy_failures_become_their_statuses_and_no_data(hub, citizen, fault, status, slug):
    system = hub.app.state.hub.simulated["household"]
    subject = {"type": "id_card", "value": citizen}
    from adapters.base import Subject

    system.inject(fault, Subject.parse("id_card", citizen))
    try:
        response = _post(hub, _token(hub.key, fields=["name"], subject=subject))
    finally:
        system.heal()
    entry = _denied(hub, response, status, slug)
    assert entry.items_returned == []
    assert citizen not in response.json()["detail"]


def test_a_jti_is_spent_once_checked_even_when_the_department_then_fails(hub, citizen):
    system = hub.app.state.hub.simulated["household"]
    from adapters.base import Subject

    body = _token(hub.key, fields=["name"], subject={"type": "id_card", "value": citizen})
    system.inject(Fault.UNAVAILABLE, Subject.parse("id_card", citizen))
    try:
        _denied(hub, _post(hub, body), 503, "legacy-unavailable")
    finally:
        system.heal()
    _denied(hub, _post(hub, body), 409, "replay")  # a retry is a new request: sign it again


def test_expired_jti_records_are_purged_at_most_every_ten_seconds(hub, citizen):
    from exchange.queries.models import SeenRequest

    def remembered() -> int:
        with session_factory(hub.engine)() as session:
            return session.scalar(select(func.count()).select_from(SeenRequest))

    exchange = hub.app.state.hub.exchange
    subject = {"type": "id_card", "value": citizen}
    assert _post(hub, _token(hub.key, fields=["name"], subject=subject)).status_code == 200
    assert remembered() == 1
    with session_scope(session_factory(hub.engine)) as session:  # a record whose time has passed
        session.add(
            SeenRequest(
                client_id=DEMO_CLIENT_ID, jti="old-jti-0001", expires_at=datetime(2020, 1, 1, tzinfo=UTC)
            )
        )
    assert _post(hub, _token(hub.key, fields=["name"], subject=subject)).status_code == 200
    assert remembered() == 3  # the last purge was under ten seconds ago
    exchange.purge.due = datetime.now(UTC)
    assert _post(hub, _token(hub.key, fields=["name"], subject=subject)).status_code == 200
    assert remembered() == 3  # the expired one went, the new one came


def test_the_rate_limit_answers_429_with_retry_after(hub, citizen):
    hub.app.state.hub.exchange.limiter.rate = 0.01
    hub.app.state.hub.exchange.limiter.burst = 1
    subject = {"type": "id_card", "value": citizen}
    assert _post(hub, _token(hub.key, fields=["name"], subject=subject)).status_code == 200
    response = _post(hub, _token(hub.key, fields=["name"], subject=subject))
    _denied(hub, response, 429, "rate-limited")
    assert int(response.headers["retry-after"]) >= 1


def test_every_request_left_exactly_one_entry(hub, citizen):
    subject = {"type": "id_card", "value": citizen}
    statuses = [
        _post(hub, _token(hub.key, fields=["name"], subject=subject)).status_code,
        _post(hub, b"garbage").status_code,
        _post(hub, _token(hub.key, fields=["address"], subject=subject)).status_code,
    ]
    with session_factory(hub.engine)() as session:
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == 3
    assert [e.http_status for e in _entries(hub)] == statuses == [200, 400, 403]


# --- the citizen's access record ---------------------------------------------------------------


def _sign_in(hub, citizen_id):
    response = hub.post("/v1/demo-idp/token", json={"citizen_id": citizen_id})
    assert response.status_code == 200 and "DEMO" in response.json()["warning"]
    return {"Authorization": f"Bearer {response.json()['id_token']}"}


def test_the_citizen_sees_who_used_their_data_and_for_what(hub, citizen):
    subject = {"type": "id_card", "value": citizen}
    assert _post(hub, _token(hub.key, fields=["name"], subject=subject)).status_code == 200
    assert _post(hub, _token(hub.key, fields=["address"], subject=subject)).status_code == 403
    record = hub.get("/v1/me/access-log", headers=_sign_in(hub, citizen)).json()
    assert record["subject"] == citizen and record["demo_identity"] and record["total"] == 2
    refused, answered = record["items"]  # newest first
    assert answered["answered"] and not refused["answered"]
    assert answered["consumer"]["id"] == DEMO_CLIENT_ID and answered["consumer"]["name"]
    assert answered["department"] == {"id": "household", "name": "某市公安局（户籍管理）"}
    assert answered["resource"]["id"] == PERSON and answered["resource"]["name"] == "常住人口基本信息"
    assert answered["matter_code"] == MATTER and answered["purpose"] == "小学入学资格审核"
    other = make_citizen_id("110101", date(1950, 1, 1), 996)
    assert hub.get("/v1/me/access-log", headers=_sign_in(hub, other)).json()["total"] == 0


def test_the_access_record_needs_a_valid_id_token(hub, citizen):
    assert hub.get("/v1/me/access-log").status_code == 401
    token = _sign_in(hub, citizen)["Authorization"].split()[1]
    head, payload, signature = token.split(".")
    forged = f"{head}.{payload}.{signature[::-1]}"
    response = hub.get("/v1/me/access-log", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401 and response.headers["www-authenticate"].startswith("Bearer")
    stranger_signed = jose.sign(
        {"iss": "x", "aud": "exchange-hub", "sub": citizen, "exp": int(time.time()) + 60},
        generate_private_key(),
        typ="JWT",
    )
    assert (
        hub.get("/v1/me/access-log", headers={"Authorization": f"Bearer {stranger_signed}"}).status_code
        == 401
    )
    assert hub.post("/v1/demo-idp/token", json={"citizen_id": "110101199003070000"}).status_code == 422


def test_the_hub_signs_checkpoints_that_prove_the_entries(hub, citizen, settings):
    from exchange.api.app import checkpoint_if_due

    subject = {"type": "id_card", "value": citizen}
    for _ in range(3):
        assert _post(hub, _token(hub.key, fields=["name"], subject=subject)).status_code == 200
    assert checkpoint_if_due(hub.app.state.hub)  # none yet: the first one is due at once
    assert not checkpoint_if_due(hub.app.state.hub)  # nothing new to sign
    checkpoint = hub.get("/v1/audit/checkpoint").json()
    assert checkpoint["tree_size"] == 3
    proof = hub.get("/v1/audit/proof/inclusion", params={"index": 1, "tree_size": 3})
    assert proof.status_code == 200 and proof.json()["inclusion_path"]


def test_no_data_leaves_when_the_audit_entry_cannot_be_committed(hub, citizen, monkeypatch):
    from sqlalchemy.orm import Session

    def broken_commit(self):
        raise RuntimeError("disk full")

    monkeypatch.setattr(Session, "commit", broken_commit)
    response = _post(hub, _token(hub.key, fields=["name"], subject={"type": "id_card", "value": citizen}))
    assert response.status_code == 503
    assert response.json()["type"] == "/problems/audit-unavailable"
    assert "application/jwt" not in response.headers["content-type"]
    monkeypatch.undo()
    assert _entries(hub) == []  # nothing was recorded, and nothing was answered
