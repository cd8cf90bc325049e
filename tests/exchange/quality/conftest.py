"""Valid license records of every type, built as the adapters' change feeds shape them, and helpers
to plant one defect in a copy."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from typing import Any

from adapters.registry import DEPARTMENTS
from exchange.identifiers import make_citizen_id, make_license_id, make_property_unit
from exchange.licenses.types import HOLDER_CODE_TYPES, LICENSE_TYPES, LicenseRecord

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
ISSUED = date(2026, 3, 2)
TYPES = tuple(LICENSE_TYPES)
ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"  # MOD 37,36 check characters


def citizen_id(n: int) -> str:
    return make_citizen_id("330106", date(1960, 1, 1) + timedelta(days=n % 18000), n % 1000)


def _household(n: int, holder: str, name: str) -> dict[str, Any]:
    spouse = citizen_id(n + 7919)
    return {
        "household_no": f"{n:09d}",
        "household_type": "1",
        "head_name": name,
        "head_id_number": holder,
        "address": "浙江省杭州市西湖区文三路1号",
        "members": [
            {
                "name": name,
                "id_number": holder,
                "relation_to_head": "02",
                "sex": "1",
                "birth_date": "1980-01-01",
            },
            {
                "name": "李四",
                "id_number": spouse,
                "relation_to_head": "10",
                "sex": "2",
                "birth_date": "1982-05-06",
            },
        ],
    }


def _tax(n: int, holder: str, name: str) -> dict[str, Any]:
    return {
        "receipt_no": f"3{n:017d}",
        "levy_item": "个人所得税",
        "levy_detail": "工资薪金所得",
        "period_from": "2026-02-01",
        "period_to": "2026-02-28",
        "amount": f"{1 + n % 50000}.{n % 100:02d}",
        "paid_on": ISSUED.isoformat(),
        "tax_office": "国家税务总局某市西湖区税务局",
    }


def _social_insurance(n: int, holder: str, name: str) -> dict[str, Any]:
    return {
        "name": name,
        "contribution_history": [
            {
                "from": "2016-01",
                "to": "2026-02",
                "insurance_type": "110",
                "base": "8000",
                "employer_name": "某公司",
            }
        ],
        "contribution_months": n % 601,
        "as_of_month": "2026-02",
    }


def _real_estate(n: int, holder: str, name: str) -> dict[str, Any]:
    return {
        "unit_number": make_property_unit("330106", 1, 2, "GB", n % 100_000, "F", n % 100_000_000 + 1),
        "certificate_no": f"浙(2026)某市不动产权第{n:07d}号",
        "location": "某市西湖区文三路1号1幢101室",
        "use": "住宅",
        "area": f"{1 + n % 99_999}.5" if n % 3 else "89.50",
        "right_type": "国有建设用地使用权/房屋所有权",
        "co_ownership": "单独所有",
        "owners": [{"name": name, "id_number": holder, "share": "1"}],
        "registered_on": ISSUED.isoformat(),
        "mortgaged": False,
        "mortgagee": None,
        "seized": False,
        "status": "1",
    }


_FIELDS = {
    "household_register": _household,
    "tax_payment_certificate": _tax,
    "social_insurance_certificate": _social_insurance,
    "real_estate_title": _real_estate,
}


def license_record(license_type: str, n: int, **changes: Any) -> LicenseRecord:
    """A valid record of ``license_type`` (``n`` varies every identifier), with ``changes`` applied."""
    kind = LICENSE_TYPES[license_type]
    department = DEPARTMENTS[kind.department_id]
    number = f"N{n:08d}"
    holder = citizen_id(n)
    name = "张三"
    record = LicenseRecord(
        license_type=license_type,
        type_code=kind.type_code,
        license_name=kind.name,
        number=number,
        identifier=make_license_id(kind.type_code, department.uscc, number, 1),
        version=1,
        issuer_name=department.name,
        issuer_code=department.uscc,
        issue_date=ISSUED,
        holder_name=name,
        holder_code=holder,
        holder_code_type=HOLDER_CODE_TYPES["id_card"],
        valid_from=ISSUED,
        valid_to=None,
        fields=_FIELDS[license_type](n, holder, name),
    )
    return dataclasses.replace(record, **changes)


def batch(license_type: str, size: int, start: int = 0) -> list[LicenseRecord]:
    return [license_record(license_type, n) for n in range(start, start + size)]


def with_fields(record: LicenseRecord, **fields: Any) -> LicenseRecord:
    return dataclasses.replace(record, fields={**record.fields, **fields})


def wrong_last(value: str, alphabet: str = ALNUM) -> str:
    """``value`` with its last character (a check character) replaced by another of ``alphabet``."""
    return value[:-1] + next(char for char in alphabet if char != value[-1])


def other_uscc() -> str:
    """A valid USCC that is not the tax bureau's: another department's."""
    return DEPARTMENTS["household"].uscc
