"""Registering consumer systems with Ed25519 and P-256 keys."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from certs import service as pki
from certs.jwk import jwk_thumbprint
from certs.keys import KeyAlgorithm, generate_private_key
from certs.store import read_certificate
from exchange.consumers import repository
from exchange.consumers import service as consumers
from exchange.consumers.schemas import ConsumerCreate
from tests.certs.helpers import openssl_verify
from tests.conftest import NOW


@pytest.mark.parametrize("algorithm", list(KeyAlgorithm))
def test_register_certifies_the_key_and_records_its_kid(session, initialised, algorithm):
    key = generate_private_key(algorithm)
    created = consumers.register(
        session,
        paths=initialised,
        data=ConsumerCreate(client_id="school-enrol", name="School enrolment"),
        public_key=key.public_key(),
        passphrase=None,
        now=NOW,
    )
    assert created.kid == jwk_thumbprint(key.public_key())
    assert created.key_algorithm == algorithm.value
    certificate = read_certificate(initialised.consumer_cert("school-enrol"))
    assert certificate.public_key() == key.public_key()
    assert (
        openssl_verify(
            initialised.ca_cert, initialised.consumer_cert("school-enrol"), initialised.crl, at=NOW
        ).returncode
        == 0
    )
    stored = repository.get_by_kid(session, kid=created.kid)
    assert stored is not None and stored.certificate_serial == format(certificate.serial_number, "x")
    assert repository.owner_of_kid(session, kid=created.kid) == ("school-enrol", "active")
    assert repository.owner_of_kid(session, kid="no-such-kid") is None


def test_same_client_id_or_same_key_twice_is_a_conflict(session, initialised):
    key = generate_private_key()
    data = ConsumerCreate(client_id="portal", name="Portal")
    consumers.register(
        session, paths=initialised, data=data, public_key=key.public_key(), passphrase=None, now=NOW
    )
    with pytest.raises(consumers.ConsumerConflict, match="already registered"):
        consumers.register(
            session,
            paths=initialised,
            data=data,
            public_key=generate_private_key().public_key(),
            passphrase=None,
            now=NOW,
        )
    with pytest.raises(consumers.ConsumerConflict, match="registered to 'portal'"):
        consumers.register(
            session,
            paths=initialised,
            data=ConsumerCreate(client_id="portal-2", name="P2"),
            public_key=key.public_key(),
            passphrase=None,
            now=NOW,
        )


def test_register_before_pki_init_says_what_to_run(session, paths):
    with pytest.raises(pki.PkiError, match="exchange pki init"):
        consumers.register(
            session,
            paths=paths,
            data=ConsumerCreate(client_id="portal", name="Portal"),
            public_key=generate_private_key().public_key(),
            passphrase=None,
            now=NOW,
        )


@pytest.mark.parametrize("client_id", ["ab", "Upper", "../x", "a b", "-lead", "x" * 65, "trail-"])
def test_invalid_client_ids_are_refused(client_id):
    with pytest.raises(ValidationError):
        ConsumerCreate(client_id=client_id, name="n")
