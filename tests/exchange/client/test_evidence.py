"""Evidence verification: each check of DESIGN.md's signed response fails on its own, and stored
evidence verifies offline years later with nothing but the CA certificate."""

from __future__ import annotations

import base64
import json
import warnings
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from joserfc import jwt as rfc_jwt
from joserfc.jwk import OKPKey

from adapters.registry import DEPARTMENTS
from certs import jose
from certs import service as pki
from certs.authority import CertificateAuthority, CertificateKind, consumer_name, department_name
from certs.keys import KeyAlgorithm, generate_private_key, load_private_key
from certs.store import PkiPaths, read_certificate
from exchange.client import EvidenceRejected, request_hash, verify_evidence
from exchange.client._evidence import department_id_of
from tests.conftest import NOW
from tests.exchange.client.conftest import (
    CLIENT_ID,
    HUB_ID,
    QUERY_CONTEXT,
    RESOURCE,
    SUBJECT,
    FakeHub,
    Signer,
    department_signer,
)


def _query(hub: FakeHub, make_client, **options: Any):
    with make_client(hub, hub.consumer_key, **options) as client:
        return client.query(RESOURCE, "id_card", SUBJECT, ["name", "sex"], **QUERY_CONTEXT)


def _verify(hub: FakeHub, make_client, claims: dict[str, str] | None = None):
    with make_client(hub, hub.consumer_key) as client:
        return client.verify(RESOURCE, "id_card", SUBJECT, claims or {"name": "王芳"}, **QUERY_CONTEXT)


def _rejected(check: str, call) -> EvidenceRejected:
    with pytest.raises(EvidenceRejected) as caught:
        call()
    assert caught.value.check == check, caught.value
    return caught.value


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _authority(paths: PkiPaths) -> CertificateAuthority:
    return pki.load_authority(paths)


# Claims the hub must get right: each mutation breaks exactly one check.
CLAIM_MUTATIONS = [
    ("aud", lambda e: {**e, "aud": "someone-else"}),
    ("aud", lambda e: {k: v for k, v in e.items() if k != "aud"}),
    ("iss", lambda e: {**e, "iss": "tax"}),
    ("req", lambda e: {**e, "req": "0" * 32}),
    ("req", lambda e: {k: v for k, v in e.items() if k != "req"}),
    ("req_hash", lambda e: {**e, "req_hash": request_hash(b"another request")}),
    ("req_hash", lambda e: {**e, "req_hash": 42}),
    ("resource", lambda e: {**e, "resource": "301001001-000002"}),
    ("subject", lambda e: {**e, "subject": {"type": "id_card", "value": "110105194912310037"}}),
    ("subject", lambda e: {**e, "subject": {**e["subject"], "extra": "x"}}),
    ("data", lambda e: {**e, "data": {**e["data"], "address": "不该给的住址"}}),
    ("data", lambda e: {**e, "data": ["王芳"]}),
    ("answer", lambda e: {**e, "results": {"name": "match"}}),
    ("answer", lambda e: {k: v for k, v in e.items() if k != "data"}),
    ("log", lambda e: {k: v for k, v in e.items() if k != "log"}),
    ("log", lambda e: {**e, "log": {"index": "41"}}),
    ("log", lambda e: {**e, "log": {"index": True}}),
    ("log", lambda e: {**e, "log": {"index": -1}}),
    ("jti", lambda e: {k: v for k, v in e.items() if k != "jti"}),
    ("iat", lambda e: {**e, "iat": float(e["iat"])}),
    ("iat", lambda e: {**e, "iat": e["iat"] + 3600}),  # in the future
    ("iat", lambda e: {**e, "iat": e["iat"] - 120}),  # before the request (beyond the skew)
]


@pytest.mark.parametrize(
    ("check", "mutate"), CLAIM_MUTATIONS, ids=[f"{c}-{i}" for i, (c, _) in enumerate(CLAIM_MUTATIONS)]
)
def test_each_claim_check_rejects_a_wrong_claim(check, mutate, ed25519_consumer, signer, make_client):
    hub = FakeHub(ed25519_consumer, signer, tamper=mutate)
    _rejected(check, lambda: _query(hub, make_client))


@pytest.mark.parametrize(
    ("check", "results"),
    [
        ("results", {"name": "yes"}),
        ("results", {"name": None}),
        ("results", {"name": "match", "sex": "match"}),  # an item that was not claimed
        ("results", {}),
        ("results", ["match"]),
        ("answer", None),  # data instead of results
    ],
)
def test_results_must_answer_exactly_the_claims(check, results, ed25519_consumer, signer, make_client):
    def mutate(evidence: dict[str, Any]) -> dict[str, Any]:
        if results is None:
            return {**{k: v for k, v in evidence.items() if k != "results"}, "data": {"name": "王芳"}}
        return {**evidence, "results": results}

    hub = FakeHub(ed25519_consumer, signer, tamper=mutate)
    _rejected(check, lambda: _verify(hub, make_client))


