"""The hub ↔ department gateway wire contract (docs/gateways.md).

Every call is ``POST`` with ``Content-Type: application/jwt`` and a body that is a JWS (RFC 7515,
compact) signed by the hub's key, ``x5c`` = [hub certificate, hub CA]: ``typ``
``exchange-gateway-request+jwt``; claims ``iss`` (hub id), ``aud`` (department id), ``iat``,
``exp`` (at most :data:`REQUEST_LIFETIME` s after ``iat``), ``jti`` (never reused) and ``htu``, the
path it is meant for, so a token for one endpoint cannot be replayed at another (as in RFC 9449).

The gateway answers with JWSs signed by the department's key (``x5c`` = [department certificate,
hub CA]): a *draft* (``exchange-gateway-draft+jwt``) for the legacy answer, then the evidence of
DESIGN.md for a draft it signed itself. Failures are RFC 9457 problem documents whose
``adapter_error`` member names the adapter error (:mod:`adapters.errors`) the hub raises in turn.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from adapters import errors as adapter_errors
from adapters.base import CertificateRecord, Subject
from certs import jose
from certs.keys import PrivateKey
from certs.revocation import RevocationChecker, RevocationUnavailable
from certs.verification import CertificateRejected, ensure_valid
from exchange.queries.providers import Question

REQUEST_TYP = "exchange-gateway-request+jwt"
DRAFT_TYP = "exchange-gateway-draft+jwt"
REQUEST_LIFETIME = 60  # seconds a hub request may live
DRAFT_LIFETIME = 120  # seconds between the legacy answer and its evidence
CLOCK_SKEW = 30  # seconds of tolerance between the hub's and a gateway's clocks

ANSWERS_PATH = "/gateway/v1/answers"
EVIDENCE_PATH = "/gateway/v1/evidence"
STATUS_LIST_PATH = "/gateway/v1/status-lists"
MEDIA_TYPE = "application/jwt"
PROBLEM_MEDIA_TYPE = "application/problem+json"
MAX_BODY_BYTES = 32 * 1024 * 1024  # a seal request carries a page of up to MAX_CHANGES records

# The adapter errors a gateway may report, by the name it puts in ``adapter_error``.
ADAPTER_ERRORS: dict[str, type[adapter_errors.AdapterError]] = {
    kind.__name__: kind
    for kind in (
        adapter_errors.LegacyUnavailable,
        adapter_errors.LegacyTimeout,
        adapter_errors.BadLegacyData,
        adapter_errors.UnknownDataset,
        adapter_errors.UnknownItem,
        adapter_errors.UnsupportedSubject,
        adapter_errors.SubjectNotFound,
    )
}


class GatewayAuthError(Exception):
    """A token failed authentication; the message says which check (for the log, not the peer)."""


def sign_request(
    claims: Mapping[str, Any],
    *,
    key: PrivateKey,
    chain: Sequence[x509.Certificate],
    hub_id: str,
    department_id: str,
    path: str,
    now: datetime,
) -> tuple[str, str]:
    """A hub request token for ``path`` and its ``jti``."""
    jti = uuid.uuid4().hex
    iat = int(now.timestamp())
    envelope = {
        **claims,
        "iss": hub_id,
        "aud": department_id,
        "iat": iat,
        "exp": iat + REQUEST_LIFETIME,
        "jti": jti,
        "htu": path,
    }
    return jose.sign(envelope, key, typ=REQUEST_TYP, x5c=chain), jti


def signer_certificate(
    token: str,
    *,
    ca_certificate: x509.Certificate,
    revocation: RevocationChecker,
    common_name: str,
    now: datetime,
) -> x509.Certificate:
    """The ``x5c`` leaf of ``token``, checked: issued by our CA, valid now, not revoked, an end
    entity, and named ``common_name`` (the hub id, or a department id)."""
    try:
        leaf = jose.certificates_from_x5c(jose.header(token).get("x5c"))[0]
    except jose.JoseError as exc:
        raise GatewayAuthError(str(exc)) from None
    try:
        state = revocation.state()
    except RevocationUnavailable:
        state = None  # verify_certificate then fails its revocation check: closed
    try:
        ensure_valid(leaf, ca_certificate=ca_certificate, revocation=state, now=now)
    except CertificateRejected as exc:
        raise GatewayAuthError(f"the signer's certificate is not accepted: {exc.reason}") from None
    names = [str(a.value) for a in leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    if names != [common_name]:
        raise GatewayAuthError(f"the certificate names {names}, not {common_name!r}")
    return leaf


def verify_request(
    token: str,
    *,
    ca_certificate: x509.Certificate,
    revocation: RevocationChecker,
    hub_id: str,
    department_id: str,
    path: str,
    replays: ReplayCache,
    now: datetime,
) -> dict[str, Any]:
    """The claims of a hub request for ``path``, or :class:`GatewayAuthError`."""
    leaf = signer_certificate(
        token, ca_certificate=ca_certificate, revocation=revocation, common_name=hub_id, now=now
    )
    try:
        claims = jose.verify(
            token,
            leaf.public_key(),  # type: ignore[arg-type]
            typ=REQUEST_TYP,
            audience=department_id,
            require=("iss", "aud", "iat", "exp", "jti", "htu"),
            leeway=CLOCK_SKEW,
            now=now,
        )
    except jose.JoseError as exc:
        raise GatewayAuthError(f"the request token does not verify: {exc}") from None
    if claims["iss"] != hub_id:
        raise GatewayAuthError(f"iss {claims['iss']!r} is not the hub {hub_id!r}")
    if claims["htu"] != path:
        raise GatewayAuthError(f"the token is for {claims['htu']!r}, not {path}")
    if not isinstance(claims["exp"], int) or claims["exp"] - claims["iat"] > REQUEST_LIFETIME:
        raise GatewayAuthError(f"the token lives longer than {REQUEST_LIFETIME} s")
    if not isinstance(claims["jti"], str) or not replays.first_use(claims["jti"], claims["exp"] + CLOCK_SKEW):
        raise GatewayAuthError("the token was already used (replay)")
    return claims


class ReplayCache:
    """The ``jti`` values seen and not yet expired (one gateway process: kept in memory)."""

    def __init__(self, limit: int = 1_000_000) -> None:
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()
        self._limit = limit

    def first_use(self, jti: str, expires_at: float) -> bool:
        now = time.time()
        with self._lock:
            if len(self._seen) >= self._limit or len(self._seen) % 1024 == 0:
                self._seen = {k: v for k, v in self._seen.items() if v >= now}
            if len(self._seen) >= self._limit:
                return False  # full of live tokens: refuse rather than forget one
            if jti in self._seen:
                return False
            self._seen[jti] = expires_at
            return True


def adapter_error_name(exc: adapter_errors.AdapterError) -> str | None:
    """The name a gateway's problem document gives ``exc``: its most specific class in
    :data:`ADAPTER_ERRORS` (an open circuit is a private subclass of ``LegacyUnavailable``)."""
    return next((kind.__name__ for kind in type(exc).__mro__ if kind.__name__ in ADAPTER_ERRORS), None)


def adapter_error(name: Any, detail: str) -> adapter_errors.AdapterError:
    """The adapter error a gateway's problem document names (a generic legacy failure otherwise)."""
    kind = ADAPTER_ERRORS.get(name) if isinstance(name, str) else None
    if kind is None:
        return adapter_errors.BadLegacyData(f"the gateway failed: {detail}")
    return kind(detail)


