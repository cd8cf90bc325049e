"""The data subject's access record: who used my data, when, for which matter (DESIGN.md "Audit log").

Every exchange about the citizen is listed, answered or refused; names come from the registers of
consumers, departments and resources so that the record reads as a citizen would say it.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy.orm import Session

from adapters.registry import DEPARTMENTS
from directory import repository as resources
from exchange.consumers import repository as consumers
from exchange.subjects import repository
from exchange.subjects.identity import SubjectIdentity


class Party(BaseModel):
    id: str | None
    name: str | None


class Access(BaseModel):
    time: datetime
    consumer: Party
    department: Party
    resource: Party
    matter_code: str | None
    purpose: str | None
    kind: str  # query | verify | license
    answered: bool
    log_index: int


class AccessLog(BaseModel):
    subject: str
    demo_identity: bool
    items: list[Access]
    total: int


def access_log(session: Session, identity: SubjectIdentity, *, limit: int, offset: int) -> AccessLog:
    rows, total = repository.accesses_of(
        session, subject_type="id_card", subject_value=identity.citizen_id, limit=limit, offset=offset
    )
    names: dict[tuple[str, str | None], str | None] = {}

    def consumer(client_id: str | None) -> str | None:
        if ("consumer", client_id) not in names:
            found = consumers.get(session, client_id=client_id) if client_id else None
            names["consumer", client_id] = found.name if found else None
        return names["consumer", client_id]

    def resource(code: str | None) -> str | None:
        if ("resource", code) not in names:
            found = resources.get_resource(session, code=code) if code else None
            names["resource", code] = found.name if found else None
        return names["resource", code]

    items = [
        Access(
            time=row.recorded_at,
            consumer=Party(id=row.client_id, name=consumer(row.client_id)),
            department=Party(
                id=row.provider_id,
                name=DEPARTMENTS[row.provider_id].name if row.provider_id in DEPARTMENTS else None,
            ),
            resource=Party(id=row.resource_code, name=resource(row.resource_code)),
            matter_code=row.matter_code,
            purpose=row.purpose,
            kind=row.endpoint,
            answered=row.decision == "allow",
            log_index=row.index,
        )
        for row in rows
    ]
    return AccessLog(subject=identity.citizen_id, demo_identity=identity.demo, items=items, total=total)
