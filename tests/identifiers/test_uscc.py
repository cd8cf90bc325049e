"""GB 32100-2015 unified social credit code validation."""

from __future__ import annotations

import random

import pytest

from exchange.identifiers import (
    USCC_ALPHABET,
    InvalidIdentifier,
    make_uscc,
    uscc_check_char,
    validate_uscc,
)

# Written out from GB 32100-2015 Table 2 / the published worked example.
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def _reference_check(first17: str) -> str:
    total = sum(ALPHABET.index(c) * w for c, w in zip(first17, WEIGHTS, strict=True))
    value = 31 - total % 31
    return ALPHABET[0 if value == 31 else value]


def _random_uscc(rng: random.Random) -> str:
    return make_uscc(
        rng.choice(ALPHABET),
        rng.choice(ALPHABET),
        "".join(rng.choice("0123456789") for _ in range(6)),
        "".join(rng.choice(ALPHABET) for _ in range(9)),
    )


def test_published_worked_example() -> None:
    # GB 32100-2015 worked example: weighted sum 1640, 1640 mod 31 = 28, check 31 - 28 = 3.
    first17 = "91350100M000100Y4"
    assert sum(ALPHABET.index(c) * w for c, w in zip(first17, WEIGHTS, strict=True)) == 1640
    assert uscc_check_char(first17) == "3"
    result = validate_uscc("91350100M000100Y43")
    assert result.organisation_code == "M000100Y4"


def test_alphabet() -> None:
    assert USCC_ALPHABET == ALPHABET
    assert len(USCC_ALPHABET) == 31
    assert not set("IOSVZ") & set(USCC_ALPHABET)


def test_weights_follow_the_standard_formula() -> None:
    assert tuple(pow(3, i, 31) for i in range(17)) == WEIGHTS


def test_check_char_matches_reference_on_random_prefixes() -> None:
    rng = random.Random(32100)
    for _ in range(2000):
        first17 = "".join(rng.choice(ALPHABET) for _ in range(17))
        assert uscc_check_char(first17) == _reference_check(first17)


def test_make_then_validate_round_trips() -> None:
    rng = random.Random(2015)
    for _ in range(500):
        authority, kind = rng.choice(ALPHABET), rng.choice(ALPHABET)
        division = "".join(rng.choice("0123456789") for _ in range(6))
        body = "".join(rng.choice(ALPHABET) for _ in range(9))
        result = validate_uscc(make_uscc(authority, kind, division, body))
        assert (result.registration_authority, result.organisation_type, result.division_code) == (
            authority,
            kind,
            division,
        )
        assert result.organisation_code == body


def test_every_single_substitution_is_rejected() -> None:
    rng = random.Random(31)
    for valid in ["91350100M000100Y43"] + [_random_uscc(rng) for _ in range(20)]:
        for pos, original in enumerate(valid):
            for replacement in ALPHABET:
                if replacement != original:
                    with pytest.raises(InvalidIdentifier):
                        validate_uscc(valid[:pos] + replacement + valid[pos + 1 :])


def test_every_adjacent_transposition_is_rejected() -> None:
    rng = random.Random(3)
    for valid in ["91350100M000100Y43"] + [_random_uscc(rng) for _ in range(50)]:
        for pos in range(17):
            if valid[pos] != valid[pos + 1]:
                with pytest.raises(InvalidIdentifier):
                    validate_uscc(valid[:pos] + valid[pos + 1] + valid[pos] + valid[pos + 2 :])


def test_nothing_is_normalised() -> None:
    variants = [
        "91350100m000100Y43",
        "91350100M000100Y43\n",
        "\t91350100M000100Y43",
        "\u300091350100M000100Y43",
    ]
    for value in variants:
        with pytest.raises(InvalidIdentifier):
            validate_uscc(value)


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("91", "1", "350100", "M000100Y4"), "registration authority has length 2, expected 1"),
        (("9", "", "350100", "M000100Y4"), "organisation type has length 0, expected 1"),
        (("9", "1", "35010", "M000100Y4"), "division code has length 5, expected 6"),
        (("9", "1", "350100", "M000100Y"), "organisation code body has length 8, expected 9"),
        (("9", "1", "350100", "M000I00Y4"), "character 'I' at position 13 is not in the USCC"),
        (("9", "1", "3501A0", "M000100Y4"), r"division code 3501A0 \(positions 3-8\)"),
    ],
)
def test_make_rejects_bad_parts(args: tuple, error: str) -> None:
    with pytest.raises(InvalidIdentifier, match=error):
        make_uscc(*args)


def test_check_char_rejects_bad_input() -> None:
    with pytest.raises(InvalidIdentifier, match="length 18, expected 17"):
        uscc_check_char("91350100M000100Y43")
    with pytest.raises(InvalidIdentifier, match="not in the USCC alphabet"):
        uscc_check_char("91350100O000100Y4")
