"""The resource directory's rules: registration from declarations, grants, and the application workflow.

Deny by default: a consumer gets data only through an active grant covering the resource, the items,
the matter and the day. Unconditional resources (无条件共享) are granted by the hub administrator on
request; conditional ones (有条件共享) only by the providing department approving an application;
resources shared "none" (不予共享) can be neither granted nor applied for. Services never commit.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime

from sqlalchemy.orm import Session

from adapters.base import DatasetDeclaration, Department
from directory import repository
from directory.calendar import WorkCalendar, local_date
from directory.models import Application, Grant, Resource, ResourceVersion
from directory.schemas import (
    ApplicationCreate,
    ApplicationDecision,
    ApplicationRead,
    DataItemRead,
    GrantCreate,
    Provider,
    ResourceRead,
)
from exchange.consumers import repository as consumers

RESOURCE_FORMAT = "application/jwt"  # answers are signed JWS evidence (DESIGN.md "Signed response")
NOT_OPEN = "不予开放"  # open attribute: shared between departments, not opened to the public


class DirectoryError(Exception):
    """Base of the directory's refusals; each kind maps to one problem type."""


class NotFound(DirectoryError):
    pass


class Refused(DirectoryError):
    """The rules forbid it (不予共享, wrong path for the sharing type, not the provider)."""


class Invalid(DirectoryError):
    """The request names items or periods the resource cannot have."""


class Conflict(DirectoryError):
    """The state does not allow it (already decided, already revoked)."""


class NoGrant(Refused):
    """No active grant covers what was asked; ``reason`` says which part is missing."""


# --- registration ------------------------------------------------------------------------------


@dataclass
class RegistrationReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    withdrawn: list[str] = field(default_factory=list)


def declaration_record(declaration: DatasetDeclaration) -> dict:
    """The canonical, JSON-ready form of a declaration; its hash decides whether a version is new."""
    record = asdict(declaration)
    record["subject_types"] = sorted(str(t) for t in declaration.subject_types)
    record["access_methods"] = sorted(str(m) for m in declaration.access_methods)
    record["sharing_type"] = str(declaration.sharing_type)
    record["items"] = [asdict(item) for item in declaration.items]
    return record


def register_declarations(
    session: Session,
    *,
    declared: Iterable[tuple[Department, Sequence[DatasetDeclaration]]],
    now: datetime,
) -> RegistrationReport:
    """Bring the catalogue in line with what the departments declare. Idempotent.

    A changed declaration becomes a new version (the old one stays in ``resource_versions``); a
    resource a department no longer declares is marked withdrawn, never deleted (grants and the
    audit log refer to it).
    """
    report = RegistrationReport()
    for department, datasets in declared:
        seen = set()
        for declaration in datasets:
            seen.add(declaration.code)
            record = declaration_record(declaration)
            digest = hashlib.sha256(
                json.dumps(record, sort_keys=True, ensure_ascii=False).encode()
            ).hexdigest()
            existing = repository.get_resource(session, code=declaration.code)
            if existing is not None and existing.provider_id != department.id:
                raise Conflict(f"resource {declaration.code} is already declared by {existing.provider_id}")
            if existing is not None and existing.declaration_hash == digest and not existing.withdrawn:
                report.unchanged.append(declaration.code)
                continue
            if existing is None:
                resource = Resource(
                    code=declaration.code, version=0, registered_at=now, publish_date=local_date(now)
                )
                resource.last_data_update = None
                report.added.append(declaration.code)
            else:
                resource = existing
                report.updated.append(declaration.code)
            _apply(resource, department, declaration, digest, now)
            if existing is None:
                repository.add(session, resource)
            repository.add(
                session,
                ResourceVersion(
                    code=resource.code,
                    version=resource.version,
                    declaration=record,
                    declaration_hash=digest,
                    registered_at=now,
                ),
            )
        for resource in repository.resources_of(session, provider_id=department.id):
            if resource.code not in seen and not resource.withdrawn:
                resource.withdrawn = True
                resource.updated_at = now
                report.withdrawn.append(resource.code)
    session.flush()
    return report


def _apply(
    resource: Resource, department: Department, declaration: DatasetDeclaration, digest: str, now: datetime
) -> None:
    resource.provider_id = department.id
    resource.provider_name = department.name
    resource.provider_uscc = department.uscc
    resource.name = declaration.name
    resource.summary = declaration.summary
    resource.format = RESOURCE_FORMAT
    resource.data_items = [asdict(item) for item in declaration.items]
    resource.subject_types = sorted(str(t) for t in declaration.subject_types)
    resource.sharing_type = str(declaration.sharing_type)
    resource.sharing_conditions = declaration.sharing_conditions
    resource.access_methods = sorted(str(m) for m in declaration.access_methods)
    resource.update_cycle = declaration.update_cycle
    resource.open_attribute = NOT_OPEN
    resource.legal_basis = declaration.legal_basis
    resource.license_type = declaration.license_type
    resource.related_resources = list(declaration.related)
    resource.version = resource.version + 1
    resource.declaration_hash = digest
    resource.updated_at = now
    resource.withdrawn = False


