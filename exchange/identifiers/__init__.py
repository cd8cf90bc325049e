"""Validation of the identifiers that enter the hub, each per its national standard.

Every validator returns a frozen dataclass of the identifier's parts or raises
:class:`InvalidIdentifier` (a ``ValueError``) whose message says precisely why
the value was rejected. The ``make_*`` helpers build valid identifiers for
synthetic test and demo data; they must never be used to "repair" input.

- citizen ID numbers: GB 11643-1999 (check: ISO/IEC 7064 MOD 11-2)
- unified social credit codes: GB 32100-2015 (check: MOD 31)
- real-estate unit numbers: GB/T 37346-2019 (structural only)
- e-license identifiers: GB/T 36904-2018 (check: ISO/IEC 7064 MOD 37,36)
"""

from __future__ import annotations

from .citizen_id import CitizenId, citizen_id_check_char, make_citizen_id, validate_citizen_id
from .errors import InvalidIdentifier
from .license_id import (
    LICENSE_ROOT,
    LicenseId,
    make_license_id,
    mod37_36_check_char,
    mod37_36_is_valid,
    validate_license_id,
)
from .property_unit import PropertyUnit, make_property_unit, validate_property_unit
from .uscc import USCC_ALPHABET, Uscc, make_uscc, uscc_check_char, validate_uscc

__all__ = [
    "LICENSE_ROOT",
    "USCC_ALPHABET",
    "CitizenId",
    "InvalidIdentifier",
    "LicenseId",
    "PropertyUnit",
    "Uscc",
    "citizen_id_check_char",
    "make_citizen_id",
    "make_license_id",
    "make_property_unit",
    "make_uscc",
    "mod37_36_check_char",
    "mod37_36_is_valid",
    "uscc_check_char",
    "validate_citizen_id",
    "validate_license_id",
    "validate_property_unit",
    "validate_uscc",
]
