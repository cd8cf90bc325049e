"""ExchangeClient.search_licenses: the signed search, the credentials as evidence, and each license's
validity and status (Token Status List, fetched from the hub only)."""

from __future__ import annotations

import base64
import json
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from adapters.registry import DEPARTMENTS
from certs.authority import CertificateAuthority, CertificateKind, department_name
from certs.keys import generate_private_key, load_private_key
from certs.store import read_certificate
from exchange.client import (
    EvidenceRejected,
    ExchangeClient,
    LicenseCredential,
    LicenseSearch,
    verify_evidence,
)
from exchange.client._evidence import SentRequest
from exchange.client._licenses import status_list_path
from exchange.db.engine import session_factory
from exchange.demo import DEMO_CLIENT_ID, DEMO_MATTER
from exchange.identifiers import make_citizen_id
from exchange.licenses.models import License
from exchange.licenses.sealing import CHECKS, present
from exchange.licenses.status_list import INVALID, SUSPENDED, status_list_token
from exchange.licenses.types import LICENSE_TYPES
from exchange.queries.evidence import DepartmentSigner
from tests.conftest import NOW
from tests.exchange.client.conftest import (
    CLIENT_ID,
    HUB_URL,
    LICENSE_RESOURCE,
    LICENSE_TYPE,
    QUERY_CONTEXT,
    RESOURCE,
    STATUS_LIST_ID,
    STATUS_URI,
    SUBJECT,
    FakeHub,
    department_signer,
)
from tests.exchange.licenses.test_license_api import hub as licensed_hub  # noqa: F401  (a fixture)

OTHER_HOLDER = make_citizen_id("330106", date(1985, 3, 2), 123)


def _search(hub: FakeHub, make_client, *, check_status: bool = True, subject: str = SUBJECT, **options):
    with make_client(hub, hub.consumer_key, **options) as client:
        return client.search_licenses(
            LICENSE_TYPE, "id_card", subject, **QUERY_CONTEXT, check_status=check_status
        )


def _rejected(check: str, call) -> EvidenceRejected:
    with pytest.raises(EvidenceRejected) as caught:
        call()
    assert caught.value.check == check, caught.value
    return caught.value


def _status_gets(hub: FakeHub) -> list[httpx.Request]:
    return [request for request in hub.requests if request.method == "GET"]


@pytest.fixture
def hub(ed25519_consumer, signer, sealer) -> FakeHub:
    """A fake hub holding two household registers of SUBJECT, entries 0 and 1 of one status list."""
    fake = FakeHub(ed25519_consumer, signer)
    fake.credentials = [sealer(index=0, serial="H7Q2K9"), sealer(index=1, serial="H7Q2KA")]
    return fake


# --- the happy path ------------------------------------------------------------------------------


def test_a_search_signs_a_request_without_resource_and_reports_each_license(hub, make_client):
    search = _search(hub, make_client)

    assert isinstance(search, LicenseSearch)
    post, get = hub.requests
    assert post.method == "POST" and post.url == f"{HUB_URL}/v1/licenses/search"
    (claims,) = hub.claims
    assert "resource" not in claims and claims["license_type"] == LICENSE_TYPE
    assert claims["subject"] == {"type": "id_card", "value": SUBJECT}
    assert claims["matter_code"] == QUERY_CONTEXT["matter_code"]
    assert claims["operator"] == {"id": "clerk-007", "name": "李明"}
    # One status list for both credentials: fetched once, from the hub, as a status list token.
    assert get.url == STATUS_URI and get.headers["accept"] == "application/statuslist+jwt"

    evidence = search.evidence
    assert evidence.credentials == hub.credentials and evidence.data is None and evidence.results is None
    assert evidence.payload["resource"] == LICENSE_RESOURCE and evidence.department_id == "household"
    assert [found.credential for found in search.licenses] == hub.credentials
    for found in search.licenses:
        assert isinstance(found, LicenseCredential)
        assert found.ok and found.status == "valid" and found.failed == []
        assert [check.name for check in found.checks] == list(CHECKS)
        assert found.claims["holder_code"] == SUBJECT and found.claims["holder_name"] == "王芳"
        assert found.claims["vct"] == LICENSE_TYPES[LICENSE_TYPE].vct
    assert [found.identifier for found in search.licenses] == [
        found.claims["identifier"] for found in search.licenses
    ]
    assert search.licenses[0].identifier != search.licenses[1].identifier


