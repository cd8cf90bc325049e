"""The suites and the frame they check: every expectation names a column the frame has and a reason;
derived check columns are True, False or None (not applicable)."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from exchange.licenses.types import LICENSE_TYPES
from exchange.quality.suites import (
    IDENTIFIER_PATTERN,
    REQUIRED_FIELDS,
    build_frame,
    build_suite,
    suite_name,
    today_in_china,
)
from tests.exchange.quality.conftest import TYPES, batch, license_record, with_fields, wrong_last

pytestmark = pytest.mark.filterwarnings(
    "ignore::DeprecationWarning:great_expectations.*", "ignore::FutureWarning:great_expectations.*"
)

TODAY = date(2026, 11, 21)


@pytest.mark.parametrize("license_type", TYPES)
def test_every_expectation_names_a_frame_column_and_a_reason(license_type: str) -> None:
    suite = build_suite(license_type)
    columns = set(build_frame(license_type, [], today=TODAY).columns)

    assert suite.name == suite_name(license_type) == f"license_{license_type}"
    for expectation in suite.expectations:
        kwargs = expectation.configuration.kwargs
        used = {kwargs[k] for k in ("column", "column_A", "column_B") if k in kwargs}
        assert used and used <= columns, (expectation.expectation_type, used)
        assert expectation.meta["field"] and expectation.meta["reason"]
    not_null = {
        e.column for e in suite.expectations if e.expectation_type == "expect_column_values_to_not_be_null"
    }
    assert set(REQUIRED_FIELDS) <= not_null


def test_the_suites_differ_by_type_specific_ranges() -> None:
    def bounds(license_type: str, column: str) -> tuple[object, object]:
        suite = build_suite(license_type)
        found = [
            e
            for e in suite.expectations
            if e.expectation_type == "expect_column_values_to_be_between" and e.column == column
        ]
        return found[0].min_value, found[0].max_value

    assert bounds("tax_payment_certificate", "amount") == (0.01, 100_000_000)
    assert bounds("social_insurance_certificate", "contribution_months") == (0, 600)
    assert bounds("real_estate_title", "area") == (1, 100_000)
    assert bounds("household_register", "member_count") == (1, None)


def test_unknown_license_types_are_refused() -> None:
    with pytest.raises(KeyError, match="unknown license type"):
        build_suite("driving_licence")
    with pytest.raises(KeyError):
        build_frame("driving_licence", [], today=TODAY)


def test_the_identifier_pattern_is_gb_t_36904() -> None:
    import re

    good = license_record("tax_payment_certificate", 1).identifier
    assert re.search(IDENTIFIER_PATTERN, good)
    for bad in (good.replace("1.2.156", "1.2.157"), good.lower(), good + ".1", "1.2.156.3005.2.X"):
        assert not re.search(IDENTIFIER_PATTERN, bad), bad


def test_derived_columns_hold_true_false_or_not_applicable() -> None:
    good = license_record("tax_payment_certificate", 1)
    records = [
        good,
        replace(good, holder_code=wrong_last(good.holder_code, "0123456789X")),  # check character
        replace(good, holder_code="330106198001010O1X"),  # a letter O: malformed
        replace(good, holder_code=""),  # missing: not-null reports it
        replace(good, identifier=wrong_last(good.identifier)),
        replace(good, identifier="not an identifier"),
        replace(good, holder_code_type="999"),  # unknown type: the set expectation reports it
    ]

    frame = build_frame("tax_payment_certificate", records, today=TODAY)

    assert frame["holder_code_well_formed"].tolist() == [True, True, False, None, True, True, None]
    assert frame["holder_code_check_valid"].tolist() == [True, False, None, None, True, True, None]
    assert frame["identifier_check_valid"].tolist() == [True, True, True, True, False, None, True]
    assert frame["identifier_matches_type_and_issuer"].tolist()[:6] == [True, True, True, True, True, None]
    assert frame["holder_code"].tolist()[3] is None
    assert list(frame.index) == list(range(len(records)))


def test_values_become_typed_columns() -> None:
    records = [
        with_fields(license_record("real_estate_title", 1), area="89.50"),
        with_fields(license_record("real_estate_title", 2), area="eighty"),
        with_fields(license_record("real_estate_title", 3), area=None),
        replace(license_record("real_estate_title", 4), valid_to=date(2030, 1, 1)),
    ]

    frame = build_frame("real_estate_title", records, today=TODAY)

    assert frame["area"].dtype == "float64" and frame["area"][0] == 89.5
    assert math.isnan(frame["area"][1]) and math.isnan(frame["area"][2])
    assert str(frame["valid_to"].dtype).startswith("datetime64")
    assert frame["valid_to"].isna().tolist() == [True, True, True, False]
    assert frame["unit_number_valid"].tolist() == [True] * 4


def test_a_large_frame_has_one_row_per_record() -> None:
    frame = build_frame(
        "social_insurance_certificate", batch("social_insurance_certificate", 500), today=TODAY
    )
    assert len(frame) == 500 and frame["contribution_months"].max() <= 600


def test_today_is_the_date_in_china_standard_time() -> None:
    assert today_in_china(datetime(2026, 11, 21, 15, 59, tzinfo=UTC)) == date(2026, 11, 21)
    assert today_in_china(datetime(2026, 11, 21, 16, 0, tzinfo=UTC)) == date(2026, 11, 22)
    assert today_in_china(datetime(2026, 11, 21, 23, 0)) == date(2026, 11, 21)  # naive: already local


def test_every_license_type_has_a_suite() -> None:
    assert {build_suite(t).name for t in LICENSE_TYPES} == {f"license_{t}" for t in LICENSE_TYPES}
