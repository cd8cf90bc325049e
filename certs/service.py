"""PKI recipes: initialise, issue, revoke, verify. Callers own the database transaction."""

from __future__ import annotations

import fcntl
import hashlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy.orm import Session

from adapters.base import Department
from certs import repository
from certs.authority import (
    CONSUMER_VALIDITY,
    DEFAULT_VALIDITY,
    CertificateAuthority,
    CertificateKind,
    consumer_name,
    department_name,
    hub_name,
)
from certs.keys import (
    KeyAlgorithm,
    PublicKey,
    UnusableKey,
    algorithm_of,
    generate_private_key,
    load_private_key,
    write_private_key,
)
from certs.models import IssuedCertificate
from certs.revocation import RevocationUnavailable, load_crl, write_crl
from certs.store import PkiPaths, load_certificate, read_certificate, write_certificate
from certs.verification import VerificationReport, verify_certificate


class PkiError(Exception):
    """A PKI operation that cannot be done as asked; the message says what to do instead."""


REVOCATION_REASONS = {
    reason.name: reason
    for reason in (
        x509.ReasonFlags.unspecified,
        x509.ReasonFlags.key_compromise,
        x509.ReasonFlags.affiliation_changed,
        x509.ReasonFlags.superseded,
        x509.ReasonFlags.cessation_of_operation,
        x509.ReasonFlags.certificate_hold,
    )
}


@dataclass
class InitResult:
    created_ca: bool
    algorithm: KeyAlgorithm
    ca_path: str
    issued: list[str] = field(default_factory=list)


def is_initialised(paths: PkiPaths) -> bool:
    return paths.ca_cert.exists() and paths.ca_key.exists()


def load_authority(paths: PkiPaths, passphrase: bytes | None = None) -> CertificateAuthority:
    if not is_initialised(paths):
        raise PkiError(f"no hub CA in {paths.root}; run `exchange pki init` first")
    try:
        key = load_private_key(paths.ca_key, passphrase)
    except TypeError:
        raise PkiError("the CA key is encrypted: set EXCHANGE_CA_KEY_PASSPHRASE") from None
    return CertificateAuthority(read_certificate(paths.ca_cert), key)


def init_pki(
    session: Session,
    *,
    paths: PkiPaths,
    hub_id: str,
    departments: Iterable[Department],
    now: datetime,
    algorithm: KeyAlgorithm = KeyAlgorithm.ED25519,
    passphrase: bytes | None = None,
) -> InitResult:
    """Create what is missing (CA, hub certificate, one certificate per department); idempotent.

    Pass only the departments whose keys the hub may hold: a department behind its own gateway
    gets its certificate from ``exchange pki issue --department ID --csr FILE`` instead.
    """
    paths.ensure_dirs()
    created = not is_initialised(paths)
    if created:
        if paths.ca_cert.exists() or paths.ca_key.exists():
            raise PkiError(f"{paths.root} holds half a CA (ca.pem or ca.key missing); restore it")
        ca_key = generate_private_key(algorithm)
        authority = CertificateAuthority.create(hub_id, ca_key, now=now)
        write_private_key(paths.ca_key, ca_key, passphrase)
        write_certificate(paths.ca_cert, authority.certificate)
        _record(session, authority.certificate, CertificateKind.CA, hub_id, now)
    else:
        authority = load_authority(paths, passphrase)
    result = InitResult(
        created_ca=created,
        algorithm=algorithm_of(authority.private_key),
        ca_path=str(paths.ca_cert),
    )
    if not paths.hub_cert.exists():
        _issue_with_new_key(
            session,
            authority,
            paths.hub_cert,
            paths.hub_key,
            hub_name(hub_id),
            CertificateKind.HUB,
            hub_id,
            now,
            result.algorithm,
        )
        result.issued.append(f"hub {hub_id}")
    for department in departments:
        if not paths.department_cert(department.id).exists():
            issue_department(session, authority, paths, department, now=now)
            result.issued.append(f"department {department.id}")
    if created or not paths.crl.exists():
        refresh_crl(session, authority, paths, now=now)
    return result


