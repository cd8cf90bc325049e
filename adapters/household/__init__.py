"""The Municipal Public Security Bureau (household registration)'s adapter."""

from adapters.base import Department

DEPARTMENT = Department(
    id="household",
    name="某市公安局（户籍管理）",
    name_en="Municipal Public Security Bureau (household registration)",
    uscc="11330100MB0000001R",
)

from adapters.household.adapter import HouseholdAdapter  # noqa: E402  (needs DEPARTMENT above)

__all__ = ["DEPARTMENT", "HouseholdAdapter"]
