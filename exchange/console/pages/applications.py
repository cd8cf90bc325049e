"""The applications inbox (``/console/applications``): conditional-sharing applications and their deadlines.

Who sees what:

- a department administrator: the applications addressed to its department's resources, and decides
  the pending ones: approve, approve part of the items, or reject with a reason;
- governance staff: every application, read-only, overdue ones flagged;
- a consumer administrator: the applications its own consumer system filed, read-only.

Order: overdue first (the most overdue at the top), then the other pending ones by due date, then the
decided ones, latest decision first. Deadlines (10 working days) and "overdue" come from the directory
service and its work calendar, as the API reports them.

Deciding goes through :func:`directory.service.decide` with ``decided_by=principal.label``. The page
checks the role and the application's department itself before calling it (the service checks the
department too): a department never decides another department's application. A refusal (already
decided, no reason, no item chosen) is shown as a message and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from adapters.registry import DEPARTMENTS
from directory import service as directory
from directory.calendar import today
from directory.schemas import ApplicationDecision, ApplicationRead
from exchange.api.deps import db_session
from exchange.console.accounts import ConsolePrincipal
from exchange.console.web import PREFIX, ConsoleForbidden, checked_form, redirect_after, render, require
from exchange.consumers import repository as consumers

router = APIRouter(prefix=PREFIX, include_in_schema=False)
PAGE_SIZE = 20
ACTIONS = ("approve", "partial", "reject")
FILTERS = ("pending", "overdue", "approved", "rejected")
MAX_REASON = 1000
CST = timezone(timedelta(hours=8), "CST")


@dataclass
class Row:
    """One application as the inbox shows it, with the names a person reads."""

    application: ApplicationRead
    resource_name: str
    item_titles: dict[str, str]
    consumer_name: str
    provider_name: str
    decidable: bool


@router.get("/applications", response_class=HTMLResponse)
def applications_page(
    request: Request,
    status: str | None = Query(None, max_length=16),
    page: int = Query(1, ge=1, le=10_000),
    decided: int | None = Query(None, ge=1),
    principal: ConsolePrincipal = Depends(require("governance", "department", "consumer")),  # noqa: B008
    db: Session = Depends(db_session),  # noqa: B008
) -> HTMLResponse:
    """The inbox in deadline order; ``decided`` names the application just decided (a notice)."""
    return _page(request, principal, db, status=status, page=page, decided=decided)


@router.post("/applications/{application_id}/decision")
async def decide(
    request: Request,
    application_id: int,
    principal: ConsolePrincipal = Depends(require("governance", "department", "consumer")),  # noqa: B008
    db: Session = Depends(db_session),  # noqa: B008
) -> Response:
    """Approve, approve some items, or reject with a reason: only the providing department, only pending."""
    form = await checked_form(request, principal)
    if principal.role != "department":
        raise ConsoleForbidden("applications.read_only")
    try:
        application = directory.get_application(db, application_id=application_id)
    except directory.NotFound:
        raise ConsoleForbidden("applications.not_yours") from None
    if application.provider_id != principal.department_id:
        raise ConsoleForbidden("applications.not_yours")
    action = str(form.get("action") or "")
    reason = str(form.get("reason") or "").strip()
    items = [str(item) for item in form.getlist("items")]
    error = _refusal(application.status, action, reason, items, application.items)
    if error is None:
        try:
            decision = ApplicationDecision(
                approve=action != "reject",
                items=items if action == "partial" else None,
                reason=reason or None,
            )
            directory.decide(
                db,
                application_id=application_id,
                decision=decision,
                provider_id=principal.department_id,
                decided_by=principal.label,
                now=datetime.now(UTC),
            )
        except ValidationError:
            error = (
                "applications.error.reason_required" if action == "reject" else "applications.error.invalid"
            )
        except directory.Conflict:
            error = "applications.error.decided"
        except directory.DirectoryError:
            error = "applications.error.invalid"
    if error is not None:
        db.rollback()  # nothing of a refused decision is kept
        code = 409 if error == "applications.error.decided" else 422
        return _page(
            request,
            principal,
            db,
            status=None,
            page=1,
            error=error,
            error_id=application_id,
            status_code=code,
        )
    return redirect_after(db, f"{PREFIX}/applications?decided={application_id}")


def _refusal(status: str, action: str, reason: str, items: list[str], asked: list[str]) -> str | None:
    """Why a decision cannot be taken as posted (a message key), or None."""
    if status != "pending":
        return "applications.error.decided"
    if action not in ACTIONS:
        return "applications.error.invalid"
    if action == "reject" and not reason:
        return "applications.error.reason_required"
    if len(reason) > MAX_REASON:
        return "applications.error.reason_too_long"
    if action == "partial" and not items:
        return "applications.error.no_items"
    if action == "partial" and not set(items) <= set(asked):
        return "applications.error.invalid"
    return None


def _page(
    request: Request,
    principal: ConsolePrincipal,
    db: Session,
    *,
    status: str | None,
    page: int,
    decided: int | None = None,
    error: str | None = None,
    error_id: int | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    status = status if status in FILTERS else None
    day = today()
    found = directory.list_applications(
        db,
        today=day,
        status=status if status in ("pending", "approved", "rejected") else None,
        provider_id=principal.department_id if principal.role == "department" else None,
        client_id=principal.client_id if principal.role == "consumer" else None,
        overdue_only=status == "overdue",
    )
    found = [a for a in found if _in_scope(principal, a)]  # the page's own check, whatever the service did
    found.sort(key=inbox_order)
    total = len(found)
    shown = found[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    return render(
        request,
        "applications.html",
        principal,
        status_code=status_code,
        rows=[_row(db, principal, application) for application in shown],
        total=total,
        overdue=sum(1 for a in found if a.overdue),
        status=status or "",
        filters=FILTERS,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
        decided=decided,
        error=error,
        error_id=error_id,
        local_time=local_time,
    )


def inbox_order(application: ApplicationRead) -> tuple:
    """Overdue first (earliest due), then pending by due date, then decided (latest decision first)."""
    if application.status == "pending":
        return (0 if application.overdue else 1, application.due_on.toordinal(), application.id)
    decided_at = application.decided_at or application.filed_at
    return (2, -_utc(decided_at).timestamp(), -application.id)


def _in_scope(principal: ConsolePrincipal, application: ApplicationRead) -> bool:
    if principal.role == "department":
        return application.provider_id == principal.department_id
    if principal.role == "consumer":
        return application.client_id == principal.client_id
    return principal.role == "governance"


def _row(db: Session, principal: ConsolePrincipal, application: ApplicationRead) -> Row:
    resource = directory.get_resource(db, code=application.resource_code)
    consumer = consumers.get(db, client_id=application.client_id)
    department = DEPARTMENTS.get(application.provider_id)
    return Row(
        application=application,
        resource_name=resource.name,
        item_titles={item["name"]: item.get("title") or item["name"] for item in resource.data_items},
        consumer_name=consumer.name if consumer else application.client_id,
        provider_name=department.name if department else application.provider_id,
        decidable=principal.role == "department"
        and application.provider_id == principal.department_id
        and application.status == "pending",
    )


def local_time(moment: datetime | None) -> str:
    """China Standard Time, to the minute (stored times are UTC; SQLite drops the zone)."""
    return "—" if moment is None else _utc(moment).astimezone(CST).strftime("%Y-%m-%d %H:%M")


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
