"""The license types the store holds and the record every license is reduced to before sealing.

Metadata follow the GB/T 36901-series (电子证照) core elements: license name, type code, number,
GB/T 36904 identifier, issuer and issuer code, issue date, holder, holder code and its type,
validity; the type-specific fields ride along. Type codes are this hub's catalogue of license types
(documented in docs/licenses.md); the identifier's check character is ISO/IEC 7064 MOD 37,36.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any


@dataclass(frozen=True)
class LicenseType:
    key: str  # the adapters' license_type
    type_code: str  # GB/T 36904 type code part of the identifier: 0-9A-Z
    name: str  # 证照名称
    vct: str  # SD-JWT VC type (RFC 9901 / SD-JWT VC: the "vct" claim)
    department_id: str


LICENSE_TYPES: dict[str, LicenseType] = {
    t.key: t
    for t in (
        LicenseType(
            "household_register", "1110001", "居民户口簿", "urn:dxh:license:household_register:1", "household"
        ),
        LicenseType(
            "tax_payment_certificate", "2210001", "税收完税证明", "urn:dxh:license:tax_payment:1", "tax"
        ),
        LicenseType(
            "social_insurance_certificate",
            "3310001",
            "社会保险参保缴费证明",
            "urn:dxh:license:social_insurance:1",
            "social_insurance",
        ),
        LicenseType(
            "real_estate_title",
            "4410001",
            "不动产权证书",
            "urn:dxh:license:real_estate_title:1",
            "real_estate",
        ),
    )
}

# GB/T 36903-style holder code types: what kind of identifier the holder code is.
HOLDER_CODE_TYPES = {"id_card": "111", "uscc": "001", "property_unit": "900"}

# Always disclosed: what a verifier needs to know which license it holds and whether it is valid.
ALWAYS_DISCLOSED = (
    "license_name",
    "type_code",
    "identifier",
    "issuer_name",
    "issuer_code",
    "issue_date",
    "valid_from",
    "valid_to",
)


@dataclass(frozen=True)
class LicenseRecord:
    """One license as the store keeps and seals it (a flat record; ``fields`` are type-specific)."""

    license_type: str
    type_code: str
    license_name: str
    number: str  # the department's own number (证照编号): certificate, receipt, household number ...
    identifier: str  # GB/T 36904
    version: int
    issuer_name: str
    issuer_code: str  # the issuing department's USCC
    issue_date: date
    holder_name: str
    holder_code: str
    holder_code_type: str
    valid_from: date
    valid_to: date | None
    fields: Mapping[str, Any] = field(default_factory=dict)
