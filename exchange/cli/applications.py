"""`exchange applications`: conditional-sharing applications, filed for a consumer and decided here.

A decision typed at the hub console is the providing department's, made by an operator acting for it:
it is recorded as ``department:cli:<name>`` without a provider check (``provider_id=None``).
The department must answer within 10 working days (``directory/calendar.py``, EXCHANGE_HOLIDAYS_FILE).
"""

from __future__ import annotations

from datetime import UTC, datetime

import typer
from pydantic import ValidationError
from rich.markup import escape
from rich.text import Text

from directory import service as directory
from directory.calendar import ANSWER_WORKING_DAYS, today
from directory.schemas import ApplicationCreate, ApplicationDecision
from exchange.cli.context import console, fail, settings
from exchange.cli.options import (
    cell,
    choice,
    invalid,
    one_year_after,
    operator,
    parse_date,
    parse_fields,
    refuse,
    required,
    table,
    unit_of_work,
    work_calendar,
)

app = typer.Typer(help="Applications for conditionally shared resources (有条件共享).", no_args_is_help=True)

STATUSES = ("pending", "approved", "rejected")
STATUS_STYLES = {"pending": "yellow", "approved": "green", "rejected": "red"}
APPLICATION_OPTIONS = {
    "client_id": "CLIENT_ID",
    "resource_code": "RESOURCE_CODE",
    "matter_code": "--matter",
    "purpose": "--purpose",
    "legal_basis": "--legal-basis",
    "items": "--fields",
    "period_from": "--from",
    "period_to": "--to",
}
DECISION_OPTIONS = {"items": "--fields", "reason": "--reason"}


@app.command("list")
def list_applications(
    status: str | None = typer.Option(
        None, "--status", metavar="[pending|approved|rejected]", help="Only applications in this state."
    ),
    client: str | None = typer.Option(None, "--client", help="Only this consumer's applications."),
    provider: str | None = typer.Option(None, "--provider", help="Only applications to this department."),
    overdue: bool = typer.Option(False, "--overdue", help="Only pending ones past their due date."),
) -> None:
    """List applications with their due dates; overdue pending ones are marked OVERDUE."""
    choice(status, STATUSES, "--status")
    if overdue and status not in (None, "pending"):
        fail("--overdue lists pending applications only; drop --status or use --status pending")
    with unit_of_work(settings()) as session:
        applications = directory.list_applications(
            session,
            today=today(),
            status=status,
            client_id=client,
            provider_id=provider,
            overdue_only=overdue,
        )
    rows = table(
        "id",
        "consumer",
        "resource",
        "provider",
        "matter",
        "purpose",
        "items",
        "status",
        "filed (UTC)",
        "due",
        "decision",
        no_wrap=("id", "resource", "status", "due"),
    )
    for application in applications:
        due = cell(application.due_on)
        if application.overdue:
            due.append(" OVERDUE", style="bold red")
        decision = None
        if application.decided_at is not None:
            decision = f"{application.decided_at:%Y-%m-%d %H:%M} by {application.decided_by}"
            if application.grant_id is not None:
                decision += f"; grant #{application.grant_id}: {', '.join(application.approved_items or [])}"
            if application.decision_reason:
                decision += f"; {application.decision_reason}"
        rows.add_row(
            cell(application.id),
            cell(application.client_id),
            cell(application.resource_code),
            cell(application.provider_id),
            cell(application.matter_code),
            cell(application.purpose),
            cell(application.items),
            Text(application.status, style=STATUS_STYLES[application.status]),
            cell(application.filed_at),
            due,
            cell(decision),
        )
    console.print(rows)
    late = sum(application.overdue for application in applications)
    footer = f"{len(applications)} application{'' if len(applications) == 1 else 's'}"
    console.print(f"{footer}, [bold red]{late} overdue[/]" if late else footer, highlight=False)