def test_a_subject_without_licenses_is_an_empty_search(hub, make_client):
    hub.credentials = []
    search = _search(hub, make_client)
    assert search.licenses == [] and search.evidence.credentials == []
    assert _status_gets(hub) == []


def test_the_hub_may_echo_a_citizen_id_in_canonical_form(hub, make_client):
    search = _search(hub, make_client, subject=SUBJECT.lower())
    assert hub.claims[0]["subject"]["value"].endswith("x")
    assert all(found.ok for found in search.licenses)


# --- what is reported, not raised ----------------------------------------------------------------


@pytest.mark.parametrize(("value", "status"), [(INVALID, "invalid"), (SUSPENDED, "suspended")])
def test_a_revoked_or_suspended_license_is_reported_not_raised(hub, make_client, value, status):
    hub.status_lists[STATUS_LIST_ID].set(1, value)
    search = _search(hub, make_client)
    valid, revoked = search.licenses
    assert valid.ok and valid.status == "valid"
    assert not revoked.ok and revoked.status == status and revoked.failed == ["status"]
    assert f"{STATUS_URI} #1" in revoked.report.check("status").detail


def test_an_expired_license_is_reported_not_raised(hub, sealer, make_client):
    hub.credentials = [sealer(index=2, valid_to=date(2025, 12, 31))]
    (expired,) = _search(hub, make_client).licenses
    assert expired.failed == ["validity_period"] and expired.status == "valid"
    assert "expired at 2026-01-01T00:00:00+08:00" in expired.report.check("validity_period").detail


def test_without_status_checking_the_status_is_unknown_and_nothing_is_fetched(hub, make_client):
    hub.status_lists[STATUS_LIST_ID].set(0, INVALID)
    search = _search(hub, make_client, check_status=False)
    assert _status_gets(hub) == []
    for found in search.licenses:
        assert found.ok and found.status == "unknown"
        assert "not consulted" in found.report.check("status").detail


# --- the status list: from the hub only, verified, failing closed -------------------------------


@pytest.mark.parametrize(
    "uri",
    [
        f"{HUB_URL}/v1/directory/resources",
        f"{HUB_URL}/v1/status-lists/{STATUS_LIST_ID}/extra",
        f"{HUB_URL}/v1/status-lists/..",
        f"{HUB_URL}/../v1/status-lists/{STATUS_LIST_ID}",
        f"{HUB_URL}/v1/status-lists/%2e%2e",
        f"{HUB_URL}/v1/status-lists/{STATUS_LIST_ID}?next=http://169.254.169.254/",
        f"{HUB_URL}/v1/status-lists/{STATUS_LIST_ID}#x",
        f"https://user@hub.example.gov.cn/v1/status-lists/{STATUS_LIST_ID}",
        f"/v1/status-lists/{STATUS_LIST_ID}",
        f"file:///v1/status-lists/{STATUS_LIST_ID}",
        "http://169.254.169.254/latest/meta-data/",
    ],
)
def test_a_status_uri_that_is_not_a_status_list_is_never_fetched_and_fails_closed(
    hub, sealer, make_client, uri
):
    hub.credentials = [sealer(index=0, status_uri=uri)]
    (found,) = _search(hub, make_client).licenses
    assert _status_gets(hub) == []
    assert found.status == "unknown" and found.failed == ["status"]
    assert "not a status list of this hub" in found.report.check("status").detail


