"""A registered consumer system and the key it signs requests with."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from exchange.db.base import Base


class Consumer(Base):
    __tablename__ = "consumers"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # RFC 7638 thumbprint of the public key: the JWS ``kid`` of the consumer's requests.
    kid: Mapped[str] = mapped_column(String(64), unique=True)
    key_algorithm: Mapped[str] = mapped_column(String(16))
    public_key_pem: Mapped[str] = mapped_column(Text)
    certificate_serial: Mapped[str] = mapped_column(ForeignKey("certificates.serial"))
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime]
