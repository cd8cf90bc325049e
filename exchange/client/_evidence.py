"""Evidence: the department-signed answer a consumer keeps as proof, and every check it must pass.

The format is fixed by DESIGN.md ("Signed response"): a compact JWS (RFC 7515) with ``typ``
``exchange-evidence+jwt`` and ``x5c`` = [department certificate, hub CA], whose claims bind the
answer to the exact request bytes (``req``, ``req_hash``). Verification needs nothing but the hub
CA certificate, so a stored token can be checked offline years later:

- the department certificate is checked *at the evidence's ``iat``* (chain to the given CA,
  validity, end-entity signing profile, accepted key; revocation only when a CRL is supplied,
  and then a listed serial rejects the evidence whatever the dates, since revocation usually
  means a compromised key);
- ``iat`` must not lie in the verifier's future (beyond the clock skew), nor before the request;
- the answer is exactly one of ``data`` (query), ``results`` (verify) and ``credentials`` (license
  search), the one the request asked for. Each credential is an SD-JWT VC (RFC 9901) that must pass,
  offline, its signature, chain, issuer and disclosure checks, be of the license type asked, be
  issued by the department that signed the evidence and name the subject as its holder. Whether a
  license is still within its validity period or revoked is a fact about the license, reported per
  license by :meth:`ExchangeClient.search_licenses`, never a reason to reject the evidence.

Time is checked here against the caller's clock, never the wall clock, so tests and
"as of" verifications fix ``now`` (cryptography's ``*_at_time`` habit).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from certs import jose
from certs.authority import uscc_of
from certs.revocation import RevocationState, crl_state
from certs.store import load_certificate
from certs.verification import verify_certificate
from exchange.client._errors import EvidenceRejected
from exchange.licenses.sealing import issuer_of, verify_credential
from exchange.licenses.types import HOLDER_CODE_TYPES, LICENSE_TYPES

REQUEST_TYP = "exchange-request+jwt"
EVIDENCE_TYP = "exchange-evidence+jwt"
RESULT_VALUES = frozenset({"match", "mismatch", "unknown"})
# What each kind of request is answered with (DESIGN.md "Signed response", "E-licenses").
ANSWERS = {"query": "data", "verify": "results", "license": "credentials"}
# The checks of a credential that make it evidence; validity_period and status describe the license.
CREDENTIAL_EVIDENCE_CHECKS = ("signature", "chain", "issuer", "disclosures")
DEFAULT_CLOCK_SKEW = 60  # seconds of disagreement tolerated between our clock and the hub's

# certs.jose.verify also checks exp, nbf and iat against a clock. Evidence is a permanent record whose
# time is checked below (certificates at iat, iat against the caller's `now`), so those checks are
# switched off with a leeway far larger than any timestamp: a verification in 2040 must not fail
# because some hub added an `exp`.
_NO_WALL_CLOCK = 10**11

CertificateSource = x509.Certificate | str | os.PathLike[str]
CrlSource = x509.CertificateRevocationList | str | os.PathLike[str]


@dataclass(frozen=True)
class Evidence:
    """A verified evidence token and what it proves.

    Attributes:
        payload: the verified claims.
        token: the compact JWS exactly as the hub sent it: store this as the proof.
        department_id: the signing department (the certificate's CN, equal to ``iss``).
        certificate: the department certificate from ``x5c``.
        request_jti: the ``jti`` of the request this evidence answers.
        request_body: the exact request bytes, when known (needed to re-check ``req_hash`` later).
    """

    payload: dict[str, Any]
    token: str
    department_id: str
    certificate: x509.Certificate
    request_jti: str
    request_body: bytes | None = None

    @property
    def id(self) -> str:
        """The evidence's own ``jti`` (the hub's response id)."""
        return str(self.payload["jti"])

    @property
    def data(self) -> dict[str, Any] | None:
        """The data items of a query answer, or ``None`` for a verify or license search answer."""
        return self.payload.get("data")

    @property
    def results(self) -> dict[str, str] | None:
        """``{item: "match" | "mismatch" | "unknown"}`` of a verify answer, or ``None`` otherwise."""
        return self.payload.get("results")

    @property
    def credentials(self) -> list[str] | None:
        """The SD-JWT VCs (RFC 9901) of a license search answer, or ``None`` for query and verify."""
        return self.payload.get("credentials")

    @property
    def log_index(self) -> int:
        """The index of this exchange's entry in the hub's audit log (RFC 6962 tree)."""
        return int(self.payload["log"]["index"])

    @property
    def issued_at(self) -> datetime:
        return datetime.fromtimestamp(self.payload["iat"], UTC)


@dataclass(frozen=True)
class SentRequest:
    """What a request asked, as the evidence must echo it.

    A license search names ``license_type`` and no ``resource`` (the hub picks the resource that
    issues that type), so ``resource`` is ``None`` for it and the evidence's is checked for form only.
    """

    jti: str
    body: bytes
    issuer: str
    issued_at: int
    resource: str | None
    subject: dict[str, str]
    fields: tuple[str, ...] | None = None
    claims: dict[str, Any] | None = None
    license_type: str | None = None

    @property
    def kind(self) -> str | None:
        """``query``, ``verify`` or ``license``: what the request asked (``None``: nothing we know)."""
        if self.license_type is not None:
            return "license"
        if self.fields is not None:
            return "query"
        return "verify" if self.claims is not None else None

    @classmethod
    def from_body(cls, body: bytes) -> SentRequest:
        """Read a stored request JWT (our own, so its signature is not re-checked here)."""
        try:
            text = body.decode("ascii").strip()
            segment = text.split(".")[1] if text.count(".") == 2 else ""
            claims = json.loads(_b64url_decode(segment))
            fields, asked = claims.get("fields"), claims.get("claims")
            license_type = claims.get("license_type")
            return cls(
                jti=_string(claims["jti"]),
                body=body,
                issuer=_string(claims["iss"]),
                issued_at=_integer(claims["iat"]),
                resource=None if license_type is not None else _string(claims["resource"]),
                subject=dict(claims["subject"]),
                fields=tuple(fields) if isinstance(fields, list) else None,
                claims=dict(asked) if isinstance(asked, dict) else None,
                license_type=None if license_type is None else _string(license_type),
            )
        except (UnicodeDecodeError, ValueError, KeyError, TypeError, IndexError) as exc:
            raise EvidenceRejected("request_body", f"not a request JWT of this protocol ({exc})") from None


def request_hash(body: bytes) -> str:
    """``req_hash``: base64url (no padding) of SHA-256 over the exact request body bytes."""
    return base64.urlsafe_b64encode(hashlib.sha256(body).digest()).rstrip(b"=").decode("ascii")


def load_ca_certificate(source: CertificateSource) -> x509.Certificate:
    """A certificate object, or read from a PEM file; ``ValueError`` when it cannot be."""
    if isinstance(source, x509.Certificate):
        return source
    try:
        return load_certificate(Path(source).read_bytes())
    except OSError as exc:
        raise ValueError(f"cannot read the CA certificate {source}: {exc.strerror}") from None


def revocation_state(source: CrlSource | None, ca_certificate: x509.Certificate) -> RevocationState | None:
    """An authenticated CRL (PEM or DER file, or object) as the revocation state; ``None`` when not given.

    Raises:
        ValueError: the CRL cannot be read or is not signed by the CA.
    """
    if source is None:
        return None
    if isinstance(source, x509.CertificateRevocationList):
        crl = source
    else:
        try:
            raw = Path(source).read_bytes()
        except OSError as exc:
            raise ValueError(f"cannot read the CRL {source}: {exc.strerror}") from None
        loader = x509.load_pem_x509_crl if raw.lstrip().startswith(b"-----") else x509.load_der_x509_crl
        crl = loader(raw)
    return crl_state(crl, ca_certificate)


def verify_evidence(
    token: str | bytes,
    *,
    ca_certificate: CertificateSource,
    client_id: str,
    request_body: bytes | str | None = None,
    now: datetime | None = None,
    crl: CrlSource | None = None,
    clock_skew: int = DEFAULT_CLOCK_SKEW,
) -> Evidence:
    """Verify stored evidence offline, with nothing but the hub CA certificate.

    Args:
        token: the compact JWS as the hub sent it.
        ca_certificate: the hub CA certificate (object or PEM file path): the only trust anchor;
            the CA in ``x5c`` is ignored.
        client_id: the consumer the evidence was issued to (its ``aud``).
        request_body: the exact request bytes that were sent. When given, ``req``, ``req_hash``,
            ``resource``, ``subject`` and the items (or the license type) are checked against it;
            without it only their form is.
        now: the verifier's time, timezone-aware (default: the current time); ``iat`` must not
            be after it. Certificates are checked at ``iat``, not at ``now``.
        crl: a CRL of the hub CA (object or PEM/DER file). Without one, revocation is not checked.
        clock_skew: seconds of tolerated clock difference.

    Returns:
        The verified :class:`Evidence`. For a license search, every credential has passed its
        signature, chain, issuer and disclosure checks (validity period and status are not
        evidence checks: run ``exchange.licenses.sealing.verify_credential`` for them).

    Raises:
        EvidenceRejected: a check failed; ``check`` names it (e.g. ``signature``, ``req_hash``,
            ``certificate.chain``, ``credentials``).
        ValueError: the CA certificate or the CRL cannot be used, or ``now`` is naive.
    """
    if now is not None and now.tzinfo is None:
        raise ValueError("now must be timezone-aware (e.g. datetime.now(UTC))")
    ca = load_ca_certificate(ca_certificate)
    if isinstance(request_body, str):
        request_body = request_body.encode("utf-8")
    expected = SentRequest.from_body(request_body) if request_body is not None else None
    if isinstance(token, bytes):
        try:
            token = token.decode("ascii")
        except UnicodeDecodeError:
            raise EvidenceRejected("header", "not a compact JWS (non-ASCII bytes)") from None
    return check_evidence(
        token,
        ca_certificate=ca,
        client_id=client_id,
        expected=expected,
        now=now or datetime.now(UTC),
        revocation=revocation_state(crl, ca),
        clock_skew=clock_skew,
    )


def check_evidence(
    token: str,
    *,
    ca_certificate: x509.Certificate,
    client_id: str,
    expected: SentRequest | None,
    now: datetime,
    revocation: RevocationState | None,
    clock_skew: int = DEFAULT_CLOCK_SKEW,
) -> Evidence:
    """Every check of DESIGN.md's evidence, in order; the first failure raises ``EvidenceRejected``."""
    token = token.strip()
    try:
        header = jose.header(token)
    except jose.JoseError as exc:
        raise EvidenceRejected("header", str(exc)) from None
    if header.get("typ") != EVIDENCE_TYP:
        raise EvidenceRejected("typ", f"typ must be {EVIDENCE_TYP!r}, not {header.get('typ')!r}")
    try:
        chain = jose.certificates_from_x5c(header.get("x5c"))
    except jose.JoseError as exc:
        raise EvidenceRejected("x5c", str(exc)) from None
    certificate = chain[0]
    try:
        payload = jose.verify(token, certificate.public_key(), typ=EVIDENCE_TYP, leeway=_NO_WALL_CLOCK)  # type: ignore[arg-type]
    except jose.JoseError as exc:
        raise EvidenceRejected("signature", str(exc)) from None

    iat = payload.get("iat")
    if not _is_int(iat):
        raise EvidenceRejected("iat", "iat must be an integer (seconds since the epoch)")
    _check_certificate(certificate, ca_certificate, revocation, datetime.fromtimestamp(iat, UTC))
    department_id = department_id_of(certificate)
    if payload.get("iss") != department_id:
        raise EvidenceRejected(
            "iss", f"iss {payload.get('iss')!r} is not the certificate's department {department_id!r}"
        )
    _check_audience(payload.get("aud"), client_id)
    _check_time(iat, now=now, expected=expected, skew=clock_skew)
    if not _nonempty_string(payload.get("jti")):
        raise EvidenceRejected("jti", "the evidence has no jti")
    _check_binding(payload, expected, client_id)
    _check_answer(payload, expected)
    log = payload.get("log")
    if not isinstance(log, dict) or not _is_int(log.get("index")) or log["index"] < 0:
        raise EvidenceRejected("log", 'log must be {"index": n} with n a non-negative integer')
    if "credentials" in payload:
        _check_credentials(
            payload["credentials"],
            subject=payload["subject"],
            department_id=department_id,
            license_type=expected.license_type if expected is not None else None,
            ca_certificate=ca_certificate,
            revocation=revocation,
            at=datetime.fromtimestamp(iat, UTC),
        )
    return Evidence(
        payload=payload,
        token=token,
        department_id=department_id,
        certificate=certificate,
        request_jti=payload["req"],
        request_body=expected.body if expected is not None else None,
    )