def question_claims(question: Question) -> dict[str, Any]:
    """The question as JSON claims (hub request and draft)."""
    return {
        "operation": question.operation,
        "resource": question.resource_code,
        "subject": {"type": question.subject.type.value, "value": question.subject.value},
        "client_id": question.client_id,
        "req": question.request_jti,
        "req_hash": question.request_hash,
        "items": list(question.items),
        "asked": question.asked,
        "credentials": list(question.credentials),
    }


def question_from_claims(claims: Mapping[str, Any]) -> Question:
    """The question a hub request or a draft carries; ``ValueError`` names what is malformed."""

    def text(name: str, value: Any) -> str:
        if not isinstance(value, str) or not value or len(value) > 500:
            raise ValueError(f"{name} must be a non-empty text")
        return value

    def texts(name: str, value: Any) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ValueError(f"{name} must be a list of texts")
        return tuple(value)

    operation = claims.get("operation")
    if operation not in ("query", "verify", "license"):
        raise ValueError("operation must be query, verify or license")
    subject = claims.get("subject")
    if not isinstance(subject, dict):
        raise ValueError('subject must be {"type": ..., "value": ...}')
    asked = claims.get("asked")
    if operation == "verify" and (not isinstance(asked, dict) or not asked):
        raise ValueError("a verify question needs asked: {item: value}")
    items = texts("items", claims.get("items", []))
    if operation != "license" and not items:
        raise ValueError("a query or verify question names its items")
    return Question(
        operation=operation,
        resource_code=text("resource", claims.get("resource")),
        subject=Subject.parse(
            text("subject.type", subject.get("type")), text("subject.value", subject.get("value"))
        ),
        client_id=text("client_id", claims.get("client_id")),
        request_jti=text("req", claims.get("req")),
        request_hash=text("req_hash", claims.get("req_hash")),
        items=items,
        asked=asked if operation == "verify" else None,
        credentials=texts("credentials", claims.get("credentials", [])),
    )


