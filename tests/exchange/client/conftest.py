"""A fake hub behind ``httpx.MockTransport``, written against DESIGN.md only.

It checks each request with a second JOSE library (joserfc), so a pass proves our requests are
standard JWTs any hub could verify, and answers evidence signed by a department key of the
``initialised`` PKI (x5c = [department certificate, CA]).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from cryptography import x509
from joserfc import jwt as rfc_jwt
from joserfc.jwk import ECKey, OKPKey
from joserfc.jwt import JWTClaimsRegistry

from certs import jose
from certs.jwk import jwk_thumbprint, public_jwk
from certs.keys import KeyAlgorithm, PrivateKey, generate_private_key, load_private_key
from certs.store import PkiPaths, read_certificate
from exchange.client import EVIDENCE_TYP, ExchangeClient, request_hash
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
    requests: list[httpx.Request] = field(default_factory=list)
    claims: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, Any]] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.respond is not None:
            return self.respond(request)
        assert request.method == "POST"
        assert request.headers["content-type"] == "application/jwt"
        _, version, kind, code = request.url.path.split("/")
        assert (version, kind) in {("v1", "query"), ("v1", "verify")}
        header, claims = self.verify_request(request.content)
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
        if kind == "query":
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
        assert ("fields" in claims) != ("claims" in claims)
        assert set(claims["operator"]) == {"id", "name"}
        assert claims["matter_code"] and claims["purpose"]
        self.headers.append(header)
        self.claims.append(claims)
        return header, claims


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
