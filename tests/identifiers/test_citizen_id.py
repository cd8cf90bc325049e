"""GB 11643-1999 citizen ID validation, plus the shared InvalidIdentifier contract."""

from __future__ import annotations

import pickle
import random
from datetime import date, timedelta

import pytest

import exchange.identifiers as identifiers
from exchange.identifiers import (
    InvalidIdentifier,
    citizen_id_check_char,
    make_citizen_id,
    validate_citizen_id,
)

# Written out from GB 11643-1999 rather than derived, to check the derivation.
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
PROVINCES = [
    *range(11, 16),
    *range(21, 24),
    *range(31, 38),
    *range(41, 47),
    *range(50, 55),
    *range(61, 66),
    71,
    81,
    82,
    83,
    91,
]
TODAY = date(2024, 6, 1)


def _reference_check(first17: str) -> str:
    remainder = sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True)) % 11
    return {0: "1", 1: "0", 2: "X"}.get(remainder, str(12 - remainder))


def test_published_example_parts() -> None:
    result = validate_citizen_id("11010519491231002X")
    assert result.address_code == "110105"
    assert result.province_code == "11"
    assert result.birth_date == date(1949, 12, 31)
    assert result.sequence == "002"
    assert result.sex == "2"
    assert result.check == "X"
    assert citizen_id_check_char("11010519491231002") == "X"


def test_weights_follow_the_standard_formula() -> None:
    assert tuple(pow(2, 17 - i, 11) for i in range(17)) == WEIGHTS


def test_check_char_matches_reference_on_random_prefixes() -> None:
    rng = random.Random(11643)
    for _ in range(2000):
        first17 = "".join(rng.choice("0123456789") for _ in range(17))
        assert citizen_id_check_char(first17) == _reference_check(first17)


def _random_parts(rng: random.Random) -> tuple[str, date, int]:
    address = f"{rng.choice(PROVINCES):02d}{rng.randrange(10000):04d}"
    days = rng.randrange((TODAY - date(1900, 1, 1)).days + 1)
    return address, date(1900, 1, 1) + timedelta(days=days), rng.randrange(1000)


def _random_id(rng: random.Random) -> str:
    return make_citizen_id(*_random_parts(rng))


def test_make_then_validate_round_trips() -> None:
    rng = random.Random(1999)
    for _ in range(500):
        address, born, sequence = _random_parts(rng)
        result = validate_citizen_id(make_citizen_id(address, born, sequence), today=TODAY)
        assert (result.address_code, result.birth_date, int(result.sequence)) == (
            address,
            born,
            sequence,
        )
        assert result.sex == ("1" if sequence % 2 else "2")


def test_every_single_substitution_is_rejected() -> None:
    rng = random.Random(7064)
    samples = ["11010519491231002X"] + [_random_id(rng) for _ in range(30)]
    for valid in samples:
        for pos, original in enumerate(valid):
            for replacement in "0123456789X":
                if replacement == original:
                    continue
                mutated = valid[:pos] + replacement + valid[pos + 1 :]
                with pytest.raises(InvalidIdentifier):
                    validate_citizen_id(mutated, today=TODAY)


def test_every_adjacent_transposition_is_rejected() -> None:
    rng = random.Random(112)
    for valid in ["11010519491231002X"] + [_random_id(rng) for _ in range(30)]:
        for pos in range(17):
            if valid[pos] == valid[pos + 1]:
                continue
            mutated = valid[:pos] + valid[pos + 1] + valid[pos] + valid[pos + 2 :]
            with pytest.raises(InvalidIdentifier):
                validate_citizen_id(mutated, today=TODAY)


def test_lower_case_x_is_normalised() -> None:
    assert validate_citizen_id("11010519491231002x").value == "11010519491231002X"


def test_future_date_uses_current_date_by_default() -> None:
    tomorrow = date.today() + timedelta(days=1)
    value = make_citizen_id("110105", tomorrow, 1)
    with pytest.raises(InvalidIdentifier, match="is in the future"):
        validate_citizen_id(value)
    assert validate_citizen_id(value, today=tomorrow).birth_date == tomorrow


def test_earliest_can_be_lowered_for_archival_data() -> None:
    with pytest.raises(InvalidIdentifier, match="before 1900-01-01"):
        validate_citizen_id("440524188001010014")
    assert validate_citizen_id("440524188001010014", earliest=date(1880, 1, 1)).sex == "1"
    with pytest.raises(InvalidIdentifier, match="before 1880-01-02"):
        validate_citizen_id("440524188001010014", earliest=date(1880, 1, 2))


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("000105", date(1990, 1, 1), 1), "starts with 00, which is not a province-level code"),
        (("11010", date(1990, 1, 1), 1), "length 5, expected 6"),
        (("11010A", date(1990, 1, 1), 1), "character 'A' at position 6 is not a digit"),
        (("110105", date(1990, 1, 1), 1000), "sequence 1000 does not fit in 3 digits"),
        (("110105", date(1990, 1, 1), -1), "sequence -1 does not fit in 3 digits"),
        (("110105", date(1899, 12, 31), 1), "before 1900-01-01"),
        (("110105", "1990-01-01", 1), "birth date must be a date, got str"),
    ],
)
def test_make_rejects_bad_parts(args: tuple, error: str) -> None:
    with pytest.raises(InvalidIdentifier, match=error):
        make_citizen_id(*args)


@pytest.mark.parametrize(
    ("first17", "error"),
    [
        ("1101051949123100", "length 16, expected 17"),
        ("1101051949123100X", "character 'X' at position 17 is not a digit"),
    ],
)
def test_check_char_rejects_bad_input(first17: str, error: str) -> None:
    with pytest.raises(InvalidIdentifier, match=error):
        citizen_id_check_char(first17)


def test_result_is_frozen() -> None:
    result = validate_citizen_id("11010519491231002X")
    with pytest.raises(AttributeError):
        result.sex = "1"  # type: ignore[misc]


# --- the shared error type -------------------------------------------------


def test_invalid_identifier_contract() -> None:
    error = InvalidIdentifier("uscc", "length 17, expected 18")
    assert isinstance(error, ValueError)
    assert (error.kind, error.reason) == ("uscc", "length 17, expected 18")
    assert str(error) == "invalid uscc: length 17, expected 18"
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.kind, copy.reason, str(copy)) == (error.kind, error.reason, str(error))


def test_public_api_is_exported() -> None:
    for name in identifiers.__all__:
        assert hasattr(identifiers, name), name
    validators = {"validate_citizen_id", "validate_uscc", "validate_property_unit", "validate_license_id"}
    assert validators <= set(identifiers.__all__)
