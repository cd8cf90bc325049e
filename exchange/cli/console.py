"""`exchange console users`: accounts of the web console (governance, department, consumer staff)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.markup import escape
from rich.text import Text

from exchange.cli.context import console, settings
from exchange.cli.options import cell, refuse, required, table, unit_of_work
from exchange.console import accounts

app = typer.Typer(help="The web console at /console.", no_args_is_help=True)
users = typer.Typer(help="Console accounts: who may sign in, with which role.", no_args_is_help=True)
app.add_typer(users, name="users")

_PASSWORD_FILE = typer.Option(
    None,
    "--password-file",
    help="Read the password from this file's first line ('-' for standard input); else it is asked for.",
)


@users.command("add")
def add(
    username: str = typer.Argument(..., help="The sign-in name (letters, digits, '-', '_', '.')."),
    role: str | None = typer.Option(
        None, "--role", metavar=f"[{'|'.join(accounts.CONSOLE_ROLES)}]", help="What they do (required)."
    ),
    name: str = typer.Option("", "--name", help="The person's name, as the console shows it."),
    department: str | None = typer.Option(None, "--department", help="A department administrator's."),
    client_id: str | None = typer.Option(None, "--client-id", help="A consumer administrator's system."),
    password_file: str | None = _PASSWORD_FILE,
) -> None:
    """Create an account; the password is hashed with argon2id and never stored or shown."""
    wanted = required(role, "--role", f"one of {', '.join(accounts.CONSOLE_ROLES)}")
    password = _password(password_file)
    try:
        with unit_of_work(settings()) as session:
            user = accounts.create_user(
                session,
                username=username,
                display_name=name,
                role=wanted,
                password=password,
                department_id=department,
                client_id=client_id,
                now=datetime.now(UTC),
            )
    except accounts.AccessError as exc:
        refuse(exc)
    scope = user.department_id or user.client_id
    console.print(
        f"created console user [bold]{escape(user.username)}[/]: {user.role}"
        + (f" ({escape(scope)})" if scope else ""),
        highlight=False,
    )


@users.command("list")
def list_users() -> None:
    """List console accounts (never their password hashes)."""
    with unit_of_work(settings()) as session:
        found = accounts.list_users(session)
    rows = table("username", "name", "role", "department", "consumer", "created (UTC)", "status")
    for user in found:
        status = (
            Text(f"disabled {user.disabled_at:%Y-%m-%d %H:%M}", style="red")
            if user.disabled_at is not None
            else Text("active", style="green")
        )
        rows.add_row(
            cell(user.username),
            cell(user.display_name),
            cell(user.role),
            cell(user.department_id),
            cell(user.client_id),
            cell(user.created_at),
            status,
        )
    console.print(rows)


@users.command("password")
def password(
    username: str = typer.Argument(..., help="Whose password to set."),
    password_file: str | None = _PASSWORD_FILE,
) -> None:
    """Set a new password (and lift a lockout)."""
    new = _password(password_file)
    try:
        with unit_of_work(settings()) as session:
            accounts.set_password(session, username=username, password=new)
    except accounts.AccessError as exc:
        refuse(exc)
    console.print(f"password of {escape(username)} changed", highlight=False)


@users.command("disable")
def disable(username: str = typer.Argument(..., help="Whose account to disable.")) -> None:
    """Disable an account: no more sign-ins, and its open sessions end now."""
    try:
        with unit_of_work(settings()) as session:
            accounts.disable_user(session, username=username, now=datetime.now(UTC))
    except accounts.AccessError as exc:
        refuse(exc)
    console.print(f"disabled {escape(username)}; its sessions ended", highlight=False)


def _password(source: str | None) -> str:
    if source is None:
        return typer.prompt("password", hide_input=True, confirmation_prompt=True)
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        refuse(ValueError(f"cannot read the password file {source}: {exc.strerror}"))
    return text.splitlines()[0] if text else ""