def department_id_of(certificate: x509.Certificate) -> str:
    """The department a certificate names: its CN, if it is a department certificate.

    A department certificate carries ``organizationIdentifier`` ``NTRCN-<USCC>`` (ETSI EN 319 412-1);
    hub and consumer certificates do not, so they cannot sign evidence.
    """
    if uscc_of(certificate) is None:
        raise EvidenceRejected(
            "department",
            "the signing certificate is not a department certificate (no NTRCN- organizationIdentifier)",
        )
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(names) != 1 or not _nonempty_string(names[0].value):
        raise EvidenceRejected("department", "the department certificate must carry exactly one CN")
    return str(names[0].value)


def _check_certificate(
    certificate: x509.Certificate,
    ca_certificate: x509.Certificate,
    revocation: RevocationState | None,
    at: datetime,
) -> None:
    report = verify_certificate(certificate, ca_certificate=ca_certificate, revocation=revocation, now=at)
    for check in report.checks:
        if check.name == "revocation" and revocation is None:
            continue  # no CRL supplied: revocation is the caller's choice, not checked
        if not check.ok:
            raise EvidenceRejected(
                f"certificate.{check.name}", f"{check.detail} (checked at iat {at.isoformat()})"
            )


def _check_audience(aud: object, client_id: str) -> None:
    # RFC 7519 section 4.1.3: a single string or an array of strings.
    audiences = aud if isinstance(aud, list) else [aud]
    if client_id not in audiences:
        raise EvidenceRejected("aud", f"aud {aud!r} does not name this consumer {client_id!r}")


