"""Request ids already seen, so a captured request cannot be played again while it is valid."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from exchange.db.base import Base


class SeenRequest(Base):
    """(consumer, jti) once: the primary key makes the replay check atomic across hub workers."""

    __tablename__ = "seen_requests"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    jti: Mapped[str] = mapped_column(String(128), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)