# --- reading -------------------------------------------------------------------------------------


def resource_read(resource: Resource) -> ResourceRead:
    return ResourceRead(
        code=resource.code,
        name=resource.name,
        summary=resource.summary,
        provider=Provider(id=resource.provider_id, name=resource.provider_name, uscc=resource.provider_uscc),
        format=resource.format,
        data_items=[DataItemRead(**item) for item in resource.data_items],
        subject_types=resource.subject_types,
        sharing_type=resource.sharing_type,  # type: ignore[arg-type]
        sharing_conditions=resource.sharing_conditions,
        access_methods=resource.access_methods,  # type: ignore[arg-type]
        update_cycle=resource.update_cycle,
        open_attribute=resource.open_attribute,
        publish_date=resource.publish_date,
        legal_basis=resource.legal_basis,
        related_resources=resource.related_resources,
        license_type=resource.license_type,
        version=resource.version,
        updated_at=resource.updated_at,
        last_data_update=resource.last_data_update,
        withdrawn=resource.withdrawn,
    )


def get_resource(session: Session, *, code: str) -> Resource:
    resource = repository.get_resource(session, code=code)
    if resource is None:
        raise NotFound(f"no resource {code} in the directory")
    return resource


def search(
    session: Session,
    *,
    q: str | None = None,
    provider: str | None = None,
    sharing_type: str | None = None,
    include_withdrawn: bool = False,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[ResourceRead], int]:
    rows, total = repository.search_resources(
        session,
        q=q,
        provider=provider,
        sharing_type=sharing_type,
        include_withdrawn=include_withdrawn,
        limit=limit,
        offset=offset,
    )
    return [resource_read(row) for row in rows], total


def license_resource(session: Session, *, license_type: str) -> str | None:
    """The code of the resource that issues ``license_type`` licenses (its license dataset)."""
    return repository.license_resource_code(session, license_type=license_type)


def all_resources(session: Session) -> list[ResourceRead]:
    rows, _ = repository.search_resources(
        session, q=None, provider=None, sharing_type=None, include_withdrawn=False, limit=100_000, offset=0
    )
    return [resource_read(row) for row in rows]


# --- grants --------------------------------------------------------------------------------------


def add_grant(session: Session, *, data: GrantCreate, granted_by: str, now: datetime) -> Grant:
    """The hub administrator grants an unconditional resource; conditional ones go through applications."""
    resource = _shareable(session, data.client_id, data.resource_code)
    if resource.sharing_type != "unconditional":
        raise Refused(
            f"resource {resource.code} is shared conditionally (有条件共享): the consumer files an "
            "application and the providing department approves it"
        )
    _require_items(resource, data.items)
    grant = Grant(
        client_id=data.client_id,
        resource_code=resource.code,
        items=data.items,
        matter_codes=data.matter_codes,
        valid_from=data.valid_from,
        valid_to=data.valid_to,
        status="active",
        granted_by=granted_by,
        granted_at=now,
    )
    repository.add(session, grant)
    return grant


def revoke_grant(session: Session, *, grant_id: int, revoked_by: str, reason: str, now: datetime) -> Grant:
    grant = get_grant(session, grant_id=grant_id)
    if grant.status == "revoked":
        raise Conflict(f"grant {grant_id} was already revoked at {grant.revoked_at:%Y-%m-%d %H:%M} UTC")
    if not reason.strip():
        raise Invalid("a revocation must give its reason")
    grant.status = "revoked"
    grant.revoked_at = now
    grant.revoked_by = revoked_by
    grant.revoke_reason = reason.strip()
    session.flush()
    return grant


def get_grant(session: Session, *, grant_id: int) -> Grant:
    grant = repository.get_grant(session, grant_id=grant_id)
    if grant is None:
        raise NotFound(f"no grant {grant_id}")
    return grant


def list_grants(
    session: Session,
    *,
    client_id: str | None = None,
    provider_id: str | None = None,
    resource_code: str | None = None,
) -> Sequence[Grant]:
    return repository.list_grants(
        session, client_id=client_id, provider_id=provider_id, resource_code=resource_code
    )