def _check_time(iat: int, *, now: datetime, expected: SentRequest | None, skew: int) -> None:
    issued = datetime.fromtimestamp(iat, UTC)
    if issued > now + timedelta(seconds=skew):
        raise EvidenceRejected("iat", f"issued at {issued.isoformat()}, after {now.isoformat()}")
    if expected is not None and iat < expected.issued_at - skew:
        raise EvidenceRejected("iat", "the evidence is older than the request it answers")


def _check_binding(payload: Mapping[str, Any], expected: SentRequest | None, client_id: str) -> None:
    req, req_hash = payload.get("req"), payload.get("req_hash")
    if not _nonempty_string(req):
        raise EvidenceRejected("req", "the evidence names no request (req)")
    if not isinstance(req_hash, str) or len(req_hash) != 43:
        raise EvidenceRejected("req_hash", "req_hash must be the base64url SHA-256 of the request body")
    resource, subject = payload.get("resource"), payload.get("subject")
    if not _nonempty_string(resource):
        raise EvidenceRejected("resource", "the evidence names no resource")
    if not (
        isinstance(subject, dict)
        and set(subject) == {"type", "value"}
        and all(isinstance(v, str) for v in subject.values())
    ):
        raise EvidenceRejected("subject", 'subject must be {"type": ..., "value": ...}')
    if expected is None:
        return
    if expected.issuer != client_id:
        raise EvidenceRejected(
            "request_body", f"the request was sent by {expected.issuer!r}, not {client_id!r}"
        )
    if req != expected.jti:
        raise EvidenceRejected("req", f"req {req!r} is not the request's jti {expected.jti!r}")
    if req_hash != request_hash(expected.body):
        raise EvidenceRejected("req_hash", "req_hash is not the SHA-256 of the request body that was sent")
    if expected.resource is not None and resource != expected.resource:
        raise EvidenceRejected("resource", f"resource {resource!r} is not {expected.resource!r}")
    if not same_subject(subject, expected.subject):
        raise EvidenceRejected("subject", "subject is not the one asked about")


