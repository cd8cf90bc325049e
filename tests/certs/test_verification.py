"""Certificates the hub must refuse: revoked, expired, not yet valid, tampered, from another CA."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from certs import service as pki
from certs.authority import CertificateAuthority, CertificateKind, consumer_name
from certs.keys import generate_private_key
from certs.revocation import RevocationChecker, RevocationUnavailable, load_crl, write_crl
from certs.store import read_certificate
from certs.verification import CertificateRejected, ensure_valid, verify_certificate
from tests.certs.helpers import openssl_verify, write_pem
from tests.conftest import NOW


@pytest.fixture
def consumer(session, initialised):
    authority = pki.load_authority(initialised)
    record, certificate = pki.issue_consumer(
        session,
        authority,
        initialised,
        client_id="portal",
        name="Portal",
        public_key=generate_private_key().public_key(),
        now=NOW,
    )
    session.commit()
    return record, certificate


def _verify(paths, certificate, now=NOW):
    ca = read_certificate(paths.ca_cert)
    return verify_certificate(certificate, ca_certificate=ca, revocation=load_crl(paths.crl, ca), now=now)


def _failed(report):
    return report.first_failure.name if report.first_failure else None


def test_a_fresh_certificate_passes_every_check(initialised, consumer):
    report = _verify(initialised, consumer[1])
    assert report.ok
    assert [c.name for c in report.checks] == [
        "chain",
        "ca_validity",
        "validity",
        "profile",
        "key",
        "revocation",
    ]


def test_revoked_certificate_is_rejected_by_us_and_by_openssl(session, initialised, consumer):
    record, certificate = consumer
    pki.revoke(
        session,
        pki.load_authority(initialised),
        initialised,
        serial=record.serial,
        reason="key_compromise",
        now=NOW + timedelta(hours=1),
    )
    session.commit()
    report = _verify(initialised, certificate, NOW + timedelta(hours=2))
    assert _failed(report) == "revocation"
    with pytest.raises(CertificateRejected, match="revoked"):
        ca = read_certificate(initialised.ca_cert)
        ensure_valid(certificate, ca_certificate=ca, revocation=load_crl(initialised.crl, ca), now=NOW)
    result = openssl_verify(
        initialised.ca_cert, initialised.consumer_cert("portal"), initialised.crl, at=NOW + timedelta(hours=2)
    )
    assert result.returncode != 0 and "revoked" in result.stdout + result.stderr
    crl = x509.load_pem_x509_crl(initialised.crl.read_bytes())
    entry = crl.get_revoked_certificate_by_serial_number(certificate.serial_number)
    assert (
        entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
        is x509.ReasonFlags.key_compromise
    )


def test_expired_and_not_yet_valid_certificates_are_rejected(session, initialised, consumer):
    certificate = consumer[1]
    expired_at = certificate.not_valid_after_utc + timedelta(seconds=1)
    assert _failed(_verify(initialised, certificate, expired_at)) == "validity"
    _record, future = pki.issue_consumer(
        session,
        pki.load_authority(initialised),
        initialised,
        client_id="later",
        name="Later",
        public_key=generate_private_key().public_key(),
        now=NOW + timedelta(days=30),
    )
    assert _failed(_verify(initialised, future, NOW + timedelta(days=1))) == "validity"


def test_tampered_certificate_is_rejected(tmp_path, initialised, consumer):
    der = bytearray(consumer[1].public_bytes(Encoding.DER))
    # Flip a byte inside the subject's organisation name (part of the signed TBSCertificate).
    index = der.index(b"Portal")
    der[index] ^= 0x01
    tampered = x509.load_der_x509_certificate(bytes(der))
    assert _failed(_verify(initialised, tampered)) == "chain"
    result = openssl_verify(initialised.ca_cert, write_pem(tmp_path / "t.pem", tampered), at=NOW)
    assert result.returncode != 0


def test_certificate_from_a_foreign_ca_is_rejected(tmp_path, initialised):
    foreign = CertificateAuthority.create("exchange-hub", generate_private_key(), now=NOW)
    # Same subject name as our CA: only the signature can tell them apart.
    certificate = foreign.issue(
        generate_private_key().public_key(),
        consumer_name("portal", "Portal"),
        CertificateKind.CONSUMER,
        now=NOW,
    )
    assert _failed(_verify(initialised, certificate)) == "chain"
    assert (
        openssl_verify(initialised.ca_cert, write_pem(tmp_path / "f.pem", certificate), at=NOW).returncode
        != 0
    )


def test_the_ca_certificate_itself_is_not_an_end_entity(initialised):
    ca = read_certificate(initialised.ca_cert)
    assert _failed(_verify(initialised, ca)) == "profile"


def test_missing_or_stale_crl_fails_closed(initialised, consumer):
    ca = read_certificate(initialised.ca_cert)
    report = verify_certificate(consumer[1], ca_certificate=ca, revocation=None, now=NOW)
    assert _failed(report) == "revocation"
    stale = load_crl(initialised.crl, ca)
    assert (
        _failed(_verify(initialised, consumer[1], stale.next_update + timedelta(seconds=1))) == "revocation"
    )


def test_crl_signed_by_another_ca_is_not_trusted(initialised):
    foreign = CertificateAuthority.create("exchange-hub", generate_private_key(), now=NOW)
    write_crl(initialised.crl, foreign.crl([], now=NOW, number=99))
    with pytest.raises(RevocationUnavailable, match="not signed by the hub CA"):
        load_crl(initialised.crl, read_certificate(initialised.ca_cert))
    initialised.crl.write_text("garbage")
    with pytest.raises(RevocationUnavailable, match="not a PEM CRL"):
        load_crl(initialised.crl, read_certificate(initialised.ca_cert))


def test_checker_sees_a_revocation_published_by_another_process(session, initialised, consumer):
    record, certificate = consumer
    checker = RevocationChecker(initialised.crl, read_certificate(initialised.ca_cert))
    assert not checker.is_revoked(certificate.serial_number)
    before = checker.state().number
    pki.revoke(
        session,
        pki.load_authority(initialised),
        initialised,
        serial=record.serial,
        reason="superseded",
        now=NOW,
    )
    assert checker.is_revoked(certificate.serial_number)
    assert checker.state().number == before + 1
    initialised.crl.unlink()
    with pytest.raises(RevocationUnavailable, match="no CRL"):
        checker.is_revoked(certificate.serial_number)


def test_revoke_errors_say_what_is_wrong(session, initialised, consumer):
    authority = pki.load_authority(initialised)
    record = consumer[0]
    with pytest.raises(pki.PkiError, match="unknown reason"):
        pki.revoke(session, authority, initialised, serial=record.serial, reason="boredom", now=NOW)
    with pytest.raises(pki.PkiError, match="not a hexadecimal"):
        pki.revoke(session, authority, initialised, serial="../etc", reason="superseded", now=NOW)
    with pytest.raises(pki.PkiError, match="no certificate"):
        pki.revoke(session, authority, initialised, serial="deadbeefdeadbeef", reason="superseded", now=NOW)
    ca_serial = format(authority.certificate.serial_number, "x")
    with pytest.raises(pki.PkiError, match="cannot revoke itself"):
        pki.revoke(session, authority, initialised, serial=ca_serial, reason="superseded", now=NOW)
    revoked = pki.revoke(
        session, authority, initialised, serial=record.serial[:10].upper(), reason="superseded", now=NOW
    )
    assert revoked.serial == record.serial
    with pytest.raises(pki.PkiError, match="already revoked"):
        pki.revoke(session, authority, initialised, serial=record.serial, reason="superseded", now=NOW)
