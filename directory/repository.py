"""Every SQL query on the directory's tables."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from directory.models import Application, Grant, Resource, ResourceVersion


def get_resource(session: Session, *, code: str) -> Resource | None:
    return session.get(Resource, code)


def resources_of(session: Session, *, provider_id: str) -> Sequence[Resource]:
    # Ordered: PostgreSQL returns rows in heap order, which an UPDATE changes (the withdrawn report).
    return session.scalars(
        select(Resource).where(Resource.provider_id == provider_id).order_by(Resource.code)
    ).all()


def add(session: Session, row: Resource | ResourceVersion | Grant | Application) -> None:
    session.add(row)
    session.flush()


def search_resources(
    session: Session,
    *,
    q: str | None,
    provider: str | None,
    sharing_type: str | None,
    include_withdrawn: bool,
    limit: int,
    offset: int,
) -> tuple[Sequence[Resource], int]:
    query = select(Resource)
    if not include_withdrawn:
        query = query.where(Resource.withdrawn.is_(False))
    if provider:
        query = query.where(Resource.provider_id == provider)
    if sharing_type:
        query = query.where(Resource.sharing_type == sharing_type)
    if q:
        pattern = f"%{_escape_like(q.lower())}%"
        query = query.where(
            or_(
                *(
                    func.lower(column).like(pattern, escape="\\")
                    for column in (Resource.code, Resource.name, Resource.summary, Resource.provider_name)
                )
            )
        )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(Resource.code).limit(limit).offset(offset)).all()
    return rows, total


def license_resource_code(session: Session, *, license_type: str) -> str | None:
    return session.scalars(
        select(Resource.code).where(Resource.license_type == license_type, Resource.withdrawn.is_(False))
    ).first()


def get_grant(session: Session, *, grant_id: int) -> Grant | None:
    return session.get(Grant, grant_id)


def list_grants(
    session: Session,
    *,
    client_id: str | None = None,
    resource_code: str | None = None,
    provider_id: str | None = None,
    active_on: date | None = None,
) -> Sequence[Grant]:
    query = select(Grant)
    if client_id:
        query = query.where(Grant.client_id == client_id)
    if resource_code:
        query = query.where(Grant.resource_code == resource_code)
    if provider_id:
        query = query.join(Resource, Resource.code == Grant.resource_code).where(
            Resource.provider_id == provider_id
        )
    if active_on is not None:
        query = query.where(
            Grant.status == "active", Grant.valid_from <= active_on, Grant.valid_to >= active_on
        )
    return session.scalars(query.order_by(Grant.id)).all()


def get_application(session: Session, *, application_id: int) -> Application | None:
    return session.get(Application, application_id)


def list_applications(
    session: Session,
    *,
    status: str | None = None,
    client_id: str | None = None,
    provider_id: str | None = None,
    due_before: date | None = None,
) -> Sequence[Application]:
    query = select(Application)
    if status:
        query = query.where(Application.status == status)
    if client_id:
        query = query.where(Application.client_id == client_id)
    if provider_id:
        query = query.where(Application.provider_id == provider_id)
    if due_before is not None:
        query = query.where(Application.due_on < due_before)
    return session.scalars(query.order_by(Application.id)).all()


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
