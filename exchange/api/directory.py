"""The resource directory over HTTP: public discovery, and grants and applications by role."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from adapters.registry import get_department
from directory import service
from directory.calendar import today
from directory.schemas import (
    RESOURCE_CODE_FORM,
    ApplicationCreate,
    ApplicationDecision,
    ApplicationRead,
    GrantCreate,
    GrantRead,
    ProviderRead,
    ResourcePage,
    ResourceRead,
    is_resource_code,
)
from exchange.access.service import Principal
from exchange.api.deps import MAX_INTEGER, db_session, role
from exchange.api.problems import Problem, documented
from exchange.config import HUB_NAME

router = APIRouter()
Db = Annotated[Session, Depends(db_session)]
TURTLE = "text/turtle"  # the same as directory.dcat's media types, without importing rdflib here
JSON_LD = "application/ld+json"
RowId = Annotated[int, Path(ge=1, le=MAX_INTEGER)]  # ids start at 1


@router.get("/v1/directory/resources", tags=["directory"], response_model=ResourcePage)
def list_resources(
    db: Db,
    q: Annotated[
        str | None, Query(max_length=100, description="Words in code, name, summary or provider")
    ] = None,
    provider: Annotated[str | None, Query(max_length=32)] = None,
    sharing_type: Literal["unconditional", "conditional", "none"] | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_INTEGER)] = 0,
) -> ResourcePage:
    """Search the catalogue; ``total`` counts all matches, ``items`` is one page of them."""
    items, total = service.search(
        db, q=q, provider=provider, sharing_type=sharing_type, limit=limit, offset=offset
    )
    return ResourcePage(items=items, total=total)


@router.get(
    "/v1/directory/resources/{code}",
    tags=["directory"],
    response_model=ResourceRead,
    responses=documented(404, 422),
)
def get_resource(code: str, db: Db) -> ResourceRead:
    """One catalogued resource, withdrawn ones included (marked ``withdrawn``). 422 for a code that is
    not a resource code (docs/directory.md): DESIGN.md validates every identifier before any lookup."""
    if not is_resource_code(code):
        raise Problem(
            422,
            "invalid-identifier",
            "Invalid identifier",
            f"a resource code is {RESOURCE_CODE_FORM}",
        )
    return service.resource_read(service.get_resource(db, code=code))


@router.get(
    "/v1/directory/catalog",
    tags=["directory"],
    response_class=Response,
    responses={200: {"content": {JSON_LD: {}, TURTLE: {}}}},
)
def catalog(request: Request, db: Db) -> Response:
    """The catalogue as DCAT-AP 3.0.1: JSON-LD, or Turtle when the client accepts ``text/turtle``."""
    from directory import dcat  # rdflib is imported only when the catalogue is asked for

    settings = request.app.state.hub.settings
    graph = dcat.catalog_graph(
        service.all_resources(db),
        base_url=settings.base_url,
        hub_id=settings.hub_id,
        hub_name=HUB_NAME,
        modified=datetime.now(UTC),
    )
    if _prefers_turtle(request.headers.get("accept", "")):
        return Response(dcat.catalog_turtle(graph), media_type=f"{TURTLE}; charset=utf-8")
    body = json.dumps(dcat.catalog_jsonld(graph), ensure_ascii=False)
    return Response(body, media_type=JSON_LD)


@router.get(
    "/v1/directory/providers/{provider_id}",
    tags=["directory"],
    response_model=ProviderRead,
    responses=documented(404),
)
def get_provider(provider_id: str, db: Db) -> ProviderRead:
    """A providing department and the codes of the resources it publishes (its DCAT-AP publisher IRI)."""
    try:
        department = get_department(provider_id)
    except KeyError:
        raise Problem(404, "not-found", "Not found", f"no provider department {provider_id!r}") from None
    resources, _ = service.search(db, provider=provider_id, limit=200)
    return ProviderRead(
        id=department.id,
        name=department.name,
        name_en=department.name_en,
        uscc=department.uscc,
        resources=[resource.code for resource in resources],
    )


def _prefers_turtle(accept: str) -> bool:
    media = [part.split(";")[0].strip().lower() for part in accept.split(",")]
    return TURTLE in media and (JSON_LD not in media or media.index(TURTLE) < media.index(JSON_LD))


# --- grants --------------------------------------------------------------------------------------


class Revocation(BaseModel):
    reason: str = Field(min_length=1, max_length=1000)


# Management: 401 without a token, 403 for another role or another's record, and the directory's
# refusals (exchange/api/problems.py: 400 invalid, 403 refused, 404 unknown, 409 conflict).
MANAGED = documented(401, 403, 404, 409)


@router.get("/v1/grants", tags=["grants"], response_model=list[GrantRead], responses=documented(401, 403))
def list_grants(
    db: Db, caller: Annotated[Principal, Depends(role("admin", "governance", "department", "consumer"))]
) -> list[GrantRead]:
    """Grants the caller may see: all for admin and governance, a department's resources, a consumer's own."""
    grants = service.list_grants(db, provider_id=caller.department_id, client_id=caller.client_id)
    return [GrantRead.model_validate(grant) for grant in grants]


@router.post("/v1/grants", tags=["grants"], status_code=201, response_model=GrantRead, responses=MANAGED)
def add_grant(data: GrantCreate, db: Db, caller: Annotated[Principal, Depends(role("admin"))]) -> GrantRead:
    """Grant an unconditional resource (the hub administrator only)."""
    return GrantRead.model_validate(service.add_grant(db, data=data, granted_by=caller.label, now=_now()))


@router.post("/v1/grants/{grant_id}/revoke", tags=["grants"], response_model=GrantRead, responses=MANAGED)
def revoke_grant(
    grant_id: RowId,
    body: Revocation,
    db: Db,
    caller: Annotated[Principal, Depends(role("admin", "department"))],
) -> GrantRead:
    """Revoke a grant: it stops covering requests at once. Departments revoke those on their resources."""
    grant = service.get_grant(db, grant_id=grant_id)
    if caller.role == "department":
        resource = service.get_resource(db, code=grant.resource_code)
        if resource.provider_id != caller.department_id:
            raise Problem(
                403, "forbidden", "Forbidden", f"grant {grant_id} is not on your department's resources"
            )
    revoked = service.revoke_grant(
        db, grant_id=grant_id, revoked_by=caller.label, reason=body.reason, now=_now()
    )
    return GrantRead.model_validate(revoked)


# --- applications --------------------------------------------------------------------------------


@router.get(
    "/v1/applications",
    tags=["applications"],
    response_model=list[ApplicationRead],
    responses=documented(401, 403),
)
def list_applications(
    db: Db,
    caller: Annotated[Principal, Depends(role("admin", "governance", "department", "consumer"))],
    status: Literal["pending", "approved", "rejected"] | None = None,
    overdue: bool = False,
) -> list[ApplicationRead]:
    """Applications the caller may see; ``overdue=true`` lists pending ones past their due date."""
    return service.list_applications(
        db,
        today=today(),
        status=status,
        client_id=caller.client_id,
        provider_id=caller.department_id,
        overdue_only=overdue,
    )


@router.get(
    "/v1/applications/{application_id}",
    tags=["applications"],
    response_model=ApplicationRead,
    responses=documented(401, 403, 404),
)
def get_application(
    application_id: RowId,
    db: Db,
    caller: Annotated[Principal, Depends(role("admin", "governance", "department", "consumer"))],
) -> ApplicationRead:
    application = service.get_application(db, application_id=application_id)
    _may_see(caller, application.client_id, application.provider_id, application_id)
    return service.application_read(application, today=today())


@router.post(
    "/v1/applications",
    tags=["applications"],
    status_code=201,
    response_model=ApplicationRead,
    responses=MANAGED,
)
def file_application(
    request: Request,
    data: ApplicationCreate,
    db: Db,
    caller: Annotated[Principal, Depends(role("consumer"))],
) -> ApplicationRead:
    """A consumer system applies for a conditional resource; the answer is due in 10 working days."""
    if data.client_id != caller.client_id:
        raise Problem(403, "forbidden", "Forbidden", "a consumer files applications only for itself")
    calendar = request.app.state.hub.calendar
    application = service.file_application(db, data=data, calendar=calendar, now=_now())
    return service.application_read(application, today=today())


@router.post(
    "/v1/applications/{application_id}/decision",
    tags=["applications"],
    response_model=ApplicationRead,
    responses=MANAGED,
)
def decide(
    application_id: RowId,
    decision: ApplicationDecision,
    db: Db,
    caller: Annotated[Principal, Depends(role("department"))],
) -> ApplicationRead:
    """The providing department approves (possibly fewer items) or rejects with a reason."""
    application = service.decide(
        db,
        application_id=application_id,
        decision=decision,
        provider_id=caller.department_id,
        decided_by=caller.label,
        now=_now(),
    )
    return service.application_read(application, today=today())


def _may_see(caller: Principal, client_id: str, provider_id: str, application_id: int) -> None:
    if (caller.role == "consumer" and caller.client_id != client_id) or (
        caller.role == "department" and caller.department_id != provider_id
    ):
        raise Problem(404, "not-found", "Not found", f"no application {application_id}")


def _now() -> datetime:
    return datetime.now(UTC)
