"""A corpus of bad input for the hub's HTTP edge (issue 10): one table, each case with its status.

Every case is a request the hub must refuse with the exact status of DESIGN.md "Errors", or where the
design is silent what a careful API answers (400 malformed, 401 authentication, 413 too large, 415
media type, 422 invalid identifier, 404 unknown): never a 5xx, always an RFC 9457 problem document
with ``type``, ``status`` and ``request_id``. A refusal writes nothing but its audit entry: a signed
endpoint leaves exactly one new entry, decision ``deny`` with the status the consumer saw, and the
spent ``jti`` where the design spends it (once the request has verified: docs/architecture.md "The
query path"); every other table keeps its row count (the checkpoint timer may sign a checkpoint
meanwhile). The public GETs and the unsigned JSON endpoints write nothing at all.

The tokens are built by hand, byte by byte, so that they can be wrong in every way RFC 7515 and
RFC 7519 allow: ``alg`` none and HMAC keyed with the consumer's public key (RFC 8725 section 2.1
and 3.1), JSON nested thousands deep or not JSON at all under a good signature, lone surrogates
escaped in JSON. One hub serves the module (building one takes a second; the cases change nothing
another case reads), with a rate limit no case reaches.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import quote

import pytest
from cryptography.hazmat.primitives import serialization
from fastapi.testclient import TestClient
from sqlalchemy import func, inspect, select, table

from adapters.population import Population
from certs import service as pki
from certs.jwk import jwk_thumbprint
from certs.keys import generate_private_key, load_private_key
from certs.store import PkiPaths, read_certificate
from directory import service as directory
from directory.calendar import WorkCalendar
from directory.schemas import ApplicationCreate, ApplicationDecision
from exchange.access.service import issue_token
from exchange.api.app import create_app
from exchange.audit.models import AuditEntry
from exchange.consumers import service as consumers
from exchange.consumers.schemas import ConsumerCreate
from exchange.db.engine import engine_for, session_factory, session_scope
from exchange.demo import DEMO_CLIENT_ID
from exchange.identifiers import citizen_id_check_char
from tests.exchange.security.hub import bootstrapped_hub

PERSON = "301001001-000001"  # household, conditional: query + verify; the grant below covers it
PHOTO = "301003001-000001"  # household, 人口照片信息: sharing type none (不予共享)
UNKNOWN = "309999999-000001"  # a well-formed resource code no department declares
MATTER = "330100-SCHOOL-01"
REQUEST_TYP = "exchange-request+jwt"
JWT = "application/jwt"
JSON = "application/json"

SQLI = "x' OR '1'='1'; DROP TABLE audit_entries; --"
TRAVERSAL = "../../../../etc/passwd"
RTL_OVERRIDE = "\u202eGNP.exe"  # U+202E RIGHT-TO-LEFT OVERRIDE: shows as "exe.PNG"
EMOJI = "入学资格审核 🏫👧"
DEEP = "[" * 5000 + "]" * 5000  # far beyond any JSON parser's recursion limit
# Tables a refusal may grow besides the entry and the jti: the checkpoint timer signs on its own.
CHECKPOINT_TABLES = frozenset({"audit_checkpoints", "audit_subtrees"})


# --- the hub -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def citizen() -> str:
    for household in Population(60).households():
        for person in household.members:
            if person.alive:
                return person.citizen_id
    raise AssertionError("no living person in the demo population")


@pytest.fixture(scope="module")
def hub(
    tmp_path_factory: pytest.TempPathFactory, module_database_env: dict[str, str], citizen: str
) -> Iterator[TestClient]:
    """The embedded hub with its simulated departments, the demo consumer and one approved grant:
    ``name``, ``birth_date``, ``sex`` of PERSON for MATTER."""
    settings = bootstrapped_hub(
        tmp_path_factory.mktemp("security-hub"), module_database_env, demo_grants=False
    )
    engine = engine_for(settings)
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
                items=["name", "birth_date", "sex"],
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
    try:
        with TestClient(create_app(settings), raise_server_exceptions=False) as client:
            client.key = load_private_key(settings.demo_dir / "consumer.key")  # type: ignore[attr-defined]
            client.hub_key = load_private_key(PkiPaths(settings.pki_dir).hub_key)  # type: ignore[attr-defined]
            client.engine = engine  # type: ignore[attr-defined]
            client.settings = settings  # type: ignore[attr-defined]
            client.citizen = citizen  # type: ignore[attr-defined]
            yield client
    finally:
        engine.dispose()


# --- building requests ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    body: bytes | list[bytes] | None = None  # a list: sent chunked, without a Content-Length
    headers: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, Any] | None = None
    signed: bool = False  # one of the signed, audited endpoints: query, verify, license search


@dataclass(frozen=True)
class Case:
    id: str
    build: Callable[[Any], Call]
    status: int
    slug: str
    spends_jti: bool = False  # the request verified, so its jti is spent whatever comes next
    entry: Callable[[AuditEntry], bool] | None = None  # what the audit entry must also show


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _json(value: Any) -> bytes:
    # ensure_ascii: non-ASCII text travels as \\u escapes, lone surrogates too ("\\ud800").
    return value if isinstance(value, bytes) else json.dumps(value, separators=(",", ":")).encode()


def _compact(header: Any, payload: Any, sign: Callable[[bytes], bytes] | None) -> bytes:
    """A compact JWS (RFC 7515 section 7.1) over exactly these bytes; ``sign=None``: no signature."""
    signing_input = f"{_b64(_json(header))}.{_b64(_json(payload))}".encode()
    return signing_input + b"." + (_b64(sign(signing_input)).encode() if sign else b"")


def _without_ellipsis(values: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in values.items() if value is not ...}


def _claims(hub, kind: str = "query", **changes: Any) -> dict[str, Any]:
    """Good claims for ``kind`` (query, verify, license); a change to ``...`` removes the claim."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": DEMO_CLIENT_ID,
        "aud": "exchange-hub",
        "iat": now,
        "exp": now + 60,
        "jti": uuid.uuid4().hex,
        "resource": PERSON,
        "subject": {"type": "id_card", "value": hub.citizen},
        "matter_code": MATTER,
        "purpose": "小学入学资格审核",
        "operator": {"id": "clerk-007", "name": "李窗口"},
    }
    if kind == "query":
        claims["fields"] = ["name"]
    elif kind == "verify":
        claims["claims"] = {"name": "王芳"}
    else:
        del claims["resource"]
        claims["license_type"] = "household_register"
    return _without_ellipsis(claims | changes)