def authorise(
    session: Session, *, client_id: str, resource_code: str, items: Iterable[str], matter_code: str, on: date
) -> Grant:
    """The active grant that covers all of ``items`` for ``matter_code`` on day ``on``; raises ``NoGrant``.

    Read on every request, so a revocation takes effect on the next one.
    """
    wanted = list(dict.fromkeys(items))
    grants = repository.list_grants(session, client_id=client_id, resource_code=resource_code, active_on=on)
    if not grants:
        raise NoGrant(f"{client_id} holds no grant for {resource_code} valid on {on}")
    for_matter = [g for g in grants if matter_code in g.matter_codes]
    if not for_matter:
        raise NoGrant(f"no grant of {client_id} for {resource_code} covers matter {matter_code}")
    for grant in for_matter:
        if set(wanted) <= set(grant.items):
            return grant
    allowed = set().union(*(set(g.items) for g in for_matter))
    outside = [item for item in wanted if item not in allowed]
    raise NoGrant(f"items outside the grant for matter {matter_code}: {', '.join(outside or wanted)}")


# --- applications --------------------------------------------------------------------------------


def file_application(
    session: Session, *, data: ApplicationCreate, calendar: WorkCalendar, now: datetime
) -> Application:
    resource = _shareable(session, data.client_id, data.resource_code)
    if resource.sharing_type != "conditional":
        raise Refused(
            f"resource {resource.code} is shared unconditionally (无条件共享): "
            "ask the hub administrator for a grant"
        )
    _require_items(resource, data.items)
    application = Application(
        client_id=data.client_id,
        resource_code=resource.code,
        provider_id=resource.provider_id,
        matter_code=data.matter_code,
        purpose=data.purpose.strip(),
        legal_basis=data.legal_basis.strip(),
        items=data.items,
        period_from=data.period_from,
        period_to=data.period_to,
        status="pending",
        filed_at=now,
        due_on=calendar.due_on(now),
    )
    repository.add(session, application)
    return application


def decide(
    session: Session,
    *,
    application_id: int,
    decision: ApplicationDecision,
    provider_id: str | None,
    decided_by: str,
    now: datetime,
) -> Application:
    """The providing department's answer; ``provider_id`` None means the hub's own operator (CLI)."""
    application = get_application(session, application_id=application_id)
    if provider_id is not None and provider_id != application.provider_id:
        raise Refused(
            f"application {application_id} is for {application.provider_id}'s resource, not {provider_id}'s"
        )
    if application.status != "pending":
        raise Conflict(f"application {application_id} was already {application.status}")
    application.decided_at = now
    application.decided_by = decided_by
    application.decision_reason = (decision.reason or "").strip() or None
    if not decision.approve:
        application.status = "rejected"
        session.flush()
        return application
    items = list(dict.fromkeys(decision.items or application.items))
    extra = [item for item in items if item not in application.items]
    if extra:
        raise Invalid(f"cannot approve items that were not applied for: {', '.join(extra)}")
    application.status = "approved"
    application.approved_items = items
    grant = Grant(
        client_id=application.client_id,
        resource_code=application.resource_code,
        items=items,
        matter_codes=[application.matter_code],
        valid_from=application.period_from,
        valid_to=application.period_to,
        status="active",
        granted_by=decided_by,
        granted_at=now,
        application=application,
    )
    repository.add(session, grant)
    return application


def get_application(session: Session, *, application_id: int) -> Application:
    application = repository.get_application(session, application_id=application_id)
    if application is None:
        raise NotFound(f"no application {application_id}")
    return application


def list_applications(
    session: Session,
    *,
    today: date,
    status: str | None = None,
    client_id: str | None = None,
    provider_id: str | None = None,
    overdue_only: bool = False,
) -> list[ApplicationRead]:
    rows = repository.list_applications(
        session,
        status="pending" if overdue_only else status,
        client_id=client_id,
        provider_id=provider_id,
        due_before=today if overdue_only else None,
    )
    return [application_read(row, today=today) for row in rows]


def application_read(application: Application, *, today: date) -> ApplicationRead:
    read = ApplicationRead.model_validate(application)
    read.overdue = application.status == "pending" and today > application.due_on
    return read


# --- shared checks -------------------------------------------------------------------------------


def _shareable(session: Session, client_id: str, code: str) -> Resource:
    if consumers.get(session, client_id=client_id) is None:
        raise NotFound(f"no consumer system {client_id!r}: register it with `exchange consumers add`")
    resource = get_resource(session, code=code)
    if resource.withdrawn:
        raise Refused(f"resource {code} has been withdrawn by {resource.provider_id}")
    if resource.sharing_type == "none":
        raise Refused(f"resource {code} is not shared (不予共享)")
    return resource


def _require_items(resource: Resource, items: Sequence[str]) -> None:
    known = [item["name"] for item in resource.data_items]
    unknown = [item for item in items if item not in known]
    if unknown:
        raise Invalid(f"resource {resource.code} has no item {', '.join(unknown)}; it has {', '.join(known)}")