def test_a_tampered_payload_fails_the_signature(ed25519_consumer, signer, make_client):
    def tampered(claims: dict[str, Any]) -> str:
        header, _, signature = signer.sign(claims).split(".")
        return f"{header}.{_b64({**claims, 'data': {'name': '李四'}})}.{signature}"

    hub = FakeHub(ed25519_consumer, signer, sign=tampered)
    _rejected("signature", lambda: _query(hub, make_client))


def test_a_signature_by_another_key_than_the_certificate_fails(ed25519_consumer, signer, make_client):
    impostor = Signer("household", generate_private_key(), signer.chain)
    hub = FakeHub(ed25519_consumer, signer, sign=impostor.sign)
    _rejected("signature", lambda: _query(hub, make_client))


def test_an_algorithm_that_does_not_match_the_certificate_key_fails(ed25519_consumer, signer, make_client):
    def es256_header(claims: dict[str, Any]) -> str:
        _, payload, signature = signer.sign(claims).split(".")
        header = {"alg": "ES256", "typ": "exchange-evidence+jwt", "x5c": jose.x5c_of(signer.chain)}
        return f"{_b64(header)}.{payload}.{signature}"

    hub = FakeHub(ed25519_consumer, signer, sign=es256_header)
    assert "does not match" in _rejected("signature", lambda: _query(hub, make_client)).detail


@pytest.mark.parametrize("alg", ["none", "HS256"])
def test_alg_none_and_hmac_are_refused(alg, ed25519_consumer, signer, make_client):
    def unsigned(claims: dict[str, Any]) -> str:
        key = None if alg == "none" else "a-shared-secret-that-is-long-enough!!"
        headers = {"typ": "exchange-evidence+jwt", "x5c": jose.x5c_of(signer.chain)}
        return jwt.encode(claims, key, algorithm=alg, headers=headers)

    hub = FakeHub(ed25519_consumer, signer, sign=unsigned)
    assert "not accepted" in _rejected("header", lambda: _query(hub, make_client)).detail


@pytest.mark.parametrize("typ", ["JWT", "exchange-request+jwt", None])
def test_the_evidence_typ_is_required(typ, ed25519_consumer, signer, make_client):
    def other_typ(claims: dict[str, Any]) -> str:
        if typ is None:
            return jwt.encode(
                claims, signer.key, algorithm="EdDSA", headers={"x5c": jose.x5c_of(signer.chain)}
            )
        return signer.sign(claims, typ=typ)

    hub = FakeHub(ed25519_consumer, signer, sign=other_typ)
    _rejected("typ", lambda: _query(hub, make_client))


@pytest.mark.parametrize("x5c", [None, [], ["bm90IGEgY2VydA=="]])
def test_x5c_must_hold_the_department_certificate(x5c, ed25519_consumer, signer, make_client):
    def without_chain(claims: dict[str, Any]) -> str:
        headers: dict[str, Any] = {"typ": "exchange-evidence+jwt"}
        if x5c is not None:
            headers["x5c"] = x5c
        return jwt.encode(claims, signer.key, algorithm="EdDSA", headers=headers)

    hub = FakeHub(ed25519_consumer, signer, sign=without_chain)
    _rejected("x5c", lambda: _query(hub, make_client))


def test_a_certificate_from_another_ca_fails_the_chain(ed25519_consumer, make_client):
    rogue = CertificateAuthority.create("exchange-hub", generate_private_key(), now=NOW)
    key = generate_private_key()
    cert = rogue.issue(
        key.public_key(),
        department_name("household", "某市公安局", "11330100MB0000001R"),
        CertificateKind.DEPARTMENT,
        now=NOW,
    )
    hub = FakeHub(ed25519_consumer, Signer("household", key, [cert, rogue.certificate]))
    _rejected("certificate.chain", lambda: _query(hub, make_client))


def test_the_client_trusts_only_the_ca_it_was_given(ed25519_consumer, signer, make_client):
    rogue = CertificateAuthority.create("exchange-hub", generate_private_key(), now=NOW)
    hub = FakeHub(ed25519_consumer, signer)
    _rejected("certificate.chain", lambda: _query(hub, make_client, ca_certificate=rogue.certificate))


def test_an_expired_department_certificate_fails(ed25519_consumer, initialised, make_client):
    authority = _authority(initialised)
    key = generate_private_key()
    issued = NOW - timedelta(days=900)
    cert = authority.issue(
        key.public_key(),
        department_name("household", "某市公安局", "11330100MB0000001R"),
        CertificateKind.DEPARTMENT,
        now=issued,
    )
    hub = FakeHub(ed25519_consumer, Signer("household", key, [cert, authority.certificate]))
    assert "expired" in _rejected("certificate.validity", lambda: _query(hub, make_client)).detail


