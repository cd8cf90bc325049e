"""Citizen identification numbers (公民身份号码), GB 11643-1999.

Layout of the 18 characters: 6-digit address code (GB/T 2260 county-level
division), 8-digit birth date YYYYMMDD, 3-digit sequence (odd = male,
even = female) and one check character computed with ISO/IEC 7064 MOD 11-2.
The check character detects every single-digit substitution, which is why a
value with a wrong check character is rejected outright rather than "fixed".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from operator import mul
from typing import Literal

from ._common import (
    is_valid_province,
    reject_whitespace,
    require_digits,
    require_length,
    require_str,
    zero_pad,
)
from .errors import InvalidIdentifier

__all__ = [
    "CitizenId",
    "citizen_id_check_char",
    "make_citizen_id",
    "validate_citizen_id",
]

KIND = "id_card"
LENGTH = 18
EARLIEST_BIRTH_DATE = date(1900, 1, 1)

# ISO/IEC 7064 MOD 11-2: W_i = 2^(17-i) mod 11 for i = 0..16, i.e.
# 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2 (GB 11643-1999).
_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
# Index: the weighted sum mod 11; value: the check character.
_CHECK_CHARS = "10X98765432"

Sex = Literal["1", "2"]


@dataclass(frozen=True, slots=True)
class CitizenId:
    """A validated citizen ID; ``sex`` is coded per GB/T 2261.1 (1 male, 2 female)."""

    value: str
    address_code: str
    birth_date: date
    sequence: str
    sex: Sex

    @property
    def province_code(self) -> str:
        """The first two digits of the address code."""
        return self.address_code[:2]

    @property
    def check(self) -> str:
        """The check character (a digit or 'X')."""
        return self.value[-1]


def citizen_id_check_char(first17: str) -> str:
    """Return the MOD 11-2 check character ('0'-'9' or 'X') for 17 digits."""
    require_str(KIND, first17)
    require_length(KIND, first17, 17)
    require_digits(KIND, first17)
    total = sum(map(mul, map(int, first17), _WEIGHTS))  # 17 ASCII digits, 17 weights (checked above)
    return _CHECK_CHARS[total % 11]


def validate_citizen_id(
    value: str, *, today: date | None = None, earliest: date = EARLIEST_BIRTH_DATE
) -> CitizenId:
    """Validate an 18-character citizen ID; a trailing 'x' is read as 'X'.

    The birth date must lie in ``earliest`` (default 1900-01-01) .. ``today``
    (default: the current date). GB 11643-1999 itself sets no lower bound (the
    widely reproduced example 440524188001010014 has birth date 1880-01-01);
    the hub's floor rejects implausible dates and can be lowered for archives.
    Raises InvalidIdentifier naming the first defect found.
    """
    require_str(KIND, value)
    reject_whitespace(KIND, value)
    require_length(KIND, value, LENGTH)
    normalised = value[:17] + ("X" if value[17] == "x" else value[17])
    require_digits(KIND, normalised[:17])
    _require_check_char_shape(normalised[17])
    _require_province(normalised[:6])
    birth_date = _parse_birth_date(normalised[6:14], _as_date(earliest), _as_date(today))
    _require_check_char(normalised)
    sequence = normalised[14:17]
    return CitizenId(
        value=normalised,
        address_code=normalised[:6],
        birth_date=birth_date,
        sequence=sequence,
        sex="1" if int(sequence) % 2 else "2",
    )


def make_citizen_id(address_code: str, birth_date: date, sequence: int) -> str:
    """Build a valid citizen ID, for synthetic test and demo data only."""
    require_str(KIND, address_code)
    require_length(KIND, address_code, 6)
    require_digits(KIND, address_code)
    _require_province(address_code)
    if not isinstance(birth_date, date):
        raise InvalidIdentifier(KIND, f"birth date must be a date, got {type(birth_date).__name__}")
    birth_date = _as_date(birth_date)
    born = f"{birth_date.year:04d}{birth_date.month:02d}{birth_date.day:02d}"
    first17 = address_code + born + zero_pad(KIND, "sequence", sequence, 3)
    candidate = first17 + citizen_id_check_char(first17)
    # Synthetic data may use future dates; every other rule still applies.
    validate_citizen_id(candidate, today=max(birth_date, date.today()))
    return candidate


def _as_date(moment: date | None) -> date:
    """Default to today, and drop the time of a datetime (datetime < date raises)."""
    if moment is None:
        return date.today()
    return moment.date() if isinstance(moment, datetime) else moment


def _require_check_char_shape(char: str) -> None:
    if char not in "0123456789X":
        raise InvalidIdentifier(KIND, f"character {char!r} at position 18 is not a digit or 'X'")


def _require_province(address_code: str) -> None:
    province = address_code[:2]
    if not is_valid_province(province):
        raise InvalidIdentifier(
            KIND,
            f"address code {address_code} starts with {province}, which is not a province-level code",
        )


def _parse_birth_date(text: str, earliest: date, today: date) -> date:
    try:
        born = date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        raise InvalidIdentifier(KIND, f"birth date {text} is not a real date") from None
    if born < earliest:
        raise InvalidIdentifier(KIND, f"birth date {text} is before {earliest.isoformat()}")
    if born > today:
        raise InvalidIdentifier(KIND, f"birth date {text} is in the future (today is {today.isoformat()})")
    return born


def _require_check_char(normalised: str) -> None:
    expected = citizen_id_check_char(normalised[:17])
    if normalised[17] != expected:
        raise InvalidIdentifier(KIND, f"check digit is {normalised[17]}, expected {expected}")
