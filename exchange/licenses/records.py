"""From a department's certificate record to the store's license record (GB/T 36901 metadata).

The GB/T 36904 identifier is ``1.2.156.3005.2.<type code>.<issuer USCC>.<serial>.<version>.<check>``;
the serial is the department's own number when it is already 1-32 characters of 0-9A-Z (household
numbers, receipt numbers, citizen IDs), otherwise a base-36 digest of it (certificate numbers such as
浙(2019)杭州市不动产权第0000183号), so the same source record always gets the same serial.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date
from typing import Any

from adapters.base import CertificateRecord, Department
from exchange.identifiers import make_license_id
from exchange.licenses.types import HOLDER_CODE_TYPES, LICENSE_TYPES, LicenseRecord

_SERIAL = re.compile(r"^[0-9A-Z]{1,32}$")
_BASE36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


class NotALicense(ValueError):
    """The certificate record cannot become a license of this store (unknown type, wrong issuer)."""


def serial_of(source_id: str) -> str:
    candidate = source_id.strip().upper()
    if _SERIAL.match(candidate):
        return candidate
    number = int.from_bytes(hashlib.sha256(source_id.encode("utf-8")).digest()[:16], "big")
    digits = []
    while number:
        number, remainder = divmod(number, 36)
        digits.append(_BASE36[remainder])
    return "H" + "".join(reversed(digits))[:31]  # "H": a hashed serial, never a department's own number


def license_record(certificate: CertificateRecord, *, department: Department, version: int) -> LicenseRecord:
    kind = LICENSE_TYPES.get(certificate.license_type)
    if kind is None:
        raise NotALicense(f"unknown license type {certificate.license_type!r}")
    if kind.department_id != department.id:
        raise NotALicense(f"{department.id} does not issue {certificate.license_type}")
    if not 1 <= version <= 999:
        raise NotALicense(f"version {version} is outside 1-999 (GB/T 36904 keeps three digits)")
    identifier = make_license_id(kind.type_code, department.uscc, serial_of(certificate.source_id), version)
    return LicenseRecord(
        license_type=kind.key,
        type_code=kind.type_code,
        license_name=kind.name,
        number=certificate.source_id,
        identifier=identifier,
        version=version,
        issuer_name=department.name,
        issuer_code=department.uscc,
        issue_date=certificate.issued_on,
        holder_name=certificate.holder_name,
        holder_code=certificate.holder.value,
        holder_code_type=HOLDER_CODE_TYPES[certificate.holder.type.value],
        valid_from=certificate.valid_from,
        valid_to=certificate.valid_to,
        fields=dict(certificate.fields),
    )


def to_json(record: LicenseRecord) -> dict[str, Any]:
    """The record as stored: dates as ISO 8601 text."""
    return {
        "license_type": record.license_type,
        "type_code": record.type_code,
        "license_name": record.license_name,
        "number": record.number,
        "identifier": record.identifier,
        "version": record.version,
        "issuer_name": record.issuer_name,
        "issuer_code": record.issuer_code,
        "issue_date": record.issue_date.isoformat(),
        "holder_name": record.holder_name,
        "holder_code": record.holder_code,
        "holder_code_type": record.holder_code_type,
        "valid_from": record.valid_from.isoformat(),
        "valid_to": record.valid_to.isoformat() if record.valid_to else None,
        "fields": dict(record.fields),
    }


def from_json(stored: dict[str, Any]) -> LicenseRecord:
    values = dict(stored)
    for name in ("issue_date", "valid_from"):
        values[name] = date.fromisoformat(values[name])
    values["valid_to"] = date.fromisoformat(values["valid_to"]) if values.get("valid_to") else None
    return LicenseRecord(**values)