def test_hub_and_consumer_certificates_cannot_sign_evidence(ed25519_consumer, initialised, make_client):
    authority = _authority(initialised)
    hub_signer = Signer(
        "exchange-hub",
        load_private_key(initialised.hub_key),
        [read_certificate(initialised.hub_cert), authority.certificate],
    )
    _rejected("department", lambda: _query(FakeHub(ed25519_consumer, hub_signer), make_client))

    key = generate_private_key()
    consumer_cert = authority.issue(
        key.public_key(), consumer_name(CLIENT_ID, "审批系统"), CertificateKind.CONSUMER, now=NOW
    )
    consumer_signer = Signer(CLIENT_ID, key, [consumer_cert, authority.certificate])
    _rejected("department", lambda: _query(FakeHub(ed25519_consumer, consumer_signer), make_client))


def test_the_ca_itself_cannot_sign_evidence(ed25519_consumer, initialised, make_client):
    authority = _authority(initialised)
    ca_signer = Signer("exchange-hub", authority.private_key, [authority.certificate])
    _rejected("certificate.profile", lambda: _query(FakeHub(ed25519_consumer, ca_signer), make_client))


def test_a_revoked_department_certificate_fails_when_a_crl_is_given(
    ed25519_consumer, signer, initialised, make_client
):
    authority = _authority(initialised)
    clean = authority.crl([], now=NOW, number=1)
    evidence = _query(FakeHub(ed25519_consumer, signer), make_client, crl=clean)
    assert evidence.department_id == "household"
    revoked = authority.crl([(signer.chain[0].serial_number, NOW, None)], now=NOW, number=2)
    hub = FakeHub(ed25519_consumer, signer)
    _rejected("certificate.revocation", lambda: _query(hub, make_client, crl=revoked))
    # The CRL on disk (written by `pki init`) is accepted as a path.
    assert _query(FakeHub(ed25519_consumer, signer), make_client, crl=initialised.crl).log_index == 41


def test_a_crl_from_another_ca_is_refused(ed25519_consumer, make_client):
    rogue = CertificateAuthority.create("exchange-hub", generate_private_key(), now=NOW)
    with pytest.raises(ValueError, match="not signed by the given hub CA"):
        make_client(
            lambda request: httpx.Response(500), ed25519_consumer, crl=rogue.crl([], now=NOW, number=1)
        )


def test_a_200_that_is_not_a_jwt_is_rejected(ed25519_consumer, signer, make_client):
    hub = FakeHub(
        ed25519_consumer,
        signer,
        respond=lambda request: httpx.Response(200, json={"data": {"name": "王芳"}}),
    )
    _rejected("content_type", lambda: _query(hub, make_client))
    hub.respond = lambda request: httpx.Response(
        200, content=b"garbage", headers={"Content-Type": "application/jwt"}
    )
    _rejected("header", lambda: _query(hub, make_client))


def test_evidence_signed_by_another_jose_library_with_the_rfc_9864_name_is_accepted(
    ed25519_consumer, signer, make_client
):
    pem = signer.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    key = OKPKey.import_key(pem)

    def joserfc_sign(claims: dict[str, Any]) -> str:
        header = {"alg": "Ed25519", "typ": "exchange-evidence+jwt", "x5c": jose.x5c_of(signer.chain)}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return rfc_jwt.encode(header, claims, key, algorithms=["Ed25519"])

    evidence = _query(FakeHub(ed25519_consumer, signer, sign=joserfc_sign), make_client)
    assert evidence.data == {"name": "王芳", "sex": "2"}


def test_es256_evidence_from_a_p256_pki(ed25519_consumer, session, tmp_path, make_client):
    paths = PkiPaths(tmp_path / "p256")
    pki.init_pki(
        session,
        paths=paths,
        hub_id=HUB_ID,
        departments=[DEPARTMENTS["tax"]],
        now=NOW,
        algorithm=KeyAlgorithm.P256,
    )
    signer = department_signer(paths, "tax")
    assert jose.header(signer.sign({"a": 1}))["alg"] == "ES256"
    evidence = _query(FakeHub(ed25519_consumer, signer), make_client, ca_certificate=paths.ca_cert)
    assert evidence.department_id == "tax" and department_id_of(evidence.certificate) == "tax"


# --- offline verification of stored evidence -------------------------------------------------


@pytest.fixture
def stored(ed25519_consumer, signer, make_client):
    """A query's evidence and request, as an integrator keeps them."""
    evidence = _query(FakeHub(ed25519_consumer, signer), make_client)
    assert evidence.request_body is not None
    return evidence.token, evidence.request_body


