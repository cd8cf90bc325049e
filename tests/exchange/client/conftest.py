"""A fake hub behind ``httpx.MockTransport``, written against DESIGN.md only.

It checks each request with a second JOSE library (joserfc), so a pass proves our requests are
standard JWTs any hub could verify, and answers evidence signed by a department key of the
``initialised`` PKI (x5c = [department certificate, CA]). License searches are answered with real
credentials (SD-JWT VCs sealed by ``exchange.licenses.sealing.seal``) and its status lists are real
Token Status List tokens.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

import httpx
import pytest
from cryptography import x509
from joserfc import jwt as rfc_jwt
from joserfc.jwk import ECKey, OKPKey
from joserfc.jwt import JWTClaimsRegistry

from adapters.registry import DEPARTMENTS
from certs import jose
from certs.jwk import jwk_thumbprint, public_jwk
from certs.keys import KeyAlgorithm, PrivateKey, generate_private_key, load_private_key
from certs.store import PkiPaths, read_certificate
from exchange.client import EVIDENCE_TYP, ExchangeClient, request_hash
from exchange.identifiers import make_license_id
from exchange.licenses.sealing import seal
from exchange.licenses.status_list import StatusList, status_list_token
from exchange.licenses.types import HOLDER_CODE_TYPES, LICENSE_TYPES, LicenseRecord
from exchange.queries.evidence import DepartmentSigner
from tests.conftest import NOW

CLIENT_ID = "approval-one"
HUB_ID = "exchange-hub"
HUB_URL = "https://hub.example.gov.cn"
RESOURCE = "301001001-000001"
SUBJECT = "11010519491231002X"
RECORD = {"name": "王芳", "sex": "2", "birth_date": "1949-12-31", "status": "active"}
QUERY_CONTEXT: dict[str, Any] = {
    "matter_code": "330100-XK-0001",
    "purpose": "义务教育入学资格审核",
    "operator_id": "clerk-007",
    "operator_name": "李明",
}
LICENSE_TYPE = "household_register"
LICENSE_RESOURCE = "301001002-000001"  # the resource that issues household registers, as the hub picks it
STATUS_LIST_ID = "household-1"
STATUS_URI = f"{HUB_URL}/v1/status-lists/{STATUS_LIST_ID}"


@dataclass(frozen=True)
class Signer:
    """A department's key and the x5c chain it sends."""

    department_id: str
    key: PrivateKey
    chain: list[x509.Certificate]

    def sign(self, claims: dict[str, Any], *, typ: str = EVIDENCE_TYP) -> str:
        return jose.sign(claims, self.key, typ=typ, kid=jwk_thumbprint(self.key.public_key()), x5c=self.chain)


def department_signer(paths: PkiPaths, department_id: str = "household") -> Signer:
    key = load_private_key(paths.department_key(department_id))
    chain = [read_certificate(paths.department_cert(department_id)), read_certificate(paths.ca_cert)]
    return Signer(department_id, key, chain)


def license_record(
    license_type: str = LICENSE_TYPE, *, serial: str = "H7Q2K9", **changes: Any
) -> LicenseRecord:
    """A valid license of ``SUBJECT`` as the store seals it (GB/T 36901 metadata, GB/T 36904 identifier)."""
    kind = LICENSE_TYPES[license_type]
    department = DEPARTMENTS[kind.department_id]
    record = LicenseRecord(
        license_type=kind.key,
        type_code=kind.type_code,
        license_name=kind.name,
        number=f"NO-{kind.type_code}-{serial}",
        identifier=make_license_id(kind.type_code, department.uscc, serial, 1),
        version=1,
        issuer_name=department.name,
        issuer_code=department.uscc,
        issue_date=date(2019, 5, 6),
        holder_name=RECORD["name"],
        holder_code=SUBJECT,
        holder_code_type=HOLDER_CODE_TYPES["id_card"],
        valid_from=date(2019, 5, 6),
        valid_to=None,
        fields={"household_no": "330106004417", "address": "浙江省杭州市西湖区文三路478号"},
    )
    return replace(record, **changes)


