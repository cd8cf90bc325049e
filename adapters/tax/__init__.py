"""The Municipal Tax Bureau's adapter."""

from adapters.base import Department

DEPARTMENT = Department(
    id="tax",
    name="国家税务总局某市税务局",
    name_en="Municipal Tax Bureau",
    uscc="11330100MB0000002W",
)
