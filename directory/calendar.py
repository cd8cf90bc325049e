"""Working days for answer deadlines: weekends off, plus the State Council's holidays and make-up days.

China's public holidays move every year and come with make-up working days on weekends (调休), so
they are configuration, not code: a file named by ``EXCHANGE_HOLIDAYS_FILE`` with one day a line,
``YYYY-MM-DD holiday|workday [name]`` (``#`` starts a comment). Deadlines are counted on the
calendar of China Standard Time (UTC+8, no daylight saving).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

CHINA_STANDARD_TIME = timezone(timedelta(hours=8), "CST")
ANSWER_WORKING_DAYS = 10  # the provider's deadline for a conditional-sharing application


class CalendarError(ValueError):
    """The holidays file cannot be read; names the file and line."""


@dataclass(frozen=True)
class WorkCalendar:
    holidays: frozenset[date] = field(default_factory=frozenset)
    workdays: frozenset[date] = field(default_factory=frozenset)  # weekend days worked (调休)

    @classmethod
    def from_file(cls, path: Path | None) -> WorkCalendar:
        if path is None:
            return cls()
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise CalendarError(f"cannot read holidays file {path}: {exc.strerror}") from None
        holidays: set[date] = set()
        workdays: set[date] = set()
        for number, line in enumerate(lines, start=1):
            text = line.split("#", 1)[0].strip()
            if not text:
                continue
            parts = text.split(maxsplit=2)
            if len(parts) < 2 or parts[1] not in {"holiday", "workday"}:
                raise CalendarError(f"{path}:{number}: expected 'YYYY-MM-DD holiday|workday [name]'")
            try:
                day = date.fromisoformat(parts[0])
            except ValueError:
                raise CalendarError(f"{path}:{number}: {parts[0]!r} is not a date") from None
            if day in holidays or day in workdays:
                raise CalendarError(f"{path}:{number}: {day} is listed twice")
            (holidays if parts[1] == "holiday" else workdays).add(day)
        return cls(frozenset(holidays), frozenset(workdays))

    def is_working_day(self, day: date) -> bool:
        if day in self.workdays:
            return True
        return day not in self.holidays and day.weekday() < 5

    def add_working_days(self, start: date, count: int) -> date:
        """The ``count``-th working day after ``start`` (``start`` itself does not count)."""
        day = start
        remaining = count
        while remaining > 0:
            day += timedelta(days=1)
            if self.is_working_day(day):
                remaining -= 1
        return day

    def due_on(self, filed_at: datetime) -> date:
        """The last day to answer an application filed at ``filed_at``."""
        return self.add_working_days(local_date(filed_at), ANSWER_WORKING_DAYS)


def local_date(moment: datetime) -> date:
    if moment.tzinfo is None:
        raise ValueError("naive datetime: pass an aware one")
    return moment.astimezone(CHINA_STANDARD_TIME).date()


def today(now: datetime | None = None) -> date:
    return local_date(now or datetime.now(UTC))
