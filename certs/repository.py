"""Every SQL query on the ``certificates`` table."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from certs.models import IssuedCertificate


def add(session: Session, certificate: IssuedCertificate) -> IssuedCertificate:
    session.add(certificate)
    session.flush()
    return certificate


def get(session: Session, *, serial: str) -> IssuedCertificate | None:
    return session.get(IssuedCertificate, serial)


def find_by_prefix(session: Session, *, serial_prefix: str) -> Sequence[IssuedCertificate]:
    return session.scalars(
        select(IssuedCertificate).where(IssuedCertificate.serial.startswith(serial_prefix)).limit(2)
    ).all()


def current_for(session: Session, *, kind: str, owner_id: str) -> IssuedCertificate | None:
    """The newest unrevoked certificate of this owner."""
    return session.scalars(
        select(IssuedCertificate)
        .where(
            IssuedCertificate.kind == kind,
            IssuedCertificate.owner_id == owner_id,
            IssuedCertificate.revoked_at.is_(None),
        )
        .order_by(IssuedCertificate.issued_at.desc())
        .limit(1)
    ).first()


def revoked(session: Session) -> Sequence[IssuedCertificate]:
    return session.scalars(
        select(IssuedCertificate)
        .where(IssuedCertificate.revoked_at.is_not(None))
        .order_by(IssuedCertificate.revoked_at)
    ).all()


def list_all(session: Session, *, kind: str | None = None) -> Sequence[IssuedCertificate]:
    query = select(IssuedCertificate).order_by(IssuedCertificate.issued_at)
    if kind is not None:
        query = query.where(IssuedCertificate.kind == kind)
    return session.scalars(query).all()
