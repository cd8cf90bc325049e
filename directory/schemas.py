"""What the directory accepts and answers (Pydantic v2): resources, grants, applications."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

RESOURCE_CODE_PATTERN = r"^[1-3]\d{2}\d{3}\d{3}-\d{6}$"
RESOURCE_CODE_FORM = "<class 1><item 2><subitem 3><detail 3>-<sequence 6> digits"
_RESOURCE_CODE = re.compile(RESOURCE_CODE_PATTERN, re.ASCII)  # \d: ASCII digits only, not fullwidth ones


def is_resource_code(value: str) -> bool:
    """Whether ``value`` has the form of a resource code (docs/directory.md): checked before any lookup."""
    return _RESOURCE_CODE.fullmatch(value) is not None


MATTER_CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
SharingTypeName = Literal["unconditional", "conditional", "none"]
AccessMethodName = Literal["query", "verify", "license"]


class Provider(BaseModel):
    id: str
    name: str
    uscc: str


class ProviderRead(BaseModel):
    """A providing department and the codes of the resources it publishes."""

    id: str
    name: str
    name_en: str
    uscc: str
    resources: list[str]


class DataItemRead(BaseModel):
    name: str
    title: str
    type: str
    standard_ref: str
    personal: bool
    sensitivity: str


class ResourceRead(BaseModel):
    """One catalogue entry, the fields of the 2017 national catalogue guide's core metadata."""

    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str
    summary: str
    provider: Provider
    format: str
    data_items: list[DataItemRead]
    subject_types: list[str]
    sharing_type: SharingTypeName
    sharing_conditions: str
    access_methods: list[AccessMethodName]
    update_cycle: str
    open_attribute: str
    publish_date: date
    legal_basis: str
    related_resources: list[str]
    license_type: str | None
    version: int
    updated_at: datetime
    last_data_update: datetime | None
    withdrawn: bool


class ResourcePage(BaseModel):
    items: list[ResourceRead]
    total: int


class GrantCreate(BaseModel):
    client_id: str
    resource_code: str = Field(pattern=RESOURCE_CODE_PATTERN)
    items: list[str] = Field(min_length=1)
    matter_codes: list[str] = Field(min_length=1)
    valid_from: date
    valid_to: date

    @field_validator("matter_codes")
    @classmethod
    def _matter_codes(cls, value: list[str]) -> list[str]:
        import re

        bad = [code for code in value if not re.fullmatch(MATTER_CODE_PATTERN, code)]
        if bad:
            raise ValueError(f"invalid matter code(s): {', '.join(bad)}")
        return sorted(set(value))

    @field_validator("items")
    @classmethod
    def _unique_items(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))

    @model_validator(mode="after")
    def _period(self) -> GrantCreate:
        if self.valid_to < self.valid_from:
            raise ValueError("valid_to is before valid_from")
        return self


class GrantRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    client_id: str
    resource_code: str
    items: list[str]
    matter_codes: list[str]
    valid_from: date
    valid_to: date
    status: Literal["active", "revoked"]
    granted_by: str
    granted_at: datetime
    application_id: int | None
    revoked_at: datetime | None
    revoked_by: str | None
    revoke_reason: str | None


class ApplicationCreate(BaseModel):
    client_id: str
    resource_code: str = Field(pattern=RESOURCE_CODE_PATTERN)
    matter_code: str = Field(pattern=MATTER_CODE_PATTERN)
    purpose: str = Field(min_length=2, max_length=500)
    legal_basis: str = Field(min_length=2, max_length=500)
    items: list[str] = Field(min_length=1)
    period_from: date
    period_to: date

    @field_validator("items")
    @classmethod
    def _unique_items(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))

    @model_validator(mode="after")
    def _period(self) -> ApplicationCreate:
        if self.period_to < self.period_from:
            raise ValueError("period_to is before period_from")
        return self


class ApplicationDecision(BaseModel):
    """A provider's answer. Approving may grant fewer items than asked; rejecting needs a reason."""

    approve: bool
    items: list[str] | None = None
    reason: str | None = Field(default=None, max_length=1000)

    @model_validator(mode="after")
    def _reason_for_rejection(self) -> ApplicationDecision:
        if not self.approve and not (self.reason and self.reason.strip()):
            raise ValueError("a rejection must give its reason")
        return self


class ApplicationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    client_id: str
    resource_code: str
    provider_id: str
    matter_code: str
    purpose: str
    legal_basis: str
    items: list[str]
    period_from: date
    period_to: date
    status: Literal["pending", "approved", "rejected"]
    filed_at: datetime
    due_on: date
    overdue: bool = False
    decided_at: datetime | None
    decided_by: str | None
    decision_reason: str | None
    approved_items: list[str] | None
    grant_id: int | None
