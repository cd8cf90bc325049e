"""`exchange grants`: the hub administrator grants unconditional resources and revokes grants.

Conditional resources (有条件共享) are granted only by approving an application
(`exchange applications`); the rules live in ``directory.service``, this module only parses and prints.
"""

from __future__ import annotations

from datetime import UTC, datetime

import typer
from pydantic import ValidationError
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from directory import service as directory
from directory.calendar import today
from directory.schemas import GrantCreate
from exchange.cli.context import console, fail, settings
from exchange.cli.options import (
    cell,
    invalid,
    one_year_after,
    operator,
    parse_date,
    parse_fields,
    refuse,
    required,
    table,
    unit_of_work,
)

app = typer.Typer(
    help="Grants: which consumer may use which items of a resource, for which matters.",
    no_args_is_help=True,
)

GRANT_OPTIONS = {
    "client_id": "CLIENT_ID",
    "resource_code": "RESOURCE_CODE",
    "items": "--fields",
    "matter_codes": "--matter",
    "valid_from": "--from",
    "valid_to": "--to",
}


@app.command("add")
def add(
    client_id: str = typer.Argument(..., help="The consumer system's client_id."),
    resource_code: str = typer.Argument(..., help="An unconditionally shared resource's code."),
    fields: str | None = typer.Option(
        None, "--fields", help="Data items granted, comma-separated (required)."
    ),
    matter: list[str] = typer.Option(
        [], "--matter", help="Approval matter code the grant covers (required; repeatable)."
    ),
    valid_from: str | None = typer.Option(None, "--from", help="First valid day, YYYY-MM-DD; default today."),
    valid_to: str | None = typer.Option(
        None, "--to", help="Last valid day, YYYY-MM-DD; default one year after --from."
    ),
    by: str | None = typer.Option(None, "--by", help="Who grants it; default your login name."),
) -> None:
    """Grant an unconditional resource (无条件共享) to a consumer; it takes effect at once."""
    items = parse_fields(fields)
    matters = [code.strip() for code in matter if code.strip()]
    if not matters:
        fail("--matter is required: the approval matter code(s) the grant covers")
    start = parse_date(valid_from, "--from") or today()
    end = parse_date(valid_to, "--to") or one_year_after(start)
    granted_by = f"admin:cli:{operator(by)}"
    try:
        data = GrantCreate(
            client_id=client_id,
            resource_code=resource_code,
            items=items,
            matter_codes=matters,
            valid_from=start,
            valid_to=end,
        )
    except ValidationError as exc:
        invalid(exc, GRANT_OPTIONS)
    try:
        with unit_of_work(settings()) as session:
            grant = directory.add_grant(session, data=data, granted_by=granted_by, now=datetime.now(UTC))
            resource = directory.get_resource(session, code=grant.resource_code)
    except directory.DirectoryError as exc:
        refuse(exc)
    console.print(f"granted [bold]#{grant.id}[/]", highlight=False)
    summary = Table.grid(padding=(0, 2))
    summary.add_column(style="bold")
    summary.add_column()
    summary.add_row("consumer", cell(grant.client_id))
    summary.add_row("resource", cell(f"{resource.code}  {resource.name}"))
    summary.add_row("items", cell(grant.items))
    summary.add_row("matters", cell(grant.matter_codes))
    summary.add_row("valid", cell(f"{grant.valid_from} to {grant.valid_to}"))
    summary.add_row("granted by", cell(grant.granted_by))
    console.print(summary)


@app.command("list")
def list_grants(
    client: str | None = typer.Option(None, "--client", help="Only this consumer's grants."),
    resource: str | None = typer.Option(None, "--resource", help="Only grants on this resource code."),
    provider: str | None = typer.Option(
        None, "--provider", help="Only grants on this department's resources."
    ),
) -> None:
    """List grants, revoked and expired ones included (marked)."""
    on = today()
    with unit_of_work(settings()) as session:
        grants = directory.list_grants(
            session, client_id=client, provider_id=provider, resource_code=resource
        )
    rows = table(
        "id",
        "consumer",
        "resource",
        "items",
        "matters",
        "valid from",
        "valid to",
        "status",
        "granted by",
        "granted (UTC)",
        "application",
        "revocation",
        no_wrap=("id", "resource", "valid from", "valid to", "status"),
    )
    for grant in grants:
        revocation = None
        if grant.status == "revoked":
            status = Text("revoked", style="red")
            revocation = f"{grant.revoked_at:%Y-%m-%d %H:%M} by {grant.revoked_by}: {grant.revoke_reason}"
        elif grant.valid_to < on:
            status = Text("expired", style="dim")
        elif grant.valid_from > on:
            status = Text("not yet valid", style="yellow")
        else:
            status = Text("active", style="green")
        rows.add_row(
            cell(grant.id),
            cell(grant.client_id),
            cell(grant.resource_code),
            cell(grant.items),
            cell(grant.matter_codes),
            cell(grant.valid_from),
            cell(grant.valid_to),
            status,
            cell(grant.granted_by),
            cell(grant.granted_at),
            cell(grant.application_id),
            cell(revocation),
        )
    console.print(rows)
    console.print(f"{len(grants)} grant{'' if len(grants) == 1 else 's'}", highlight=False)


@app.command("revoke")
def revoke(
    grant_id: int = typer.Argument(..., help="The grant's id (see `exchange grants list`)."),
    reason: str | None = typer.Option(None, "--reason", help="Why it is revoked (required)."),
    by: str | None = typer.Option(None, "--by", help="Who revokes it; default your login name."),
) -> None:
    """Revoke a grant: the consumer's next request under it is refused."""
    why = required(reason, "--reason", "say why the grant is revoked")
    revoked_by = f"admin:cli:{operator(by)}"
    try:
        with unit_of_work(settings()) as session:
            grant = directory.revoke_grant(
                session, grant_id=grant_id, revoked_by=revoked_by, reason=why, now=datetime.now(UTC)
            )
    except directory.DirectoryError as exc:
        refuse(exc)
    console.print(
        f"revoked grant [bold]#{grant.id}[/] ({escape(grant.client_id)} on {grant.resource_code}) "
        f"by {escape(revoked_by)}: {escape(grant.revoke_reason or '')}",
        highlight=False,
    )
