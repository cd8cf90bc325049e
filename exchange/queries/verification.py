"""Checking a consumer's signed request (DESIGN.md "Signed request"), in the order the issue fixes:
signature, certificate chain and revocation, time window; replay and the grant come after, in
:mod:`exchange.queries.service`. Every refusal is a :class:`Rejected` with its HTTP status and problem type.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from sqlalchemy.orm import Session

from certs import jose
from certs.keys import PublicKey
from certs.revocation import RevocationChecker, RevocationUnavailable
from certs.store import PkiPaths, read_certificate
from certs.verification import verify_certificate
from exchange.consumers import repository as consumers

REQUEST_TYP = "exchange-request+jwt"
MAX_LIFETIME = timedelta(seconds=300)  # exp - iat, fixed by DESIGN.md
JTI = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")


class Rejected(Exception):
    """A refused request: ``status`` and ``slug`` become the problem document."""

    def __init__(
        self, status: int, slug: str, title: str, detail: str, *, client_id: str | None = None
    ) -> None:
        super().__init__(detail)
        self.status, self.slug, self.title, self.detail = status, slug, title, detail
        self.client_id = client_id


def malformed(detail: str, client_id: str | None = None) -> Rejected:
    return Rejected(400, "malformed-request", "Malformed request", detail, client_id=client_id)


def unauthenticated(detail: str, client_id: str | None = None) -> Rejected:
    return Rejected(401, "unauthenticated", "Unauthenticated", detail, client_id=client_id)


@dataclass(frozen=True)
class VerifiedRequest:
    client_id: str
    claims: dict[str, Any]
    issued_at: datetime
    expires_at: datetime

    @property
    def jti(self) -> str:
        return self.claims["jti"]


def verify_request(
    session: Session,
    body: bytes,
    *,
    paths: PkiPaths,
    ca_certificate: x509.Certificate,
    revocation: RevocationChecker,
    hub_id: str,
    max_skew: timedelta,
    now: datetime,
) -> VerifiedRequest:
    """The verified claims of ``body``; raises :class:`Rejected` (400 malformed, 401 anything about trust).

    A refused ``alg`` (``none``, HMAC, RSA: RFC 8725 section 3.1) is a signature the hub does not accept,
    so 401 like a bad signature; a body that is no JWS at all, or whose signed payload is no JSON object
    of the required claims, is 400.
    """
    try:
        token = body.decode("ascii").strip()
        header = jose.header(token)
    except (UnicodeDecodeError, jose.MalformedToken) as exc:
        raise malformed(f"the body is not a compact JWS: {exc}") from None
    except jose.JoseError as exc:
        raise unauthenticated(f"the signature is not accepted: {exc}") from None
    if header.get("typ") != REQUEST_TYP:
        raise malformed(f"typ must be {REQUEST_TYP!r}")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise malformed("the header has no kid (the RFC 7638 thumbprint of your key)")
    owner = consumers.owner_of_kid(session, kid=kid)
    if owner is None or owner[1] != "active":
        raise unauthenticated(f"no active consumer system has the key {kid}")
    client_id = owner[0]
    key = _certified_key(paths, client_id, ca_certificate, revocation, now)
    try:
        claims = jose.verify(
            token,
            key,
            typ=REQUEST_TYP,
            audience=hub_id,
            leeway=max_skew.total_seconds(),
            require=("iss", "aud", "iat", "exp", "jti"),
            now=now,
        )
    except jose.MalformedToken as exc:  # signed by the consumer, but not a request
        raise malformed(f"the signed claims are malformed: {exc}", client_id) from None
    except jose.JoseError as exc:
        raise unauthenticated(f"the signature or its claims did not verify: {exc}", client_id) from None
    if claims["iss"] != client_id:
        raise unauthenticated(f"iss {claims['iss']!r} is not the key's owner {client_id}", client_id)
    issued = _instant(claims["iat"], "iat", client_id)
    expires = _instant(claims["exp"], "exp", client_id)
    if expires - issued > MAX_LIFETIME:
        raise unauthenticated("exp is more than 300 s after iat", client_id)
    if issued > now + max_skew:
        raise unauthenticated(
            f"iat is in the future (more than {max_skew.seconds} s of clock skew)", client_id
        )
    if not isinstance(claims["jti"], str) or not JTI.match(claims["jti"]):
        raise malformed("jti must be 8 to 128 characters of A-Z a-z 0-9 . _ : -", client_id)
    return VerifiedRequest(client_id, claims, issued, expires)


def _certified_key(
    paths: PkiPaths, client_id: str, ca: x509.Certificate, revocation: RevocationChecker, now: datetime
) -> PublicKey:
    """The consumer's key as its hub-issued certificate states it: chain, validity and CRL checked."""
    try:
        certificate = _certificates.read(paths.consumer_cert(client_id))
    except (OSError, ValueError):
        raise unauthenticated(f"the certificate of {client_id} cannot be read", client_id) from None
    try:
        state = revocation.state()
    except RevocationUnavailable:
        state = None  # verify_certificate fails closed on an unreadable CRL
    report = verify_certificate(certificate, ca_certificate=ca, revocation=state, now=now)
    if not report.ok:
        failure = report.first_failure
        raise unauthenticated(
            f"certificate of {client_id} rejected: {failure.name}: {failure.detail}", client_id
        )
    return certificate.public_key()  # type: ignore[return-value]


def _instant(value: Any, name: str, client_id: str) -> datetime:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise malformed(f"{name} must be a NumericDate (seconds since the epoch)", client_id)
    return datetime.fromtimestamp(value, UTC)


class _CertificateFiles:
    """Certificates read from files, parsed again only when a file changes (``exchange consumers
    rotate`` rewrites it): every request of a consumer needs its certificate."""

    def __init__(self) -> None:
        self._read: dict[Path, tuple[tuple[int, int, int], x509.Certificate]] = {}

    def read(self, path: Path) -> x509.Certificate:
        stat = path.stat()
        signature = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        cached = self._read.get(path)
        if cached is not None and cached[0] == signature:
            return cached[1]
        certificate = read_certificate(path)
        self._read[path] = (signature, certificate)
        return certificate


_certificates = _CertificateFiles()