def _token(hub, claims: Any = None, *, key=None, sign=None, **header: Any) -> bytes:
    """A request signed with ``key`` (the demo consumer's), ``kid`` its thumbprint (RFC 7638)."""
    key = key or hub.key
    protected = {"alg": "EdDSA", "kid": jwk_thumbprint(key.public_key()), "typ": REQUEST_TYP} | header
    return _compact(
        _without_ellipsis(protected), _claims(hub) if claims is None else claims, sign or key.sign
    )


def _hmac(secret: bytes) -> Callable[[bytes], bytes]:
    return lambda signing_input: hmac.new(secret, signing_input, hashlib.sha256).digest()


def _public_pem(key) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _public_raw(key) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _query(body: bytes, resource: str = PERSON, content_type: str = JWT) -> Call:
    path = f"/v1/query/{quote(resource, safe='')}"
    return Call("POST", path, body, {"Content-Type": content_type}, signed=True)


def _verify(body: bytes) -> Call:
    return Call("POST", f"/v1/verify/{PERSON}", body, {"Content-Type": JWT}, signed=True)


def _search(body: bytes) -> Call:
    return Call("POST", "/v1/licenses/search", body, {"Content-Type": JWT}, signed=True)


def _signed_query(hub, **changes: Any) -> Call:
    return _query(_token(hub, _claims(hub, **changes)))


def _on_path(resource: str, path: str | None = None) -> Callable[[Any], Call]:
    """A good request for ``resource`` on that path (``path``: as sent, percent-encoded): only the
    resource code is wrong."""

    def build(hub) -> Call:
        call = _query(_token(hub, _claims(hub, resource=resource)), resource)
        return call if path is None else Call("POST", path, call.body, call.headers, signed=True)

    return build


def _subject(value: str, kind: str = "id_card") -> Callable[[Any], Call]:
    return lambda hub: _signed_query(hub, subject={"type": kind, "value": value})


def _id(first17: str) -> str:
    """A citizen ID with the right check character, whatever else is wrong (GB 11643 MOD 11-2)."""
    return first17 + citizen_id_check_char(first17)


def _wrong_check_digit(hub) -> Call:
    right = hub.citizen[17]
    wrong = next(c for c in "0123456789X" if c != right)
    return _signed_query(hub, subject={"type": "id_card", "value": hub.citizen[:17] + wrong})


def _payload_signed(payload: bytes, call: Callable[[bytes], Call] = _query) -> Callable[[Any], Call]:
    """Bytes that are no claims set, under the demo consumer's good signature."""
    return lambda hub: call(_token(hub, payload))


def _nested_claims(hub) -> Call:
    """Good claims plus one member nested 5000 deep, validly signed."""
    good = _json(_claims(hub))
    return _query(_token(hub, good[:-1] + b',"x":' + DEEP.encode() + b"}"))


def _replayed(hub) -> Call:
    body = _token(hub)
    first = _send(hub, _query(body))
    assert first.status_code == 200, first.text
    return _query(body)


def _revoked(hub) -> Call:
    """A consumer registered like any other, whose certificate is then revoked (key compromise)."""
    key = generate_private_key()
    client_id = f"revoked-{uuid.uuid4().hex[:8]}"
    paths = PkiPaths(hub.settings.pki_dir)
    now = datetime.now(UTC)
    sessions = session_factory(hub.engine)
    with session_scope(sessions) as session:
        registered = consumers.register(
            session,
            paths=paths,
            data=ConsumerCreate(client_id=client_id, name="吊销证书的受理系统"),
            public_key=key.public_key(),
            passphrase=None,
            now=now,
        )
    with session_scope(sessions) as session:
        authority = pki.load_authority(paths, None)
        pki.revoke(
            session, authority, paths, serial=registered.certificate_serial, reason="key_compromise", now=now
        )
    return _query(_token(hub, _claims(hub, iss=client_id), key=key))


def _stranger_under_our_kid(hub) -> Call:
    """A stranger's signature under the demo consumer's kid: the kid picks the key, the key refuses."""
    return _query(_token(hub, sign=generate_private_key().sign, kid=jwk_thumbprint(hub.key.public_key())))


def _swapped_payload(hub) -> Call:
    head, _, signature = _token(hub).decode().split(".")
    other = _token(hub, _claims(hub, fields=["name", "birth_date"])).decode().split(".")[1]
    return _query(f"{head}.{other}.{signature}".encode())


def _forged(hub) -> Call:
    head, payload, signature = _token(hub).decode().split(".")
    return _query(f"{head}.{payload}.{signature[:-6]}AAAAAA".encode())