def test_a_status_list_at_a_foreign_host_is_never_fetched_and_fails_closed(hub, sealer, make_client):
    foreign = f"https://evil.example/v1/status-lists/{STATUS_LIST_ID}"
    hub.credentials = [sealer(index=0, status_uri=foreign), sealer(index=1, serial="H7Q2KA")]
    foreign_list, hubs_list = _search(hub, make_client).licenses
    assert all(request.url.host == "hub.example.gov.cn" for request in hub.requests)
    # Only the hub's own list was fetched (once): it is the list of STATUS_URI, not of the foreign URI.
    assert [request.url for request in _status_gets(hub)] == [STATUS_URI]
    assert foreign_list.status == "unknown" and foreign_list.failed == ["status"]
    assert "sub: the token is for" in foreign_list.report.check("status").detail
    assert hubs_list.ok and hubs_list.status == "valid"


def _token(signer, *, uri: str = STATUS_URI, now=NOW):
    return lambda _list_id, statuses: status_list_token(statuses, uri=uri, signer=signer, now=now, ttl=300)


def _serve(status: int, body: bytes, media_type: str):
    def respond(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body, headers={"Content-Type": media_type})

    return respond


def _rogue_household() -> DepartmentSigner:
    """The household department's name and USCC, certified by a CA nobody trusts."""
    rogue = CertificateAuthority.create("exchange-hub", generate_private_key(), now=NOW)
    key = generate_private_key()
    household = DEPARTMENTS["household"]
    cert = rogue.issue(
        key.public_key(),
        department_name("household", household.name, household.uscc),
        CertificateKind.DEPARTMENT,
        now=NOW,
    )
    return DepartmentSigner("household", key, (cert, rogue.certificate))


