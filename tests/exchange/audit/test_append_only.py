"""The audit tables refuse UPDATE, DELETE (and on PostgreSQL TRUNCATE) by trigger, whoever asks.

These tests run as the database's owner: privileges do not stop an owner, the triggers do (the runtime
role's privileges are tested in tests/exchange/db/test_roles.py). Switching the triggers off takes
the owner's rights; `exchange audit verify` still catches what is then rewritten (tampering.py).
"""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from exchange.audit import service
from exchange.db import migrate
from tests.exchange.audit.conftest import Signer, build_log, record
from tests.exchange.audit.tampering import TABLES, tamper

STATEMENTS = {
    "audit_entries": ("UPDATE audit_entries SET purpose = 'x'", "DELETE FROM audit_entries"),
    "audit_checkpoints": ("UPDATE audit_checkpoints SET signer = 'x'", "DELETE FROM audit_checkpoints"),
    "audit_subtrees": ("UPDATE audit_subtrees SET level = level", "DELETE FROM audit_subtrees"),
}


def _counts(session: Session) -> list[int]:
    return [session.scalar(text(f"SELECT count(*) FROM {table}")) for table in TABLES]


def _refused(session: Session, statement: str) -> DBAPIError:
    with pytest.raises(DBAPIError) as caught:
        session.execute(text(statement))
    session.rollback()
    return caught.value


def _assert_append_only(session: Session, *, truncate: bool) -> None:
    before = _counts(session)
    assert before == [300, 1, 1]
    for table, statements in STATEMENTS.items():
        for statement in (*statements, f'{statements[1]} WHERE 1 = 1 AND "{_key(table)}" >= 0'):
            error = _refused(session, statement)
            event = statement.split()[0].upper()
            assert f"{table} is append-only: {event} refused" in str(error.orig), statement
        if truncate:
            error = _refused(session, f"TRUNCATE {table}")
            assert f"{table} is append-only: TRUNCATE refused" in str(error.orig)
            assert error.orig.sqlstate == "42501"
    assert _counts(session) == before


def _key(table: str) -> str:
    return {"audit_entries": "index", "audit_checkpoints": "tree_size", "audit_subtrees": "level"}[table]


@pytest.mark.sqlite
def test_sqlite_refuses_to_change_or_remove_entries_checkpoints_and_subtrees(
    session: Session, signer: Signer
):
    build_log(session, 300, signer, at=(300,))
    _assert_append_only(session, truncate=False)
    service.append(session, record(300), service.EPOCH)  # the lock row still moves: appends go on
    session.commit()
    assert service.tree_size(session) == 301


def test_postgresql_refuses_even_the_owner(pg_session: Session, signer: Signer):
    build_log(pg_session, 300, signer, at=(300,))
    _assert_append_only(pg_session, truncate=True)
    error = _refused(pg_session, "UPDATE audit_entries SET purpose = 'x' WHERE \"index\" = 3")
    assert error.orig.sqlstate == "42501" and error.orig.diag.message_hint.startswith(
        "Old entries are archived"
    )


@pytest.mark.parametrize("backend", [pytest.param("sqlite", marks=pytest.mark.sqlite), "postgresql"])
def test_what_an_owner_rewrites_with_the_triggers_off_verify_still_names(backend, request, signer: Signer):
    session = request.getfixturevalue("session" if backend == "sqlite" else "pg_session")
    build_log(session, 64, signer, at=(64,))
    tamper(session, "UPDATE audit_entries SET purpose = 'rewritten' WHERE \"index\" = 17")
    first = service.verify_log(session, ca_certificate=signer.ca, hub_id=signer.hub_id).first_problem
    assert (first.kind, first.first) == ("changed", 17)
    error = _refused(session, 'DELETE FROM audit_entries WHERE "index" = 18')  # the triggers are back
    assert "audit_entries is append-only: DELETE refused" in str(error.orig)


@pytest.mark.parametrize("backend", [pytest.param("sqlite", marks=pytest.mark.sqlite), "postgresql"])
def test_the_downgrade_removes_the_triggers_and_the_upgrade_restores_them(backend, request):
    engine: Engine = request.getfixturevalue("engine" if backend == "sqlite" else "pg_engine")
    assert _triggers(engine) == _expected(backend)
    migrate.downgrade(engine, "0008")
    assert _triggers(engine) == set()
    with engine.begin() as connection:  # nothing stops a change any more
        connection.execute(
            text('INSERT INTO audit_subtrees (level, "index", hash) VALUES (8, 0, :h)'), {"h": b"1" * 32}
        )
        connection.execute(text("UPDATE audit_subtrees SET hash = :h"), {"h": b"2" * 32})
        connection.execute(text("DELETE FROM audit_subtrees"))
    migrate.upgrade(engine)
    assert _triggers(engine) == _expected(backend)


def _expected(backend: str) -> set[str]:
    if backend == "sqlite":
        return {f"{table}_append_only_{event}" for table in TABLES for event in ("update", "delete")}
    return {f"{table}_append_only{suffix}" for table in TABLES for suffix in ("", "_truncate")}


def _triggers(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            rows = connection.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))
        else:
            rows = connection.execute(text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"))
            functions = connection.scalar(
                text("SELECT count(*) FROM pg_proc WHERE proname = 'exchange_audit_append_only'")
            )
            names = {name for (name,) in rows}
            assert functions == (1 if names else 0), "the trigger function lives and goes with the triggers"
            return names
        return {name for (name,) in rows}
