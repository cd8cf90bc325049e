"""Audit-log fixtures: records, the hub's signing key, logs of a given size with checkpoints."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta

import pytest
from cryptography import x509
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from certs.keys import PrivateKey, load_private_key
from certs.store import PkiPaths, read_certificate
from exchange.audit import service
from exchange.audit.schemas import AuditRecord
from exchange.db import migrate
from exchange.db.engine import make_engine, session_factory
from tests.conftest import NOW
from tests.exchange.audit.tampering import tamper


def record(i: int, **changes: object) -> AuditRecord:
    values: dict[str, object] = {
        "request_id": f"req-{i:06d}",
        "client_id": "approval-portal" if i % 7 else None,
        "operator_id": f"op-{i % 5}",
        "operator_name": "王小明",
        "resource_code": "301001001-000001",
        "provider_id": "household",
        "subject_type": "id_card",
        "subject_value": f"1101051949123{i % 10:04d}X",
        "items_asked": ["name", "birth_date"],
        "items_returned": ["name"] if i % 3 else [],
        "matter_code": "330100-SCHOOL-01",
        "purpose": "小学入学资格审核",
        "legal_basis": None,
        "decision": "allow" if i % 3 else "deny",
        "reason": None if i % 3 else "no grant covers birth_date",
        "http_status": 200 if i % 3 else 403,
        "latency_ms": i % 97,
        "request_hash": f"{i:043d}",
        "response_hash": None,
        "request_jti": f"jti-{i}",
        "endpoint": ("query", "verify", "license")[i % 3],
    }
    values.update(changes)
    return AuditRecord.model_validate(values)


@dataclass
class Signer:
    key: PrivateKey
    chain: list[x509.Certificate]
    hub_id: str
    ca: x509.Certificate


@pytest.fixture
def signer(initialised: PkiPaths, settings) -> Signer:
    paths = initialised
    ca = read_certificate(paths.ca_cert)
    return Signer(
        load_private_key(paths.hub_key), [read_certificate(paths.hub_cert), ca], settings.hub_id, ca
    )


def build_log(session: Session, size: int, signer: Signer | None = None, at: Sequence[int] = ()) -> None:
    """Append ``size`` entries, signing a checkpoint when the log reaches each size in ``at``."""
    for i in range(size):
        service.append(session, record(i), NOW + timedelta(seconds=i))
        if signer is not None and i + 1 in at:
            sign(session, signer, seconds=i)
    session.commit()


def sign(session: Session, signer: Signer, seconds: int = 0):
    return service.checkpoint(
        session,
        signer_key=signer.key,
        signer_chain=signer.chain,
        hub_id=signer.hub_id,
        now=NOW + timedelta(seconds=seconds, milliseconds=500),
    )


def sql(session: Session, statement: str, **params: object) -> None:
    """Tamper with the log: ``statement`` runs with the append-only triggers off (see tampering.py)."""
    tamper(session, statement, **params)


@pytest.fixture
def pg_engine(postgres_url: str) -> Iterator[Engine]:
    engine = make_engine(postgres_url)
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def pg_session(pg_engine: Engine) -> Iterator[Session]:
    with session_factory(pg_engine)() as session:
        yield session
        session.rollback()