def _unreachable(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


STATUS_ANSWERS = {
    "not-found": (_serve(404, b"{}", "application/problem+json"), "answered 404"),
    "redirect": (
        lambda request: httpx.Response(302, headers={"Location": "http://169.254.169.254/"}),
        "answered 302",
    ),
    "not-a-status-list": (_serve(200, b"{}", "application/json"), "not application/statuslist+jwt"),
    "garbage": (_serve(200, b"not.a.jwt", "application/statuslist+jwt"), "signature"),
    "non-ascii": (_serve(200, "状态".encode(), "application/statuslist+jwt"), "non-ASCII"),
    "too-large": (_serve(200, b"a" * (4 * 1024 * 1024 + 1), "application/statuslist+jwt"), "more than"),
    "unreachable": (_unreachable, "no answer from"),
}


@pytest.mark.parametrize(("answer", "reason"), STATUS_ANSWERS.values(), ids=list(STATUS_ANSWERS))
def test_a_status_list_that_cannot_be_fetched_fails_closed(hub, make_client, answer, reason):
    hub.serve_status = answer
    search = _search(hub, make_client)
    assert len(_status_gets(hub)) == 1  # tried once for both credentials, the failure included
    for found in search.licenses:
        assert found.status == "unknown" and found.failed == ["status"]
        assert reason in found.report.check("status").detail


@pytest.mark.parametrize(
    ("misbehave", "reason"),
    [
        ("wrong-sub", "sub: the token is for"),
        ("other-department", "signed by tax, not household"),
        ("expired-token", "signature"),
        ("rogue-ca", "chain"),
        ("index-out-of-range", "outside"),
    ],
)
def test_a_status_list_that_does_not_verify_fails_closed(
    hub, signer, initialised, sealer, make_client, misbehave, reason
):
    if misbehave == "wrong-sub":
        hub.status_token = _token(signer, uri=f"{HUB_URL}/v1/status-lists/household-2")
    elif misbehave == "other-department":
        hub.status_token = _token(department_signer(initialised, "tax"))
    elif misbehave == "expired-token":
        hub.status_token = _token(signer, now=NOW - timedelta(days=2))
    elif misbehave == "rogue-ca":
        hub.status_token = _token(_rogue_household())
    else:  # the list holds 64 entries
        hub.credentials = [sealer(index=64), sealer(index=65, serial="H7Q2KA")]
    search = _search(hub, make_client)
    assert len(_status_gets(hub)) == 1
    for found in search.licenses:
        assert found.status == "unknown" and found.failed == ["status"]
        assert reason in found.report.check("status").detail


def test_status_list_paths():
    assert status_list_path(STATUS_URI) == f"/v1/status-lists/{STATUS_LIST_ID}"
    assert status_list_path("http://127.0.0.1:8000/v1/status-lists/real_estate-1") == (
        "/v1/status-lists/real_estate-1"
    )
    # A hub published under a prefix: only the list id is taken, and fetched under our own hub_url.
    assert status_list_path("https://zwfw.example.gov.cn/exchange/v1/status-lists/tax-2") == (
        "/v1/status-lists/tax-2"
    )


# --- credentials that are not evidence -----------------------------------------------------------


def _b64(data: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _decoded(segment: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def _changed_payload(credential: str) -> str:
    issuer_jwt, rest = credential.split("~", 1)
    header, payload, signature = issuer_jwt.split(".")
    claims = _decoded(payload) | {"valid_to": "2099-12-31"}
    return f"{header}.{_b64(claims)}.{signature}~{rest}"


def _changed_disclosure(credential: str) -> str:
    issuer_jwt, *disclosures = credential.split("~")
    for position, encoded in enumerate(disclosures):
        if encoded and _decoded(encoded)[1] == "holder_name":
            salt, name, _ = _decoded(encoded)
            disclosures[position] = _b64([salt, name, "李四"])
    return "~".join([issuer_jwt, *disclosures])


def _signed_by_another_key(sealer) -> str:
    real = sealer.signer("household")
    return sealer(signer=DepartmentSigner("household", generate_private_key(), real.chain))


FORGERIES = {
    "changed-payload": (lambda sealer: _changed_payload(sealer()), "credential 0: signature"),
    "another-key": (_signed_by_another_key, "credential 0: signature"),
    "not-an-sd-jwt": (lambda sealer: "not a credential", "credential 0: signature: not an SD-JWT"),
    "rogue-ca": (lambda sealer: sealer(signer=_rogue_household()), "credential 0: chain"),
    "changed-disclosure": (lambda sealer: _changed_disclosure(sealer()), "credential 0: disclosures"),
    "duplicated-disclosure": (
        lambda sealer: sealer() + sealer().split("~")[1] + "~",
        "credential 0: disclosures",
    ),
    "holder-hidden": (lambda sealer: present(sealer(), []), "credential 0: holder_code is not disclosed"),
    "huge-iat": (
        lambda sealer: _b64({"alg": "EdDSA"}) + "." + _b64({"iat": 10**20}) + ".c2ln~",
        "credential 0: cannot be checked",
    ),
}


@pytest.mark.parametrize("forgery", list(FORGERIES))
def test_a_forged_or_tampered_credential_rejects_the_evidence(hub, sealer, make_client, forgery):
    make, detail = FORGERIES[forgery]
    hub.credentials = [make(sealer)]
    rejected = _rejected("credentials", lambda: _search(hub, make_client))
    assert rejected.detail.startswith(detail), rejected.detail
    assert _status_gets(hub) == []


def test_the_second_credential_is_named_when_it_fails(hub, sealer, make_client):
    hub.credentials = [sealer(), _changed_payload(sealer(index=1))]
    assert _rejected("credentials", lambda: _search(hub, make_client)).detail.startswith("credential 1:")


def test_a_credential_of_another_type_is_rejected(ed25519_consumer, initialised, sealer, make_client):
    # The tax department signs the answer and its own (genuine) tax receipt: not the type asked for.
    hub = FakeHub(ed25519_consumer, department_signer(initialised, "tax"))
    hub.credentials = [sealer("tax_payment_certificate")]
    assert "is not the household_register asked for" in (
        _rejected("credentials", lambda: _search(hub, make_client)).detail
    )


def test_a_credential_of_another_holder_is_rejected(hub, sealer, make_client):
    hub.credentials = [sealer(index=0), sealer(index=1, holder_code=OTHER_HOLDER)]
    rejected = _rejected("credentials", lambda: _search(hub, make_client))
    assert rejected.detail == "credential 1: its holder is not the subject asked about"


def test_a_holder_code_of_another_kind_is_rejected(hub, sealer, make_client):
    hub.credentials = [sealer(holder_code_type="001")]  # SUBJECT's value, but as a USCC
    assert "its holder is not" in _rejected("credentials", lambda: _search(hub, make_client)).detail


def test_a_credential_of_another_department_is_rejected(ed25519_consumer, initialised, sealer, make_client):
    # A genuine household register, in an answer signed by the tax department.
    hub = FakeHub(ed25519_consumer, department_signer(initialised, "tax"))
    hub.credentials = [sealer()]
    rejected = _rejected("credentials", lambda: _search(hub, make_client))
    assert "issued by 'urn:dxh:department:household', not by tax" in rejected.detail


@pytest.mark.parametrize("credentials", ["a-credential", {"0": "x"}, [1], [None], None])
def test_credentials_must_be_a_list_of_strings(hub, make_client, credentials):
    hub.tamper = lambda evidence: evidence | {"credentials": credentials}
    rejected = _rejected("credentials", lambda: _search(hub, make_client))
    assert rejected.detail == "credentials must be a list of SD-JWT VC compact strings"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda e: {k: v for k, v in e.items() if k != "credentials"} | {"data": {"name": "王芳"}},
        lambda e: {k: v for k, v in e.items() if k != "credentials"} | {"results": {"name": "match"}},
        lambda e: e | {"data": {"name": "王芳"}},
        lambda e: {k: v for k, v in e.items() if k != "credentials"},
    ],
    ids=["data", "results", "data-and-credentials", "nothing"],
)
def test_a_search_answered_with_anything_but_credentials_is_rejected(hub, make_client, tamper):
    hub.tamper = tamper
    _rejected("answer", lambda: _search(hub, make_client))


def test_a_query_or_verify_answered_with_credentials_is_rejected(hub, sealer, make_client):
    credentials = [sealer()]
    hub.tamper = lambda e: (
        {k: v for k, v in e.items() if k not in ("data", "results")} | {"credentials": credentials}
    )
    with make_client(hub, hub.consumer_key) as client:
        rejected = _rejected(
            "answer", lambda: client.query(RESOURCE, "id_card", SUBJECT, ["name"], **QUERY_CONTEXT)
        )
        assert rejected.detail == "a query request was answered with credentials"
        _rejected(
            "answer", lambda: client.verify(RESOURCE, "id_card", SUBJECT, {"name": "x"}, **QUERY_CONTEXT)
        )


# --- arguments ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("license_type", "subject_type", "subject", "context", "message"),
    [
        ("passport", "id_card", SUBJECT, {}, "license_type must be one of household_register, "),
        ("", "id_card", SUBJECT, {}, "license_type must be one of"),
        (LICENSE_TYPE, "passport", SUBJECT, {}, "subject_type must be one of"),
        (LICENSE_TYPE, "id_card", " ", {}, "subject_value must be a non-empty string"),
        (LICENSE_TYPE, "id_card", SUBJECT, {"matter_code": ""}, "matter_code must be"),
        (LICENSE_TYPE, "id_card", SUBJECT, {"legal_basis": 3}, "legal_basis must be a string"),
    ],
)
def test_malformed_arguments_are_refused_before_anything_is_sent(
    hub, make_client, license_type, subject_type, subject, context, message
):
    with make_client(hub, hub.consumer_key) as client, pytest.raises(ValueError, match=message) as caught:
        client.search_licenses(license_type, subject_type, subject, **(QUERY_CONTEXT | context))
    assert hub.requests == []
    if license_type == "passport":
        assert all(name in str(caught.value) for name in LICENSE_TYPES)


