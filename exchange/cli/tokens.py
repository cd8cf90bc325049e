"""`exchange tokens`: bearer tokens for the management API. The secret is printed once, never stored."""

from __future__ import annotations

from datetime import UTC, datetime

import typer
from rich.markup import escape
from rich.text import Text

from exchange.access import service as access
from exchange.cli.context import console, settings
from exchange.cli.options import cell, refuse, required, table, unit_of_work

app = typer.Typer(
    help="Management API tokens (admin, governance, department, consumer).", no_args_is_help=True
)


@app.command("add")
def add(
    name: str = typer.Argument(..., help="Who holds the token (a person or a system)."),
    role: str | None = typer.Option(
        None, "--role", metavar=f"[{'|'.join(access.ROLES)}]", help="What it may do (required)."
    ),
    department: str | None = typer.Option(
        None, "--department", help="The department a department token acts for (e.g. tax)."
    ),
    client_id: str | None = typer.Option(None, "--client-id", help="The consumer a consumer token acts for."),
) -> None:
    """Issue a token and print its secret, once: only its SHA-256 is kept."""
    wanted = required(role, "--role", f"one of {', '.join(access.ROLES)}")
    try:
        with unit_of_work(settings()) as session:
            row, secret = access.issue_token(
                session,
                name=name,
                role=wanted,
                department_id=department,
                client_id=client_id,
                now=datetime.now(UTC),
            )
    except access.AccessError as exc:
        refuse(exc)
    scope = row.department_id or row.client_id
    console.print(
        f"issued token [bold]#{row.id}[/] for {escape(row.name)}: {row.role}"
        + (f" ({escape(scope)})" if scope else ""),
        highlight=False,
    )
    console.print(
        "[bold yellow]warning:[/] the secret below is shown only now and is not stored; "
        "copy it somewhere safe. Use it as `Authorization: Bearer <secret>`.",
        highlight=False,
    )
    console.print(secret, markup=False, highlight=False, soft_wrap=True)


@app.command("list")
def list_tokens() -> None:
    """List tokens (never their secrets)."""
    with unit_of_work(settings()) as session:
        tokens = access.list_tokens(session)
    rows = table("id", "name", "role", "department", "consumer", "created (UTC)", "status", no_wrap=("id",))
    for row in tokens:
        status = (
            Text(f"revoked {row.revoked_at:%Y-%m-%d %H:%M}", style="red")
            if row.revoked_at is not None
            else Text("active", style="green")
        )
        rows.add_row(
            cell(row.id),
            cell(row.name),
            cell(row.role),
            cell(row.department_id),
            cell(row.client_id),
            cell(row.created_at),
            status,
        )
    console.print(rows)
    console.print(f"{len(tokens)} token{'' if len(tokens) == 1 else 's'}", highlight=False)


@app.command("revoke")
def revoke(token_id: int = typer.Argument(..., help="The token's id (see `exchange tokens list`).")) -> None:
    """Revoke a token: requests carrying it are refused from now on. Revoking twice changes nothing."""
    now = datetime.now(UTC)
    try:
        with unit_of_work(settings()) as session:
            row = access.revoke_token(session, token_id=token_id, now=now)
    except access.AccessError as exc:
        refuse(exc)
    # revoke_token leaves an earlier revocation as it was; then revoked_at is the stored (naive) time.
    if row.revoked_at is not None and row.revoked_at != now:
        console.print(
            f"token [bold]#{row.id}[/] ({escape(row.name)}) was already revoked at "
            f"{row.revoked_at:%Y-%m-%d %H:%M} UTC",
            highlight=False,
        )
        return
    console.print(f"revoked token [bold]#{row.id}[/] ({escape(row.name)})", highlight=False)