@app.command("file")
def file(
    client_id: str = typer.Argument(..., help="The consumer system applying."),
    resource_code: str = typer.Argument(..., help="A conditionally shared resource's code."),
    matter: str | None = typer.Option(None, "--matter", help="The approval matter code (required)."),
    purpose: str | None = typer.Option(None, "--purpose", help="What the data is for (required)."),
    legal_basis: str | None = typer.Option(
        None, "--legal-basis", help="The law or policy that allows it (required)."
    ),
    fields: str | None = typer.Option(
        None, "--fields", help="Data items wanted, comma-separated (required)."
    ),
    period_from: str | None = typer.Option(
        None, "--from", help="First day wanted, YYYY-MM-DD; default today."
    ),
    period_to: str | None = typer.Option(
        None, "--to", help="Last day wanted, YYYY-MM-DD; default one year after --from."
    ),
) -> None:
    """File an application for a conditional resource on a consumer's behalf; prints its due date."""
    matter_code = required(matter, "--matter", "the approval matter code the data is for")
    why = required(purpose, "--purpose", "what the data is for")
    basis = required(legal_basis, "--legal-basis", "the law or policy that allows the use")
    items = parse_fields(fields)
    start = parse_date(period_from, "--from") or today()
    end = parse_date(period_to, "--to") or one_year_after(start)
    current = settings()
    calendar = work_calendar(current)
    try:
        data = ApplicationCreate(
            client_id=client_id,
            resource_code=resource_code,
            matter_code=matter_code,
            purpose=why,
            legal_basis=basis,
            items=items,
            period_from=start,
            period_to=end,
        )
    except ValidationError as exc:
        invalid(exc, APPLICATION_OPTIONS)
    try:
        with unit_of_work(current) as session:
            application = directory.file_application(
                session, data=data, calendar=calendar, now=datetime.now(UTC)
            )
    except directory.DirectoryError as exc:
        refuse(exc)
    console.print(
        f"filed application [bold]#{application.id}[/]: {escape(application.client_id)} asks "
        f"{escape(application.provider_id)} for {escape(', '.join(application.items))} of "
        f"{application.resource_code} (matter {escape(application.matter_code)})",
        highlight=False,
    )
    console.print(
        f"due on [bold]{application.due_on}[/] ({ANSWER_WORKING_DAYS} working days, China Standard Time)",
        highlight=False,
    )


@app.command("approve")
def approve(
    application_id: int = typer.Argument(..., help="The application's id."),
    fields: str | None = typer.Option(
        None, "--fields", help="Grant only these items, comma-separated; default all that were applied for."
    ),
    reason: str | None = typer.Option(None, "--reason", help="A note kept with the decision."),
    by: str | None = typer.Option(None, "--by", help="Who decides; default your login name."),
) -> None:
    """Approve for the providing department: a grant for the items, matter and period is created."""
    items = parse_fields(fields) if fields is not None else None
    decided_by = f"department:cli:{operator(by)}"
    try:
        decision = ApplicationDecision(approve=True, items=items, reason=reason)
    except ValidationError as exc:
        invalid(exc, DECISION_OPTIONS)
    try:
        with unit_of_work(settings()) as session:
            application = directory.decide(
                session,
                application_id=application_id,
                decision=decision,
                provider_id=None,
                decided_by=decided_by,
                now=datetime.now(UTC),
            )
            grant_id = application.grant_id
    except directory.DirectoryError as exc:
        refuse(exc)
    granted = application.approved_items or []
    partial = ""
    if len(granted) < len(application.items):
        partial = f" ({len(granted)} of {len(application.items)} items applied for)"
    console.print(
        f"approved application [bold]#{application.id}[/] by {escape(decided_by)}: "
        f"grant [bold]#{grant_id}[/] for {escape(', '.join(granted))}{partial}, "
        f"matter {escape(application.matter_code)}, "
        f"{application.period_from} to {application.period_to}",
        highlight=False,
    )


@app.command("reject")
def reject(
    application_id: int = typer.Argument(..., help="The application's id."),
    reason: str | None = typer.Option(None, "--reason", help="Why it is rejected (required)."),
    by: str | None = typer.Option(None, "--by", help="Who decides; default your login name."),
) -> None:
    """Reject for the providing department; a rejection must say why."""
    why = required(reason, "--reason", "a rejection must give its reason")
    decided_by = f"department:cli:{operator(by)}"
    try:
        decision = ApplicationDecision(approve=False, reason=why)
    except ValidationError as exc:
        invalid(exc, DECISION_OPTIONS)
    try:
        with unit_of_work(settings()) as session:
            application = directory.decide(
                session,
                application_id=application_id,
                decision=decision,
                provider_id=None,
                decided_by=decided_by,
                now=datetime.now(UTC),
            )
    except directory.DirectoryError as exc:
        refuse(exc)
    console.print(
        f"rejected application [bold]#{application.id}[/] by {escape(decided_by)}: "
        f"{escape(application.decision_reason or '')}",
        highlight=False,
    )
