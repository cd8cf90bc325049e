"""The Municipal Tax Bureau's adapter."""

from adapters.base import Department

DEPARTMENT = Department(
    id="tax",
    name="国家税务总局某市税务局",
    name_en="Municipal Tax Bureau",
    uscc="11330100MB0000002W",
)

from adapters.tax.adapter import TaxAdapter  # noqa: E402 - needs DEPARTMENT above

__all__ = ["DEPARTMENT", "TaxAdapter"]
