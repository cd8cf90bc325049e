"""Small checks shared by the identifier validators (private).

All positions in messages are 1-based, as the standards number them.
"""

from __future__ import annotations

import re

from .errors import InvalidIdentifier

DIGITS = "0123456789"
UPPER_ALNUM = DIGITS + "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

# First two digits of a GB/T 2260 administrative division code that the hub
# accepts: the province-level units (71 Taiwan, 81 Hong Kong, 82 Macao
# included), plus 83 (used by residence permits for Taiwan residents) and 91,
# both accepted by the hub's design.
PROVINCE_CODES = frozenset(
    [f"{n}" for n in range(11, 16)]
    + [f"{n}" for n in range(21, 24)]
    + [f"{n}" for n in range(31, 38)]
    + [f"{n}" for n in range(41, 47)]
    + [f"{n}" for n in range(50, 55)]
    + [f"{n}" for n in range(61, 66)]
    + ["71", "81", "82", "83", "91"]
)


def require_str(kind: str, value: object) -> str:
    """Reject non-strings with an InvalidIdentifier rather than a TypeError."""
    if not isinstance(value, str):
        raise InvalidIdentifier(kind, f"expected a string, got {type(value).__name__}")
    return value


# re's \s on str patterns is exactly str.isspace() (both Py_UNICODE_ISSPACE): a fast first look.
_WHITESPACE = re.compile(r"\s")


def reject_whitespace(kind: str, value: str) -> None:
    """Whitespace is never stripped: a padded value is an input error."""
    if _WHITESPACE.search(value) is None:
        return
    for pos, char in enumerate(value, start=1):
        if char.isspace():
            raise InvalidIdentifier(kind, f"whitespace {char!r} at position {pos} is not allowed")


def require_length(kind: str, value: str, expected: int) -> None:
    """Fail with "length N, expected M"."""
    if len(value) != expected:
        raise InvalidIdentifier(kind, f"length {len(value)}, expected {expected}")


def require_chars(kind: str, value: str, allowed: str, what: str, *, offset: int = 0) -> None:
    """Fail on the first character of ``value`` not in ``allowed``.

    ``what`` completes "is not ..." (e.g. "a digit"); ``offset`` shifts the
    reported positions when ``value`` is a slice of a longer identifier.
    """
    if not value.strip(allowed):  # every character is allowed: nothing to report
        return
    for pos, char in enumerate(value, start=offset + 1):
        if char not in allowed:
            hint = " (lower case is not accepted)" if char.upper() in set(allowed) else ""
            raise InvalidIdentifier(kind, f"character {char!r} at position {pos} is not {what}{hint}")


def require_digits(kind: str, value: str, *, offset: int = 0) -> None:
    """ASCII digits only (str.isdigit() would accept e.g. full-width digits)."""
    require_chars(kind, value, DIGITS, "a digit", offset=offset)


def is_valid_province(code: str) -> bool:
    """True when ``code`` (two digits) names a province-level unit."""
    return code in PROVINCE_CODES


def zero_pad(kind: str, name: str, number: int, width: int) -> str:
    """Format ``number`` as exactly ``width`` digits, for the make_* helpers."""
    if isinstance(number, bool) or not isinstance(number, int):
        raise InvalidIdentifier(kind, f"{name} must be an int, got {type(number).__name__}")
    if not 0 <= number < 10**width:
        raise InvalidIdentifier(kind, f"{name} {number} does not fit in {width} digits")
    return f"{number:0{width}d}"
