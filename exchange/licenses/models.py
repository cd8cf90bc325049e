"""The license store's tables: licenses and their versions, status lists, sync runs, quarantine, quality."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from exchange.db.base import Base


class License(Base):
    """One version of one license; a changed source record is a new row that supersedes the old."""

    __tablename__ = "licenses"
    __table_args__ = (UniqueConstraint("license_type", "source_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    identifier: Mapped[str] = mapped_column(String(128), unique=True)  # GB/T 36904
    license_type: Mapped[str] = mapped_column(String(64), index=True)
    department_id: Mapped[str] = mapped_column(String(32), index=True)
    source_id: Mapped[str] = mapped_column(String(128))
    source_version: Mapped[str] = mapped_column(String(128))
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), index=True)  # valid | expired | revoked | superseded
    holder_code: Mapped[str] = mapped_column(String(64), index=True)
    holder_code_type: Mapped[str] = mapped_column(String(8))
    record: Mapped[dict[str, Any]] = mapped_column(JSON)  # the LicenseRecord, JSON-ready
    credential: Mapped[str] = mapped_column(Text)  # the SD-JWT VC as issued (all disclosures)
    status_list_id: Mapped[str] = mapped_column(ForeignKey("status_lists.id"))
    status_index: Mapped[int] = mapped_column(Integer)
    sealed_at: Mapped[datetime]
    run_id: Mapped[int | None] = mapped_column(ForeignKey("sync_runs.id"))
    superseded_by: Mapped[int | None] = mapped_column(ForeignKey("licenses.id"))
    revoked_at: Mapped[datetime | None]
    revoke_reason: Mapped[str | None] = mapped_column(String(200))


class StatusList(Base):
    """A department's Token Status List: one entry per credential it sealed."""

    __tablename__ = "status_lists"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    department_id: Mapped[str] = mapped_column(String(32), index=True)
    bits: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(Integer)
    statuses: Mapped[bytes] = mapped_column(LargeBinary)  # uncompressed, as the status-list draft packs them
    next_index: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime]


class SyncRun(Base):
    """One sync of one department: what came in, what passed the gate, where the feed stopped."""

    __tablename__ = "sync_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    department_id: Mapped[str] = mapped_column(String(32), index=True)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16))  # running | succeeded | failed
    watermark_from: Mapped[str | None] = mapped_column(String(256))
    watermark_to: Mapped[str | None] = mapped_column(String(256))
    counts: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    # Who works on a running run, and when it last committed a batch (exchange/licenses/lease.py).
    holder: Mapped[str | None] = mapped_column(String(200))
    holder_host: Mapped[str | None] = mapped_column(String(255))
    holder_pid: Mapped[int | None] = mapped_column(Integer)
    heartbeat_at: Mapped[datetime | None]


class QuarantinedRecord(Base):
    """A source record the quality gate stopped, with its reasons, for governance staff to review."""

    __tablename__ = "quarantined_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("sync_runs.id"), index=True)
    license_type: Mapped[str] = mapped_column(String(64), index=True)
    source_id: Mapped[str] = mapped_column(String(128))
    source_version: Mapped[str] = mapped_column(String(128))
    record: Mapped[dict[str, Any]] = mapped_column(JSON)
    reasons: Mapped[list[str]] = mapped_column(JSON)
    quarantined_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]


class QualityResult(Base):
    """A Great Expectations validation result of one batch of one license type in one run."""

    __tablename__ = "quality_results"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("sync_runs.id"), index=True)
    license_type: Mapped[str] = mapped_column(String(64))
    batch: Mapped[int] = mapped_column(Integer)
    statistics: Mapped[dict[str, Any]] = mapped_column(JSON)
    result: Mapped[dict[str, Any]] = mapped_column(JSON)
    validated_at: Mapped[datetime]
