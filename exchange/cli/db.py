"""`exchange db`: inspect and move the schema (Alembic), and grant the hub's runtime role (PostgreSQL).

With EXCHANGE_DATABASE_ADMIN_URL set, `upgrade` and `downgrade` run as that owner role, and `upgrade`
then grants the role of EXCHANGE_DATABASE_URL its runtime privileges (docs/operations.md).
"""

from __future__ import annotations

import typer

from exchange.cli.context import console, fail, settings
from exchange.db import migrate
from exchange.db.engine import engine_for
from exchange.db.roles import Grants, RoleError

app = typer.Typer(help="Database migrations and the runtime role's privileges.", no_args_is_help=True)


@app.command()
def upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Migrate the database up (to the latest revision by default); as the owner role if one is set."""
    current = settings()
    engine = engine_for(current)
    try:
        granted = migrate.upgrade_database(current, engine, revision)
        console.print(f"database at revision [bold]{migrate.current_revision(engine)}[/]")
    except RoleError as exc:
        fail(str(exc))
    finally:
        engine.dispose()
    if granted is not None:
        _print_grants(granted)


@app.command()
def downgrade(revision: str = typer.Argument(..., help="Target revision, or 'base' for empty.")) -> None:
    """Migrate the database down. Dropping tables loses their data: back up first."""
    current = settings()
    engine = engine_for(current)
    try:
        migrate.downgrade_database(current, engine, revision)
        console.print(f"database at revision [bold]{migrate.current_revision(engine) or 'base'}[/]")
    except RoleError as exc:
        fail(str(exc))
    finally:
        engine.dispose()


@app.command()
def current() -> None:
    """Show the database's revision and the latest one."""
    engine = engine_for(settings())
    console.print(
        f"current: [bold]{migrate.current_revision(engine) or 'none'}[/]  "
        f"head: [bold]{migrate.head_revision()}[/]"
    )


@app.command()
def grant(role: str = typer.Argument(..., help="The PostgreSQL role the hub workers connect as.")) -> None:
    """Grant ROLE exactly the hub's runtime privileges (PostgreSQL), as the owner role.

    The owner is EXCHANGE_DATABASE_ADMIN_URL's role, else EXCHANGE_DATABASE_URL's. Audit entries,
    checkpoints and subtrees: SELECT and INSERT only; other tables: SELECT, INSERT, UPDATE, DELETE.
    Idempotent: run it again after every migration if `exchange db upgrade` does not do it for you.
    """
    current = settings()
    try:
        owner = migrate.owner_engine(current) or engine_for(current)
        try:
            granted = migrate.grant(owner, role)
        finally:
            owner.dispose()
    except RoleError as exc:
        fail(str(exc))
    _print_grants(granted)


def _print_grants(granted: Grants) -> None:
    console.print(
        f"granted role [bold]{granted.role}[/] its runtime privileges on {len(granted.tables)} tables "
        f"of schema {granted.schema} (owner {granted.owner}):"
    )
    for table, privileges in sorted(granted.tables.items()):
        if privileges != ("SELECT", "INSERT", "UPDATE", "DELETE"):
            console.print(f"  {table}: {', '.join(privileges)} only")
    for note in granted.notes:
        console.print(f"[yellow]note:[/] {note}")
