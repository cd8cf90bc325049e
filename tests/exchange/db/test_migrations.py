"""Migrations go up and down cleanly on SQLite and PostgreSQL, and match the models."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from exchange.db import migrate
from exchange.db.engine import make_engine
from exchange.db.metadata import metadata

TABLES = set(metadata.tables)


def _revisions() -> list[str]:
    script = ScriptDirectory(str(migrate.MIGRATIONS_DIR))
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def _roundtrip(url: str) -> None:
    engine = make_engine(url)
    try:
        assert migrate.current_revision(engine) is None
        migrate.upgrade(engine)
        assert migrate.is_current(engine)
        assert set(inspect(engine).get_table_names()) >= TABLES
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), metadata)
        assert diff == [], f"models and migrations differ: {diff}"
        # Step down one revision at a time, then all the way up again.
        for revision in reversed(_revisions()):
            migrate.downgrade(engine, "-1")
            assert migrate.current_revision(engine) != revision
        assert migrate.current_revision(engine) is None
        assert not TABLES & set(inspect(engine).get_table_names())
        migrate.upgrade(engine)
        assert migrate.is_current(engine)
    finally:
        engine.dispose()


def test_sqlite_migrates_up_and_down(tmp_path):
    _roundtrip(f"sqlite:///{tmp_path / 'm.db'}")


def test_postgresql_migrates_up_and_down(postgres_url):
    _roundtrip(postgres_url)


def test_revisions_form_one_line():
    script = ScriptDirectory(str(migrate.MIGRATIONS_DIR))
    assert len(script.get_heads()) == 1
    assert _revisions()[0] == "0001"


@pytest.mark.parametrize("backend", ["sqlite"])
def test_datetimes_come_back_timezone_aware(backend, session, initialised):
    from certs import repository

    record = repository.list_all(session)[0]
    assert record.issued_at.tzinfo is not None
