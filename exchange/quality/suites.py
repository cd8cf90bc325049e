"""One Great Expectations suite per license type, and the DataFrame of a batch that the suites check.

Some rules are not one built-in expectation: check characters (GB 11643-1999 MOD 11-2, GB 32100-2015
MOD 31, ISO/IEC 7064 MOD 37,36), a structural GB/T 37346 parse, "every household member has a valid
citizen ID". :func:`build_frame` computes those per record into *derived* columns
(``holder_code_check_valid``, ``identifier_check_valid``, ``issuer_code_valid`` ...) with the one
implementation of each standard, :mod:`exchange.identifiers`; the suite expects them to be ``True``.
So GX checks the derived columns, not the standards themselves. A derived column is ``None`` (not
applicable) when its input is missing or malformed: the expectation that reports that problem is
another one, so a record is not blamed twice for one defect (one deliberate exception: an invalid
``issuer_code`` is also reported as not the department's USCC, a plain GX set expectation).

Every expectation carries ``meta = {"field": ..., "reason": ...}`` (also shown as its notes in Data
Docs): the gate reports a failing record as ``"<field>: <reason> [<expectation> on <column>]"``.

Input conversion (:func:`build_frame`): text that is empty or only whitespace, or not text at all,
is missing (null); dates are ``date`` objects or ISO ``YYYY-MM-DD`` strings, anything else is null;
amounts and areas are decimal strings, ``Decimal`` or ``int`` (never ``bool``), compared as floats,
which is exact enough at two decimals for the range checks; months and versions are integers or
digit strings. A value that does not convert is null, so its not-null expectation fails with
"missing or not a ...".
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import great_expectations as gx
import pandas as pd
from great_expectations.expectations import Expectation

from adapters.registry import DEPARTMENTS
from exchange.identifiers import (
    LICENSE_ROOT,
    USCC_ALPHABET,
    InvalidIdentifier,
    citizen_id_check_char,
    mod37_36_is_valid,
    uscc_check_char,
    validate_citizen_id,
    validate_property_unit,
    validate_uscc,
)
from exchange.licenses.types import HOLDER_CODE_TYPES, LICENSE_TYPES, LicenseRecord

__all__ = [
    "CHINA_STANDARD_TIME",
    "IDENTIFIER_PATTERN",
    "REQUIRED_FIELDS",
    "TODAY_PARAMETER",
    "build_frame",
    "build_suite",
    "suite_name",
    "today_in_china",
]

# GB/T 36904: 1.2.156.3005.2.<type code>.<issuer USCC>.<serial>.<version>.<check>.
# [0-9] rather than \d: Python's \d also matches non-ASCII digits.
IDENTIFIER_PATTERN = r"^1\.2\.156\.3005\.2\.[0-9A-Z]{1,32}\.[0-9A-Z]{18}\.[0-9A-Z]{1,32}\.[0-9]{3}\.[0-9A-Z]$"
REQUIRED_FIELDS = (
    "license_name",
    "type_code",
    "number",
    "identifier",
    "issuer_name",
    "issuer_code",
    "issue_date",
    "holder_name",
    "holder_code",
    "holder_code_type",
    "valid_from",
)
DATE_FIELDS = ("issue_date", "valid_from", "valid_to")
TODAY_PARAMETER = "today"  # the suite parameter: the batch's `now` as a date in China Standard Time
CHINA_STANDARD_TIME = timezone(timedelta(hours=8), "CST")  # the departments' dates; no DST in China

VERSION_RANGE = (1, 999)  # the identifier's version has three digits; versions count from 1
TAX_AMOUNT_RANGE = (0.01, 100_000_000)  # CNY yuan
CONTRIBUTION_MONTHS_RANGE = (0, 600)  # 50 years
AREA_RANGE = (1, 100_000)  # m²

# GX's pandas regex is re.search (str.contains): the derived checks use the same semantics.
_IDENTIFIER = re.compile(IDENTIFIER_PATTERN)
_DECIMAL_TEXT = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")
_INTEGER_TEXT = re.compile(r"[+-]?[0-9]+")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_CITIZEN_ID_CHECKS = frozenset("0123456789X")
_ID_CARD = HOLDER_CODE_TYPES["id_card"]
_USCC = HOLDER_CODE_TYPES["uscc"]
_PROPERTY_UNIT = HOLDER_CODE_TYPES["property_unit"]

E = gx.expectations


def suite_name(license_type: str) -> str:
    """The suite's name, also its name in Data Docs: ``license_<license type>``."""
    return f"license_{license_type}"


