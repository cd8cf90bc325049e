"""Alembic migrations driven from code, so `exchange up` and tests migrate without an ini file.

With ``EXCHANGE_DATABASE_ADMIN_URL`` (PostgreSQL) the migrations run as that owner role and the hub's
role (``EXCHANGE_DATABASE_URL``) is then granted only its runtime privileges (``exchange.db.roles``):
:func:`upgrade_database` is what `exchange up`, `exchange db upgrade` and `exchange pki init` call.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from exchange.config import Settings
from exchange.db import roles
from exchange.db.engine import make_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def head_revision() -> str:
    script = ScriptDirectory(str(MIGRATIONS_DIR))
    head = script.get_current_head()
    assert head is not None, "no migrations found"
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str) -> None:
    command.downgrade(alembic_config(engine), revision)


def is_current(engine: Engine) -> bool:
    return current_revision(engine) == head_revision()


def owner_engine(settings: Settings) -> Engine | None:
    """An engine on the owner role's URL when ``EXCHANGE_DATABASE_ADMIN_URL`` is set, else None.

    Raises ``roles.RoleError`` when it names another server or database than ``EXCHANGE_DATABASE_URL``.
    """
    if not settings.database_admin_url:
        return None
    admin, runtime = make_url(settings.database_admin_url), make_url(settings.database_url)
    where = ("host", "port", "database")
    if any(getattr(admin, part) != getattr(runtime, part) for part in where):
        raise roles.RoleError(
            "EXCHANGE_DATABASE_ADMIN_URL and EXCHANGE_DATABASE_URL must name the same host, port and database"
        )
    return make_engine(settings.database_admin_url)


def upgrade_database(settings: Settings, engine: Engine, revision: str = "head") -> roles.Grants | None:
    """Migrate ``engine``'s database; as the owner role, then grant the runtime role, when one is set.

    Returns what was granted (None without an owner role). Raises ``roles.RoleError``.
    """
    owner = owner_engine(settings)
    if owner is None:
        upgrade(engine, revision)
        return None
    try:
        upgrade(owner, revision)
        return grant(owner, engine.url.username or "")
    finally:
        owner.dispose()


def downgrade_database(settings: Settings, engine: Engine, revision: str) -> None:
    owner = owner_engine(settings)
    try:
        downgrade(owner or engine, revision)
    finally:
        if owner is not None:
            owner.dispose()


def grant(owner: Engine, role: str) -> roles.Grants:
    """Grant ``role`` the runtime privileges on the tables ``owner``'s role owns, in one transaction."""
    from exchange.db.metadata import metadata

    with owner.begin() as connection:
        return roles.grant_runtime(connection, role, metadata)
