"""What every command needs: settings, an engine, a console, and one way to fail."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console
from sqlalchemy import Engine

from exchange.config import Settings, get_settings
from exchange.db import migrate
from exchange.db.engine import engine_for

console = Console()
errors = Console(stderr=True)


def fail(message: str, code: int = 1) -> NoReturn:
    errors.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def settings() -> Settings:
    try:
        return get_settings()
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        fail(f"invalid configuration: {exc}")


def migrated_engine(current: Settings) -> Engine:
    """An engine on a database at the latest migration, or a clear error saying how to get there."""
    engine = engine_for(current)
    revision = migrate.current_revision(engine)
    if revision != migrate.head_revision():
        fail(
            f"the database at {engine.url.render_as_string(hide_password=True)} is at migration "
            f"{revision or 'none'}, not {migrate.head_revision()}: run `exchange db upgrade` "
            "or `exchange up`"
        )
    return engine
