"""The household register's front-end exchange database (前置机交换库), simulated as one SQLite file.

In production the public security bureau replicates the register into a relational database on its
front-end processor (Oracle or PostgreSQL) and the hub may only read it with SQL. Here the sink
writes ``root/qzjk.db`` with the stdlib ``sqlite3`` module, in the legacy shape: pinyin-initial
table and column names, CHAR columns padded by hand (SQLite does not pad), dates as ``YYYYMMDD``
strings with blanks for "none", and a deterministic share of rows carrying the quirks a real
register export has (see docs/adapters/household.md). The adapter reaches the file only through
SQLAlchemy on a read-only URL.

Faults break the database the way front-end databases break: the file disappears (unplugged
volume), another session holds an exclusive lock (for good, or for a while: a batch job that
commits late), rows hold values no code table knows, names loaded as GBK bytes into the UTF-8
database (an export loaded without conversion).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

from adapters.base import Adapter, Subject
from adapters.household import DEPARTMENT
from adapters.household.adapter import HouseholdAdapter
from adapters.population import Employer, Household, Person, Population
from adapters.resilience import LegacyGuard
from adapters.simulation import SLOW_SECONDS, Fault

DB_FILE = "qzjk.db"
OFFLINE_SUFFIX = ".offline"

_SCHEMA = (
    """CREATE TABLE RK_CZRKJBXX (
        GMSFHM CHAR(18) NOT NULL,
        XM CHAR(30) NOT NULL,
        XB CHAR(1),
        MZ CHAR(2),
        CSRQ CHAR(8),
        CSDSSXQ CHAR(6),
        MLXZ VARCHAR(200),
        HH CHAR(9) NOT NULL,
        YHZGX CHAR(2),
        RYZT CHAR(1) NOT NULL,
        ZXRQ CHAR(8),
        GXSJ CHAR(14) NOT NULL
    )""",
    """CREATE TABLE RK_HJXX (
        HH CHAR(9) NOT NULL,
        HLX CHAR(1),
        HZXM CHAR(30),
        HZGMSFHM CHAR(18),
        SSXQ CHAR(6),
        MLXZ VARCHAR(200),
        DJRQ CHAR(8),
        HZT CHAR(1) NOT NULL,
        GXSJ CHAR(14) NOT NULL
    )""",
)
_INDEXES = (
    "CREATE UNIQUE INDEX IX_CZRKJBXX_GMSFHM ON RK_CZRKJBXX (GMSFHM)",
    "CREATE INDEX IX_CZRKJBXX_HH ON RK_CZRKJBXX (HH)",
    "CREATE UNIQUE INDEX IX_HJXX_HH ON RK_HJXX (HH)",
    "CREATE INDEX IX_HJXX_GXSJ_HH ON RK_HJXX (GXSJ, HH)",
)
_INSERT_PERSON = "INSERT INTO RK_CZRKJBXX VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
_INSERT_HOUSEHOLD = "INSERT INTO RK_HJXX VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
# GARBAGE for every row: sex codes GB/T 2261.1 does not have, reversibly (1 <-> 7, 2 <-> 8)
_CORRUPT_SEX = "UPDATE RK_CZRKJBXX SET XB = CASE XB WHEN '1' THEN '7' WHEN '2' THEN '8' ELSE XB END"
_HEAL_SEX = "UPDATE RK_CZRKJBXX SET XB = CASE XB WHEN '7' THEN '1' WHEN '8' THEN '2' ELSE XB END"

BLANK_DATE = " " * 8  # CHAR(8) holding "no date"
RYZT_ACTIVE, RYZT_DEAD, RYZT_MOVED_OUT = "0", "1", "2"  # 正常, 死亡注销, 迁出注销
HZT_LIVE, HZT_CANCELLED, HZT_MOVED_OUT = "0", "1", "2"  # 正常, 注销 (无在册人员), 迁出

_FULL_WIDTH_DIGITS = str.maketrans("0123456789", "０１２３４５６７８９")
_DOT_VARIANTS = ("\u00b7", "\u2022", "\u30fb")  # the standard dot, then the two legacy look-alikes


# --- rendering the truth in the legacy form (the quirks live here) ----------------------------


def _ymd(day: date) -> str:
    """CHAR(8) YYYYMMDD (isoformat is C code: this runs millions of times per load)."""
    return day.isoformat().replace("-", "")


def _clock(seed: int) -> str:
    """A deterministic time of day (HHMMSS) for an update timestamp."""
    hours, rest = divmod(seed * 7919 % 86_400, 3600)
    return f"{hours:02d}{rest // 60:02d}{rest % 60:02d}"


def _char30(text: str, quirk: int) -> str:
    """XM/HZXM as a GBK CHAR(30) export leaves them: blank padding, sometimes a U+3000 inside."""
    if "\u00b7" in text:
        text = text.replace("\u00b7", _DOT_VARIANTS[quirk % 3])
    if quirk % 5 == 0:
        return text + "\u3000" + " " * max(0, 28 - 2 * len(text))
    if quirk % 5 in (1, 2):
        return text + " " * max(0, 30 - 2 * len(text))
    return text


def _address(text: str, quirk: int) -> str:
    """MLXZ: some rows were keyed in with full-width digits, some padded with full-width spaces."""
    if quirk % 4 == 1:
        return text.translate(_FULL_WIDTH_DIGITS)
    if quirk % 4 == 2:
        return text + "\u3000\u3000"
    return text


def _ethnicity(code: str, quirk: int) -> str:
    """MZ: rows migrated from a numeric column lost the leading zero ('1' or '1 ' for 汉族 '01')."""
    if code[0] == "0" and quirk % 4 == 1:
        return code[1]
    if code[0] == "0" and quirk % 4 == 3:
        return code[1] + " "
    return code


def _citizen_id(value: str, quirk: int) -> str:
    """GMSFHM: half of the IDs ending in X were keyed with a lower-case x."""
    return value[:17] + "x" if value[17] == "X" and quirk % 2 == 0 else value


def _person_row(person: Person, household: Household, head_quirk: bool) -> tuple[tuple[str | None, ...], str]:
    index = person.index
    changed = max(household.registered_on, person.birth_date)
    if person.deregistered_on is None:
        status, deregistered = RYZT_ACTIVE, (None if index % 7 == 6 else BLANK_DATE)
    else:
        status, deregistered = RYZT_DEAD, _ymd(person.deregistered_on)
        changed = max(changed, person.deregistered_on)
    relation = "01" if person.relation == "02" and head_quirk else person.relation
    updated = _ymd(changed) + _clock(index)
    row = (
        _citizen_id(person.citizen_id, index),
        _char30(person.name, index),
        person.sex,
        _ethnicity(person.ethnicity, index),
        _ymd(person.birth_date),
        person.birthplace,
        _address(household.address, index),
        household.number,
        relation,
        status,
        deregistered,
        updated,
    )
    return row, updated


class HouseholdSink:
    """Streams households into ``RK_CZRKJBXX`` / ``RK_HJXX`` with ``executemany``, one commit per batch.

    Indexes are created at :meth:`close` (building them once is far cheaper than maintaining them per
    insert); the load runs with ``journal_mode=OFF`` and ``synchronous=OFF`` because an interrupted
    generation is redone from scratch anyway (no manifest is written), and ends in ``DELETE`` mode
    so read-only connections and lock faults behave like a plain database file.
    """

    def __init__(self, root: Path, population: Population, *, batch_size: int = 10_000) -> None:
        self._path = root / DB_FILE
        self._batch_size = batch_size
        self._db = sqlite3.connect(self._path)
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        for statement in _SCHEMA:
            self._db.execute(statement)
        self._db.commit()
        self._persons: list[tuple[str | None, ...]] = []
        self._households: list[tuple[str | None, ...]] = []

    def add_household(self, household: Household) -> None:
        number = int(household.number)
        head_quirk = number % 3 == 0
        household_updated = _ymd(household.registered_on) + _clock(number)
        for person in household.members:
            row, updated = _person_row(person, household, head_quirk)
            self._persons.append(row)
            household_updated = max(household_updated, updated)
        head = household.head
        live = any(person.alive for person in household.members)
        self._households.append(
            (
                household.number,
                household.kind,
                _char30(head.name, number),
                head.citizen_id,
                household.county,
                _address(household.address, number),
                _ymd(household.registered_on),
                HZT_LIVE if live else HZT_CANCELLED,
                household_updated,
            )
        )
        if len(self._persons) >= self._batch_size:
            self._flush()

    def add_employer(self, employer: Employer) -> None:
        """The household register holds no employers."""

    def close(self) -> None:
        self._flush()
        for statement in _INDEXES:
            self._db.execute(statement)
        self._db.execute("ANALYZE")
        self._db.commit()
        self._db.execute("PRAGMA journal_mode=DELETE")
        self._db.close()

    def _flush(self) -> None:
        self._db.executemany(_INSERT_PERSON, self._persons)
        self._db.executemany(_INSERT_HOUSEHOLD, self._households)
        self._db.commit()
        self._persons.clear()
        self._households.clear()


# --- the running system ------------------------------------------------------------------------


def read_only_url(path: Path) -> str:
    """A SQLAlchemy URL that opens ``path`` read-only and fails (not creates) when it is missing."""
    return f"sqlite:///file:{quote(str(path.resolve()))}?mode=ro&uri=true"


class RunningHouseholdRegister:
    """The front-end DB, open for reading; faults are real file moves, locks and corrupted rows."""

    supported_faults = frozenset(Fault)

    def __init__(self, root: Path) -> None:
        self._path = root / DB_FILE
        if not self._path.is_file():
            raise FileNotFoundError(f"no front-end exchange database at {self._path}")
        self._offline = self._path.with_name(DB_FILE + OFFLINE_SUFFIX)
        self._locker: sqlite3.Connection | None = None
        self._batch: tuple[threading.Event, threading.Thread] | None = None  # SLOW: the batch job
        self._corrupted: dict[str, str] = {}  # GMSFHM -> original CSRQ
        self._all_corrupted = False
        self._mis_encoded: dict[str, str] = {}  # GMSFHM -> original XM

    @property
    def path(self) -> Path:
        return self._path

    def adapter(self, *, guard: LegacyGuard | None = None, timeout: float | None = None) -> Adapter:
        return _adapter(self._path, guard=guard, timeout=timeout)

    def inject(self, fault: Fault, subject: Subject | None = None, *, delay: float = SLOW_SECONDS) -> None:
        """UNAVAILABLE: the file goes; TIMEOUT: an exclusive lock held until healed; SLOW: a batch job
        holds the exclusive lock for ``delay`` seconds, then lets go; GARBAGE: impossible codes and
        dates; WRONG_ENCODING: the subject's name (every name when None) stored as GBK bytes."""
        if fault is Fault.UNAVAILABLE:
            if self._path.exists():
                os.replace(self._path, self._offline)  # the front-end volume is gone
        elif fault is Fault.TIMEOUT:
            if self._locker is None:  # another session holds an exclusive lock and does not let go
                self._locker = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
                self._locker.execute("BEGIN EXCLUSIVE")
        elif fault is Fault.GARBAGE:
            self._corrupt(subject)
        elif fault is Fault.SLOW:
            if self._batch is None:
                self._batch = self._lock_for(delay)
        elif fault is Fault.WRONG_ENCODING:
            self._mis_encode(subject)
        else:
            raise ValueError(f"unsupported fault {fault}")

    def _lock_for(self, seconds: float) -> tuple[threading.Event, threading.Thread]:
        """A batch job's exclusive transaction, taken now and ended ``seconds`` later (or when healed)."""
        job = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        job.execute("BEGIN EXCLUSIVE")
        done = threading.Event()

        def finish() -> None:
            done.wait(seconds)
            job.execute("ROLLBACK")
            job.close()

        thread = threading.Thread(target=finish, name="household-batch-job", daemon=True)
        thread.start()
        return done, thread

    def _mis_encode(self, subject: Subject | None) -> None:
        """XM as the GBK bytes of a CHAR export, stored as TEXT unconverted (invalid UTF-8)."""
        with self._write() as db:
            if subject is None:
                rows = db.execute("SELECT GMSFHM, XM FROM RK_CZRKJBXX").fetchall()
            else:
                rows = db.execute(
                    "SELECT GMSFHM, XM FROM RK_CZRKJBXX WHERE GMSFHM IN (?, ?)",
                    (subject.value, subject.value.lower()),
                ).fetchall()
                if not rows:
                    raise LookupError("the subject is not in the household register")
            rows = [(gmsfhm, name) for gmsfhm, name in rows if gmsfhm not in self._mis_encoded]
            db.executemany(
                "UPDATE RK_CZRKJBXX SET XM = CAST(? AS TEXT) WHERE GMSFHM = ?",
                [(name.encode("gbk", errors="replace"), gmsfhm) for gmsfhm, name in rows],
            )
            self._mis_encoded.update(rows)

    def heal(self) -> None:
        if self._offline.exists():
            os.replace(self._offline, self._path)
        if self._locker is not None:
            self._locker.execute("ROLLBACK")
            self._locker.close()
            self._locker = None
        if self._batch is not None:
            done, thread = self._batch
            done.set()
            thread.join()
            self._batch = None
        if self._mis_encoded:
            with self._write() as db:
                db.executemany(
                    "UPDATE RK_CZRKJBXX SET XM = ? WHERE GMSFHM = ?",
                    [(name, gmsfhm) for gmsfhm, name in self._mis_encoded.items()],
                )
            self._mis_encoded.clear()
        if self._corrupted or self._all_corrupted:
            with self._write() as db:
                db.executemany(
                    "UPDATE RK_CZRKJBXX SET CSRQ = ? WHERE GMSFHM = ?",
                    [(csrq, gmsfhm) for gmsfhm, csrq in self._corrupted.items()],
                )
                if self._all_corrupted:
                    db.execute(_HEAL_SEX)
            self._corrupted.clear()
            self._all_corrupted = False

    def cancel_one(self) -> str:
        """户口迁出: the whole household moves out of the city; members are deregistered with it."""
        with self._write() as db:
            found = db.execute(
                "SELECT HH FROM RK_HJXX WHERE HZT = ? ORDER BY GXSJ, HH LIMIT 1", (HZT_LIVE,)
            ).fetchone()
            if found is None:
                raise LookupError("no live household left to cancel")
            number = found[0]
            stamp = self._next_stamp(db)
            db.execute(
                "UPDATE RK_CZRKJBXX SET RYZT = ?, ZXRQ = ?, GXSJ = ? WHERE HH = ? AND RYZT = ?",
                (RYZT_MOVED_OUT, stamp[:8], stamp, number, RYZT_ACTIVE),
            )
            db.execute("UPDATE RK_HJXX SET HZT = ?, GXSJ = ? WHERE HH = ?", (HZT_MOVED_OUT, stamp, number))
        return str(number).strip()

    def deregister(self, citizen_id: str, on: date) -> str:
        """死亡注销 of one person (simulator only): bumps the person's and the household's GXSJ,
        and cancels the household when nobody is left in it. Returns the household number."""
        with self._write() as db:
            found = db.execute(
                "SELECT HH FROM RK_CZRKJBXX WHERE GMSFHM IN (?, ?) AND RYZT = ?",
                (citizen_id, citizen_id.lower(), RYZT_ACTIVE),
            ).fetchone()
            if found is None:
                raise LookupError("no active person with this citizen ID")
            number = found[0]
            stamp = self._next_stamp(db)
            db.execute(
                "UPDATE RK_CZRKJBXX SET RYZT = ?, ZXRQ = ?, GXSJ = ? WHERE GMSFHM IN (?, ?)",
                (RYZT_DEAD, _ymd(on), stamp, citizen_id, citizen_id.lower()),
            )
            (active,) = db.execute(
                "SELECT COUNT(*) FROM RK_CZRKJBXX WHERE HH = ? AND RYZT = ?", (number, RYZT_ACTIVE)
            ).fetchone()
            state = HZT_LIVE if active else HZT_CANCELLED
            db.execute("UPDATE RK_HJXX SET HZT = ?, GXSJ = ? WHERE HH = ?", (state, stamp, number))
        return str(number).strip()

    def close(self) -> None:
        self.heal()

    def _corrupt(self, subject: Subject | None) -> None:
        with self._write() as db:
            if subject is None:
                if not self._all_corrupted:  # every sex code becomes one GB/T 2261.1 does not have
                    db.execute(_CORRUPT_SEX)
                    self._all_corrupted = True
                return
            found = db.execute(
                "SELECT GMSFHM, CSRQ FROM RK_CZRKJBXX WHERE GMSFHM IN (?, ?)",
                (subject.value, subject.value.lower()),
            ).fetchone()
            if found is None:
                raise LookupError("the subject is not in the household register")
            gmsfhm, csrq = found
            self._corrupted.setdefault(gmsfhm, csrq)
            # a month 13, day 45 birth date, as a botched migration leaves it
            db.execute("UPDATE RK_CZRKJBXX SET CSRQ = ? WHERE GMSFHM = ?", (csrq[:4] + "1345", gmsfhm))

    @staticmethod
    def _next_stamp(db: sqlite3.Connection) -> str:
        """A GXSJ later than every one in the database, so the change feed sees the change last."""
        latest = max(
            db.execute("SELECT MAX(GXSJ) FROM RK_HJXX").fetchone()[0] or "19700101000000",
            db.execute("SELECT MAX(GXSJ) FROM RK_CZRKJBXX").fetchone()[0] or "19700101000000",
        )
        moment = datetime.strptime(latest, "%Y%m%d%H%M%S") + timedelta(seconds=1)
        return moment.strftime("%Y%m%d%H%M%S")

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self._path, timeout=10)
        try:
            with db:
                yield db
        finally:
            db.close()


