"""The household register's adapter: SQL on the public security front-end exchange database.

The bureau replicates its register into a relational database on its front-end processor
(前置机交换库, Oracle or PostgreSQL in production, a SQLite file in the simulation); the hub may only
read it. Every query here is a SQLAlchemy ``text()`` statement in portable SQL (no dialect
functions; the one dialect difference, the row-limit clause, is chosen per dialect). Each call
opens its own connection under a per-call deadline enforced by the database itself (SQLite: busy
timeout plus a progress handler; PostgreSQL: ``lock_timeout`` / ``statement_timeout``).

Legacy rows are mapped to the standard data elements here, and nothing unmappable passes: a bad
date, an unknown code, an invalid citizen ID or an inconsistent household is ``BadLegacyData``
naming the table and key (``RK_CZRKJBXX GMSFHM=...``, ``RK_HJXX HH=...``).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from itertools import groupby
from typing import Any, TypeVar

from sqlalchemy import Connection, TextClause, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.pool import NullPool

from adapters.base import (
    CertificateRecord,
    Change,
    DatasetDeclaration,
    Department,
    Health,
    Subject,
    SubjectType,
)
from adapters.code_tables import ETHNICITY, RELATION, SEX
from adapters.errors import (
    AdapterError,
    BadLegacyData,
    LegacyFailure,
    LegacyTimeout,
    LegacyUnavailable,
    SubjectNotFound,
)
from adapters.household import DEPARTMENT
from adapters.household.datasets import (
    DATASETS,
    LICENSE_TYPE,
    PERSON_BASIC,
    STATUS_ACTIVE,
    STATUS_DEREGISTERED,
)
from adapters.mapping import RecordLookups, normalise_text
from adapters.resilience import LegacyGuard
from exchange.identifiers import InvalidIdentifier, validate_citizen_id

DEFAULT_TIMEOUT = 5.0  # seconds per legacy call
PAGE_SIZE = 500  # households per change-feed page (one statement, one snapshot each)

# --- the SQL (portable: plain SELECT, LEFT JOIN, IN, ORDER BY; the row limit per dialect) -------

_PERSON_BY_ID = text(
    "SELECT GMSFHM, XM, XB, MZ, CSRQ, CSDSSXQ, MLXZ, HH, YHZGX, RYZT, ZXRQ "
    "FROM RK_CZRKJBXX WHERE GMSFHM IN (:gmsfhm, :gmsfhm_x)"
)
_HOUSEHOLD_BY_NUMBER = text(
    "SELECT p.GMSFHM, p.XM, p.XB, p.MZ, p.CSRQ, p.CSDSSXQ, p.MLXZ, p.HH, p.YHZGX, p.RYZT, p.ZXRQ, "
    "h.HH AS H_HH, h.HLX AS H_HLX, h.HZXM AS H_HZXM, h.HZGMSFHM AS H_HZGMSFHM, h.MLXZ AS H_MLXZ, "
    "h.DJRQ AS H_DJRQ, h.HZT AS H_HZT, h.GXSJ AS H_GXSJ "
    "FROM RK_HJXX h LEFT JOIN RK_CZRKJBXX p ON p.HH = h.HH "
    "WHERE h.HH = :hh ORDER BY p.GMSFHM"
)
# One page of households in (GXSJ, HH) order, each with all its person rows, in one statement (one
# snapshot). The keyset predicate lets an index on (GXSJ, HH) seek; the limit clause is per dialect.
_FEED_FIRST = (
    "SELECT p.GMSFHM, p.XM, p.XB, p.MZ, p.CSRQ, p.CSDSSXQ, p.MLXZ, p.HH, p.YHZGX, p.RYZT, p.ZXRQ, "
    "h.HH AS H_HH, h.HLX AS H_HLX, h.HZXM AS H_HZXM, h.HZGMSFHM AS H_HZGMSFHM, h.MLXZ AS H_MLXZ, "
    "h.DJRQ AS H_DJRQ, h.HZT AS H_HZT, h.GXSJ AS H_GXSJ "
    "FROM (SELECT HH, HLX, HZXM, HZGMSFHM, MLXZ, DJRQ, HZT, GXSJ FROM RK_HJXX "
    "ORDER BY GXSJ, HH LIMIT :limit) h "
    "LEFT JOIN RK_CZRKJBXX p ON p.HH = h.HH ORDER BY h.GXSJ, h.HH, p.GMSFHM"
)
_FEED_NEXT = (
    "SELECT p.GMSFHM, p.XM, p.XB, p.MZ, p.CSRQ, p.CSDSSXQ, p.MLXZ, p.HH, p.YHZGX, p.RYZT, p.ZXRQ, "
    "h.HH AS H_HH, h.HLX AS H_HLX, h.HZXM AS H_HZXM, h.HZGMSFHM AS H_HZGMSFHM, h.MLXZ AS H_MLXZ, "
    "h.DJRQ AS H_DJRQ, h.HZT AS H_HZT, h.GXSJ AS H_GXSJ "
    "FROM (SELECT HH, HLX, HZXM, HZGMSFHM, MLXZ, DJRQ, HZT, GXSJ FROM RK_HJXX "
    "WHERE GXSJ >= :gxsj AND (GXSJ > :gxsj OR HH > :hh) "
    "ORDER BY GXSJ, HH LIMIT :limit) h "
    "LEFT JOIN RK_CZRKJBXX p ON p.HH = h.HH ORDER BY h.GXSJ, h.HH, p.GMSFHM"
)
_PROBE = text("SELECT COUNT(*) FROM RK_HJXX WHERE HH = :hh")

# The register's person status (人员状态 RYZT) and household status (户状态 HZT) codes.
_RYZT = {"0": STATUS_ACTIVE, "1": STATUS_DEREGISTERED, "2": STATUS_DEREGISTERED, "9": STATUS_DEREGISTERED}
_HZT_CANCELLED = {"0": False, "1": True, "2": True}  # 正常; 注销 (nobody left); 迁出
_HOUSEHOLD_TYPES = {"1": "家庭户", "2": "集体户"}
_LEGACY_HEAD = "01"  # pre-2008 relation table: the head coded as 01 (本人), GB/T 4761-2008 says 02
_HEAD = "02"

T = TypeVar("T")

_WATERMARK = re.compile(r"(\d{14}):(\d{9})")
_PADDING = " \u3000"  # CHAR padding, sometimes with a full-width space from a GBK export
_TIMEOUT_SQLSTATES = {"57014", "55P03"}  # PostgreSQL query_canceled, lock_not_available
_SCHEMA_SQLSTATES = {"42P01", "42703", "42S02", "42S22"}  # undefined table / column
_ENCODING_SQLSTATES = {"22021", "22P05"}  # PostgreSQL: invalid byte sequence, untranslatable character
_DECODE_COLUMN = re.compile(r"column '([A-Za-z0-9_]+)'")


def _feed_query(dialect: str, *, first: bool) -> TextClause:
    """The change-feed page statement; Oracle (12c+) spells the row limit FETCH FIRST."""
    statement = _FEED_FIRST if first else _FEED_NEXT
    if dialect == "oracle":
        statement = statement.replace("LIMIT :limit", "FETCH FIRST :limit ROWS ONLY")
    return text(statement)


# --- mapping legacy rows to standard data elements -----------------------------------------------


@dataclass(frozen=True, slots=True)
class _Person:
    """One RK_CZRKJBXX row in standard terms."""

    citizen_id: str
    name: str
    sex: str
    ethnicity: str
    birth_date: date
    birthplace: str
    address: str
    household_no: str
    relation: str
    status: str
    deregistered_on: date | None
    raw_household_no: str

    @property
    def active(self) -> bool:
        return self.status == STATUS_ACTIVE

    def basic(self) -> dict[str, Any]:
        """The items of 常住人口基本信息."""
        return {
            "name": self.name,
            "sex": self.sex,
            "ethnicity": self.ethnicity,
            "birth_date": self.birth_date,
            "birthplace": self.birthplace,
            "address": self.address,
            "household_no": self.household_no,
            "relation_to_head": self.relation,
            "status": self.status,
            "deregistered_on": self.deregistered_on,
        }

    def member(self) -> dict[str, Any]:
        """One entry of the booklet's ``members`` item."""
        return {
            "name": self.name,
            "id_number": self.citizen_id,
            "relation_to_head": self.relation,
            "sex": self.sex,
            "birth_date": self.birth_date.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class _Booklet:
    """One RK_HJXX row with its members: a 居民户口簿."""

    fields: dict[str, Any]
    members: tuple[_Person, ...]  # active members only
    head: Subject
    head_name: str
    registered_on: date
    cancelled: bool
    watermark: str

    def record(self) -> CertificateRecord:
        canonical = json.dumps(
            {"fields": self.fields, "issued_on": self.registered_on.isoformat(), "cancelled": self.cancelled},
            sort_keys=True,
            ensure_ascii=False,
        )
        return CertificateRecord(
            license_type=LICENSE_TYPE,
            source_id=self.fields["household_no"],
            source_version=hashlib.sha256(canonical.encode()).hexdigest()[:16],
            holder=self.head,
            holder_name=self.head_name,
            issued_on=self.registered_on,
            valid_from=self.registered_on,
            valid_to=None,
            fields=self.fields,
            cancelled=self.cancelled,
        )


def _chars(value: Any, column: str, where: str) -> str:
    """A CHAR/VARCHAR value without its padding ('' for NULL)."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadLegacyData(f"{column} holds a {type(value).__name__}, not text", row=where)
    return value.rstrip(_PADDING)


def _text(value: Any, column: str, where: str) -> str:
    """Names and addresses: NFKC (full-width digits and spaces), one middle dot (U+00B7), no padding."""
    cleaned = normalise_text(_chars(value, column, where))
    if not cleaned:
        raise BadLegacyData(f"{column} is empty", row=where)
    return cleaned


def _digits(value: Any, column: str, where: str, length: int) -> str:
    cleaned = _chars(value, column, where)
    if len(cleaned) != length or not (cleaned.isascii() and cleaned.isdigit()):
        raise BadLegacyData(f"{column} is not {length} digits", row=where)
    return cleaned


def _date(value: Any, column: str, where: str, *, required: bool) -> date | None:
    """``YYYYMMDD``; blanks (or NULL) mean "no date"."""
    cleaned = _chars(value, column, where).strip(_PADDING)
    if not cleaned:
        if required:
            raise BadLegacyData(f"{column} is empty", row=where)
        return None
    if len(cleaned) != 8 or not (cleaned.isascii() and cleaned.isdigit()):
        raise BadLegacyData(f"{column} is not a YYYYMMDD date", row=where)
    try:
        return date(int(cleaned[:4]), int(cleaned[4:6]), int(cleaned[6:]))
    except ValueError:
        raise BadLegacyData(f"{column} is not a real date (YYYYMMDD)", row=where) from None


def _code(value: Any, column: str, where: str, table: Mapping[str, str], standard: str) -> str:
    code = _chars(value, column, where)
    if code not in table:
        raise BadLegacyData(f"{column} {code!r} is not a {standard} code", row=where)
    return code


def _ethnicity(value: Any, where: str) -> str:
    """GB/T 3304, two digits; rows migrated from a numeric column hold '1' for '01'."""
    code = _chars(value, "MZ", where)
    if len(code) == 1 and code.isascii() and code.isdigit():
        code = "0" + code
    if code not in ETHNICITY:
        raise BadLegacyData(f"MZ {code!r} is not a GB/T 3304 code", row=where)
    return code


def _relation(value: Any, where: str) -> str:
    """GB/T 4761-2008; the pre-2008 table's head code '01' can only mean the head (户主, '02')."""
    code = _chars(value, "YHZGX", where)
    if code == _LEGACY_HEAD:
        return _HEAD
    if code not in RELATION:
        raise BadLegacyData(f"YHZGX {code!r} is not a GB/T 4761 code", row=where)
    return code


def _citizen_id(value: Any, column: str, where: str) -> str:
    """GB 11643-1999, validated before use; a lower-case check character x is read as X."""
    try:
        return validate_citizen_id(_chars(value, column, where)).value
    except InvalidIdentifier as exc:
        raise BadLegacyData(f"{column} is not a valid citizen ID: {exc}", row=where) from None


def _person_where(value: Any) -> str:
    shown = value.rstrip(_PADDING).upper() if isinstance(value, str) else "NULL"
    return f"RK_CZRKJBXX GMSFHM={shown}"


def _map_person(row: Mapping[str, Any]) -> _Person:
    where = _person_where(row["GMSFHM"])
    citizen_id = _citizen_id(row["GMSFHM"], "GMSFHM", where)
    status_code = _chars(row["RYZT"], "RYZT", where)
    if status_code not in _RYZT:
        raise BadLegacyData(f"RYZT {status_code!r} is not a person status code", row=where)
    status = _RYZT[status_code]
    deregistered_on = _date(row["ZXRQ"], "ZXRQ", where, required=False)
    if (status == STATUS_ACTIVE) != (deregistered_on is None):
        raise BadLegacyData(f"RYZT {status_code!r} contradicts ZXRQ (注销日期)", row=where)
    birth_date = _date(row["CSRQ"], "CSRQ", where, required=True)
    assert birth_date is not None  # required=True
    return _Person(
        citizen_id=citizen_id,
        name=_text(row["XM"], "XM", where),
        sex=_code(row["XB"], "XB", where, SEX, "GB/T 2261.1"),
        ethnicity=_ethnicity(row["MZ"], where),
        birth_date=birth_date,
        birthplace=_digits(row["CSDSSXQ"], "CSDSSXQ", where, 6),
        address=_text(row["MLXZ"], "MLXZ", where),
        household_no=_digits(row["HH"], "HH", where, 9),
        relation=_relation(row["YHZGX"], where),
        status=status,
        deregistered_on=deregistered_on,
        raw_household_no=row["HH"],
    )


def _map_household(rows: Sequence[Mapping[str, Any]]) -> _Booklet:
    """A household row joined with all its person rows; checks that they agree with each other."""
    first = rows[0]
    shown = first["H_HH"].rstrip(_PADDING) if isinstance(first["H_HH"], str) else "NULL"
    where = f"RK_HJXX HH={shown}"
    number = _digits(first["H_HH"], "HH", where, 9)
    kind = _code(first["H_HLX"], "HLX", where, _HOUSEHOLD_TYPES, "户类型")
    head_name = _text(first["H_HZXM"], "HZXM", where)
    head_id = _citizen_id(first["H_HZGMSFHM"], "HZGMSFHM", where)
    address = _text(first["H_MLXZ"], "MLXZ", where)
    registered_on = _date(first["H_DJRQ"], "DJRQ", where, required=True)
    assert registered_on is not None  # required=True
    state = _chars(first["H_HZT"], "HZT", where)
    if state not in _HZT_CANCELLED:
        raise BadLegacyData(f"HZT {state!r} is not a household status code", row=where)
    updated = _digits(first["H_GXSJ"], "GXSJ", where, 14)
    try:
        datetime.strptime(updated, "%Y%m%d%H%M%S")
    except ValueError:
        raise BadLegacyData("GXSJ is not a real YYYYMMDDHHMMSS time", row=where) from None
    if first["GMSFHM"] is None:
        raise BadLegacyData("household has no person rows in RK_CZRKJBXX", row=where)

    persons = [_map_person(row) for row in rows]
    if len({person.citizen_id for person in persons}) != len(persons):
        raise BadLegacyData("the same citizen ID appears twice in the household", row=where)
    head = next((person for person in persons if person.citizen_id == head_id), None)
    if head is None or head.relation != _HEAD or head.name != head_name:
        raise BadLegacyData("HZGMSFHM/HZXM do not name a member recorded as 户主", row=where)
    cancelled = _HZT_CANCELLED[state]
    active = tuple(sorted((p for p in persons if p.active), key=lambda p: (p.relation, p.citizen_id)))
    if cancelled == bool(active):
        raise BadLegacyData(f"HZT {state!r} contradicts the members' RYZT", row=where)
    fields = {
        "household_no": number,
        "household_type": kind,
        "head_name": head_name,
        "head_id_number": head_id,
        "address": address,
        "members": [person.member() for person in active],
    }
    return _Booklet(
        fields=fields,
        members=active,
        head=Subject(SubjectType.ID_CARD, head_id),
        head_name=head_name,
        registered_on=registered_on,
        cancelled=cancelled,
        watermark=f"{updated}:{number}",
    )


def _parse_watermark(watermark: str | None) -> tuple[str, str] | None:
    if watermark is None:
        return None
    found = _WATERMARK.fullmatch(watermark)
    if found is None:
        raise ValueError("not a household change-feed watermark (expected GXSJ:HH)")
    return found.group(1), found.group(2)


# --- failures of the legacy interface ------------------------------------------------------------


def _translate(exc: DBAPIError) -> LegacyFailure:
    """The driver's error as one of ours; the statement and its parameters (personal data) stay out."""
    reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else type(exc).__name__
    state = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    lowered = reason.lower()
    if "could not decode" in lowered or state in _ENCODING_SQLSTATES:
        # sqlite3 quotes the undecodable text (a name: personal data) in its message: leave it out
        column = _DECODE_COLUMN.search(reason)
        where = f"column {column.group(1)}" if column else None
        return BadLegacyData("front-end exchange DB holds text that is not UTF-8 (mis-encoded)", row=where)
    if state in _TIMEOUT_SQLSTATES or any(
        word in lowered for word in ("locked", "busy", "interrupted", "timeout", "timed out")
    ):
        return LegacyTimeout(f"front-end exchange DB did not answer within the deadline: {reason}")
    if state in _SCHEMA_SQLSTATES or "no such table" in lowered or "no such column" in lowered:
        return BadLegacyData(f"front-end exchange DB schema is not the expected one: {reason}")
    if isinstance(exc, OperationalError | InterfaceError) or exc.connection_invalidated:
        return LegacyUnavailable(f"front-end exchange DB unreachable: {reason}")
    return BadLegacyData(f"front-end exchange DB answered with an error: {reason}")


# --- the adapter ------------------------------------------------------------------------------------


class HouseholdAdapter(RecordLookups):
    """The household register through its front-end exchange database (read-only SQL)."""

    department: Department = DEPARTMENT
    DATASETS = DATASETS

    def __init__(
        self,
        url: str,
        *,
        guard: LegacyGuard | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        page_size: int = PAGE_SIZE,
    ) -> None:
        """``url`` is a SQLAlchemy URL of the front-end DB (read-only credentials / ``mode=ro``)."""
        if timeout <= 0 or page_size < 1:
            raise ValueError("timeout must be positive and page_size at least 1")
        self._guard = guard or LegacyGuard(DEPARTMENT.id)
        self._timeout = timeout
        self._page_size = page_size
        dialect = make_url(url).get_backend_name()
        self._sqlite = dialect == "sqlite"
        if self._sqlite:
            # a fresh connection per call: a vanished file or a lock is seen at once, as in production
            self._engine = create_engine(url, poolclass=NullPool, connect_args={"timeout": timeout})
        elif dialect == "postgresql":
            ms = int(timeout * 1000)
            options = f"-c statement_timeout={ms} -c lock_timeout={ms} -c default_transaction_read_only=on"
            self._engine = create_engine(
                url,
                pool_pre_ping=True,
                pool_timeout=timeout,
                connect_args={"connect_timeout": max(1, math.ceil(timeout)), "options": options},
            )
        else:
            self._engine = create_engine(url, pool_pre_ping=True, pool_timeout=timeout)
        self._feed_first = _feed_query(dialect, first=True)
        self._feed_next = _feed_query(dialect, first=False)

    def changes_since(self, watermark: str | None) -> Iterator[Change]:
        """Households in (GXSJ, HH) order, one page per legacy call; the watermark is ``GXSJ:HH``.

        A household is re-yielded whenever its GXSJ moves (a member registered, deregistered, the
        household cancelled); ``source_version`` is a hash of the mapped record, so it changes
        exactly when what the e-license shows changes."""
        after = _parse_watermark(watermark)
        while True:
            page = self._guard.call(lambda position=after: self._feed_page(position), idempotent=True)
            yield from page
            if len(page) < self._page_size:
                return
            after = _parse_watermark(page[-1].watermark)

    def health(self) -> Health:
        """One indexed probe of RK_HJXX, outside the breaker so probing never trips it."""
        started = time.perf_counter()
        try:
            with self._session() as db:
                db.execute(_PROBE, {"hh": "000000000"}).scalar_one()
        except AdapterError as exc:
            return Health(False, str(exc), _elapsed_ms(started), self._guard.state)
        except Exception as exc:  # health never raises
            detail = f"probe failed: {type(exc).__name__}"
            return Health(False, detail, _elapsed_ms(started), self._guard.state)
        return Health(True, "front-end exchange DB answered", _elapsed_ms(started), self._guard.state)

    def close(self) -> None:
        self._engine.dispose()

    # --- internals -------------------------------------------------------------------------------

    def _record(
        self, declaration: DatasetDeclaration, subject: Subject, items: frozenset[str]
    ) -> dict[str, Any]:
        if declaration.code == PERSON_BASIC:
            return self._call(lambda: self._person(subject)).basic()
        return self._call(lambda: self._booklet(subject)).fields

    def _call(self, operation: Callable[[], T]) -> T:
        return self._guard.call(operation, idempotent=True)

    def _person(self, subject: Subject) -> _Person:
        with self._session() as db:
            return self._person_row(db, subject)[0]

    def _booklet(self, subject: Subject) -> _Booklet:
        """Any active member finds the household; deregistered persons are in no booklet."""
        with self._session() as db:
            person, where = self._person_row(db, subject)
            if not person.active:
                raise SubjectNotFound("the person is deregistered and in no household register booklet")
            rows = db.execute(_HOUSEHOLD_BY_NUMBER, {"hh": person.raw_household_no}).mappings().all()
        if not rows:
            raise BadLegacyData("HH names a household that RK_HJXX does not hold", row=where)
        booklet = _map_household(rows)
        if all(member.citizen_id != subject.value for member in booklet.members):
            raise SubjectNotFound("the person is no longer an active member of the household")
        return booklet

    def _person_row(self, db: Connection, subject: Subject) -> tuple[_Person, str]:
        value = subject.value
        rows = db.execute(_PERSON_BY_ID, {"gmsfhm": value, "gmsfhm_x": value.lower()}).mappings().all()
        if not rows:
            raise SubjectNotFound("no person with this citizen ID in the household register")
        where = _person_where(rows[0]["GMSFHM"])
        if len(rows) > 1:
            raise BadLegacyData(f"{len(rows)} rows for one citizen ID", row=where)
        return _map_person(rows[0]), where

    def _feed_page(self, after: tuple[str, str] | None) -> list[Change]:
        with self._session() as db:
            if after is None:
                result = db.execute(self._feed_first, {"limit": self._page_size})
            else:
                params = {"gxsj": after[0], "hh": after[1], "limit": self._page_size}
                result = db.execute(self._feed_next, params)
            rows = result.mappings().all()
        changes = []
        for _, group in groupby(rows, key=lambda row: row["H_HH"]):
            booklet = _map_household(list(group))
            changes.append(Change(booklet.record(), booklet.watermark))
        return changes

    @contextmanager
    def _session(self) -> Iterator[Connection]:
        """A connection under the per-call deadline; driver errors leave as our typed errors."""
        deadline = time.monotonic() + self._timeout
        try:
            with self._engine.connect() as db:
                if self._sqlite:
                    raw = db.connection.driver_connection
                    raw.set_progress_handler(lambda: int(time.monotonic() > deadline), 1000)
                yield db
        except DBAPIError as exc:
            raise _translate(exc) from None
        except UnicodeDecodeError:  # a driver decoding client-side (psycopg): the same mis-encoded text
            raise BadLegacyData("front-end exchange DB holds text that is not UTF-8 (mis-encoded)") from None
        except PoolTimeoutError:
            raise LegacyTimeout("no connection to the front-end exchange DB within the deadline") from None


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
