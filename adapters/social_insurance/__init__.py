"""The Municipal Human Resources and Social Security Bureau's adapter."""

from adapters.base import Department

DEPARTMENT = Department(
    id="social_insurance",
    name="某市人力资源和社会保障局",
    name_en="Municipal Human Resources and Social Security Bureau",
    uscc="11330100MB00000030",
)
