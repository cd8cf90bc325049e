"""The shared checks' fast paths decide exactly as the character loops they skip."""

from __future__ import annotations

import re
import sys

import pytest

from exchange.identifiers import InvalidIdentifier
from exchange.identifiers._common import _WHITESPACE, UPPER_ALNUM, reject_whitespace, require_chars


def test_the_whitespace_pattern_is_str_isspace_for_every_code_point():
    differ = [
        c for c in range(sys.maxunicode + 1) if (_WHITESPACE.match(chr(c)) is not None) != chr(c).isspace()
    ]
    assert differ == []


@pytest.mark.parametrize("space", [" ", "\u3000", "\x1c", "\u2028", "\xa0"])
def test_whitespace_anywhere_is_reported_at_its_position(space):
    with pytest.raises(InvalidIdentifier, match=re.escape(f"whitespace {space!r} at position 3")):
        reject_whitespace("kind", "AB" + space + "CD")
    reject_whitespace("kind", "ABCD")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("AB1c", "character 'c' at position 4 is not in 0-9A-Z (lower case is not accepted)"),
        ("-AB", "character '-' at position 1 is not in 0-9A-Z"),
        ("ABZ\u0661", "character '\u0661' at position 4 is not in 0-9A-Z"),
    ],
)
def test_a_character_outside_the_alphabet_is_reported_at_its_position(value, message):
    with pytest.raises(InvalidIdentifier, match=re.escape(message)):
        require_chars("kind", value, UPPER_ALNUM, "in 0-9A-Z")
    require_chars("kind", "", UPPER_ALNUM, "in 0-9A-Z")
    require_chars("kind", UPPER_ALNUM, UPPER_ALNUM, "in 0-9A-Z")


def test_the_tabulated_mod37_36_recurrence_is_iso_7064():
    import random

    from exchange.identifiers import license_id

    def recurrence(data: str) -> int:  # ISO/IEC 7064 hybrid system, M = 36, step by step
        product = 36
        for char in data:
            total = (product + UPPER_ALNUM.index(char)) % 36 or 36
            product = (total * 2) % 37
        return product

    rng = random.Random(7064)
    for _ in range(20_000):
        data = "".join(rng.choice(UPPER_ALNUM) for _ in range(rng.randrange(60)))
        assert license_id._mod37_36_state(data) == recurrence(data)
        assert license_id.mod37_36_is_valid(data + license_id.mod37_36_check_char(data))
    assert not license_id.mod37_36_is_valid("ABc1") and not license_id.mod37_36_is_valid("")
