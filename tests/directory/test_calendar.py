"""Answer deadlines count working days: weekends and holidays off, make-up working days on."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from directory.calendar import CalendarError, WorkCalendar, local_date

PLAIN = WorkCalendar()


def test_ten_working_days_from_a_monday_end_on_the_monday_two_weeks_later():
    assert PLAIN.add_working_days(date(2026, 11, 16), 10) == date(2026, 11, 30)


def test_filing_on_a_friday_skips_two_weekends():
    assert PLAIN.add_working_days(date(2026, 11, 20), 10) == date(2026, 12, 4)


def test_filing_on_a_saturday_counts_from_monday():
    assert PLAIN.add_working_days(date(2026, 11, 21), 1) == date(2026, 11, 23)


def test_holidays_are_skipped_and_make_up_days_count(tmp_path):
    path = tmp_path / "holidays.txt"
    path.write_text(
        "# National Day 2026\n"
        "2026-10-01 holiday 国庆节\n2026-10-02 holiday\n2026-10-05 holiday\n2026-10-06 holiday\n"
        "2026-10-07 holiday\n2026-10-08 holiday\n"
        "2026-10-10 workday 调休上班  # a Saturday\n",
        encoding="utf-8",
    )
    calendar = WorkCalendar.from_file(path)
    assert not calendar.is_working_day(date(2026, 10, 1))
    assert calendar.is_working_day(date(2026, 10, 10))
    # Filed Wed 30 Sep: working days are 9 Oct, Sat 10 Oct, then 12-16 Oct, 19-21 Oct.
    assert calendar.add_working_days(date(2026, 9, 30), 10) == date(2026, 10, 21)
    assert PLAIN.add_working_days(date(2026, 9, 30), 10) == date(2026, 10, 14)


def test_deadlines_follow_the_china_standard_time_calendar():
    late_utc = datetime(2026, 11, 20, 17, 0, tzinfo=UTC)  # already Saturday 01:00 in Beijing
    assert local_date(late_utc) == date(2026, 11, 21)
    assert PLAIN.due_on(late_utc) == date(2026, 12, 4)
    with pytest.raises(ValueError, match="naive"):
        local_date(datetime(2026, 11, 20, 17, 0))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2026-10-01\n", "expected"),
        ("2026-10-01 vacation\n", "expected"),
        ("2026-02-30 holiday\n", "not a date"),
        ("2026-10-01 holiday\n2026-10-01 workday\n", "listed twice"),
    ],
)
def test_a_bad_holidays_file_names_the_line(tmp_path, text, message):
    path = tmp_path / "holidays.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CalendarError, match=message) as caught:
        WorkCalendar.from_file(path)
    assert f"{path}:" in str(caught.value)


def test_a_missing_holidays_file_is_an_error_not_an_empty_calendar(tmp_path):
    with pytest.raises(CalendarError, match="cannot read"):
        WorkCalendar.from_file(tmp_path / "absent.txt")
