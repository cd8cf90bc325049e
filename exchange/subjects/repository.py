"""The citizen's view of the audit log: read-only queries by subject."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from exchange.audit.models import AuditEntry


def accesses_of(
    session: Session, *, subject_type: str, subject_value: str, limit: int, offset: int
) -> tuple[Sequence[AuditEntry], int]:
    """Entries about this subject, newest first, and how many there are."""
    where = (AuditEntry.subject_type == subject_type, AuditEntry.subject_value == subject_value)
    total = session.scalar(select(func.count()).select_from(AuditEntry).where(*where)) or 0
    rows = session.scalars(
        select(AuditEntry).where(*where).order_by(AuditEntry.index.desc()).limit(limit).offset(offset)
    ).all()
    return rows, total