def _forged_search(hub) -> Call:
    head, payload, _ = _token(hub, _claims(hub, "license")).decode().split(".")
    return _search(f"{head}.{payload}.{_b64(bytes(range(64)))}".encode())  # well-formed, wrong


def _get(path: str, params: Mapping[str, Any] | None = None, **headers: str) -> Callable[[Any], Call]:
    return lambda hub: Call("GET", path, params=params, headers=headers)


def _post_json(path: str, body: bytes) -> Callable[[Any], Call]:
    return lambda hub: Call("POST", path, body, {"Content-Type": "application/json"})


def _as_admin(method: str, path: str, params: Mapping[str, Any] | None = None, body: bytes | None = None):
    """A management call with a fresh administrator token (issued before the rows are counted)."""

    def build(hub) -> Call:
        with session_scope(session_factory(hub.engine)) as session:
            _, secret = issue_token(session, name="corpus admin", role="admin", now=datetime.now(UTC))
        headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
        return Call(method, path, body, headers, params)

    return build


# The citizen's ID token (DemoIdentityProvider: the hub's key, typ JWT, aud the hub id).


def _id_token(hub, *, key=None, sign=None, header: Mapping[str, Any] | None = None, **changes: Any) -> bytes:
    now = int(time.time())
    claims = {
        "iss": f"{hub.settings.base_url}/demo-idp",
        "aud": hub.settings.hub_id,
        "sub": hub.citizen,
        "iat": now,
        "exp": now + 600,
    } | changes
    key = key or hub.hub_key
    protected = {"alg": "EdDSA", "typ": "JWT"} | dict(header or {})
    return _compact(protected, _without_ellipsis(claims), key.sign if sign is None else sign)


def _access_log(token: Callable[[Any], bytes | str], params: Mapping[str, Any] | None = None):
    def build(hub) -> Call:
        value = token(hub)
        value = value.decode() if isinstance(value, bytes) else value
        return Call("GET", "/v1/me/access-log", params=params, headers={"Authorization": f"Bearer {value}"})

    return build


def _hub_public_pem(hub) -> bytes:
    certificate = read_certificate(PkiPaths(hub.settings.pki_dir).hub_cert)
    return certificate.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _unsigned_id_token(hub) -> bytes:
    return _id_token(hub, sign=lambda _: b"", header={"alg": "none"})


# --- the corpus ----------------------------------------------------------------------------------