def _adapter(path: Path, *, guard: LegacyGuard | None, timeout: float | None) -> Adapter:
    options = {} if timeout is None else {"timeout": timeout}
    return HouseholdAdapter(read_only_url(path), guard=guard, **options)


class HouseholdSimulator:
    """The :class:`~adapters.simulation.SimulatedSystem` of the household register."""

    department = DEPARTMENT
    network = False  # the interface is the database file; other processes share its directory

    def __init__(self, *, batch_size: int = 10_000) -> None:
        self.batch_size = batch_size

    def sink(self, root: Path, population: Population) -> HouseholdSink:
        return HouseholdSink(root, population, batch_size=self.batch_size)

    def start(self, root: Path, *, host: str = "127.0.0.1", port: int = 0) -> RunningHouseholdRegister:
        """The front-end database is a file: nothing listens, ``host`` and ``port`` are not used."""
        return RunningHouseholdRegister(root)

    def connect(
        self,
        root: Path,
        *,
        url: str | None = None,
        guard: LegacyGuard | None = None,
        timeout: float | None = None,
    ) -> Adapter:
        """Read-only SQL on ``root/qzjk.db``, written only by the simulator's own process."""
        if url is not None:
            raise ValueError("the household register is reached through its database file, not a URL")
        return _adapter(root / DB_FILE, guard=guard, timeout=timeout)


SIMULATOR = HouseholdSimulator()
