"""`exchange db`: inspect and move the schema (Alembic)."""

from __future__ import annotations

import typer

from exchange.cli.context import console, settings
from exchange.db import migrate
from exchange.db.engine import engine_for

app = typer.Typer(help="Database migrations.", no_args_is_help=True)


@app.command()
def upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Migrate the database up (to the latest revision by default)."""
    engine = engine_for(settings())
    migrate.upgrade(engine, revision)
    console.print(f"database at revision [bold]{migrate.current_revision(engine)}[/]")


@app.command()
def downgrade(revision: str = typer.Argument(..., help="Target revision, or 'base' for empty.")) -> None:
    """Migrate the database down. Dropping tables loses their data: back up first."""
    engine = engine_for(settings())
    migrate.downgrade(engine, revision)
    console.print(f"database at revision [bold]{migrate.current_revision(engine) or 'base'}[/]")


@app.command()
def current() -> None:
    """Show the database's revision and the latest one."""
    engine = engine_for(settings())
    console.print(
        f"current: [bold]{migrate.current_revision(engine) or 'none'}[/]  "
        f"head: [bold]{migrate.head_revision()}[/]"
    )
