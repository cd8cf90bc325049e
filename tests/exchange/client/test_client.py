"""ExchangeClient: the requests it signs, the answers it returns, and when it (never) retries."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest

from certs.jwk import jwk_thumbprint
from certs.keys import KeyAlgorithm, generate_private_key, write_private_key
from exchange.client import (
    ExchangeClient,
    HubUnreachable,
    LegacyError,
    RateLimited,
    request_hash,
    verify_evidence,
)
from tests.conftest import NOW
from tests.exchange.client.conftest import (
    CLIENT_ID,
    HUB_ID,
    HUB_URL,
    QUERY_CONTEXT,
    RECORD,
    RESOURCE,
    SUBJECT,
    FakeHub,
    problem,
)

REQUEST_CLAIMS = {
    "iss",
    "aud",
    "iat",
    "exp",
    "jti",
    "resource",
    "subject",
    "matter_code",
    "purpose",
    "operator",
}


def test_query_signs_a_standard_request_and_returns_verified_evidence(consumer_key, signer, make_client):
    hub = FakeHub(consumer_key, signer)
    with make_client(hub, consumer_key) as client:
        evidence = client.query(RESOURCE, "id_card", SUBJECT, ["name", "sex", "photo"], **QUERY_CONTEXT)

    (request,) = hub.requests
    assert request.url == f"{HUB_URL}/v1/query/{RESOURCE}"
    assert request.headers["content-type"] == "application/jwt"
    (claims,) = hub.claims
    assert set(claims) == REQUEST_CLAIMS | {"fields"}
    assert claims["iss"] == CLIENT_ID and claims["aud"] == HUB_ID
    assert claims["iat"] == int(NOW.timestamp()) and claims["exp"] == claims["iat"] + 60
    assert len(claims["jti"]) == 32 and int(claims["jti"], 16) >= 0
    assert claims["resource"] == RESOURCE
    assert claims["subject"] == {"type": "id_card", "value": SUBJECT}
    assert claims["fields"] == ["name", "sex", "photo"]
    assert claims["matter_code"] == QUERY_CONTEXT["matter_code"]
    assert claims["purpose"] == QUERY_CONTEXT["purpose"]
    assert claims["operator"] == {"id": "clerk-007", "name": "李明"}
    assert hub.headers[0]["kid"] == jwk_thumbprint(consumer_key.public_key()) == client.kid

    assert evidence.data == {"name": RECORD["name"], "sex": RECORD["sex"]}
    assert evidence.results is None
    assert evidence.department_id == "household"
    assert evidence.request_jti == claims["jti"]
    assert evidence.request_body == request.content
    assert evidence.payload["req_hash"] == request_hash(request.content)
    assert evidence.log_index == 41
    assert evidence.id == "ev-0"
    assert evidence.issued_at.timestamp() == NOW.timestamp() + 1
    assert evidence.token == hub.answers[0]


def test_verify_sends_claims_and_returns_results(consumer_key, signer, make_client):
    hub = FakeHub(consumer_key, signer)
    with make_client(hub, consumer_key) as client:
        evidence = client.verify(
            RESOURCE,
            "id_card",
            SUBJECT,
            {"name": RECORD["name"], "sex": "1", "photo": "x"},
            legal_basis="《居民身份证法》",
            **QUERY_CONTEXT,
        )
    assert hub.requests[0].url.path == f"/v1/verify/{RESOURCE}"
    (claims,) = hub.claims
    assert set(claims) == REQUEST_CLAIMS | {"claims", "legal_basis"}
    assert claims["claims"] == {"name": RECORD["name"], "sex": "1", "photo": "x"}
    assert claims["legal_basis"] == "《居民身份证法》"
    assert evidence.results == {"name": "match", "sex": "mismatch", "photo": "unknown"}
    assert evidence.data is None


def test_each_request_has_a_fresh_jti_and_the_chosen_lifetime(ed25519_consumer, signer, make_client):
    hub = FakeHub(ed25519_consumer, signer)
    with make_client(hub, ed25519_consumer, lifetime=300) as client:
        client.query(RESOURCE, "id_card", SUBJECT, ["name"], **QUERY_CONTEXT)
        client.query(RESOURCE, "id_card", SUBJECT, ["name"], **QUERY_CONTEXT)
    first, second = hub.claims
    assert first["jti"] != second["jti"]
    assert first["exp"] - first["iat"] == 300


@pytest.mark.parametrize("lifetime", [0, 301])
def test_a_lifetime_beyond_300_seconds_is_refused(lifetime, ed25519_consumer, ca):
    with pytest.raises(ValueError, match="lifetime"):
        ExchangeClient(CLIENT_ID, ed25519_consumer, HUB_URL, ca, lifetime=lifetime)


def test_key_and_ca_can_be_pem_files(tmp_path, initialised, signer, make_client):
    key = generate_private_key(KeyAlgorithm.P256)
    key_path = tmp_path / "consumer.key"
    write_private_key(key_path, key)
    hub = FakeHub(key, signer)
    client = ExchangeClient(
        CLIENT_ID,
        str(key_path),
        HUB_URL + "/",
        initialised.ca_cert,
        transport=httpx.MockTransport(hub),
        clock=lambda: NOW,
    )
    with client:
        evidence = client.query(RESOURCE, "id_card", SUBJECT, ["name"], **QUERY_CONTEXT)
    assert hub.requests[0].url == f"{HUB_URL}/v1/query/{RESOURCE}"
    assert evidence.data == {"name": RECORD["name"]}


def test_a_key_file_others_can_read_is_refused(tmp_path, ca):
    key_path = tmp_path / "consumer.key"
    write_private_key(key_path, generate_private_key())
    key_path.chmod(0o644)
    with pytest.raises(ValueError, match="chmod 600"):
        ExchangeClient(CLIENT_ID, key_path, HUB_URL, ca)
    with pytest.raises(ValueError, match="cannot read"):
        ExchangeClient(CLIENT_ID, tmp_path / "missing.key", HUB_URL, ca)


@pytest.mark.parametrize("url", ["ftp://hub", "hub.example", ""])
def test_the_hub_url_must_be_http(url, ed25519_consumer, ca):
    with pytest.raises(ValueError, match="hub_url"):
        ExchangeClient(CLIENT_ID, ed25519_consumer, url, ca)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c: c.query(RESOURCE, "passport", SUBJECT, ["name"], **QUERY_CONTEXT), "subject_type"),
        (lambda c: c.query(RESOURCE, "id_card", SUBJECT, "name,sex", **QUERY_CONTEXT), "fields"),
        (lambda c: c.query(RESOURCE, "id_card", SUBJECT, [], **QUERY_CONTEXT), "fields"),
        (lambda c: c.query(RESOURCE, "id_card", SUBJECT, ["a", "a"], **QUERY_CONTEXT), "distinct"),
        (lambda c: c.query("", "id_card", SUBJECT, ["name"], **QUERY_CONTEXT), "resource_code"),
        (lambda c: c.query(RESOURCE, "id_card", " ", ["name"], **QUERY_CONTEXT), "subject_value"),
        (
            lambda c: c.query(RESOURCE, "id_card", SUBJECT, ["a"], **{**QUERY_CONTEXT, "purpose": ""}),
            "purpose",
        ),
        (lambda c: c.verify(RESOURCE, "id_card", SUBJECT, {}, **QUERY_CONTEXT), "claims"),
    ],
)
def test_malformed_arguments_are_refused_before_anything_is_sent(
    call, message, ed25519_consumer, signer, make_client
):
    hub = FakeHub(ed25519_consumer, signer)
    with make_client(hub, ed25519_consumer) as client, pytest.raises(ValueError, match=message):
        call(client)
    assert hub.requests == []


def test_the_resource_code_is_one_path_segment(ed25519_consumer, signer, make_client):
    hub = FakeHub(ed25519_consumer, signer, respond=lambda request: problem(404, "unknown-resource"))
    with make_client(hub, ed25519_consumer) as client, pytest.raises(Exception, match="404"):
        client.query("../admin", "id_card", SUBJECT, ["name"], **QUERY_CONTEXT)
    assert hub.requests[0].url.raw_path == b"/v1/query/..%2Fadmin"


def test_a_transport_error_is_hub_unreachable_and_never_retried(ed25519_consumer, signer, make_client):
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    hub = FakeHub(ed25519_consumer, signer, respond=refuse)
    with (
        make_client(hub, ed25519_consumer, retries_on_429=3) as client,
        pytest.raises(HubUnreachable, match="ReadTimeout"),
    ):
        client.query(RESOURCE, "id_card", SUBJECT, ["name"], **QUERY_CONTEXT)
    assert len(hub.requests) == 1


def test_a_closed_port_is_hub_unreachable(ed25519_consumer, ca):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with (
        ExchangeClient(CLIENT_ID, ed25519_consumer, f"http://127.0.0.1:{port}", ca, timeout=2) as client,
        pytest.raises(HubUnreachable, match="ConnectError"),
    ):
        client.query(RESOURCE, "id_card", SUBJECT, ["name"], **QUERY_CONTEXT)


def test_429_is_not_retried_by_default(ed25519_consumer, signer, make_client):
    hub = FakeHub(ed25519_consumer, signer, rate_limited=1)
    with make_client(hub, ed25519_consumer) as client, pytest.raises(RateLimited) as caught:
        client.query(RESOURCE, "id_card", SUBJECT, ["name"], **QUERY_CONTEXT)
    assert caught.value.retry_after == 3
    assert len(hub.requests) == 1


def test_429_is_retried_when_asked_with_a_newly_signed_request(ed25519_consumer, signer, make_client):
    slept: list[float] = []
    hub = FakeHub(ed25519_consumer, signer, rate_limited=2)
    with make_client(hub, ed25519_consumer, retries_on_429=2, sleep=slept.append) as client:
        evidence = client.query(RESOURCE, "id_card", SUBJECT, ["name"], **QUERY_CONTEXT)
    assert slept == [3.0, 3.0]
    assert len(hub.requests) == 3
    assert len({claims["jti"] for claims in hub.claims}) == 3
    assert evidence.request_jti == hub.claims[-1]["jti"]
    assert evidence.request_body == hub.requests[-1].content


def test_429_retries_stop_when_exhausted_or_the_wait_is_too_long(ed25519_consumer, signer, make_client):
    slept: list[float] = []
    hub = FakeHub(ed25519_consumer, signer, rate_limited=5)
    with make_client(hub, ed25519_consumer, retries_on_429=2, sleep=slept.append) as client:
        with pytest.raises(RateLimited):
            client.query(RESOURCE, "id_card", SUBJECT, ["name"], **QUERY_CONTEXT)
        assert len(hub.requests) == 3
    hub = FakeHub(ed25519_consumer, signer, rate_limited=1, retry_after="3600")
    with make_client(hub, ed25519_consumer, retries_on_429=2, sleep=slept.append) as client:
        with pytest.raises(RateLimited):
            client.query(RESOURCE, "id_card", SUBJECT, ["name"], **QUERY_CONTEXT)
        assert len(hub.requests) == 1
    assert slept == [3.0, 3.0]


def test_a_legacy_outage_is_never_retried(ed25519_consumer, signer, make_client):
    hub = FakeHub(
        ed25519_consumer,
        signer,
        respond=lambda request: problem(503, "legacy-unavailable", headers={"Retry-After": "30"}),
    )
    with make_client(hub, ed25519_consumer, retries_on_429=3) as client, pytest.raises(LegacyError) as caught:
        client.query(RESOURCE, "id_card", SUBJECT, ["name"], **QUERY_CONTEXT)
    assert caught.value.retry_after == 30 and caught.value.status == 503
    assert len(hub.requests) == 1


def test_the_client_closes_its_connection_pool(ed25519_consumer, signer, make_client):
    with make_client(FakeHub(ed25519_consumer, signer), ed25519_consumer) as client:
        pass
    assert client._http.is_closed


def test_stored_evidence_verifies_offline_with_its_request(
    ed25519_consumer, signer, make_client, initialised
):
    hub = FakeHub(ed25519_consumer, signer)
    with make_client(hub, ed25519_consumer) as client:
        evidence = client.query(RESOURCE, "id_card", SUBJECT, ["name"], **QUERY_CONTEXT)
    stored = Path("evidence.jwt")
    stored.write_text(evidence.token)
    again = verify_evidence(
        stored.read_text(),
        ca_certificate=initialised.ca_cert,
        client_id=CLIENT_ID,
        request_body=evidence.request_body,
        now=NOW,
    )
    assert again == evidence


def test_signed_query_signs_what_query_would_send_and_sends_nothing(consumer_key, signer, make_client):
    hub = FakeHub(consumer_key, signer)
    with make_client(hub, consumer_key) as client:
        first = client.signed_query(RESOURCE, "id_card", SUBJECT, ["name", "sex"], **QUERY_CONTEXT)
        second = client.signed_query(RESOURCE, "id_card", SUBJECT, ["name", "sex"], **QUERY_CONTEXT)
        assert hub.requests == []
        with pytest.raises(ValueError, match="fields"):
            client.signed_query(RESOURCE, "id_card", SUBJECT, [], **QUERY_CONTEXT)
        with pytest.raises(ValueError, match="subject_type"):
            client.signed_query(RESOURCE, "passport", SUBJECT, ["name"], **QUERY_CONTEXT)
        # Sent later, the body is a request the hub answers like one query() sends.
        response = hub(
            httpx.Request(
                "POST",
                f"{HUB_URL}/v1/query/{RESOURCE}",
                content=first,
                headers={"content-type": "application/jwt"},
            )
        )
    assert response.status_code == 200
    (claims,) = hub.claims
    assert set(claims) == REQUEST_CLAIMS | {"fields"}
    assert claims["fields"] == ["name", "sex"] and claims["subject"] == {"type": "id_card", "value": SUBJECT}
    _, second_claims = hub.verify_request(second)
    assert second_claims["jti"] != claims["jti"]
