"""Every SQL query on the ``consumers`` table."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from exchange.consumers.models import Consumer


def get(session: Session, *, client_id: str) -> Consumer | None:
    return session.get(Consumer, client_id)


def get_by_kid(session: Session, *, kid: str) -> Consumer | None:
    return session.scalars(select(Consumer).where(Consumer.kid == kid)).first()


def owner_of_kid(session: Session, *, kid: str) -> tuple[str, str] | None:
    """(client_id, status) of the consumer holding key ``kid``: what every signed request needs,
    read without loading the whole row as an ORM object."""
    row = session.execute(select(Consumer.client_id, Consumer.status).where(Consumer.kid == kid)).first()
    return None if row is None else (row.client_id, row.status)


def add(session: Session, consumer: Consumer) -> Consumer:
    session.add(consumer)
    session.flush()
    return consumer


def list_all(session: Session) -> Sequence[Consumer]:
    return session.scalars(select(Consumer).order_by(Consumer.client_id)).all()
