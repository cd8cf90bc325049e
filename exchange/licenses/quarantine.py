"""Reviewing what the quality gate stopped: read-only queries for governance staff."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from exchange.licenses.models import QuarantinedRecord, SyncRun


def quarantined(
    session: Session,
    *,
    department_id: str | None = None,
    license_type: str | None = None,
    run_id: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Sequence[QuarantinedRecord]:
    """Quarantined records, newest first, optionally of one department, license type or run."""
    query = select(QuarantinedRecord).join(SyncRun, SyncRun.id == QuarantinedRecord.run_id)
    if department_id:
        query = query.where(SyncRun.department_id == department_id)
    if license_type:
        query = query.where(QuarantinedRecord.license_type == license_type)
    if run_id is not None:
        query = query.where(QuarantinedRecord.run_id == run_id)
    order = (QuarantinedRecord.id.desc(),)
    return session.scalars(query.order_by(*order).limit(limit).offset(offset)).all()
