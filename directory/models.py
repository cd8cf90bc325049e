"""The resource directory's tables: the catalogue, its version history, grants and applications."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from exchange.db.base import Base


class Resource(Base):
    """One catalogued dataset, as its department last declared it (the 2017 guide's core metadata)."""

    __tablename__ = "resources"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    provider_id: Mapped[str] = mapped_column(String(32), index=True)
    provider_name: Mapped[str] = mapped_column(String(200))
    provider_uscc: Mapped[str] = mapped_column(String(18))
    name: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text)
    format: Mapped[str] = mapped_column(String(64))
    data_items: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    subject_types: Mapped[list[str]] = mapped_column(JSON)
    sharing_type: Mapped[str] = mapped_column(String(16), index=True)
    sharing_conditions: Mapped[str] = mapped_column(Text)
    access_methods: Mapped[list[str]] = mapped_column(JSON)
    update_cycle: Mapped[str] = mapped_column(String(32))
    open_attribute: Mapped[str] = mapped_column(String(32))
    publish_date: Mapped[date]
    legal_basis: Mapped[str] = mapped_column(Text)
    related_resources: Mapped[list[str]] = mapped_column(JSON)
    license_type: Mapped[str | None] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    declaration_hash: Mapped[str] = mapped_column(String(64))
    registered_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    last_data_update: Mapped[datetime | None]
    withdrawn: Mapped[bool] = mapped_column(default=False)


class ResourceVersion(Base):
    """Every declaration a resource has had, so a grant or an answer can be read against its version."""

    __tablename__ = "resource_versions"
    __table_args__ = (UniqueConstraint("code", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(ForeignKey("resources.code"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    declaration: Mapped[dict[str, Any]] = mapped_column(JSON)
    declaration_hash: Mapped[str] = mapped_column(String(64))
    registered_at: Mapped[datetime]


class Application(Base):
    """A consumer's request for conditional data, answered by the providing department."""

    __tablename__ = "applications"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("consumers.client_id"), index=True)
    resource_code: Mapped[str] = mapped_column(ForeignKey("resources.code"), index=True)
    provider_id: Mapped[str] = mapped_column(String(32), index=True)
    matter_code: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(500))
    legal_basis: Mapped[str] = mapped_column(String(500))
    items: Mapped[list[str]] = mapped_column(JSON)
    period_from: Mapped[date]
    period_to: Mapped[date]
    status: Mapped[str] = mapped_column(String(16), index=True, default="pending")
    filed_at: Mapped[datetime]
    due_on: Mapped[date] = mapped_column(index=True)
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decision_reason: Mapped[str | None] = mapped_column(Text)
    approved_items: Mapped[list[str] | None] = mapped_column(JSON)

    grant: Mapped[Grant | None] = relationship(back_populates="application", uselist=False)

    @property
    def grant_id(self) -> int | None:
        return self.grant.id if self.grant is not None else None


class Grant(Base):
    """Consumer x resource x items x matter codes x validity: nothing is served without one."""

    __tablename__ = "grants"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("consumers.client_id"), index=True)
    resource_code: Mapped[str] = mapped_column(ForeignKey("resources.code"), index=True)
    items: Mapped[list[str]] = mapped_column(JSON)
    matter_codes: Mapped[list[str]] = mapped_column(JSON)
    valid_from: Mapped[date]
    valid_to: Mapped[date]
    status: Mapped[str] = mapped_column(String(16), default="active")
    granted_by: Mapped[str] = mapped_column(String(200))
    granted_at: Mapped[datetime]
    application_id: Mapped[int | None] = mapped_column(ForeignKey("applications.id"), unique=True)
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(String(200))
    revoke_reason: Mapped[str | None] = mapped_column(Text)

    application: Mapped[Application | None] = relationship(back_populates="grant")
