"""Rewrite the audit log the way an attacker holding the owner role would.

Migration 0009 makes the audit tables refuse UPDATE and DELETE by trigger. Someone who owns the tables
can still switch the triggers off: on PostgreSQL ``ALTER TABLE ... DISABLE TRIGGER USER`` (the owner
may; the runtime role may not), on SQLite dropping them. Tests that prove `exchange audit verify`
catches a rewritten log tamper through :func:`tamper` or :func:`triggers_off`, which do exactly that
around the statements and put the triggers back, all in one transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Executable, text
from sqlalchemy.orm import Session

from exchange.audit.models import APPEND_ONLY_TABLES as TABLES


@contextmanager
def triggers_off(session: Session) -> Iterator[Session]:
    """The append-only triggers are off inside the block, back on and committed after it."""
    if session.connection().dialect.name == "postgresql":
        for table in TABLES:
            session.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
        yield session
        for table in TABLES:
            session.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER USER"))
    else:
        triggers = session.execute(
            text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN (:a, :b, :c)"),
            dict(zip("abc", TABLES, strict=True)),
        ).all()
        for name, _ in triggers:
            session.execute(text(f'DROP TRIGGER "{name}"'))
        yield session
        for _, sql in triggers:
            session.execute(text(sql))
    session.commit()


def tamper(session: Session, statement: str | Executable, **params: object) -> None:
    """Run ``statement`` (SQL text or a Core statement) with the append-only triggers off, then commit."""
    with triggers_off(session):
        session.execute(text(statement) if isinstance(statement, str) else statement, params)