@dataclass(frozen=True)
class Sealer:
    """Seals licenses with the departments' real keys: ``sealer(index=3, valid_to=...)``."""

    paths: PkiPaths

    def signer(self, department_id: str) -> DepartmentSigner:
        return DepartmentSigner.load(self.paths, department_id)

    def __call__(
        self,
        license_type: str = LICENSE_TYPE,
        *,
        index: int = 0,
        status_uri: str = STATUS_URI,
        signer: DepartmentSigner | None = None,
        **changes: Any,
    ) -> str:
        record = license_record(license_type, **changes)
        signer = signer or self.signer(LICENSE_TYPES[license_type].department_id)
        return seal(record, signer=signer, status_uri=status_uri, status_index=index, now=NOW).compact


def joserfc_key(key: PrivateKey) -> OKPKey | ECKey:
    jwk = public_jwk(key.public_key())
    return OKPKey.import_key(jwk) if jwk["kty"] == "OKP" else ECKey.import_key(jwk)


@dataclass
class FakeHub:
    """The hub's query/verify endpoints as DESIGN.md describes them, and nothing else."""

    consumer_key: PrivateKey
    signer: Signer
    client_id: str = CLIENT_ID
    now: int = int(NOW.timestamp())
    # Hooks a test sets to misbehave: change the evidence claims, sign differently, or answer anything.
    tamper: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    sign: Callable[[dict[str, Any]], str] | None = None
    respond: Callable[[httpx.Request], httpx.Response] | None = None
    rate_limited: int = 0  # answer this many (verified) requests with 429 first
    retry_after: str = "3"
    # License searches: the credentials answered, and the status lists served (list id -> list).
    credentials: list[str] = field(default_factory=list)
    status_lists: dict[str, StatusList] = field(
        default_factory=lambda: {STATUS_LIST_ID: StatusList(64, bits=2)}
    )
    # Serve a status list differently: sign another token ((list id, list) -> token), or answer anything.
    status_token: Callable[[str, StatusList], str] | None = None
    serve_status: Callable[[httpx.Request], httpx.Response] | None = None
    requests: list[httpx.Request] = field(default_factory=list)
    claims: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, Any]] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.respond is not None:
            return self.respond(request)
        if request.method == "GET":
            return self.status_list(request)
        assert request.method == "POST"
        assert request.headers["content-type"] == "application/jwt"
        if request.url.path == "/v1/licenses/search":
            kind = "license"
        else:
            _, version, kind, code = request.url.path.split("/")
            assert (version, kind) in {("v1", "query"), ("v1", "verify")}
        header, claims = self.verify_request(request.content)
        if kind == "license":  # DESIGN.md "E-licenses": no resource claim, the hub picks it by type
            assert "resource" not in claims and claims["license_type"] in LICENSE_TYPES
            code = LICENSE_RESOURCE
        else:
            assert claims["resource"] == code
        if self.rate_limited:
            self.rate_limited -= 1
            return problem(429, "rate-limited", "slow down", {"Retry-After": self.retry_after})
        evidence = {
            "iss": self.signer.department_id,
            "aud": claims["iss"],
            "iat": self.now + 1,
            "jti": f"ev-{len(self.answers)}",
            "req": claims["jti"],
            "req_hash": request_hash(request.content),
            "resource": code,
            "subject": claims["subject"],
            "log": {"index": 41 + len(self.answers)},
        }
        if kind == "license":
            evidence["credentials"] = list(self.credentials)
        elif kind == "query":
            evidence["data"] = {item: RECORD[item] for item in claims["fields"] if item in RECORD}
        else:
            evidence["results"] = {
                item: ("unknown" if item not in RECORD else "match" if RECORD[item] == value else "mismatch")
                for item, value in claims["claims"].items()
            }
        if self.tamper is not None:
            evidence = self.tamper(evidence)
        token = self.sign(evidence) if self.sign is not None else self.signer.sign(evidence)
        self.answers.append(token)
        return httpx.Response(200, content=token.encode("ascii"), headers={"Content-Type": "application/jwt"})

    def verify_request(self, body: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
        """Verify with joserfc, not with our own JOSE code, and check every claim DESIGN.md fixes."""
        key = joserfc_key(self.consumer_key)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # joserfc prefers RFC 9864's "Ed25519" to "EdDSA"
            token = rfc_jwt.decode(body, key, algorithms=["EdDSA", "Ed25519", "ES256"])
        header, claims = dict(token.header), dict(token.claims)
        assert header["typ"] == "exchange-request+jwt"
        assert header["alg"] == ("EdDSA" if isinstance(key, OKPKey) else "ES256")
        assert header["kid"] == key.thumbprint()  # RFC 7638 computed by the other library
        JWTClaimsRegistry(
            now=self.now,
            iss={"essential": True, "value": self.client_id},
            aud={"essential": True, "value": HUB_ID},
            iat={"essential": True},
            exp={"essential": True},
            jti={"essential": True},
        ).validate(claims)
        assert 0 < claims["exp"] - claims["iat"] <= 300
        assert claims["subject"]["type"] in {"id_card", "uscc", "property_unit"}
        assert sum(name in claims for name in ("fields", "claims", "license_type")) == 1
        assert set(claims["operator"]) == {"id", "name"}
        assert claims["matter_code"] and claims["purpose"]
        self.headers.append(header)
        self.claims.append(claims)
        return header, claims

    def status_list(self, request: httpx.Request) -> httpx.Response:
        """``GET /v1/status-lists/{id}``: a status list token signed by the department, sub = its URI."""
        if self.serve_status is not None:
            return self.serve_status(request)
        prefix = "/v1/status-lists/"
        list_id = request.url.path.removeprefix(prefix)
        if not request.url.path.startswith(prefix) or list_id not in self.status_lists:
            return problem(404, "not-found", f"no status list at {request.url.path}")
        statuses = self.status_lists[list_id]
        if self.status_token is not None:
            token = self.status_token(list_id, statuses)
        else:
            token = status_list_token(
                statuses, uri=HUB_URL + request.url.path, signer=self.signer, now=NOW, ttl=300
            )
        return httpx.Response(
            200, content=token.encode(), headers={"Content-Type": "application/statuslist+jwt"}
        )


def problem(
    status: int, slug: str, detail: str = "", headers: dict[str, str] | None = None
) -> httpx.Response:
    body = {
        "type": f"/problems/{slug}",
        "title": slug.replace("-", " ").capitalize(),
        "status": status,
        "detail": detail or slug,
        "request_id": "req-123",
    }
    return httpx.Response(
        status,
        content=json.dumps(body).encode(),
        headers={"Content-Type": "application/problem+json", **(headers or {})},
    )


@pytest.fixture(params=list(KeyAlgorithm), ids=lambda a: a.value)
def consumer_key(request: pytest.FixtureRequest) -> PrivateKey:
    return generate_private_key(request.param)


@pytest.fixture
def ed25519_consumer() -> PrivateKey:
    return generate_private_key(KeyAlgorithm.ED25519)


@pytest.fixture
def signer(initialised: PkiPaths) -> Signer:
    return department_signer(initialised)


@pytest.fixture
def sealer(initialised: PkiPaths) -> Sealer:
    return Sealer(initialised)


@pytest.fixture
def ca(initialised: PkiPaths) -> x509.Certificate:
    return read_certificate(initialised.ca_cert)


@pytest.fixture
def make_client(ca: x509.Certificate) -> Callable[..., ExchangeClient]:
    """``make_client(hub, **options)``: a client whose network is the fake hub, its clock at NOW."""

    def make(
        hub: Callable[[httpx.Request], httpx.Response], key: PrivateKey, **options: Any
    ) -> ExchangeClient:
        options.setdefault("clock", lambda: NOW)
        trusted = options.pop("ca_certificate", ca)
        return ExchangeClient(
            CLIENT_ID, key, HUB_URL, trusted, hub_id=HUB_ID, transport=httpx.MockTransport(hub), **options
        )

    return make
