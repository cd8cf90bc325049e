"""Real-estate unit numbers (不动产单元号), GB/T 37346-2019.

Layout of the 28 characters (positions 1-based):

====== ==== =========================================================
1-6    6    county-level administrative division code (GB/T 2260)
7-9    3    cadastral zone (地籍区)
10-12  3    cadastral subzone (地籍子区)
13     1    parcel ownership letter: G state, J collective, Z undetermined
14     1    parcel right-type letter (A B S X C D E F W Y)
15-19  5    parcel sequence (宗地顺序号)
20     1    fixture letter: F building, L forest, Q other, W no fixture
21-28  8    fixture unit number; 00000000 when the fixture letter is W
====== ==== =========================================================

The number carries no check character, so validation is structural only.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    "FIXTURE_CODES",
    "OWNERSHIP_CODES",
    "PARCEL_TYPE_CODES",
    "PropertyUnit",
    "make_property_unit",
    "validate_property_unit",
]

KIND = "property_unit"
LENGTH = 28
NO_FIXTURE_UNIT = "00000000"

OWNERSHIP_CODES = {"G": "state", "J": "collective", "Z": "undetermined or disputed"}
PARCEL_TYPE_CODES = {
    "A": "collective land ownership",
    "B": "construction land use right, surface",
    "S": "construction land use right, above ground",
    "X": "construction land use right, underground",
    "C": "homestead use right",
    "D": "land contract management right, arable land",
    "E": "land contract management right, forest land",
    "F": "land contract management right, grassland",
    "W": "use right undetermined or disputed",
    "Y": "other land use right",
}
FIXTURE_CODES = {"F": "house or building", "L": "forest", "Q": "other fixture", "W": "no fixture"}

# (name, first position, last position), 1-based inclusive.
_DIGIT_FIELDS = (
    ("division code", 1, 6),
    ("cadastral zone", 7, 9),
    ("cadastral subzone", 10, 12),
    ("parcel sequence", 15, 19),
    ("fixture unit number", 21, 28),
)
_LETTER_FIELDS = (
    ("parcel ownership code", 13, OWNERSHIP_CODES),
    ("parcel type code", 14, PARCEL_TYPE_CODES),
    ("fixture code", 20, FIXTURE_CODES),
)


@dataclass(frozen=True, slots=True)
class PropertyUnit:
    """A validated real-estate unit number and its parts."""

    value: str
    division_code: str
    cadastral_zone: str
    cadastral_subzone: str
    ownership_code: str
    parcel_type_code: str
    parcel_sequence: str
    fixture_code: str
    fixture_unit: str

    @property
    def parcel_feature(self) -> str:
        """Positions 13-14, the two-letter parcel feature code (宗地特征码)."""
        return self.ownership_code + self.parcel_type_code

    @property
    def parcel_code(self) -> str:
        """Positions 1-19, the parcel code (宗地代码) shared by all units on the parcel."""
        return self.value[:19]


def validate_property_unit(value: str) -> PropertyUnit:
    """Validate a 28-character unit number; raise InvalidIdentifier naming the first defect."""
    require_str(KIND, value)
    reject_whitespace(KIND, value)
    require_length(KIND, value, LENGTH)
    for name, first, last in _DIGIT_FIELDS:
        _require_digit_field(value, name, first, last)
    for name, position, codes in _LETTER_FIELDS:
        _require_letter(value, name, position, codes)
    _require_province(value[:6])
    _require_fixture_unit(value[19], value[20:28])
    return PropertyUnit(
        value=value,
        division_code=value[0:6],
        cadastral_zone=value[6:9],
        cadastral_subzone=value[9:12],
        ownership_code=value[12],
        parcel_type_code=value[13],
        parcel_sequence=value[14:19],
        fixture_code=value[19],
        fixture_unit=value[20:28],
    )


def make_property_unit(
    division_code: str,
    cadastral_zone: int,
    cadastral_subzone: int,
    parcel_feature: str,
    parcel_sequence: int,
    fixture_code: str = "W",
    fixture_unit: int = 0,
) -> str:
    """Build a unit number from its parts, for synthetic test and demo data only.

    ``parcel_feature`` is the two letters of positions 13-14 (e.g. "GB").
    """
    require_str(KIND, division_code)
    require_str(KIND, parcel_feature)
    require_str(KIND, fixture_code)
    candidate = "".join(
        (
            division_code,
            zero_pad(KIND, "cadastral zone", cadastral_zone, 3),
            zero_pad(KIND, "cadastral subzone", cadastral_subzone, 3),
            parcel_feature,
            zero_pad(KIND, "parcel sequence", parcel_sequence, 5),
            fixture_code,
            zero_pad(KIND, "fixture unit number", fixture_unit, 8),
        )
    )
    return validate_property_unit(candidate).value


def _require_digit_field(value: str, name: str, first: int, last: int) -> None:
    field = value[first - 1 : last]
    try:
        require_digits(KIND, field, offset=first - 1)
    except InvalidIdentifier as exc:
        raise InvalidIdentifier(KIND, f"{name} {field} (positions {first}-{last}): {exc.reason}") from None


def _require_letter(value: str, name: str, position: int, codes: dict[str, str]) -> None:
    char = value[position - 1]
    if char not in codes:
        allowed = ", ".join(codes)
        raise InvalidIdentifier(KIND, f"{name} {char!r} at position {position} is not one of {allowed}")


def _require_province(division_code: str) -> None:
    if not is_valid_province(division_code[:2]):
        raise InvalidIdentifier(
            KIND,
            f"division code {division_code} starts with {division_code[:2]}, "
            "which is not a province-level code",
        )


def _require_fixture_unit(fixture_code: str, fixture_unit: str) -> None:
    if fixture_code == "W" and fixture_unit != NO_FIXTURE_UNIT:
        raise InvalidIdentifier(
            KIND,
            f"fixture unit number is {fixture_unit}, expected {NO_FIXTURE_UNIT} "
            "when the fixture code is W (no fixture)",
        )
