"""The Municipal Real Estate Registration Center's adapter."""

from adapters.base import Department

DEPARTMENT = Department(
    id="real_estate",
    name="某市不动产登记中心",
    name_en="Municipal Real Estate Registration Center",
    uscc="11330100MB00000043",
)