def same_subject(answered: Mapping[str, str], asked: Mapping[str, str]) -> bool:
    """The evidence names the subject that was asked about.

    The hub may echo an identifier in its canonical form: a citizen ID's check character ``x`` is
    accepted and written ``X`` (GB 11643-1999), so id_card values compare case-insensitively.
    """
    if answered.get("type") != asked.get("type"):
        return False
    if asked.get("type") == "id_card":
        return str(answered.get("value")).upper() == str(asked.get("value")).upper()
    return answered.get("value") == asked.get("value")


def _check_answer(payload: Mapping[str, Any], expected: SentRequest | None) -> None:
    given = [name for name in ANSWERS.values() if name in payload]
    if len(given) != 1:
        raise EvidenceRejected("answer", "evidence must carry exactly one of data, results and credentials")
    answer = given[0]
    if answer == "data":
        if not isinstance(payload["data"], dict):
            raise EvidenceRejected("data", "data must be an object of data items")
    elif answer == "results":
        results = payload["results"]
        if not isinstance(results, dict):
            raise EvidenceRejected("results", "results must be an object of item: match|mismatch|unknown")
        bad = sorted(
            item
            for item, value in results.items()
            if not isinstance(value, str) or value not in RESULT_VALUES
        )
        if bad:
            raise EvidenceRejected("results", f"not match, mismatch or unknown: {', '.join(bad)}")
    elif not isinstance(payload["credentials"], list) or not all(
        isinstance(credential, str) for credential in payload["credentials"]
    ):
        raise EvidenceRejected("credentials", "credentials must be a list of SD-JWT VC compact strings")
    if expected is None:
        return
    if ANSWERS.get(expected.kind or "") != answer:
        raise EvidenceRejected(
            "answer", f"a {expected.kind or 'malformed'} request was answered with {answer}"
        )
    if answer == "data":
        extra = sorted(set(payload["data"]) - set(expected.fields or ()))
        if extra:
            raise EvidenceRejected("data", f"items that were not asked for: {', '.join(extra)}")
    elif answer == "results" and set(payload["results"]) != set(expected.claims or {}):
        raise EvidenceRejected("results", "results do not answer exactly the claims that were sent")


