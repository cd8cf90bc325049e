"""What the directory, grant, application and token commands share: option parsing, who acts,
one transaction per command, and tables that never read data as Rich markup."""

from __future__ import annotations

import getpass
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any, NoReturn

from pydantic import ValidationError
from rich.markup import escape
from rich.table import Table
from rich.text import Text
from sqlalchemy.orm import Session

from directory.calendar import CalendarError, WorkCalendar
from exchange.cli.context import fail, migrated_engine
from exchange.config import Settings
from exchange.db.engine import session_factory, session_scope

ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
OPERATOR_MAX = 150  # the recorded label ("admin:cli:" + name) must fit its 200-character column


@contextmanager
def unit_of_work(current: Settings) -> Iterator[Session]:
    """One transaction on a migrated database: committed when the block ends, rolled back on error."""
    engine = migrated_engine(current)
    try:
        with session_scope(session_factory(engine)) as session:
            yield session
    finally:
        engine.dispose()


def refuse(exc: Exception) -> NoReturn:
    """A domain error as the one red line every command prints (user text is not Rich markup)."""
    fail(escape(str(exc)))


def choice(value: str | None, allowed: Sequence[str], option: str) -> str | None:
    if value is not None and value not in allowed:
        fail(f"{option} {escape(value)!r} is not one of {', '.join(allowed)}")
    return value


def required(value: str | None, option: str, what: str) -> str:
    """A mandatory option: missing or blank is an error of ours (exit 1), not a usage error."""
    if value is None or not value.strip():
        fail(f"{option} is required: {what}")
    return value.strip()


def parse_date(value: str | None, option: str) -> date | None:
    """``YYYY-MM-DD`` only (``date.fromisoformat`` alone would also take week dates and ``20260101``)."""
    if value is None:
        return None
    try:
        if ISO_DATE.fullmatch(value.strip()):
            return date.fromisoformat(value.strip())
    except ValueError:
        pass
    fail(f"{option} {escape(value)!r} is not a date in the form YYYY-MM-DD")


def parse_fields(value: str | None, option: str = "--fields") -> list[str]:
    """``a, b,c`` as ``["a", "b", "c"]``: split on commas, blanks stripped, duplicates dropped."""
    items = [part.strip() for part in (value or "").split(",")]
    items = list(dict.fromkeys(item for item in items if item))
    if not items:
        fail(f"{option} needs at least one data item name, comma-separated (e.g. {option} name,status)")
    return items


def one_year_after(day: date) -> date:
    try:
        return day.replace(year=day.year + 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year + 1, day=28)


def operator(by: str | None) -> str:
    """Who is typing: ``--by NAME``, else $USER, else the login name."""
    name = by if by is not None else os.environ.get("USER") or _login_name()
    name = name.strip()
    if not name:
        fail("cannot tell who you are: give --by NAME")
    if len(name) > OPERATOR_MAX or any(ch.isspace() and ch != " " for ch in name):
        fail(f"--by must be one line of at most {OPERATOR_MAX} characters")
    return name


def _login_name() -> str:
    try:
        return getpass.getuser()  # $LOGNAME, $LNAME, $USERNAME, then the password database
    except (OSError, KeyError):
        return ""


def work_calendar(current: Settings) -> WorkCalendar:
    try:
        return WorkCalendar.from_file(current.holidays_file)
    except CalendarError as exc:
        fail(f"EXCHANGE_HOLIDAYS_FILE: {escape(str(exc))}")


def invalid(exc: ValidationError, names: Mapping[str, str]) -> NoReturn:
    """Pydantic's complaints, worded with the command's option names instead of the schema's fields."""
    parts = []
    for error in exc.errors():
        message = error["msg"].removeprefix("Value error, ")
        for field, option in names.items():
            if "_" in field:  # only unmistakable field names are rewritten inside sentences
                message = message.replace(field, option)
        location = ".".join(names.get(str(part), str(part)) for part in error["loc"][:1])
        parts.append(f"{location}: {message}" if location else message)
    fail(escape("; ".join(parts)))


def table(*columns: str, no_wrap: Sequence[str] = (), **options: Any) -> Table:
    """A table whose long cells fold instead of losing characters; codes and ids in ``no_wrap`` stay whole."""
    result = Table(**options)
    for name in columns:
        result.add_column(name, no_wrap=name in no_wrap, overflow="fold")
    return result


def cell(value: object) -> Text:
    """A table cell shown as is: data from departments and users is never read as Rich markup."""
    if value is None:
        return Text("-", style="dim")
    if isinstance(value, list | tuple):
        return Text(", ".join(str(v) for v in value) or "-")
    if isinstance(value, datetime):
        return Text(f"{value:%Y-%m-%d %H:%M}")
    return Text(str(value))