def today_in_china(now: datetime) -> date:
    """The calendar date of ``now`` in China Standard Time (a naive ``now`` is taken as already local)."""
    return (now.astimezone(CHINA_STANDARD_TIME) if now.tzinfo is not None else now).date()


# --- converting record values --------------------------------------------------------------------


def _text(value: Any) -> str | None:
    """Text as is; empty, whitespace-only or non-text is missing."""
    return value if isinstance(value, str) and value.strip() else None


def _date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return None


def _decimal(value: Any) -> float | None:
    """A decimal string, Decimal or int as a float; floats, bools and anything else are not amounts."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        if not _DECIMAL_TEXT.fullmatch(value):
            return None
        value = Decimal(value)
    if isinstance(value, int):
        return float(value)
    if isinstance(value, Decimal) and value.is_finite():
        return float(value)
    return None


def _integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _INTEGER_TEXT.fullmatch(value):
        return int(value)
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        return int(value)
    return None


# --- derived checks (True / False / None = not applicable) -----------------------------------------


# Pure and often repeated (a holder in many licenses, the head among the members): memoised.
@functools.lru_cache(maxsize=1 << 16)
def _citizen_id_checks(value: str, today: date) -> tuple[bool, bool | None]:
    """(well formed apart from the check character, check character right) per GB 11643-1999."""
    body = value[:-1]
    try:
        expected = citizen_id_check_char(body)
        validate_citizen_id(body + expected, today=today)
    except InvalidIdentifier:
        return False, None
    if value[-1] not in _CITIZEN_ID_CHECKS:
        return False, None
    return True, value[-1] == expected


@functools.lru_cache(maxsize=1 << 12)
def _uscc_checks(value: str, today: date) -> tuple[bool, bool | None]:
    """(well formed apart from the check character, check character right) per GB 32100-2015."""
    body = value[:-1]
    try:
        expected = uscc_check_char(body)
        validate_uscc(body + expected)
    except InvalidIdentifier:
        return False, None
    if value[-1] not in USCC_ALPHABET:
        return False, None
    return True, value[-1] == expected


def _property_unit_checks(value: str, today: date) -> tuple[bool, bool | None]:
    """GB/T 37346 has no check character: structure only."""
    return _valid(validate_property_unit, value), None


_HOLDER_CHECKS: dict[str, Callable[[str, date], tuple[bool, bool | None]]] = {
    _ID_CARD: _citizen_id_checks,
    _USCC: _uscc_checks,
    _PROPERTY_UNIT: _property_unit_checks,
}


def _holder_checks(code_type: str | None, code: str | None, today: date) -> tuple[bool | None, bool | None]:
    if code is None or code_type not in _HOLDER_CHECKS:
        return None, None  # reported by not-null / holder_code_type
    return _HOLDER_CHECKS[code_type](code, today)


def _identifier_checks(
    identifier: str | None, type_code: str, issuer: str
) -> tuple[bool | None, bool | None]:
    """(MOD 37,36 check right, type code and issuer are this license type's), when the form matches."""
    if identifier is None or not _IDENTIFIER.search(identifier):
        return None, None  # reported by the regex expectation
    parts = identifier[len(LICENSE_ROOT) + 1 :].split(".")
    return mod37_36_is_valid("".join(parts)), (parts[0] == type_code and parts[1] == issuer)


def _is_citizen_id(value: str | None, today: date) -> bool:
    return value is not None and _citizen_id_checks(value, today) == (True, True)


def _valid(validator: Callable[[str], object], value: str | None) -> bool | None:
    if value is None:
        return None
    try:
        validator(value)
    except InvalidIdentifier:
        return False
    return True


# --- type-specific rules ---------------------------------------------------------------------------

# (the record's fields, its holder code, today) -> the type's columns; called with ({}, None, today)
# for the column names of an empty batch.
Columns = Callable[[Mapping[str, Any], str | None, date], dict[str, Any]]


@dataclass(frozen=True)
class _Rules:
    """What one license type adds: the holder code types its adapter yields, columns, expectations."""

    holder_code_types: tuple[str, ...]  # keys of HOLDER_CODE_TYPES
    columns: Columns
    expectations: Callable[[], list[Expectation]]
    dates: tuple[str, ...] = ()  # which of the type's columns are dates
    numbers: tuple[str, ...] = ()  # which are numeric (float, NaN when missing)


def _expect(expectation: type[Expectation], field: str, reason: str, **kwargs: Any) -> Expectation:
    """An expectation whose failures the gate reports as "<field>: <reason>"."""
    return expectation(meta={"field": field, "reason": reason}, notes=f"`{field}`: {reason}", **kwargs)


def _not_null(column: str, reason: str = "missing or empty", field: str | None = None) -> Expectation:
    return _expect(E.ExpectColumnValuesToNotBeNull, field or column, reason, column=column)


def _true(column: str, field: str, reason: str) -> Expectation:
    """The derived boolean ``column`` is True wherever it applies (None is skipped, like any null)."""
    return _expect(E.ExpectColumnValuesToBeInSet, field, reason, column=column, value_set=[True])


def _between(
    column: str, low: float, high: float | None, reason: str, field: str | None = None
) -> Expectation:
    return _expect(
        E.ExpectColumnValuesToBeBetween, field or column, reason, column=column, min_value=low, max_value=high
    )


def _not_before(later: str, earlier: str, field: str, reason: str) -> Expectation:
    """``later`` >= ``earlier`` wherever both are present."""
    return _expect(
        E.ExpectColumnPairValuesAToBeGreaterThanB,
        field,
        reason,
        column_A=later,
        column_B=earlier,
        or_equal=True,
        ignore_row_if="either_value_is_missing",
    )


def _household_columns(fields: Mapping[str, Any], holder_code: str | None, today: date) -> dict[str, Any]:
    members = fields.get("members")
    members = list(members) if isinstance(members, list | tuple) else None
    members_valid = None
    if members:
        members_valid = all(
            isinstance(m, Mapping)
            and _text(m.get("name")) is not None
            and _is_citizen_id(_text(m.get("id_number")), today)
            for m in members
        )
    head = _text(fields.get("head_id_number"))
    return {
        "household_no": _text(fields.get("household_no")),
        "head_id_number": head,
        "head_is_holder": None if head is None else head == holder_code,
        "member_count": None if members is None else len(members),
        "members_valid": members_valid,
    }


def _household_expectations() -> list[Expectation]:
    return [
        _not_null("household_no"),
        _expect(
            E.ExpectColumnValuesToMatchRegex,
            "household_no",
            "not 9 digits (GA/T 543 户号)",
            column="household_no",
            regex=r"^[0-9]{9}$",
        ),
        _not_null("head_id_number"),
        _true("head_is_holder", "head_id_number", "is not the holder's (户主) citizen ID"),
        _not_null("member_count", "missing or not a list", field="members"),
        _between("member_count", 1, None, "empty: a household register lists at least one member", "members"),
        _true("members_valid", "members", "a member has no name or an invalid citizen ID (GB 11643-1999)"),
    ]


def _tax_columns(fields: Mapping[str, Any], holder_code: str | None, today: date) -> dict[str, Any]:
    return {
        "receipt_no": _text(fields.get("receipt_no")),
        "amount": _decimal(fields.get("amount")),
        "period_from": _date(fields.get("period_from")),
        "period_to": _date(fields.get("period_to")),
    }


def _tax_expectations() -> list[Expectation]:
    low, high = TAX_AMOUNT_RANGE
    return [
        _not_null("receipt_no"),
        _not_null("amount", "missing or not a decimal amount"),
        _between("amount", low, high, f"outside {low:.2f} to {high:,.2f} yuan"),
        _not_null("period_from", "missing or not a date"),
        _not_null("period_to", "missing or not a date"),
        _not_before("period_to", "period_from", "period_to", "before period_from"),
    ]


def _social_insurance_columns(
    fields: Mapping[str, Any], holder_code: str | None, today: date
) -> dict[str, Any]:
    return {
        "contribution_months": _integer(fields.get("contribution_months")),
        "as_of_month": _text(fields.get("as_of_month")),
    }


def _social_insurance_expectations() -> list[Expectation]:
    low, high = CONTRIBUTION_MONTHS_RANGE
    return [
        _not_null("contribution_months", "missing or not an integer"),
        _between("contribution_months", low, high, f"outside {low} to {high} months"),
        _not_null("as_of_month"),
        _expect(
            E.ExpectColumnValuesToMatchRegex,
            "as_of_month",
            "not a YYYY-MM month",
            column="as_of_month",
            regex=r"^[0-9]{4}-(?:0[1-9]|1[0-2])$",
        ),
    ]


def _real_estate_columns(fields: Mapping[str, Any], holder_code: str | None, today: date) -> dict[str, Any]:
    unit = _text(fields.get("unit_number"))
    return {
        "unit_number": unit,
        "unit_number_valid": _valid(validate_property_unit, unit),
        "certificate_no": _text(fields.get("certificate_no")),
        "area": _decimal(fields.get("area")),
    }


def _real_estate_expectations() -> list[Expectation]:
    low, high = AREA_RANGE
    return [
        _not_null("unit_number"),
        _true("unit_number_valid", "unit_number", "not a valid GB/T 37346 real-estate unit number"),
        _not_null("certificate_no"),
        _not_null("area", "missing or not a decimal number"),
        _between("area", low, high, f"outside {low} to {high:,} m²"),
    ]


# The holder code types are those each adapter's change feed yields (adapters/<dept>/adapter.py).
_RULES: dict[str, _Rules] = {
    "household_register": _Rules(
        ("id_card",), _household_columns, _household_expectations, numbers=("member_count",)
    ),
    "tax_payment_certificate": _Rules(
        ("id_card", "uscc"),
        _tax_columns,
        _tax_expectations,
        dates=("period_from", "period_to"),
        numbers=("amount",),
    ),
    "social_insurance_certificate": _Rules(
        ("id_card",),
        _social_insurance_columns,
        _social_insurance_expectations,
        numbers=("contribution_months",),
    ),
    "real_estate_title": _Rules(
        ("id_card",), _real_estate_columns, _real_estate_expectations, numbers=("area",)
    ),
}


def _rules(license_type: str) -> _Rules:
    if license_type not in LICENSE_TYPES or license_type not in _RULES:
        raise KeyError(f"unknown license type {license_type!r}; known: {', '.join(sorted(_RULES))}")
    return _RULES[license_type]


# --- the suite -------------------------------------------------------------------------------------


def build_suite(license_type: str) -> gx.ExpectationSuite:
    """The expectation suite of ``license_type``: common GB/T 36901 metadata rules, then its own.

    Raises ``KeyError`` for an unknown license type. The suite is not attached to any context.
    """
    rules = _rules(license_type)
    kind = LICENSE_TYPES[license_type]
    department = DEPARTMENTS[kind.department_id]
    holder_types = sorted(HOLDER_CODE_TYPES[name] for name in rules.holder_code_types)
    low, high = VERSION_RANGE
    expectations = [
        _expect(
            E.ExpectColumnValuesToBeInSet,
            "license_type",
            "not this batch's license type",
            column="license_type",
            value_set=[license_type],
        ),
        *(
            _not_null(name, "missing or not a date" if name in DATE_FIELDS else "missing or empty")
            for name in REQUIRED_FIELDS
        ),
        _expect(
            E.ExpectColumnValuesToBeInSet,
            "license_name",
            f"not this license type's name ({kind.name})",
            column="license_name",
            value_set=[kind.name],
        ),
        _expect(
            E.ExpectColumnValuesToBeInSet,
            "type_code",
            f"not this license type's code ({kind.type_code})",
            column="type_code",
            value_set=[kind.type_code],
        ),
        _not_null("version", "missing or not an integer"),
        _between("version", low, high, f"outside {low} to {high} (three digits in the identifier)"),
        _expect(
            E.ExpectColumnValuesToMatchRegex,
            "identifier",
            "not in GB/T 36904 form (1.2.156.3005.2.<type code>.<issuer USCC>.<serial>.<version>.<check>)",
            column="identifier",
            regex=IDENTIFIER_PATTERN,
        ),
        _true("identifier_check_valid", "identifier", "check character is wrong (ISO/IEC 7064 MOD 37,36)"),
        _true(
            "identifier_matches_type_and_issuer",
            "identifier",
            f"does not carry this license type's code {kind.type_code} and issuer {department.uscc}",
        ),
        _true("issuer_code_valid", "issuer_code", "not a valid unified social credit code (GB 32100-2015)"),
        _expect(
            E.ExpectColumnValuesToBeInSet,
            "issuer_code",
            f"not the issuing department's USCC ({department.id}: {department.uscc})",
            column="issuer_code",
            value_set=[department.uscc],
        ),
        _expect(
            E.ExpectColumnValuesToBeInSet,
            "holder_code_type",
            f"not a holder code type of this license ({', '.join(holder_types)}; GB/T 36903 codes)",
            column="holder_code_type",
            value_set=holder_types,
        ),
        _true(
            "holder_code_well_formed",
            "holder_code",
            "malformed for its holder_code_type (GB 11643-1999 citizen ID, GB 32100-2015 USCC, "
            "GB/T 37346 unit number)",
        ),
        _true(
            "holder_code_check_valid",
            "holder_code",
            "check character is wrong (GB 11643-1999 MOD 11-2 / GB 32100-2015 MOD 31)",
        ),
        _not_before("valid_from", "issue_date", "valid_from", "before issue_date"),
        _not_before("valid_to", "valid_from", "valid_to", "before valid_from"),
        _expect(
            E.ExpectColumnValuesToBeBetween,
            "issue_date",
            "in the future (after the batch's date in China Standard Time)",
            column="issue_date",
            max_value={"$PARAMETER": TODAY_PARAMETER},
        ),
        *rules.expectations(),
    ]
    return gx.ExpectationSuite(
        name=suite_name(license_type),
        expectations=expectations,
        meta={"license_type": license_type, "department": department.id, "issuer_uscc": department.uscc},
    )


# --- the frame -------------------------------------------------------------------------------------


_COMMON_COLUMNS = (
    "license_type",
    "license_name",
    "type_code",
    "number",
    "identifier",
    "version",
    "issuer_name",
    "issuer_code",
    "issue_date",
    "holder_name",
    "holder_code",
    "holder_code_type",
    "valid_from",
    "valid_to",
    "identifier_check_valid",
    "identifier_matches_type_and_issuer",
    "issuer_code_valid",
    "holder_code_well_formed",
    "holder_code_check_valid",
)


def build_frame(license_type: str, records: Sequence[LicenseRecord], *, today: date) -> pd.DataFrame:
    """One row per record (the index is the record's position), raw and derived columns.

    ``today`` bounds birth dates in citizen IDs; the issue date is bounded through the suite
    parameter instead, so that the bound shows in the validation result.
    """
    rules = _rules(license_type)
    kind = LICENSE_TYPES[license_type]
    issuer = DEPARTMENTS[kind.department_id].uscc
    rows = []
    for record in records:
        identifier = _text(record.identifier)
        holder_code = _text(record.holder_code)
        holder_code_type = _text(record.holder_code_type)
        issuer_code = _text(record.issuer_code)
        check_valid, matches = _identifier_checks(identifier, kind.type_code, issuer)
        well_formed, holder_check = _holder_checks(holder_code_type, holder_code, today)
        row = {
            "license_type": _text(record.license_type),
            "license_name": _text(record.license_name),
            "type_code": _text(record.type_code),
            "number": _text(record.number),
            "identifier": identifier,
            "version": _integer(record.version),
            "issuer_name": _text(record.issuer_name),
            "issuer_code": issuer_code,
            "issue_date": _date(record.issue_date),
            "holder_name": _text(record.holder_name),
            "holder_code": holder_code,
            "holder_code_type": holder_code_type,
            "valid_from": _date(record.valid_from),
            "valid_to": _date(record.valid_to),
            "identifier_check_valid": check_valid,
            "identifier_matches_type_and_issuer": matches,
            "issuer_code_valid": None
            if issuer_code is None
            else _uscc_checks(issuer_code, today) == (True, True),
            "holder_code_well_formed": well_formed,
            "holder_code_check_valid": holder_check,
        }
        fields = record.fields if isinstance(record.fields, Mapping) else {}
        row.update(rules.columns(fields, holder_code, today))
        rows.append(row)
    columns = _column_names(rules)
    return pd.DataFrame(
        {name: _series(name, [row[name] for row in rows], rules) for name in columns},
        index=pd.RangeIndex(len(rows)),
    )


def _column_names(rules: _Rules) -> list[str]:
    """Every column, also for an empty batch (the suite's columns must exist)."""
    return [*_COMMON_COLUMNS, *rules.columns({}, None, date.min)]


def _series(name: str, values: list[Any], rules: _Rules) -> pd.Series:
    """Dates as datetime64 (NaT when missing), numbers as float64 (NaN), everything else as objects."""
    if name in DATE_FIELDS or name in rules.dates:
        return pd.Series(values, dtype="datetime64[s]")
    if name == "version" or name in rules.numbers:
        return pd.Series([float("nan") if v is None else float(v) for v in values], dtype="float64")
    return pd.Series(values, dtype=object)