CASES: list[Case] = [
    # Signatures (RFC 7515 section 5.2; RFC 8725 section 3.1: the key decides the algorithm).
    Case("forged-signature", _forged, 401, "unauthenticated"),
    Case(
        "empty-signature", lambda hub: _query(_token(hub).rsplit(b".", 1)[0] + b"."), 401, "unauthenticated"
    ),
    Case("stranger-key-under-our-kid", _stranger_under_our_kid, 401, "unauthenticated"),
    Case("payload-swapped-after-signing", _swapped_payload, 401, "unauthenticated"),
    Case(
        "alg-none-unsigned",
        lambda hub: _query(_token(hub, sign=lambda _: b"", alg="none")),
        401,
        "unauthenticated",
    ),
    Case("alg-NONE-with-signature", lambda hub: _query(_token(hub, alg="NONE")), 401, "unauthenticated"),
    Case(
        "hs256-keyed-with-public-key-pem",
        lambda hub: _query(_token(hub, sign=_hmac(_public_pem(hub.key)), alg="HS256")),
        401,
        "unauthenticated",
    ),
    Case(
        "hs256-keyed-with-raw-public-key",
        lambda hub: _query(_token(hub, sign=_hmac(_public_raw(hub.key)), alg="HS256")),
        401,
        "unauthenticated",
    ),
    Case(
        "hs256-keyed-with-the-kid",
        lambda hub: _query(
            _token(hub, sign=_hmac(jwk_thumbprint(hub.key.public_key()).encode()), alg="HS256")
        ),
        401,
        "unauthenticated",
    ),
    Case(
        "es256-header-on-an-ed25519-key", lambda hub: _query(_token(hub, alg="ES256")), 401, "unauthenticated"
    ),
    Case("rs256-header", lambda hub: _query(_token(hub, alg="RS256")), 401, "unauthenticated"),
    Case("alg-missing", lambda hub: _query(_token(hub, alg=...)), 400, "malformed-request"),
    Case(
        "unknown-kid",
        lambda hub: _query(_token(hub, key=generate_private_key())),
        401,
        "unauthenticated",
    ),
    Case("kid-sql-injection", lambda hub: _query(_token(hub, kid=SQLI)), 401, "unauthenticated"),
    Case("kid-missing", lambda hub: _query(_token(hub, kid=...)), 400, "malformed-request"),
    Case("typ-not-a-request", lambda hub: _query(_token(hub, typ="JWT")), 400, "malformed-request"),
    # Claims about trust (RFC 7519 section 4.1; DESIGN.md: exp at most 300 s after iat).
    Case("wrong-aud", lambda hub: _signed_query(hub, aud="another-hub"), 401, "unauthenticated"),
    Case("aud-list-without-the-hub", lambda hub: _signed_query(hub, aud=["a", "b"]), 401, "unauthenticated"),
    Case(
        "iss-not-the-keys-owner", lambda hub: _signed_query(hub, iss="someone-else"), 401, "unauthenticated"
    ),
    Case(
        "expired",
        lambda hub: _signed_query(hub, iat=int(time.time()) - 3660, exp=int(time.time()) - 3600),
        401,
        "unauthenticated",
    ),
    Case(
        "iat-in-the-future",
        lambda hub: _signed_query(hub, iat=int(time.time()) + 3600, exp=int(time.time()) + 3660),
        401,
        "unauthenticated",
    ),
    Case(
        "nbf-in-the-future",
        lambda hub: _signed_query(hub, nbf=int(time.time()) + 3600),
        401,
        "unauthenticated",
    ),
    Case(
        "lifetime-301-seconds",
        lambda hub: _signed_query(hub, exp=int(time.time()) + 301),
        401,
        "unauthenticated",
    ),
    Case(
        "lifetime-a-year",
        lambda hub: _signed_query(hub, exp=int(time.time()) + 365 * 86400),
        401,
        "unauthenticated",
    ),
    Case("revoked-certificate", _revoked, 401, "unauthenticated", entry=lambda e: "revocation" in e.reason),
    Case("replayed-jti", _replayed, 409, "replay"),
    # Claims missing or of the wrong type (docs/protocol.md section 6: 400).
    Case("iat-missing", lambda hub: _signed_query(hub, iat=...), 400, "malformed-request"),
    Case("jti-missing", lambda hub: _signed_query(hub, jti=...), 400, "malformed-request"),
    Case("exp-not-a-number", lambda hub: _signed_query(hub, exp="tomorrow"), 400, "malformed-request"),
    Case("jti-too-short", lambda hub: _signed_query(hub, jti="abc"), 400, "malformed-request"),
    Case("jti-sql-injection", lambda hub: _signed_query(hub, jti=SQLI), 400, "malformed-request"),
    # Malformed JWT (RFC 7515 section 7.1) and malformed JSON under a good signature.
    Case("not-a-jwt", lambda hub: _query(b"not a token"), 400, "malformed-request"),
    Case("empty-body", lambda hub: _query(b""), 400, "malformed-request"),
    Case(
        "two-segments",
        lambda hub: _query(_token(hub).rsplit(b".", 1)[0]),
        400,
        "malformed-request",
    ),
    Case("four-segments", lambda hub: _query(_token(hub) + b".AAAA"), 400, "malformed-request"),
    Case("bad-base64", lambda hub: _query(b"eyJhbGciOi!!.e30.AAAA"), 400, "malformed-request"),
    Case("non-ascii-body", lambda hub: _query("令牌.令牌.令牌".encode()), 400, "malformed-request"),
    Case(
        "header-not-json",
        lambda hub: _query(_compact(b"{alg: EdDSA", _claims(hub), hub.key.sign)),
        400,
        "malformed-request",
    ),
    Case(
        "header-not-an-object",
        lambda hub: _query(_compact(["EdDSA"], _claims(hub), hub.key.sign)),
        400,
        "malformed-request",
    ),
    Case(
        "header-nested-5000-deep",
        lambda hub: _query(
            _compact(('{"alg":"EdDSA","x":' + DEEP + "}").encode(), _claims(hub), hub.key.sign)
        ),
        400,
        "malformed-request",
    ),
    Case("signed-payload-not-json", _payload_signed(b'{"iss": "demo-approval", '), 400, "malformed-request"),
    Case("signed-payload-an-array", _payload_signed(b'["iss", "aud"]'), 400, "malformed-request"),
    Case("signed-payload-a-string", _payload_signed(b'"claims"'), 400, "malformed-request"),
    Case("signed-claims-nested-5000-deep", _nested_claims, 400, "malformed-request"),
    # Size and media type.
    Case("body-over-the-limit", lambda hub: _query(b"x" * 70_000), 413, "body-too-large"),
    Case(
        "signed-body-over-the-limit",
        lambda hub: _signed_query(hub, purpose="长" * 20_000),
        413,
        "body-too-large",
    ),
    Case(
        "content-type-json",
        lambda hub: _query(_token(hub), content_type="application/json"),
        415,
        "unsupported-media-type",
    ),
    Case(
        "content-type-text",
        lambda hub: _query(_token(hub), content_type="text/plain"),
        415,
        "unsupported-media-type",
    ),
    # The resource code in the path (docs/directory.md): invalid is 422, never a lookup.
    Case("resource-path-sql-injection", _on_path(PERSON + SQLI), 422, "invalid-identifier", spends_jti=True),
    Case(
        "resource-path-traversal-backslash",
        _on_path("..\\..\\etc\\passwd"),
        422,
        "invalid-identifier",
        spends_jti=True,
    ),
    Case(
        "resource-path-dot-dot",
        _on_path("..", "/v1/query/%2E%2E"),
        422,
        "invalid-identifier",
        spends_jti=True,
    ),
    Case(
        "resource-path-fullwidth-digits",
        _on_path("３０１００１００１-０００００１"),
        422,
        "invalid-identifier",
        spends_jti=True,
    ),
    Case(
        "resource-path-traversal-slashes",  # decoded into more path segments: no route, nothing audited
        lambda hub: Call("POST", "/v1/query/..%2F..%2Fetc%2Fpasswd", _token(hub), {"Content-Type": JWT}),
        404,
        "not-found",
    ),
    Case(
        "resource-claim-not-the-paths",
        lambda hub: _signed_query(hub, resource=UNKNOWN),
        400,
        "malformed-request",
        spends_jti=True,
    ),
    Case("resource-unknown", _on_path(UNKNOWN), 404, "unknown-resource", spends_jti=True),
    Case(
        "resource-shared-none",  # 不予共享
        lambda hub: _query(_token(hub, _claims(hub, resource=PHOTO, fields=["photo"])), PHOTO),
        403,
        "refused",
        spends_jti=True,
    ),
    # Subjects (GB 11643, GB 32100, GB/T 37346): invalid is 422, never a lookup.
    Case("id-wrong-check-digit", _wrong_check_digit, 422, "invalid-identifier", spends_jti=True),
    Case("id-february-30", _subject(_id("11010519900230123")), 422, "invalid-identifier", spends_jti=True),
    Case("id-month-13", _subject(_id("11010519901301123")), 422, "invalid-identifier", spends_jti=True),
    Case("id-17-characters", _subject("11010519491231002"), 422, "invalid-identifier", spends_jti=True),
    Case(
        "id-fullwidth-digits",
        _subject("１１０１０５１９４９１２３１００２Ｘ"),
        422,
        "invalid-identifier",
        spends_jti=True,
    ),
    Case("id-sql-injection", _subject(SQLI), 422, "invalid-identifier", spends_jti=True),
    Case("id-path-traversal", _subject(TRAVERSAL), 422, "invalid-identifier", spends_jti=True),
    Case("id-nul", _subject("11010519491231\x0002X"), 422, "invalid-identifier", spends_jti=True),
    Case(
        "id-lone-surrogate", _subject("1101051949123\ud800002X"), 422, "invalid-identifier", spends_jti=True
    ),
    Case("id-emoji", _subject("11010519491231002😀"), 422, "invalid-identifier", spends_jti=True),
    Case("uscc-sql-injection", _subject(SQLI, "uscc"), 422, "invalid-identifier", spends_jti=True),
    Case(
        "uscc-wrong-check", _subject("91110000100000000A", "uscc"), 422, "invalid-identifier", spends_jti=True
    ),
    Case(
        "property-unit-traversal",
        _subject(TRAVERSAL, "property_unit"),
        422,
        "invalid-identifier",
        spends_jti=True,
    ),
    Case(
        "subject-type-unknown", _subject("E12345678", "passport"), 400, "malformed-request", spends_jti=True
    ),
    Case(
        "subject-missing",
        lambda hub: _signed_query(hub, subject=...),
        400,
        "malformed-request",
        spends_jti=True,
    ),
    Case("subject-value-a-number", _subject(110105194912310020), 400, "malformed-request", spends_jti=True),
    # Items, matter, purpose, operator: outside the grant is 403; unusable text is 400.
    Case(
        "items-outside-the-grant",
        lambda hub: _signed_query(hub, fields=["name", "address"]),
        403,
        "no-grant",
        spends_jti=True,
    ),
    Case(
        "fields-sql-injection",
        lambda hub: _signed_query(hub, fields=[SQLI]),
        403,
        "no-grant",
        spends_jti=True,
    ),
    Case(
        "fields-path-traversal",
        lambda hub: _signed_query(hub, fields=[TRAVERSAL]),
        403,
        "no-grant",
        spends_jti=True,
    ),
    Case("fields-emoji", lambda hub: _signed_query(hub, fields=["name😀"]), 403, "no-grant", spends_jti=True),
    Case(
        "fields-not-a-list",
        lambda hub: _signed_query(hub, fields="name"),
        400,
        "malformed-request",
        spends_jti=True,
    ),
    Case(
        "fields-huge-array",
        lambda hub: _signed_query(hub, fields=[f"i{n}" for n in range(5000)]),
        400,
        "malformed-request",
        spends_jti=True,
    ),
    Case(
        "fields-array-of-numbers",
        lambda hub: _signed_query(hub, fields=list(range(3000))),
        400,
        "malformed-request",
        spends_jti=True,
    ),
    Case(
        "wrong-matter-code",
        lambda hub: _signed_query(hub, matter_code="330100-OTHER-01"),
        403,
        "no-grant",
        spends_jti=True,
    ),
    Case(
        "matter-sql-injection",
        lambda hub: _signed_query(hub, matter_code=SQLI),
        403,
        "no-grant",
        spends_jti=True,
    ),
    Case(
        "matter-path-traversal",
        lambda hub: _signed_query(hub, matter_code=TRAVERSAL),
        403,
        "no-grant",
        spends_jti=True,
    ),
    Case(
        "matter-a-number",
        lambda hub: _signed_query(hub, matter_code=330100),
        400,
        "malformed-request",
        spends_jti=True,
    ),
    Case(
        "matter-longer-than-its-column",
        lambda hub: _signed_query(hub, matter_code="M" * 129),
        400,
        "malformed-request",
        spends_jti=True,
    ),
    Case(
        "purpose-sql-injection-kept-verbatim",
        lambda hub: _signed_query(hub, purpose=SQLI, matter_code="330100-OTHER-01"),
        403,
        "no-grant",
        spends_jti=True,
        entry=lambda e: e.purpose == SQLI,
    ),
    Case(
        "purpose-path-traversal-kept-verbatim",
        lambda hub: _signed_query(hub, purpose=TRAVERSAL, matter_code="330100-OTHER-01"),
        403,
        "no-grant",
        spends_jti=True,
        entry=lambda e: e.purpose == TRAVERSAL,
    ),
    Case(
        "purpose-emoji-kept-verbatim",
        lambda hub: _signed_query(hub, purpose=EMOJI, matter_code="330100-OTHER-01"),
        403,
        "no-grant",
        spends_jti=True,
        entry=lambda e: e.purpose == EMOJI,
    ),
    Case(
        "purpose-nul",
        lambda hub: _signed_query(hub, purpose="入学\x00审核"),
        400,
        "malformed-request",
        spends_jti=True,
    ),
    Case(
        "purpose-lone-surrogate-escaped",
        lambda hub: _signed_query(hub, purpose="入学\ud800审核"),
        400,
        "malformed-request",
        spends_jti=True,
    ),
    Case(
        "purpose-very-long",
        lambda hub: _signed_query(hub, purpose="审" * 5000),
        400,
        "malformed-request",
        spends_jti=True,
    ),
    Case(
        "purpose-missing",
        lambda hub: _signed_query(hub, purpose=...),
        400,
        "malformed-request",
        spends_jti=True,
    ),
    Case(
        "operator-sql-injection-kept-verbatim",
        lambda hub: _signed_query(
            hub, operator={"id": SQLI[:60], "name": SQLI}, matter_code="330100-OTHER-01"
        ),
        403,
        "no-grant",
        spends_jti=True,
        entry=lambda e: e.operator_name == SQLI and e.operator_id == SQLI[:60],
    ),
    Case(
        "operator-id-path-traversal-kept-verbatim",
        lambda hub: _signed_query(
            hub, operator={"id": TRAVERSAL, "name": "李窗口"}, matter_code="330100-OTHER-01"
        ),
        403,
        "no-grant",
        spends_jti=True,
        entry=lambda e: e.operator_id == TRAVERSAL,
    ),
    Case(
        "operator-name-rtl-override",
        lambda hub: _signed_query(hub, operator={"id": "clerk-007", "name": RTL_OVERRIDE}),
        400,
        "malformed-request",
        spends_jti=True,
    ),
    Case(
        "operator-name-very-long",
        lambda hub: _signed_query(hub, operator={"id": "clerk-007", "name": "L" * 10_000}),
        400,
        "malformed-request",
        spends_jti=True,
    ),
    Case(
        "operator-missing",
        lambda hub: _signed_query(hub, operator=...),
        400,
        "malformed-request",
        spends_jti=True,
    ),
    Case(
        "legal-basis-nul",
        lambda hub: _signed_query(hub, legal_basis="《义务教育法》\x00"),
        400,
        "malformed-request",
        spends_jti=True,
    ),
    # /v1/verify.
    Case(
        "verify-alg-none",
        lambda hub: _verify(_token(hub, _claims(hub, "verify"), sign=lambda _: b"", alg="none")),
        401,
        "unauthenticated",
    ),
    Case(
        "verify-claims-a-list",
        lambda hub: _verify(_token(hub, _claims(hub, "verify", claims=["name"]))),
        400,
        "malformed-request",
        spends_jti=True,
    ),
    Case(
        "verify-claims-empty",
        lambda hub: _verify(_token(hub, _claims(hub, "verify", claims={}))),
        400,
        "malformed-request",
        spends_jti=True,
    ),
    Case(
        "verify-fields-not-claims",
        lambda hub: _verify(_token(hub, _claims(hub, "query"))),
        400,
        "malformed-request",
        spends_jti=True,
    ),
    Case(
        "verify-claim-value-nested-300-deep",
        lambda hub: _verify(
            _token(hub, _claims(hub, "verify", claims={"name": json.loads("[" * 300 + "]" * 300)}))
        ),
        400,
        "malformed-request",
        spends_jti=True,
    ),
    Case(
        "verify-items-outside-the-grant",
        lambda hub: _verify(_token(hub, _claims(hub, "verify", claims={"address": "北京市"}))),
        403,
        "no-grant",
        spends_jti=True,
    ),
    Case(
        "verify-claims-nested-5000-deep",
        lambda hub: _verify(
            _token(hub, _json(_claims(hub, "verify", claims=...))[:-1] + b',"claims":' + DEEP.encode() + b"}")
        ),
        400,
        "malformed-request",
    ),
    # /v1/licenses/search.
    Case("license-forged-signature", _forged_search, 401, "unauthenticated"),
    Case(
        "license-alg-none",
        lambda hub: _search(_token(hub, _claims(hub, "license"), sign=lambda _: b"", alg="none")),
        401,
        "unauthenticated",
    ),
    Case(
        "license-hs256-public-key",
        lambda hub: _search(
            _token(hub, _claims(hub, "license"), sign=_hmac(_public_pem(hub.key)), alg="HS256")
        ),
        401,
        "unauthenticated",
    ),
    Case(
        "license-type-missing",
        lambda hub: _search(_token(hub, _claims(hub, "license", license_type=...))),
        400,
        "malformed-request",
        spends_jti=True,
    ),
    Case(
        "license-type-unknown",
        lambda hub: _search(_token(hub, _claims(hub, "license", license_type="passport"))),
        404,
        "unknown-resource",
        spends_jti=True,
    ),
    Case(
        "license-type-sql-injection",
        lambda hub: _search(_token(hub, _claims(hub, "license", license_type=SQLI))),
        404,
        "unknown-resource",
        spends_jti=True,
    ),
    Case(
        "license-no-grant",
        lambda hub: _search(_token(hub, _claims(hub, "license", license_type="tax_payment_certificate"))),
        403,
        "no-grant",
        spends_jti=True,
    ),
    Case(
        "license-subject-feb-30",
        lambda hub: _search(
            _token(
                hub, _claims(hub, "license", subject={"type": "id_card", "value": _id("11010519900230123")})
            )
        ),
        422,
        "invalid-identifier",
        spends_jti=True,
    ),
    Case("license-over-the-limit", lambda hub: _search(b"x" * 70_000), 413, "body-too-large"),
    Case("license-payload-not-json", _payload_signed(b"{]", _search), 400, "malformed-request"),
    # The citizen's access record: a bad ID token is 401, whatever is wrong with it.
    Case("access-log-no-token", _get("/v1/me/access-log"), 401, "unauthenticated"),
    Case(
        "access-log-basic-scheme",
        _get("/v1/me/access-log", Authorization="Basic YTpi"),
        401,
        "unauthenticated",
    ),
    Case("access-log-garbage-token", _access_log(lambda hub: "garbage"), 401, "unauthenticated"),
    Case(
        "access-log-forged-signature",
        _access_log(lambda hub: _id_token(hub).rsplit(b".", 1)[0] + b".AAAA"),
        401,
        "unauthenticated",
    ),
    Case("access-log-alg-none", _access_log(_unsigned_id_token), 401, "unauthenticated"),
    Case(
        "access-log-hs256-hub-public-key",
        _access_log(lambda hub: _id_token(hub, sign=_hmac(_hub_public_pem(hub)), header={"alg": "HS256"})),
        401,
        "unauthenticated",
    ),
    Case(
        "access-log-signed-by-a-stranger",
        _access_log(lambda hub: _id_token(hub, key=generate_private_key())),
        401,
        "unauthenticated",
    ),
    Case(
        "access-log-expired",
        _access_log(lambda hub: _id_token(hub, iat=int(time.time()) - 7200, exp=int(time.time()) - 3600)),
        401,
        "unauthenticated",
    ),
    Case(
        "access-log-wrong-aud",
        _access_log(lambda hub: _id_token(hub, aud="another-hub")),
        401,
        "unauthenticated",
    ),
    Case(
        "access-log-wrong-iss",
        _access_log(lambda hub: _id_token(hub, iss="https://idp.example")),
        401,
        "unauthenticated",
    ),
    Case(
        "access-log-sub-february-30",
        _access_log(lambda hub: _id_token(hub, sub=_id("11010519900230123"))),
        401,
        "unauthenticated",
    ),
    Case(
        "access-log-sub-a-number", _access_log(lambda hub: _id_token(hub, sub=110105)), 401, "unauthenticated"
    ),
    Case(
        "access-log-a-consumer-request-token",
        _access_log(lambda hub: _token(hub)),
        401,
        "unauthenticated",
    ),
    Case("access-log-limit-0", _access_log(_id_token, {"limit": 0}), 400, "malformed-request"),
    Case("access-log-offset-huge", _access_log(_id_token, {"offset": 10**20}), 400, "malformed-request"),
    # Audit proofs (RFC 9162 section 2.1): indexes are 0 <= n < 2**31.
    Case(
        "inclusion-negative-index",
        _get("/v1/audit/proof/inclusion", {"index": -1, "tree_size": 1}),
        400,
        "malformed-request",
    ),
    Case(
        "inclusion-huge-index",
        _get("/v1/audit/proof/inclusion", {"index": 2**63, "tree_size": 1}),
        400,
        "malformed-request",
    ),
    Case(
        "inclusion-index-not-integer",
        _get("/v1/audit/proof/inclusion", {"index": "abc", "tree_size": 1}),
        400,
        "malformed-request",
    ),
    Case(
        "inclusion-index-a-float",
        _get("/v1/audit/proof/inclusion", {"index": 1.5, "tree_size": 2}),
        400,
        "malformed-request",
    ),
    Case(
        "inclusion-index-missing",
        _get("/v1/audit/proof/inclusion", {"tree_size": 1}),
        400,
        "malformed-request",
    ),
    Case(
        "inclusion-beyond-the-log",
        _get("/v1/audit/proof/inclusion", {"index": 0, "tree_size": 2**31 - 1}),
        400,
        "out-of-range",
    ),
    Case(
        "inclusion-index-not-in-tree",
        _get("/v1/audit/proof/inclusion", {"index": 5, "tree_size": 5}),
        400,
        "out-of-range",
    ),
    Case(
        "consistency-first-after-second",
        _get("/v1/audit/proof/consistency", {"first": 5, "second": 2}),
        400,
        "out-of-range",
    ),
    Case(
        "consistency-negative",
        _get("/v1/audit/proof/consistency", {"first": -5, "second": 2}),
        400,
        "malformed-request",
    ),
    Case(
        "consistency-infinite",
        _get("/v1/audit/proof/consistency", {"first": 1, "second": "1e309"}),
        400,
        "malformed-request",
    ),
    # The directory.
    Case("directory-limit-0", _get("/v1/directory/resources", {"limit": 0}), 400, "malformed-request"),
    Case("directory-limit-201", _get("/v1/directory/resources", {"limit": 201}), 400, "malformed-request"),
    Case(
        "directory-limit-negative", _get("/v1/directory/resources", {"limit": -1}), 400, "malformed-request"
    ),
    Case(
        "directory-limit-not-integer",
        _get("/v1/directory/resources", {"limit": "ten"}),
        400,
        "malformed-request",
    ),
    Case(
        "directory-offset-negative", _get("/v1/directory/resources", {"offset": -1}), 400, "malformed-request"
    ),
    Case(
        "directory-offset-huge", _get("/v1/directory/resources", {"offset": 10**20}), 400, "malformed-request"
    ),
    Case(
        "directory-sharing-type-unknown",
        _get("/v1/directory/resources", {"sharing_type": "sometimes"}),
        400,
        "malformed-request",
    ),
    Case("directory-q-too-long", _get("/v1/directory/resources", {"q": "q" * 101}), 400, "malformed-request"),
    Case(
        "directory-code-sql-injection",
        _get(f"/v1/directory/resources/{quote(PERSON + SQLI, safe='')}"),
        422,
        "invalid-identifier",
    ),
    Case("directory-code-unknown", _get(f"/v1/directory/resources/{UNKNOWN}"), 404, "not-found"),
    # Management ids and offsets beyond the tables' integers (the OpenAPI fuzzing found them: 500 before).
    Case("application-id-huge", _as_admin("GET", f"/v1/applications/{10**30}"), 400, "malformed-request"),
    Case(
        "grant-id-huge",
        _as_admin("POST", f"/v1/grants/{10**30}/revoke", body=b'{"reason": "x"}'),
        400,
        "malformed-request",
    ),
    Case(
        "quarantine-run-id-huge",
        _as_admin("GET", "/v1/quality/quarantine", {"run_id": 10**30}),
        400,
        "malformed-request",
    ),
    Case(
        "quarantine-offset-huge",
        _as_admin("GET", "/v1/quality/quarantine", {"offset": 10**30}),
        400,
        "malformed-request",
    ),
    # Unsigned JSON endpoints (a ceiling of 4 x max_body_bytes: exchange/api/limits.py).
    Case(
        "license-verify-over-the-limit",
        _post_json("/v1/licenses/verify", b'{"credential": "' + b"a" * 300_000 + b'"}'),
        413,
        "body-too-large",
    ),
    Case(
        "license-verify-chunked-over-the-limit",
        lambda hub: Call(
            "POST",
            "/v1/licenses/verify",
            [b'{"credential": "', b"a" * 300_000, b'"}'],
            {"Content-Type": JSON},
        ),
        413,
        "body-too-large",
    ),
    Case(
        "demo-sign-in-over-the-limit",
        _post_json("/v1/demo-idp/token", b'{"citizen_id": "' + b"1" * 300_000 + b'"}'),
        413,
        "body-too-large",
    ),
    Case(
        "query-one-chunk-over-every-limit",  # audited all the same
        lambda hub: Call("POST", f"/v1/query/{PERSON}", [b"x" * 300_000], {"Content-Type": JWT}, signed=True),
        413,
        "body-too-large",
    ),
    Case(
        "license-verify-nested-5000-deep",
        _post_json("/v1/licenses/verify", b'{"credential":' + DEEP.encode() + b"}"),
        400,
        "malformed-request",
    ),
    Case(
        "license-verify-not-json",
        _post_json("/v1/licenses/verify", b'{"credential": '),
        400,
        "malformed-request",
    ),
    Case(
        "license-verify-both",
        _post_json("/v1/licenses/verify", b'{"credential": "a~", "identifier": "b"}'),
        400,
        "malformed-request",
    ),
    Case(
        "license-identifier-bad-check-character",
        _get("/v1/licenses/1.2.156.3005.2.1.X.1.001.0"),
        422,
        "invalid-identifier",
    ),
    Case(
        "license-identifier-path-traversal",
        _get("/v1/licenses/..%5C..%5Cetc%5Cpasswd"),
        422,
        "invalid-identifier",
    ),
    Case(
        "license-verify-identifier-sql-injection",
        _post_json("/v1/licenses/verify", b"{\"identifier\": \"1' OR '1'='1\"}"),
        422,
        "invalid-identifier",
    ),
    Case(
        "demo-sign-in-nested-5000-deep",
        _post_json("/v1/demo-idp/token", b'{"citizen_id":' + DEEP.encode() + b"}"),
        400,
        "malformed-request",
    ),
    Case(
        "demo-sign-in-month-13",
        lambda hub: Call(
            "POST",
            "/v1/demo-idp/token",
            _json({"citizen_id": _id("11010519901301123")}),
            {"Content-Type": "application/json"},
        ),
        422,
        "invalid-identifier",
    ),
]