def test_stored_evidence_verifies_years_later_after_the_certificate_expired(stored, initialised):
    token, body = stored
    later = NOW + timedelta(days=5 * 365)
    assert read_certificate(initialised.department_cert("household")).not_valid_after_utc < later
    evidence = verify_evidence(
        token, ca_certificate=initialised.ca_cert, client_id=CLIENT_ID, request_body=body, now=later
    )
    assert evidence.data == {"name": "王芳", "sex": "2"} and evidence.request_body == body
    alone = verify_evidence(
        token.encode(), ca_certificate=read_certificate(initialised.ca_cert), client_id=CLIENT_ID, now=later
    )
    assert alone.payload == evidence.payload and alone.request_body is None


def test_offline_verification_binds_the_stored_request(
    stored, initialised, ed25519_consumer, signer, make_client
):
    token, body = stored
    other = _query(FakeHub(ed25519_consumer, signer), make_client).request_body
    assert other is not None
    with pytest.raises(EvidenceRejected) as caught:
        verify_evidence(
            token, ca_certificate=initialised.ca_cert, client_id=CLIENT_ID, request_body=other, now=NOW
        )
    assert caught.value.check == "req"
    # Same jti, different bytes (e.g. the request was re-serialised): the hash catches it.
    header, payload, signature = body.decode().split(".")
    with pytest.raises(EvidenceRejected) as caught:
        verify_evidence(
            token,
            ca_certificate=initialised.ca_cert,
            client_id=CLIENT_ID,
            request_body=f"{header}.{payload}.{signature}A".encode(),
            now=NOW,
        )
    assert caught.value.check == "req_hash"
    with pytest.raises(EvidenceRejected) as caught:
        verify_evidence(
            token, ca_certificate=initialised.ca_cert, client_id=CLIENT_ID, request_body=b"not a jwt", now=NOW
        )
    assert caught.value.check == "request_body"


@pytest.mark.parametrize(
    ("options", "check"),
    [
        ({"client_id": "someone-else"}, "aud"),
        ({"now": NOW - timedelta(hours=1)}, "iat"),
    ],
)
def test_offline_verification_checks_audience_and_time(stored, initialised, options, check):
    token, _ = stored
    arguments = {"ca_certificate": initialised.ca_cert, "client_id": CLIENT_ID, "now": NOW, **options}
    with pytest.raises(EvidenceRejected) as caught:
        verify_evidence(token, **arguments)
    assert caught.value.check == check


def test_offline_verification_of_a_tampered_token_fails(stored, initialised):
    token, _ = stored
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    forged = f"{header}.{_b64({**claims, 'data': {'name': '李四', 'sex': '1'}})}.{signature}"
    with pytest.raises(EvidenceRejected) as caught:
        verify_evidence(forged, ca_certificate=initialised.ca_cert, client_id=CLIENT_ID, now=NOW)
    assert caught.value.check == "signature"


def test_offline_verification_refuses_unusable_input(stored, initialised, tmp_path):
    token, body = stored
    with pytest.raises(EvidenceRejected) as caught:
        verify_evidence(
            "é".encode() + token.encode(), ca_certificate=initialised.ca_cert, client_id=CLIENT_ID
        )
    assert caught.value.check == "header"
    with pytest.raises(ValueError, match="timezone-aware"):
        verify_evidence(
            token, ca_certificate=initialised.ca_cert, client_id=CLIENT_ID, now=NOW.replace(tzinfo=None)
        )
    with pytest.raises(ValueError, match="cannot read the CA certificate"):
        verify_evidence(token, ca_certificate=tmp_path / "missing.pem", client_id=CLIENT_ID)
    with pytest.raises(ValueError, match="cannot read the CRL"):
        verify_evidence(
            token, ca_certificate=initialised.ca_cert, client_id=CLIENT_ID, crl=tmp_path / "crl.pem"
        )
    # The stored request may come back as text.
    evidence = verify_evidence(
        token, ca_certificate=initialised.ca_cert, client_id=CLIENT_ID, request_body=body.decode(), now=NOW
    )
    assert evidence.request_body == body


def test_the_hub_may_echo_a_citizen_id_in_canonical_form(ed25519_consumer, signer, make_client):
    def canonical(evidence: dict[str, Any]) -> dict[str, Any]:
        return {**evidence, "subject": {"type": "id_card", "value": evidence["subject"]["value"].upper()}}

    hub = FakeHub(ed25519_consumer, signer, tamper=canonical)
    with make_client(hub, ed25519_consumer) as client:
        evidence = client.query(RESOURCE, "id_card", SUBJECT.lower(), ["name"], **QUERY_CONTEXT)
    assert hub.claims[0]["subject"]["value"].endswith("x") and evidence.payload["subject"]["value"] == SUBJECT
    hub.tamper = lambda e: {**e, "subject": {"type": "uscc", "value": e["subject"]["value"]}}
    _rejected("subject", lambda: _query(hub, make_client))
