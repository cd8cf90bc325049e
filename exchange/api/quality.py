"""GET /v1/quality/quarantine: the records the quality gate stopped, for governance staff and departments."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from sqlalchemy.orm import Session

from exchange.access.service import Principal
from exchange.api.deps import MAX_INTEGER, db_session, role
from exchange.api.problems import documented
from exchange.licenses.quarantine import quarantined

router = APIRouter(tags=["quality"])


class QuarantinedRead(BaseModel):
    id: int
    run_id: int
    license_type: str
    source_id: str
    source_version: str
    reasons: list[str]
    record: dict[str, Any]
    quarantined_at: datetime


@router.get("/v1/quality/quarantine", response_model=list[QuarantinedRead], responses=documented(401, 403))
def list_quarantine(
    db: Annotated[Session, Depends(db_session)],
    caller: Annotated[Principal, Depends(role("admin", "governance", "department"))],
    license_type: Annotated[str | None, Query(max_length=64)] = None,
    run_id: Annotated[int | None, Query(ge=1, le=MAX_INTEGER)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_INTEGER)] = 0,
) -> list[QuarantinedRead]:
    """Newest first; a department sees only its own records."""
    rows = quarantined(
        db,
        department_id=caller.department_id,
        license_type=license_type,
        run_id=run_id,
        limit=limit,
        offset=offset,
    )
    return [
        QuarantinedRead(
            id=row.id,
            run_id=row.run_id,
            license_type=row.license_type,
            source_id=row.source_id,
            source_version=row.source_version,
            reasons=row.reasons,
            record=row.record,
            quarantined_at=row.quarantined_at,
        )
        for row in rows
    ]