def issue_department(
    session: Session,
    authority: CertificateAuthority,
    paths: PkiPaths,
    department: Department,
    *,
    now: datetime,
    public_key: PublicKey | None = None,
) -> IssuedCertificate:
    """A department certificate; its subject carries the department's USCC.

    Without ``public_key`` the hub generates the key pair (the embedded default). With it (the key
    a department gateway generated and proved it holds, :func:`public_key_from_csr`) only the
    certificate is written: the private key never leaves the gateway.
    """
    from exchange.identifiers import validate_uscc

    validate_uscc(department.uscc)
    key_path = paths.department_key(department.id)
    if key_path.exists():
        raise PkiError(
            f"{key_path} already exists; revoke the department's certificate and move the old "
            "key away before issuing a new one"
        )
    subject = department_name(department.id, department.name, department.uscc)
    if public_key is None:
        return _issue_with_new_key(
            session,
            authority,
            paths.department_cert(department.id),
            key_path,
            subject,
            CertificateKind.DEPARTMENT,
            department.id,
            now,
            algorithm_of(authority.private_key),
        )
    certificate = authority.issue(
        public_key, subject, CertificateKind.DEPARTMENT, now=now, validity=DEFAULT_VALIDITY
    )
    write_certificate(paths.department_cert(department.id), certificate)
    return _record(session, certificate, CertificateKind.DEPARTMENT, department.id, now)


def issue_consumer(
    session: Session,
    authority: CertificateAuthority,
    paths: PkiPaths,
    *,
    client_id: str,
    name: str,
    public_key: PublicKey,
    now: datetime,
    validity: timedelta = CONSUMER_VALIDITY,
) -> tuple[IssuedCertificate, x509.Certificate]:
    """A consumer-system certificate for a key the consumer holds; the hub never sees its private key."""
    certificate = authority.issue(
        public_key,
        consumer_name(client_id, name),
        CertificateKind.CONSUMER,
        now=now,
        validity=validity,
    )
    write_certificate(paths.consumer_cert(client_id), certificate)
    return _record(session, certificate, CertificateKind.CONSUMER, client_id, now), certificate


def public_key_from_csr(pem: bytes) -> PublicKey:
    """The public key of a PKCS#10 request whose self-signature proves possession of the key.

    The subject the CSR asks for is ignored: the hub names consumers and departments itself.
    """
    try:
        csr = x509.load_pem_x509_csr(pem)
    except ValueError as exc:
        raise UnusableKey(f"not a PEM certificate signing request: {exc}") from None
    if not csr.is_signature_valid:
        raise UnusableKey("the CSR's signature does not verify: it does not prove key possession")
    key = csr.public_key()
    algorithm_of(key)  # type: ignore[arg-type]
    return key  # type: ignore[return-value]


def revoke(
    session: Session,
    authority: CertificateAuthority,
    paths: PkiPaths,
    *,
    serial: str,
    reason: str,
    now: datetime,
) -> IssuedCertificate:
    """Mark a certificate revoked and publish a new CRL that every hub worker picks up."""
    if reason not in REVOCATION_REASONS:
        raise PkiError(f"unknown reason {reason!r}; use one of: {', '.join(REVOCATION_REASONS)}")
    record = find_certificate(session, serial)
    if record.kind == CertificateKind.CA:
        raise PkiError("the root CA cannot revoke itself; create a new hub CA instead")
    if record.revoked_at is not None:
        raise PkiError(f"certificate {record.serial} was already revoked at {record.revoked_at}")
    record.revoked_at = now
    record.revocation_reason = reason
    session.flush()
    refresh_crl(session, authority, paths, now=now)
    return record


def find_certificate(session: Session, serial: str) -> IssuedCertificate:
    """By full serial or an unambiguous hex prefix of at least 8 characters."""
    normalised = serial.lower().removeprefix("0x").replace(":", "")
    if not normalised or any(c not in "0123456789abcdef" for c in normalised):
        raise PkiError(f"{serial!r} is not a hexadecimal serial number")
    record = repository.get(session, serial=normalised)
    if record is not None:
        return record
    if len(normalised) < 8:
        raise PkiError(f"no certificate with serial {normalised}")
    matches = repository.find_by_prefix(session, serial_prefix=normalised)
    if len(matches) != 1:
        problem = "no certificate" if not matches else "more than one certificate"
        raise PkiError(f"{problem} with a serial starting {normalised}")
    return matches[0]


