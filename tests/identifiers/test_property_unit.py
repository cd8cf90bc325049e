"""GB/T 37346-2019 real-estate unit number validation."""

from __future__ import annotations

import random

import pytest

from exchange.identifiers import (
    InvalidIdentifier,
    make_property_unit,
    validate_property_unit,
)

OWNERSHIP = "GJZ"
PARCEL_TYPES = "ABSXCDEFWY"
FIXTURES = "FLQW"
DIGIT_POSITIONS = [*range(0, 12), *range(14, 19), *range(20, 28)]


def test_parts_and_derived_codes() -> None:
    result = validate_property_unit("320505400202GB00001F00010069")
    assert result.parcel_feature == "GB"
    assert result.parcel_code == "320505400202GB00001"
    assert (
        "".join(
            (
                result.division_code,
                result.cadastral_zone,
                result.cadastral_subzone,
                result.ownership_code,
                result.parcel_type_code,
                result.parcel_sequence,
                result.fixture_code,
                result.fixture_unit,
            )
        )
        == result.value
    )


def _random_parts(rng: random.Random) -> tuple:
    fixture = rng.choice(FIXTURES)
    return (
        f"{rng.choice([11, 32, 44, 65]):02d}{rng.randrange(10000):04d}",
        rng.randrange(1000),
        rng.randrange(1000),
        rng.choice(OWNERSHIP) + rng.choice(PARCEL_TYPES),
        rng.randrange(100000),
        fixture,
        0 if fixture == "W" else rng.randrange(10**8),
    )


def test_make_then_validate_round_trips() -> None:
    rng = random.Random(37346)
    for _ in range(500):
        division, zone, subzone, feature, sequence, fixture, unit = _random_parts(rng)
        value = make_property_unit(division, zone, subzone, feature, sequence, fixture, unit)
        result = validate_property_unit(value)
        assert result.division_code == division
        assert (int(result.cadastral_zone), int(result.cadastral_subzone)) == (zone, subzone)
        assert result.parcel_feature == feature
        assert int(result.parcel_sequence) == sequence
        assert (result.fixture_code, int(result.fixture_unit)) == (fixture, unit)


def test_make_defaults_to_no_fixture() -> None:
    assert make_property_unit("110105", 1, 1, "JC", 12) == "110105001001JC00012W00000000"


def test_letters_in_digit_fields_are_rejected() -> None:
    valid = "320505400202GB00001F00010069"
    for pos in DIGIT_POSITIONS:
        for letter in "AOW":
            with pytest.raises(InvalidIdentifier, match=f"at position {pos + 1} is not a digit"):
                validate_property_unit(valid[:pos] + letter + valid[pos + 1 :])


@pytest.mark.parametrize(("pos", "allowed"), [(12, OWNERSHIP), (13, PARCEL_TYPES), (19, FIXTURES)])
def test_letter_fields_accept_exactly_their_sets(pos: int, allowed: str) -> None:
    valid = "320505400202GB00001F00000000"
    for char in "ABCDEFGHIJKLMNOPQRSTUVWXYZ0":
        candidate = valid[:pos] + char + valid[pos + 1 :]
        if char in allowed:
            assert validate_property_unit(candidate).value == candidate
        else:
            error = f"{char!r} at position {pos + 1} is not one of"
            with pytest.raises(InvalidIdentifier, match=error):
                validate_property_unit(candidate)


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("110105", 1000, 1, "GB", 1), "cadastral zone 1000 does not fit in 3 digits"),
        (("110105", 1, -1, "GB", 1), "cadastral subzone -1 does not fit in 3 digits"),
        (("110105", 1, 1, "GB", 100000), "parcel sequence 100000 does not fit in 5 digits"),
        (("110105", 1, 1, "GB", 1, "F", 10**8), "fixture unit number 100000000 does not fit in 8"),
        (("110105", 1, 1, "GB", 1, "W", 1), "expected 00000000 when the fixture code is W"),
        (("110105", 1, 1, "GK", 1), "parcel type code 'K' at position 14"),
        (("11010", 1, 1, "GB", 1), "length 27, expected 28"),
        (("110105", "1", 1, "GB", 1), "cadastral zone must be an int, got str"),
    ],
)
def test_make_rejects_bad_parts(args: tuple, error: str) -> None:
    with pytest.raises(InvalidIdentifier, match=error):
        make_property_unit(*args)
