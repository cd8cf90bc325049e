"""GB/T 36904-2018 e-license identifiers and the ISO/IEC 7064 MOD 37,36 check."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from exchange.identifiers import (
    LICENSE_ROOT,
    USCC_ALPHABET,
    InvalidIdentifier,
    make_license_id,
    make_uscc,
    mod37_36_check_char,
    mod37_36_is_valid,
    validate_license_id,
)

ALL = json.loads(Path(__file__).with_name("vectors.json").read_text(encoding="utf-8"))
VECTORS = ALL["license_id"]
ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
ISSUER = "91350100M000100Y43"


def _reference_is_valid(text: str) -> bool:
    """ISO/IEC 7064 hybrid MOD 37,36 verification, written out independently."""
    modulus = 36
    carry = modulus
    for index, char in enumerate(text):
        subtotal = (carry + ALNUM.index(char)) % modulus
        if index == len(text) - 1:
            return subtotal == 1
        carry = (2 * (subtotal if subtotal else modulus)) % (modulus + 1)
    return False


def _reference_check(data: str) -> str:
    """The unique character that makes ``data`` + it verify (brute force)."""
    (check,) = [c for c in ALNUM if _reference_is_valid(data + c)]
    return check


def _random_code(rng: random.Random, low: int, high: int) -> str:
    return "".join(rng.choice(ALNUM) for _ in range(rng.randint(low, high)))


@pytest.mark.parametrize("vector", ALL["mod37_36"], ids=lambda v: v["data"])
def test_mod37_36_published_vectors(vector: dict) -> None:
    assert mod37_36_check_char(vector["data"]) == vector["check"]
    assert _reference_check(vector["data"]) == vector["check"]
    assert mod37_36_is_valid(vector["data"] + vector["check"])


def test_mod37_36_matches_reference_on_random_data() -> None:
    rng = random.Random(7064)
    for _ in range(2000):
        data = _random_code(rng, 0, 60)
        check = mod37_36_check_char(data)
        assert check == _reference_check(data)
        assert mod37_36_is_valid(data + check)
        assert [c for c in ALNUM if mod37_36_is_valid(data + c)] == [check]


def test_mod37_36_detects_every_single_substitution() -> None:
    rng = random.Random(3736)
    for _ in range(100):
        data = _random_code(rng, 1, 30)
        valid = data + mod37_36_check_char(data)
        for pos, original in enumerate(valid):
            for replacement in ALNUM:
                if replacement != original:
                    assert not mod37_36_is_valid(valid[:pos] + replacement + valid[pos + 1 :])


@pytest.mark.parametrize("value", ["", "a12425GABC1234002M", "A12425GABC1234002-M", None, 12])
def test_mod37_36_is_valid_is_false_for_garbage(value: object) -> None:
    assert mod37_36_is_valid(value) is False  # type: ignore[arg-type]


def test_mod37_36_check_char_rejects_bad_input() -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        mod37_36_check_char("A1-2425G")
    assert caught.value.kind == "iso7064_mod37_36"
    assert "character '-' at position 3" in caught.value.reason


def test_issuer_error_is_chained() -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        validate_license_id(f"{LICENSE_ROOT}.111.91350100M000100Y40.1.001.0")
    assert isinstance(caught.value.__cause__, InvalidIdentifier)
    assert caught.value.__cause__.kind == "uscc"


def test_check_covers_everything_after_the_root_without_dots() -> None:
    value = make_license_id("11100000", ISSUER, "000001", 1)
    data = value[len(LICENSE_ROOT) + 1 :].rsplit(".", 1)[0].replace(".", "")
    assert data == "11100000" + ISSUER + "000001" + "001"
    assert value.endswith("." + mod37_36_check_char(data))


def _random_license(rng: random.Random) -> tuple[str, tuple]:
    body = "".join(rng.choice(USCC_ALPHABET) for _ in range(9))
    issuer = make_uscc("9", "1", f"{rng.randrange(10**6):06d}", body)
    parts = (_random_code(rng, 1, 32), issuer, _random_code(rng, 1, 32), rng.randrange(1000))
    return make_license_id(*parts), parts


def test_make_then_validate_round_trips() -> None:
    rng = random.Random(36904)
    for _ in range(500):
        value, (type_code, issuer, serial, version) = _random_license(rng)
        result = validate_license_id(value)
        assert (result.type_code, result.issuer_uscc, result.serial, int(result.version)) == (
            type_code,
            issuer,
            serial,
            version,
        )
        assert len(result.version) == 3


def test_every_single_substitution_is_rejected() -> None:
    rng = random.Random(2018)
    samples = [VECTORS["valid"][0]["value"]] + [_random_license(rng)[0] for _ in range(10)]
    for valid in samples:
        for pos, original in enumerate(valid):
            if original == ".":
                continue
            for replacement in ALNUM + ".":
                if replacement != original:
                    with pytest.raises(InvalidIdentifier):
                        validate_license_id(valid[:pos] + replacement + valid[pos + 1 :])


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("", ISSUER, "1", 1), "type code '' has length 0, expected 1-32"),
        (("1" * 33, ISSUER, "1", 1), "has length 33, expected 1-32"),
        (("111", ISSUER, "a", 1), "serial a: character 'a' at position 1 of the serial"),
        (("111", "91350100M000100Y4Z", "1", 1), "issuer USCC 91350100M000100Y4Z"),
        (("111", ISSUER, "1", 1000), "version 1000 does not fit in 3 digits"),
        (("111", ISSUER, "1", "001"), "version must be an int, got str"),
    ],
)
def test_make_rejects_bad_parts(args: tuple, error: str) -> None:
    with pytest.raises(InvalidIdentifier, match=error):
        make_license_id(*args)