# --- stored evidence, offline ---------------------------------------------------------------------


def test_stored_search_evidence_verifies_offline_with_its_request(hub, initialised, make_client):
    evidence = _search(hub, make_client).evidence
    assert evidence.request_body is not None
    sent = SentRequest.from_body(evidence.request_body)
    assert sent.kind == "license" and sent.license_type == LICENSE_TYPE and sent.resource is None

    later = NOW + timedelta(days=5 * 365)  # the department certificate has long expired
    again = verify_evidence(
        evidence.token,
        ca_certificate=initialised.ca_cert,
        client_id=CLIENT_ID,
        request_body=evidence.request_body,
        now=later,
    )
    assert again.payload == evidence.payload and again.credentials == hub.credentials
    alone = verify_evidence(
        evidence.token, ca_certificate=initialised.ca_cert, client_id=CLIENT_ID, now=later
    )
    assert alone.credentials == hub.credentials and alone.request_body is None


def test_offline_verification_checks_the_credentials_against_the_request(
    ed25519_consumer, initialised, sealer, make_client
):
    """A household-register search answered with a tax receipt: rejected now, and offline later."""
    hub = FakeHub(ed25519_consumer, department_signer(initialised, "tax"))
    hub.credentials = [sealer("tax_payment_certificate")]
    _rejected("credentials", lambda: _search(hub, make_client))
    (token,), (request,) = hub.answers, hub.requests
    arguments = {"ca_certificate": initialised.ca_cert, "client_id": CLIENT_ID, "now": NOW}
    with pytest.raises(EvidenceRejected) as caught:
        verify_evidence(token, request_body=request.content, **arguments)
    assert (
        caught.value.check == "credentials" and "not the household_register asked for" in caught.value.detail
    )
    # Without the request only the form is known: a genuine tax receipt of the subject, signed by tax.
    assert verify_evidence(token, **arguments).credentials == hub.credentials


