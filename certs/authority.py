"""The hub root CA: self-signed root, end-entity certificates and CRLs (RFC 5280).

This module signs; keep its callers few (:mod:`certs.service`). Every function takes ``now`` so
tests can fix the clock, as cryptography's ``*_at_time`` twins do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certs.keys import PrivateKey, PublicKey, algorithm_of

CA_VALIDITY = timedelta(days=3650)
DEFAULT_VALIDITY = timedelta(days=825)
CONSUMER_VALIDITY = timedelta(days=365)
CRL_VALIDITY = timedelta(days=7)


class CertificateKind(StrEnum):
    CA = "ca"
    HUB = "hub"
    DEPARTMENT = "department"
    CONSUMER = "consumer"


def _hash_for(key: PrivateKey) -> hashes.HashAlgorithm | None:
    # Ed25519 signs the message itself (RFC 8410): no separate digest.
    return None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    """A CA signs certificates and CRLs only; an end entity signs data (JWS) as evidence."""
    return x509.KeyUsage(
        digital_signature=not ca,
        content_commitment=not ca,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def ca_name(hub_id: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Data Exchange Hub"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{hub_id} Root CA"),
        ]
    )


def department_name(department_id: str, name: str, uscc: str) -> x509.Name:
    """Department subject; the USCC is the legal-person semantics identifier of ETSI EN 319 412-1
    section 5.1.4 (``NTRCN-`` + national trade register number) in organizationIdentifier."""
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, name),
            x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, f"NTRCN-{uscc}"),
            x509.NameAttribute(NameOID.COMMON_NAME, department_id),
        ]
    )


def consumer_name(client_id: str, name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, name),
            x509.NameAttribute(NameOID.COMMON_NAME, client_id),
        ]
    )


def hub_name(hub_id: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Data Exchange Hub"),
            x509.NameAttribute(NameOID.COMMON_NAME, hub_id),
        ]
    )


def uscc_of(certificate: x509.Certificate) -> str | None:
    """The USCC a department certificate carries, or None."""
    for attribute in certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER):
        value = str(attribute.value)
        if value.startswith("NTRCN-"):
            return value.removeprefix("NTRCN-")
    return None


@dataclass(frozen=True)
class CertificateAuthority:
    certificate: x509.Certificate
    private_key: PrivateKey

    @classmethod
    def create(cls, hub_id: str, private_key: PrivateKey, *, now: datetime) -> CertificateAuthority:
        """A self-signed root that may sign end-entity certificates and CRLs only (pathLen 0)."""
        public_key = private_key.public_key()
        name = ca_name(hub_id)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + CA_VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(ca=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .sign(private_key, _hash_for(private_key))
        )
        return cls(certificate, private_key)

    def issue(
        self,
        public_key: PublicKey,
        subject: x509.Name,
        kind: CertificateKind,
        *,
        now: datetime,
        validity: timedelta = DEFAULT_VALIDITY,
    ) -> x509.Certificate:
        """An end-entity certificate for signing (JWS): digitalSignature and nonRepudiation,
        since department answers are kept as evidence."""
        if kind is CertificateKind.CA:
            raise ValueError("the root CA is created with CertificateAuthority.create, not issued")
        algorithm_of(public_key)
        not_after = min(now + validity, self.certificate.not_valid_after_utc)
        usages = [ExtendedKeyUsageOID.CLIENT_AUTH] if kind is CertificateKind.CONSUMER else []
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.certificate.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(ca=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    self.certificate.public_key()  # type: ignore[arg-type]
                ),
                critical=False,
            )
        )
        if usages:
            builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        return builder.sign(self.private_key, _hash_for(self.private_key))

    def crl(
        self, revoked: list[tuple[int, datetime, x509.ReasonFlags | None]], *, now: datetime, number: int
    ) -> x509.CertificateRevocationList:
        """A CRL listing ``(serial, revocation time, reason)``; valid for ``CRL_VALIDITY``."""
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.certificate.subject)
            .last_update(now)
            .next_update(now + CRL_VALIDITY)
            .add_extension(x509.CRLNumber(number), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    self.certificate.public_key()  # type: ignore[arg-type]
                ),
                critical=False,
            )
        )
        for serial, when, reason in revoked:
            entry = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when)
            if reason is not None and reason is not x509.ReasonFlags.unspecified:
                entry = entry.add_extension(x509.CRLReason(reason), critical=False)
            builder = builder.add_revoked_certificate(entry.build())
        return builder.sign(self.private_key, _hash_for(self.private_key))
