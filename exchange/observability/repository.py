"""The license-sync queries behind the metrics computed at scrape time: counts only, no record contents."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from exchange.licenses.models import QuarantinedRecord, SyncRun


@dataclass(frozen=True)
class RunSummary:
    department_id: str
    status: str  # running | succeeded | failed
    counts: dict[str, int]
    finished_at: datetime | None


@dataclass(frozen=True)
class QuarantineCount:
    department_id: str
    license_type: str
    open: bool  # not yet resolved by governance staff
    records: int


def sync_runs(session: Session) -> Sequence[RunSummary]:
    """Every run's department, status, counts and end (a few columns of a table of one row per run)."""
    rows = session.execute(
        select(SyncRun.department_id, SyncRun.status, SyncRun.counts, SyncRun.finished_at)
    ).all()
    return [RunSummary(row[0], row[1], dict(row[2] or {}), row[3]) for row in rows]


def quarantine_counts(session: Session) -> Sequence[QuarantineCount]:
    open_ = QuarantinedRecord.resolved_at.is_(None)
    rows = session.execute(
        select(SyncRun.department_id, QuarantinedRecord.license_type, open_, func.count())
        .join(SyncRun, SyncRun.id == QuarantinedRecord.run_id)
        .group_by(SyncRun.department_id, QuarantinedRecord.license_type, open_)
    ).all()
    return [QuarantineCount(row[0], row[1], bool(row[2]), int(row[3])) for row in rows]