def test_the_corpus_is_large_and_every_case_is_named_once():
    assert len(CASES) >= 60
    assert len({case.id for case in CASES}) == len(CASES)


# --- the check ----------------------------------------------------------------------------------


def _send(hub, call: Call):
    return hub.request(
        call.method, call.path, content=call.body, headers=dict(call.headers), params=call.params
    )


def _row_counts(engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {
            name: connection.scalar(select(func.count()).select_from(table(name)))
            for name in inspect(engine).get_table_names()
        }


def _entries_from(engine, index: int) -> list[AuditEntry]:
    with session_factory(engine)() as session:
        return list(
            session.scalars(select(AuditEntry).where(AuditEntry.index >= index).order_by(AuditEntry.index))
        )


@pytest.mark.parametrize("case", [pytest.param(case, id=case.id) for case in CASES])
def test_bad_input_is_refused_with_its_status_and_leaves_only_its_audit_entry(hub, case: Case):
    call = case.build(hub)  # any setup (a first request, a revoked consumer) happens here, before counting
    before = _row_counts(hub.engine)
    response = _send(hub, call)

    assert response.status_code < 500, response.text
    assert response.status_code == case.status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"] == f"/problems/{case.slug}", problem
    assert problem["status"] == case.status and problem["request_id"] == response.headers["x-request-id"]

    after = _row_counts(hub.engine)
    grown = {name: after[name] - before[name] for name in after if after[name] != before[name]}
    expected = {"audit_entries": 1} if call.signed else {}
    if case.spends_jti:
        assert call.signed
        expected["seen_requests"] = 1
    assert {name: n for name, n in grown.items() if name not in CHECKPOINT_TABLES} == expected
    assert all(grown.get(name, 0) >= 0 for name in CHECKPOINT_TABLES)
    if call.signed:
        (entry,) = _entries_from(hub.engine, before["audit_entries"])
        assert entry.decision == "deny" and entry.http_status == case.status and entry.reason
        assert entry.request_id == problem["request_id"] and entry.items_returned == []
        assert case.entry is None or case.entry(entry), entry.__dict__
    else:
        assert case.entry is None
