"""Registering consumer systems: validate, issue their certificate, remember their kid."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from certs import service as pki
from certs.jwk import jwk_thumbprint
from certs.keys import PublicKey, algorithm_of, public_key_pem
from certs.store import PkiPaths
from exchange.consumers import repository
from exchange.consumers.models import Consumer
from exchange.consumers.schemas import ConsumerCreate, ConsumerRead


class ConsumerConflict(Exception):
    """The client id or the key is already registered."""


def register(
    session: Session,
    *,
    paths: PkiPaths,
    data: ConsumerCreate,
    public_key: PublicKey,
    passphrase: bytes | None,
    now: datetime,
) -> ConsumerRead:
    """Issue a hub-CA certificate for the consumer's public key and record the consumer.

    Raises ``ConsumerConflict`` when the client id or the key is taken (one key, one system), and
    ``certs.service.PkiError`` when the PKI is not initialised.
    """
    kid = jwk_thumbprint(public_key)
    if repository.get(session, client_id=data.client_id) is not None:
        raise ConsumerConflict(f"consumer {data.client_id!r} is already registered")
    holder = repository.get_by_kid(session, kid=kid)
    if holder is not None:
        raise ConsumerConflict(f"this public key is already registered to {holder.client_id!r}")
    authority = pki.load_authority(paths, passphrase)
    record, _certificate = pki.issue_consumer(
        session,
        authority,
        paths,
        client_id=data.client_id,
        name=data.name,
        public_key=public_key,
        now=now,
    )
    consumer = repository.add(
        session,
        Consumer(
            client_id=data.client_id,
            name=data.name,
            kid=kid,
            key_algorithm=algorithm_of(public_key).value,
            public_key_pem=public_key_pem(public_key),
            certificate_serial=record.serial,
            status="active",
            created_at=now,
        ),
    )
    return to_read(consumer, paths)


def to_read(consumer: Consumer, paths: PkiPaths) -> ConsumerRead:
    return ConsumerRead(
        client_id=consumer.client_id,
        name=consumer.name,
        kid=consumer.kid,
        key_algorithm=consumer.key_algorithm,
        certificate_serial=consumer.certificate_serial,
        certificate_path=str(paths.consumer_cert(consumer.client_id)),
        status=consumer.status,
    )