def _check_credentials(
    credentials: list[str],
    *,
    subject: Mapping[str, str],
    department_id: str,
    license_type: str | None,
    ca_certificate: x509.Certificate,
    revocation: RevocationState | None,
    at: datetime,
) -> None:
    """Each credential of a license search answer is a genuine license of the subject, of the type asked.

    Checked offline at the evidence's ``iat`` (as the department certificate is), with
    ``status_of=None``: the validity period and the Token Status List describe the license, not the
    answer, and are reported by :meth:`ExchangeClient.search_licenses` instead.
    """
    asked_vct = LICENSE_TYPES[license_type].vct if license_type in LICENSE_TYPES else None
    if license_type is not None and asked_vct is None:
        raise EvidenceRejected(
            "credentials", f"the request asked for an unknown license type {license_type!r}"
        )
    holder_code_type = HOLDER_CODE_TYPES.get(subject["type"])
    for index, credential in enumerate(credentials):
        try:
            report = verify_credential(
                credential, ca_certificate=ca_certificate, now=at, status_of=None, revocation=revocation
            )
        except (ValueError, OverflowError, OSError) as exc:  # e.g. a timestamp no datetime can hold
            raise EvidenceRejected("credentials", f"credential {index}: cannot be checked: {exc}") from None
        for name in CREDENTIAL_EVIDENCE_CHECKS:
            check = report.check(name)
            if not check.ok:
                raise EvidenceRejected("credentials", f"credential {index}: {name}: {check.detail}")
        claims = report.claims
        if asked_vct is not None and report.vct != asked_vct:
            raise EvidenceRejected(
                "credentials", f"credential {index}: vct {report.vct!r} is not the {license_type} asked for"
            )
        if claims.get("iss") != issuer_of(department_id):
            raise EvidenceRejected(
                "credentials",
                f"credential {index}: issued by {claims.get('iss')!r}, not by {department_id} "
                "who signed the evidence",
            )
        holder = claims.get("holder_code")
        if not isinstance(holder, str):
            raise EvidenceRejected("credentials", f"credential {index}: holder_code is not disclosed")
        if not same_subject({"type": subject["type"], "value": holder}, subject) or (
            claims.get("holder_code_type") != holder_code_type
        ):
            raise EvidenceRejected(
                "credentials", f"credential {index}: its holder is not the subject asked about"
            )


def _b64url_decode(segment: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"bad base64url: {exc}") from None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _integer(value: object) -> int:
    if not _is_int(value):
        raise ValueError("expected an integer")
    return value  # type: ignore[return-value]


def _string(value: object) -> str:
    if not _nonempty_string(value):
        raise ValueError("expected a non-empty string")
    return value  # type: ignore[return-value]


def _nonempty_string(value: object) -> bool:
    return isinstance(value, str) and bool(value)