def test_a_query_request_does_not_fit_license_evidence(hub, initialised, make_client):
    evidence = _search(hub, make_client).evidence
    with make_client(hub, hub.consumer_key) as client:
        query = client.query(LICENSE_RESOURCE, "id_card", SUBJECT, ["name"], **QUERY_CONTEXT)
    assert query.request_body is not None
    with pytest.raises(EvidenceRejected) as caught:
        verify_evidence(
            evidence.token,
            ca_certificate=initialised.ca_cert,
            client_id=CLIENT_ID,
            request_body=query.request_body,
            now=NOW,
        )
    assert caught.value.check == "req"


# --- end to end, against the real hub ------------------------------------------------------------


def test_search_licenses_against_the_real_hub(licensed_hub):  # noqa: F811
    """The hub app with synced real-estate titles, the SDK over its ASGI transport, statuses included."""
    settings = licensed_hub.settings
    with session_factory(licensed_hub.engine)() as session:
        row = session.scalars(select(License).order_by(License.id)).first()
    assert row is not None
    client = ExchangeClient(
        DEMO_CLIENT_ID,
        load_private_key(settings.demo_dir / "consumer.key"),
        "http://testserver",  # not the hub's public URL: status lists are fetched here all the same
        settings.ca_cert_path,
        transport=licensed_hub._transport,
    )
    with client:
        search = client.search_licenses(
            "real_estate_title",
            "id_card",
            row.holder_code,
            matter_code=DEMO_MATTER,
            purpose="购房资格审核",
            operator_id="c1",
            operator_name="窗口",
        )
    assert search.evidence.department_id == "real_estate"
    assert row.identifier in [found.identifier for found in search.licenses]
    for found in search.licenses:
        assert found.claims["holder_code"] == row.holder_code
        assert found.report.check("status").ok and found.status == "valid", found.report.check("status")
    again = verify_evidence(
        search.evidence.token,
        ca_certificate=read_certificate(settings.ca_cert_path),
        client_id=DEMO_CLIENT_ID,
        request_body=search.evidence.request_body,
    )
    assert again.credentials == search.evidence.credentials
