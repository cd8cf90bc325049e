"""Alembic environment: the engine comes from the caller (exchange.db.migrate) or the settings."""

from __future__ import annotations

from alembic import context

from exchange.db.metadata import metadata

config = context.config


def _engine():  # noqa: ANN202
    engine = config.attributes.get("engine")
    if engine is None:
        from exchange.config import get_settings
        from exchange.db.engine import engine_for

        engine = engine_for(get_settings())
    return engine


def run_migrations_online() -> None:
    engine = _engine()
    with engine.begin() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; run against a database")
run_migrations_online()
