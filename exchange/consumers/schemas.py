"""Validated input and output shapes for consumer registration."""

from __future__ import annotations

from pydantic import BaseModel, Field

CLIENT_ID_PATTERN = r"^[a-z0-9][a-z0-9._-]{1,62}[a-z0-9]$"


class ConsumerCreate(BaseModel):
    client_id: str = Field(
        pattern=CLIENT_ID_PATTERN, description="3-64 lower-case letters, digits, '.', '_', '-'"
    )
    name: str = Field(min_length=1, max_length=200)


class ConsumerRead(BaseModel):
    client_id: str
    name: str
    kid: str
    key_algorithm: str
    certificate_serial: str
    certificate_path: str
    status: str