def refresh_crl(session: Session, authority: CertificateAuthority, paths: PkiPaths, *, now: datetime) -> None:
    """Sign and publish a CRL of every revoked certificate, numbered one above the last."""
    number = 1
    if paths.crl.exists():
        try:
            number = (load_crl(paths.crl, authority.certificate).number or 0) + 1
        except RevocationUnavailable:
            number = 1
    entries = [
        (
            int(record.serial, 16),
            record.revoked_at,
            REVOCATION_REASONS.get(record.revocation_reason or "unspecified"),
        )
        for record in repository.revoked(session)
        if record.revoked_at is not None
    ]
    write_crl(paths.crl, authority.crl(entries, now=now, number=number))


CRL_REFRESH_MARGIN = timedelta(days=1)


def crl_is_due(paths: PkiPaths, *, now: datetime, margin: timedelta = CRL_REFRESH_MARGIN) -> bool:
    """True when the CRL is missing, untrusted, or has less than ``margin`` of validity left."""
    try:
        state = load_crl(paths.crl, read_certificate(paths.ca_cert))
    except RevocationUnavailable:
        return True
    return state.next_update is None or state.next_update - now < margin


def refresh_crl_if_due(session: Session, paths: PkiPaths, *, passphrase: bytes | None, now: datetime) -> bool:
    """Re-sign the CRL when it is due; several processes may call this at once (file lock).

    Returns whether this call published a new CRL.
    """
    with _crl_lock(paths):
        if not crl_is_due(paths, now=now):
            return False
        refresh_crl(session, load_authority(paths, passphrase), paths, now=now)
        return True


@contextmanager
def _crl_lock(paths: PkiPaths) -> Iterator[None]:
    paths.root.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(paths.root / "crl.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def verify_pem(paths: PkiPaths, pem: bytes, *, now: datetime) -> VerificationReport:
    """Check a certificate file against the hub CA and its current CRL."""
    certificate = load_certificate(pem)
    ca_certificate = read_certificate(paths.ca_cert)
    try:
        revocation = load_crl(paths.crl, ca_certificate)
    except RevocationUnavailable:
        revocation = None
    return verify_certificate(certificate, ca_certificate=ca_certificate, revocation=revocation, now=now)


def serial_hex(certificate: x509.Certificate) -> str:
    return format(certificate.serial_number, "x")


def _issue_with_new_key(
    session: Session,
    authority: CertificateAuthority,
    cert_path: Path,
    key_path: Path,
    subject: x509.Name,
    kind: CertificateKind,
    owner_id: str,
    now: datetime,
    algorithm: KeyAlgorithm,
) -> IssuedCertificate:
    key = generate_private_key(algorithm)
    certificate = authority.issue(key.public_key(), subject, kind, now=now, validity=DEFAULT_VALIDITY)
    write_private_key(key_path, key)
    write_certificate(cert_path, certificate)
    return _record(session, certificate, kind, owner_id, now)


def _record(
    session: Session,
    certificate: x509.Certificate,
    kind: CertificateKind,
    owner_id: str,
    now: datetime,
) -> IssuedCertificate:
    der = certificate.public_bytes(Encoding.DER)
    return repository.add(
        session,
        IssuedCertificate(
            serial=serial_hex(certificate),
            kind=kind.value,
            owner_id=owner_id,
            subject=certificate.subject.rfc4514_string(),
            key_algorithm=algorithm_of(certificate.public_key()).value,  # type: ignore[arg-type]
            fingerprint_sha256=hashlib.sha256(der).hexdigest(),
            not_before=certificate.not_valid_before_utc,
            not_after=certificate.not_valid_after_utc,
            pem=certificate.public_bytes(Encoding.PEM).decode("ascii"),
            issued_at=now,
            revoked_at=None,
            revocation_reason=None,
        ),
    )


def retire_department_files(paths: PkiPaths, department_id: str, *, now: datetime) -> None:
    """Move a department's old key and certificate aside (kept 0600, never deleted)."""
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    for path in (paths.department_key(department_id), paths.department_cert(department_id)):
        if path.exists():
            path.rename(path.with_name(f"{path.name}.retired-{stamp}"))
