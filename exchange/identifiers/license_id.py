"""Electronic license identifiers (电子证照标识), GB/T 36904-2018.

Form: ``1.2.156.3005.2.<type code>.<issuer USCC>.<serial>.<version>.<check>``.
The root ``1.2.156.3005.2`` is fixed; the issuer is the issuing authority's
unified social credit code (GB 32100-2015); the version has exactly three
digits; the check character is ISO/IEC 7064 MOD 37,36 (as adopted by
GB/T 17710-2008) computed over everything after the root with the dots
removed. Nothing is normalised.

The type code and serial are accepted as 1-32 characters of 0-9A-Z: type codes
seen in practice are not digits only, they embed the defining authority's USCC
plus a 3-digit number (e.g. ``11100000000013338W011``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from ._common import (
    DIGITS,
    UPPER_ALNUM,
    reject_whitespace,
    require_chars,
    require_str,
    zero_pad,
)
from .errors import InvalidIdentifier
from .uscc import validate_uscc

__all__ = [
    "LICENSE_ROOT",
    "LicenseId",
    "make_license_id",
    "mod37_36_check_char",
    "mod37_36_is_valid",
    "validate_license_id",
]

KIND = "license_id"
LICENSE_ROOT = "1.2.156.3005.2"
MAX_FIELD_LENGTH = 32
_PREFIX = LICENSE_ROOT + "."
_FIELDS = ("type code", "issuer USCC", "serial", "version", "check character")

# ISO/IEC 7064 hybrid system MOD 37,36: alphabet 0-9A-Z, M = 36, M + 1 = 37.
_MOD37_36_KIND = "iso7064_mod37_36"
_M = 36
_VALUES = {char: index for index, char in enumerate(UPPER_ALNUM)}
# One step of the recurrence, tabulated: _STEPS[product][char] is
# ((product + value(char)) mod 36, or 36 for 0) * 2 mod 37, for every product 0..36.
_STEPS = tuple(
    {char: (((product + value) % _M or _M) * 2) % (_M + 1) for char, value in _VALUES.items()}
    for product in range(_M + 1)
)


@dataclass(frozen=True, slots=True)
class LicenseId:
    """A validated e-license identifier and its parts."""

    value: str
    type_code: str
    issuer_uscc: str
    serial: str
    version: str
    check: str


def mod37_36_check_char(data: str) -> str:
    """Return the ISO/IEC 7064 MOD 37,36 check character for ``data`` (0-9A-Z)."""
    require_str(_MOD37_36_KIND, data)
    require_chars(_MOD37_36_KIND, data, UPPER_ALNUM, "in 0-9A-Z")
    # The check character a must leave (p + a) mod 36 == 1 after the last step.
    return UPPER_ALNUM[(_M + 1 - _mod37_36_state(data)) % _M]


def mod37_36_is_valid(data_with_check: str) -> bool:
    """True when the last character is the correct MOD 37,36 check for the rest."""
    if not isinstance(data_with_check, str) or not data_with_check:
        return False
    if data_with_check.strip(UPPER_ALNUM):  # a character outside 0-9A-Z is left over
        return False
    data, check = data_with_check[:-1], data_with_check[-1]
    return (_mod37_36_state(data) + _VALUES[check]) % _M == 1


def validate_license_id(value: str) -> LicenseId:
    """Validate an e-license identifier; raise InvalidIdentifier naming the first defect."""
    require_str(KIND, value)
    reject_whitespace(KIND, value)
    if not value.startswith(_PREFIX):
        raise InvalidIdentifier(KIND, f"does not start with the root {LICENSE_ROOT}.")
    parts = value[len(_PREFIX) :].split(".")
    if len(parts) != len(_FIELDS):
        raise InvalidIdentifier(
            KIND,
            f"{len(parts)} dot-separated parts after the root, expected {len(_FIELDS)} "
            f"({', '.join(_FIELDS)})",
        )
    type_code, issuer, serial, version, check = parts
    _require_code("type code", type_code)
    _require_issuer(issuer)
    _require_code("serial", serial)
    _require_version(version)
    _require_check(type_code + issuer + serial + version, check)
    return LicenseId(
        value=value,
        type_code=type_code,
        issuer_uscc=issuer,
        serial=serial,
        version=version,
        check=check,
    )


def make_license_id(type_code: str, issuer_uscc: str, serial: str, version: int) -> str:
    """Build a valid e-license identifier, for synthetic test and demo data only."""
    for name, part in (("type code", type_code), ("serial", serial)):
        require_str(KIND, part)
        _require_code(name, part)
    _require_issuer(require_str(KIND, issuer_uscc))
    version_text = zero_pad(KIND, "version", version, 3)
    check = mod37_36_check_char(type_code + issuer_uscc + serial + version_text)
    return ".".join((LICENSE_ROOT, type_code, issuer_uscc, serial, version_text, check))


def _mod37_36_state(data: str) -> int:
    """Run the ISO/IEC 7064 hybrid recurrence over ``data``; return the final product."""
    product = _M
    for char in data:
        product = _STEPS[product][char]
    return product


def _require_code(name: str, part: str) -> None:
    """Type code and serial: 1-32 characters of 0-9A-Z."""
    if not 1 <= len(part) <= MAX_FIELD_LENGTH:
        raise InvalidIdentifier(
            KIND, f"{name} {part!r} has length {len(part)}, expected 1-{MAX_FIELD_LENGTH}"
        )
    for pos, char in enumerate(part, start=1):
        if char not in _VALUES:
            raise InvalidIdentifier(
                KIND,
                f"{name} {part}: character {char!r} at position {pos} of the {name} is not in 0-9A-Z",
            )


@lru_cache(maxsize=256)  # a handful of issuers, each in millions of identifiers; failures are not cached
def _require_issuer(issuer: str) -> None:
    try:
        validate_uscc(issuer)
    except InvalidIdentifier as exc:
        raise InvalidIdentifier(KIND, f"issuer USCC {issuer}: {exc.reason}") from exc


def _require_version(version: str) -> None:
    if len(version) != 3 or any(char not in DIGITS for char in version):
        raise InvalidIdentifier(KIND, f"version {version!r} is not exactly 3 digits")


def _require_check(data: str, check: str) -> None:
    if len(check) != 1:
        raise InvalidIdentifier(KIND, f"check character {check!r} has length {len(check)}, expected 1")
    if check not in _VALUES:
        hint = " (lower case is not accepted)" if check.upper() in _VALUES else ""
        raise InvalidIdentifier(KIND, f"check character {check!r} is not in 0-9A-Z{hint}")
    expected = mod37_36_check_char(data)
    if check != expected:
        raise InvalidIdentifier(KIND, f"check character is {check}, expected {expected}")
