"""Unified social credit codes (统一社会信用代码), GB 32100-2015.

Layout of the 18 characters: position 1 registration authority code,
position 2 organisation type code, positions 3-8 the registering authority's
administrative division code (6 digits), positions 9-17 the organisation code
body, position 18 a check character. Every character is drawn from a
31-character alphabet (the digits and the capitals except I, O, S, V, Z), and
the check character makes the weighted sum vanish modulo 31, so any single
substituted character is detected. Nothing is normalised: lower case and
whitespace are errors, because the code is a legal identifier and must be
exchanged exactly as issued.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._common import reject_whitespace, require_chars, require_digits, require_length, require_str
from .errors import InvalidIdentifier

__all__ = [
    "USCC_ALPHABET",
    "Uscc",
    "make_uscc",
    "uscc_check_char",
    "validate_uscc",
]

KIND = "uscc"
LENGTH = 18
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_VALUES = {char: index for index, char in enumerate(USCC_ALPHABET)}
# W_i = 3^i mod 31 for i = 0..16 (GB 32100-2015 writes 3^(i-1) with 1-based i).
_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
_WHAT = "in the USCC alphabet"


@dataclass(frozen=True, slots=True)
class Uscc:
    """A validated unified social credit code and its parts."""

    value: str
    registration_authority: str
    organisation_type: str
    division_code: str
    check: str

    @property
    def organisation_code(self) -> str:
        """Positions 9-17: the organisation code body (主体标识码)."""
        return self.value[8:17]


def uscc_check_char(first17: str) -> str:
    """Return the GB 32100-2015 check character for the first 17 characters."""
    require_str(KIND, first17)
    require_length(KIND, first17, 17)
    require_chars(KIND, first17, USCC_ALPHABET, _WHAT)
    total = sum(_VALUES[char] * weight for char, weight in zip(first17, _WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def validate_uscc(value: str) -> Uscc:
    """Validate an 18-character USCC; raise InvalidIdentifier naming the first defect."""
    require_str(KIND, value)
    reject_whitespace(KIND, value)
    require_length(KIND, value, LENGTH)
    require_chars(KIND, value, USCC_ALPHABET, _WHAT)
    _require_division_code(value[2:8])
    expected = uscc_check_char(value[:17])
    if value[17] != expected:
        raise InvalidIdentifier(KIND, f"check character is {value[17]}, expected {expected}")
    return Uscc(
        value=value,
        registration_authority=value[0],
        organisation_type=value[1],
        division_code=value[2:8],
        check=value[17],
    )


def make_uscc(registration_authority: str, organisation_type: str, division_code: str, body: str) -> str:
    """Build a valid USCC from its parts, for synthetic test and demo data only."""
    for name, part, size in (
        ("registration authority", registration_authority, 1),
        ("organisation type", organisation_type, 1),
        ("division code", division_code, 6),
        ("organisation code body", body, 9),
    ):
        require_str(KIND, part)
        if len(part) != size:
            raise InvalidIdentifier(KIND, f"{name} has length {len(part)}, expected {size}")
    first17 = registration_authority + organisation_type + division_code + body
    require_chars(KIND, first17, USCC_ALPHABET, _WHAT)
    _require_division_code(division_code)
    return first17 + uscc_check_char(first17)


def _require_division_code(division_code: str) -> None:
    """Positions 3-8 are a GB/T 2260 division code, hence digits only."""
    try:
        require_digits(KIND, division_code, offset=2)
    except InvalidIdentifier as exc:
        raise InvalidIdentifier(
            KIND, f"division code {division_code} (positions 3-8): {exc.reason}"
        ) from None
