"""What the tax bureau's answers must be, computed from the population by the documented rules."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from adapters.code_tables import CITY_NAME, COUNTIES
from adapters.population import Employer, Person, TaxPayment

REGISTRATION_ITEMS = ["taxpayer_name", "taxpayer_kind", "tax_office", "registered_on", "status"]
CERTIFICATE_ITEMS = ["payments", "total_amount", "latest_paid_on"]


def _office(county: str) -> str:
    return f"国家税务总局{CITY_NAME}{COUNTIES[county]}税务局"


def certificate_truth(payments: tuple[TaxPayment, ...]) -> dict[str, Any]:
    valid = sorted((p for p in payments if p.voided_on is None), key=lambda p: (p.paid_on, p.receipt_no))
    return {
        "payments": [
            {
                "receipt_no": p.receipt_no,
                "levy_item": p.levy_item,
                "levy_detail": p.levy_detail,
                "period_from": p.period_from.isoformat(),
                "period_to": p.period_to.isoformat(),
                "amount": f"{p.amount:.2f}",
                "paid_on": p.paid_on.isoformat(),
                "tax_office": p.tax_office,
            }
            for p in valid
        ],
        "total_amount": f"{sum((p.amount for p in valid), Decimal(0)):.2f}",
        "latest_paid_on": valid[-1].paid_on.isoformat() if valid else None,
    }


def person_truth(person: Person, county: str) -> dict[str, Any]:
    return {
        "taxpayer_name": person.name,
        "taxpayer_kind": "3",
        "tax_office": _office(county),
        "registered_on": min(p.period_from for p in person.tax_payments).isoformat(),
        "status": "1" if person.alive else "4",
    }


def employer_truth(employer: Employer) -> dict[str, Any]:
    return {
        "taxpayer_name": employer.name,
        "taxpayer_kind": "1",
        "tax_office": _office(employer.county),
        "registered_on": employer.founded_on.isoformat(),
        "status": "1",
    }
