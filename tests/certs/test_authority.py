"""Issued certificates chain to the hub CA, for us and for OpenSSL, with the profile we promise."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from adapters.registry import DEPARTMENTS
from certs import service as pki
from certs.authority import CertificateAuthority, CertificateKind, consumer_name, uscc_of
from certs.keys import KeyAlgorithm, generate_private_key
from certs.revocation import load_crl
from certs.store import read_certificate
from certs.verification import verify_certificate
from tests.certs.helpers import openssl_verify
from tests.conftest import NOW


@pytest.mark.parametrize("algorithm", list(KeyAlgorithm))
def test_init_creates_ca_hub_and_department_certificates_that_openssl_accepts(
    session, paths, settings, algorithm
):
    result = pki.init_pki(
        session,
        paths=paths,
        hub_id=settings.hub_id,
        departments=DEPARTMENTS.values(),
        now=NOW,
        algorithm=algorithm,
    )
    assert result.created_ca and result.algorithm is algorithm
    ca = read_certificate(paths.ca_cert)
    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca and constraints.value.path_length == 0
    expected_key = (
        ed25519.Ed25519PublicKey if algorithm is KeyAlgorithm.ED25519 else ec.EllipticCurvePublicKey
    )
    assert isinstance(ca.public_key(), expected_key)
    for department in DEPARTMENTS.values():
        cert_path = paths.department_cert(department.id)
        assert openssl_verify(paths.ca_cert, cert_path, paths.crl, at=NOW).returncode == 0
        assert uscc_of(read_certificate(cert_path)) == department.uscc
    assert openssl_verify(paths.ca_cert, paths.hub_cert, at=NOW).returncode == 0


def test_private_keys_are_owner_only_and_directories_private(initialised):
    keys = [initialised.ca_key, initialised.hub_key, *initialised.root.glob("departments/*.key")]
    assert len(keys) == 2 + len(DEPARTMENTS)
    for key in keys:
        assert key.stat().st_mode & 0o777 == 0o600, key
    assert initialised.root.stat().st_mode & 0o777 == 0o700


def test_init_is_idempotent_and_keeps_the_existing_ca(session, initialised, settings):
    before = initialised.ca_cert.read_bytes()
    again = pki.init_pki(
        session,
        paths=initialised,
        hub_id=settings.hub_id,
        departments=DEPARTMENTS.values(),
        now=NOW + timedelta(days=1),
        algorithm=KeyAlgorithm.P256,
    )
    assert not again.created_ca and again.issued == []
    assert again.algorithm is KeyAlgorithm.ED25519
    assert initialised.ca_cert.read_bytes() == before


def test_half_a_ca_is_refused_rather_than_overwritten(session, initialised, settings):
    initialised.ca_key.unlink()
    with pytest.raises(pki.PkiError, match="half a CA"):
        pki.init_pki(session, paths=initialised, hub_id=settings.hub_id, departments=[], now=NOW)


def test_consumer_certificate_from_p256_key_under_ed25519_ca(session, initialised):
    authority = pki.load_authority(initialised)
    key = generate_private_key(KeyAlgorithm.P256)
    _record, certificate = pki.issue_consumer(
        session,
        authority,
        initialised,
        client_id="one-window",
        name="One window",
        public_key=key.public_key(),
        now=NOW,
    )
    assert certificate.subject == consumer_name("one-window", "One window")
    usage = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH in usage
    assert (
        openssl_verify(
            initialised.ca_cert, initialised.consumer_cert("one-window"), initialised.crl, at=NOW
        ).returncode
        == 0
    )
    report = verify_certificate(
        certificate,
        ca_certificate=authority.certificate,
        revocation=load_crl(initialised.crl, authority.certificate),
        now=NOW,
    )
    assert report.ok, report.first_failure


def test_end_entity_never_outlives_the_ca():
    ca = CertificateAuthority.create("hub", generate_private_key(), now=NOW)
    certificate = ca.issue(
        generate_private_key().public_key(),
        consumer_name("c-1", "C"),
        CertificateKind.CONSUMER,
        now=NOW,
        validity=timedelta(days=100_000),
    )
    assert certificate.not_valid_after_utc == ca.certificate.not_valid_after_utc


def test_the_ca_is_created_not_issued():
    ca = CertificateAuthority.create("hub", generate_private_key(), now=NOW)
    with pytest.raises(ValueError, match="created"):
        ca.issue(generate_private_key().public_key(), consumer_name("c-1", "C"), CertificateKind.CA, now=NOW)


def test_department_with_invalid_uscc_gets_no_certificate(session, initialised):
    from adapters.base import Department
    from exchange.identifiers import InvalidIdentifier

    bogus = Department(id="bogus", name="Bogus", name_en="Bogus", uscc="11330100MB00000011")
    with pytest.raises(InvalidIdentifier):
        pki.issue_department(session, pki.load_authority(initialised), initialised, bogus, now=NOW)
    assert not initialised.department_key("bogus").exists()