# --- license sync: the department's change feed and its seal --------------------------------------

CHANGES_PATH = "/gateway/v1/licenses/changes"
SEAL_PATH = "/gateway/v1/licenses/seal"
CHANGES_TYP = "exchange-gateway-changes+jwt"
CHANGES_LIFETIME = 3600  # seconds between reading a batch and sealing it (the quality gate runs between)
MAX_CHANGES = 10_000  # records per page


def certificate_to_json(record: CertificateRecord) -> dict[str, Any]:
    """A certificate record as JSON; dates and decimals in ``fields`` are tagged to come back typed."""
    return {
        "license_type": record.license_type,
        "source_id": record.source_id,
        "source_version": record.source_version,
        "holder": {"type": record.holder.type.value, "value": record.holder.value},
        "holder_name": record.holder_name,
        "issued_on": record.issued_on.isoformat(),
        "valid_from": record.valid_from.isoformat(),
        "valid_to": record.valid_to.isoformat() if record.valid_to else None,
        "fields": {name: _tagged(value) for name, value in record.fields.items()},
        "cancelled": record.cancelled,
    }


def certificate_from_json(value: Mapping[str, Any]) -> CertificateRecord:
    """The record :func:`certificate_to_json` wrote; ``ValueError`` (or ``KeyError``) when malformed."""
    holder = value["holder"]
    return CertificateRecord(
        license_type=str(value["license_type"]),
        source_id=str(value["source_id"]),
        source_version=str(value["source_version"]),
        holder=Subject.parse(holder["type"], holder["value"]),
        holder_name=str(value["holder_name"]),
        issued_on=date.fromisoformat(value["issued_on"]),
        valid_from=date.fromisoformat(value["valid_from"]),
        valid_to=date.fromisoformat(value["valid_to"]) if value["valid_to"] else None,
        fields={name: _untagged(item) for name, item in dict(value["fields"]).items()},
        cancelled=bool(value["cancelled"]),
    )


def _tagged(value: Any) -> Any:
    if isinstance(value, datetime):
        raise ValueError("certificate fields hold dates, not datetimes")
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, list | tuple):
        return [_tagged(item) for item in value]
    if isinstance(value, Mapping):
        return {str(name): _tagged(item) for name, item in value.items()}
    return value


def _untagged(value: Any) -> Any:
    if isinstance(value, dict):
        if value.keys() == {"$date"}:
            return date.fromisoformat(value["$date"])
        if value.keys() == {"$decimal"}:
            return Decimal(value["$decimal"])
        return {name: _untagged(item) for name, item in value.items()}
    if isinstance(value, list):
        return [_untagged(item) for item in value]
    return value
