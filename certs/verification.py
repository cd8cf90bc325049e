"""Checking a certificate against the hub CA: chain, validity window, profile and revocation.

The hub has a one-level hierarchy (root -> end entity), so the chain check is "directly issued by
the root" (RFC 5280 section 6 reduced to a path of length one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from certs.keys import UnusableKey, algorithm_of
from certs.revocation import RevocationState


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class VerificationReport:
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def first_failure(self) -> Check | None:
        return next((check for check in self.checks if not check.ok), None)


class CertificateRejected(Exception):
    """A certificate failed verification; ``reason`` names the first failed check."""

    def __init__(self, report: VerificationReport) -> None:
        failure = report.first_failure
        self.report = report
        self.reason = f"{failure.name}: {failure.detail}" if failure else "rejected"
        super().__init__(self.reason)


def verify_certificate(
    certificate: x509.Certificate,
    *,
    ca_certificate: x509.Certificate,
    revocation: RevocationState | None,
    now: datetime,
) -> VerificationReport:
    """Run every check and report each; ``revocation=None`` means the CRL could not be read."""
    checks = [
        _issuer_check(certificate, ca_certificate),
        _validity_check("ca_validity", ca_certificate, now),
        _validity_check("validity", certificate, now),
        _end_entity_check(certificate),
        _key_check(certificate),
        _revocation_check(certificate, revocation, now),
    ]
    return VerificationReport(checks)


def ensure_valid(
    certificate: x509.Certificate,
    *,
    ca_certificate: x509.Certificate,
    revocation: RevocationState | None,
    now: datetime,
) -> None:
    report = verify_certificate(certificate, ca_certificate=ca_certificate, revocation=revocation, now=now)
    if not report.ok:
        raise CertificateRejected(report)


@lru_cache(maxsize=4096)
def _issuer_check(certificate: x509.Certificate, ca: x509.Certificate) -> Check:
    """Whether ``ca`` signed ``certificate``: a fact about the two that never changes, so it is
    computed once per pair (the hub checks the same consumer certificate on every request)."""
    try:
        certificate.verify_directly_issued_by(ca)
    except ValueError as exc:
        return Check("chain", False, f"not issued by the hub CA ({exc})")
    except (InvalidSignature, TypeError):
        return Check("chain", False, "signature does not verify with the hub CA key")
    return Check("chain", True, f"issued by {ca.subject.rfc4514_string()}")


def _validity_check(name: str, certificate: x509.Certificate, now: datetime) -> Check:
    start, end = certificate.not_valid_before_utc, certificate.not_valid_after_utc
    if now < start:
        return Check(name, False, f"not valid before {start.isoformat()}")
    if now > end:
        return Check(name, False, f"expired at {end.isoformat()}")
    return Check(name, True, f"valid until {end.isoformat()}")


def _end_entity_check(certificate: x509.Certificate) -> Check:
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return Check("profile", False, "no basicConstraints extension")
    if constraints.ca:
        return Check("profile", False, "is a CA certificate, not an end entity")
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return Check("profile", False, "no keyUsage extension")
    if not usage.digital_signature:
        return Check("profile", False, "keyUsage lacks digitalSignature")
    return Check("profile", True, "end-entity signing certificate")


def _key_check(certificate: x509.Certificate) -> Check:
    try:
        algorithm = algorithm_of(certificate.public_key())  # type: ignore[arg-type]
    except UnusableKey as exc:
        return Check("key", False, str(exc))
    return Check("key", True, algorithm.value)


def _revocation_check(
    certificate: x509.Certificate, revocation: RevocationState | None, now: datetime
) -> Check:
    if revocation is None:
        return Check("revocation", False, "the CRL is unavailable; refusing (fail closed)")
    if certificate.serial_number in revocation.serials:
        return Check("revocation", False, f"serial {certificate.serial_number:x} is revoked")
    if revocation.is_stale(now):
        return Check("revocation", False, "the CRL is past its nextUpdate; refusing (fail closed)")
    return Check("revocation", True, "not revoked")
