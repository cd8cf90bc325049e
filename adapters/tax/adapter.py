"""The Municipal Tax Bureau's adapter: batch files from a drop directory, staged in SQLite.

The collection system drops GBK files into a directory (文件交换) and marks each complete one with an
empty ``<file name>.ok``. Before answering, every call scans the directory (cheap: one listing) and
ingests the completed files it has not seen, in sequence order, each in one transaction, into the
adapter's own staging store; lookups, verifies and the change feed then read that store. Legacy
fields and codes are mapped to the standard items while ingesting, so a file that cannot be mapped
is rejected whole (``BadLegacyData`` naming ``file:line``) and ingestion stops there until the bureau
replaces it: order matters (a correction voids an earlier receipt), so later files are never skipped.

A file present without its marker is still being transferred: the call waits for it up to its
deadline, then raises ``LegacyTimeout``. A large backlog is ingested file by file; when the deadline
passes between two files the call raises ``LegacyTimeout`` and keeps what it ingested, so the next
call goes on from there. A file written in UTF-8 instead of GBK is rejected whole (its first text
line is valid UTF-8): UTF-8 often decodes as GBK too, into mojibake that must never be staged.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import hashlib
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, TypeVar

from adapters.base import (
    CertificateRecord,
    Change,
    DatasetDeclaration,
    Health,
    Subject,
    SubjectType,
)
from adapters.errors import BadLegacyData, LegacyTimeout, LegacyUnavailable, SubjectNotFound
from adapters.mapping import RecordLookups, normalise_text
from adapters.resilience import LegacyGuard
from adapters.tax import DEPARTMENT
from adapters.tax.datasets import CERTIFICATE, DATASETS, LICENSE_TYPE, REGISTRATION
from exchange.identifiers import InvalidIdentifier, validate_citizen_id, validate_uscc

T = TypeVar("T")

DEFAULT_TIMEOUT = 10.0  # seconds per call: waiting for a transfer, and ingesting a backlog
MARKER = ".ok"
ENCODING = "gbk"
BATCH = 5_000  # rows per executemany
PAGE = 1_000  # change-feed rows per staging query
_POLL = 0.05

_FILE_NAME = re.compile(r"^(NSRDJ|WSZM)_(\d{8})_(\d{6})\.(dat|txt)$")
_EXTENSION = {"NSRDJ": "dat", "WSZM": "txt"}
_DIGITS8 = re.compile(r"^\d{8}$")
_RECEIPT_NO = re.compile(r"^\d{18}$")
_OFFICE_CODE = re.compile(r"^\d{11}$")
_AMOUNT = re.compile(r"^-?\d{1,15}\.\d{2}$")
_WATERMARK = re.compile(r"^(\d{1,9}):(\d{1,9})$")

# NSRDJ record: (item, start, end) in GBK bytes; 188 bytes without the line end.
_LAYOUT = (
    ("record_type", 0, 1),
    ("taxpayer_id", 1, 21),
    ("taxpayer_name", 21, 101),
    ("taxpayer_kind", 101, 103),
    ("tax_office_code", 103, 114),
    ("tax_office_name", 114, 174),
    ("registered_on", 174, 182),
    ("status", 182, 188),
)
_RECORD_BYTES = 188
_WSZM_FIELDS = 11

# Legacy codes -> the code tables of adapters.tax.datasets (docs/adapters/tax.md).
_KIND = {"DW": "1", "GT": "2", "ZR": "3"}
_STATUS = {"正常": "1", "停业": "2", "非正常": "3", "注销": "4"}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ingested_file (
    seq INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, size INTEGER NOT NULL,
    sha256 TEXT NOT NULL, records INTEGER NOT NULL, ingested_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS taxpayer (
    taxpayer_id TEXT PRIMARY KEY, subject_type TEXT NOT NULL, name TEXT NOT NULL, kind TEXT NOT NULL,
    office_code TEXT NOT NULL, office TEXT NOT NULL, registered_on TEXT NOT NULL, status TEXT NOT NULL,
    seq INTEGER NOT NULL, line INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS receipt (
    receipt_no TEXT PRIMARY KEY, taxpayer_id TEXT NOT NULL, subject_type TEXT NOT NULL,
    taxpayer_name TEXT NOT NULL, levy_item TEXT NOT NULL, levy_detail TEXT NOT NULL,
    period_from TEXT NOT NULL, period_to TEXT NOT NULL, amount TEXT NOT NULL, paid_on TEXT NOT NULL,
    tax_office TEXT NOT NULL, seq INTEGER NOT NULL, line INTEGER NOT NULL, voided_on TEXT);
CREATE INDEX IF NOT EXISTS receipt_by_taxpayer ON receipt (taxpayer_id, paid_on);
CREATE TABLE IF NOT EXISTS event (
    seq INTEGER NOT NULL, line INTEGER NOT NULL, receipt_no TEXT NOT NULL, cancelled INTEGER NOT NULL,
    PRIMARY KEY (seq, line)) WITHOUT ROWID;
"""


@dataclass(frozen=True, slots=True)
class _DropFile:
    """A data file in the drop directory, as one listing saw it."""

    path: Path
    kind: str
    day: str
    seq: int
    size: int
    mtime_ns: int
    complete: bool  # its marker is there

    @property
    def name(self) -> str:
        return self.path.name


class TaxAdapter(RecordLookups):
    """The tax bureau behind the hub's adapter protocol (see the module docstring)."""

    department = DEPARTMENT
    DATASETS = DATASETS

    def __init__(
        self,
        drop_dir: Path,
        staging_path: Path,
        *,
        guard: LegacyGuard | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self._drop_dir = Path(drop_dir)
        self._timeout = timeout
        self._guard = guard or LegacyGuard("tax")
        self._lock = threading.RLock()
        self._rejected: dict[str, tuple[int, int, BadLegacyData]] = {}  # name -> size, mtime, error
        staging_path = Path(staging_path)
        staging_path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(
            staging_path, timeout=timeout, isolation_level=None, check_same_thread=False
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    # --- the adapter protocol -------------------------------------------------------------------

    def changes_since(self, watermark: str | None) -> Iterator[Change]:
        """One record per receipt event, oldest first; a void re-yields the receipt cancelled.

        The watermark is the event's position in the ingested stream, ``<file seq>:<line>``.
        """
        position = _parse_watermark(watermark)
        self._guard.call(lambda: self._call(lambda: None), idempotent=True)
        while True:
            rows = self._guard.call(functools.partial(self._page, position), idempotent=True)
            for row in rows:
                position = (row[0], row[1])
                yield Change(_certificate(row), f"{row[0]:06d}:{row[1]:06d}")
            if len(rows) < PAGE:
                return

    def health(self) -> Health:
        started = time.perf_counter()
        try:
            files = self._scan()
            with self._locked(time.monotonic() + self._timeout):
                known = {name for (name,) in self._db.execute("SELECT name FROM ingested_file")}
        except Exception as exc:  # a probe reports, it never raises
            return Health(False, str(exc), _ms(started), self._guard.state)
        pending = [f for f in files if f.name not in known]
        blocked = next((f for f in pending if self._known_bad(f) is not None), None)
        if blocked is not None:
            error = self._known_bad(blocked)
            return Health(False, f"ingestion stopped: {error}", _ms(started), self._guard.state)
        in_transfer = sum(1 for f in pending if not f.complete)
        detail = (
            f"drop directory readable: {len(known)} files ingested, {len(pending) - in_transfer} to ingest, "
            f"{in_transfer} in transfer"
        )
        return Health(True, detail, _ms(started), self._guard.state)

    def close(self) -> None:
        """Release the staging store's connection (not part of the protocol; the system calls it)."""
        with self._lock:
            self._db.close()

    # --- answering from the staging store -------------------------------------------------------

    def _record(
        self, declaration: DatasetDeclaration, subject: Subject, items: frozenset[str]
    ) -> dict[str, Any]:
        if declaration.code == REGISTRATION:
            return self._guard.call(lambda: self._call(lambda: self._registration(subject)))
        if declaration.code == CERTIFICATE:
            return self._guard.call(lambda: self._call(lambda: self._certificates(subject)))
        raise AssertionError(f"dataset {declaration.code} has no mapping")  # pragma: no cover

    def _call(self, answer: Callable[[], T]) -> T:
        """Ingest what arrived, then answer from the staging store, within one deadline."""
        deadline = time.monotonic() + self._timeout
        with _staging_errors():
            self._refresh(deadline)
            with self._locked(deadline):
                return answer()

    def _taxpayer(self, subject: Subject) -> tuple[str, ...]:
        row = self._db.execute(
            "SELECT name, kind, office, registered_on, status FROM taxpayer "
            "WHERE taxpayer_id = ? AND subject_type = ?",
            (subject.value, subject.type.value),
        ).fetchone()
        if row is None:
            raise SubjectNotFound("the tax bureau has no taxpayer registered under this identifier")
        return row

    def _registration(self, subject: Subject) -> dict[str, Any]:
        name, kind, office, registered_on, status = self._taxpayer(subject)
        return {
            "taxpayer_name": name,
            "taxpayer_kind": kind,
            "tax_office": office,
            "registered_on": registered_on,
            "status": status,
        }

    def _certificates(self, subject: Subject) -> dict[str, Any]:
        """Valid (non-voided) receipts; a registered taxpayer without any gets an empty list."""
        self._taxpayer(subject)
        rows = self._db.execute(
            "SELECT receipt_no, levy_item, levy_detail, period_from, period_to, amount, paid_on, tax_office "
            "FROM receipt WHERE taxpayer_id = ? AND voided_on IS NULL ORDER BY paid_on, receipt_no",
            (subject.value,),
        ).fetchall()
        payments = [_payment(row) for row in rows]
        total = sum((Decimal(p["amount"]) for p in payments), Decimal("0.00"))
        return {
            "payments": payments,
            "total_amount": format(total, ".2f"),
            "latest_paid_on": max((p["paid_on"] for p in payments), default=None),
        }

    def _page(self, after: tuple[int, int]) -> list[tuple[Any, ...]]:
        with _staging_errors(), self._locked(time.monotonic() + self._timeout):
            return self._db.execute(
                "SELECT e.seq, e.line, e.cancelled, r.receipt_no, r.taxpayer_id, r.subject_type, "
                "r.taxpayer_name, r.levy_item, r.levy_detail, r.period_from, r.period_to, r.amount, "
                "r.paid_on, r.tax_office, r.voided_on "
                "FROM event e JOIN receipt r ON r.receipt_no = e.receipt_no "
                "WHERE e.seq > ? OR (e.seq = ? AND e.line > ?) ORDER BY e.seq, e.line LIMIT ?",
                (after[0], after[0], after[1], PAGE),
            ).fetchall()

    # --- the drop directory ---------------------------------------------------------------------

    def _scan(self) -> list[_DropFile]:
        """One listing of the drop directory: data files in sequence order, with their markers."""
        try:
            entries = {entry.name: entry for entry in os.scandir(self._drop_dir)}
            files = []
            for name, entry in entries.items():
                match = _FILE_NAME.match(name)
                if match is None or _EXTENSION[match[1]] != match[4]:
                    continue  # not a data file of this exchange (markers, temporary files)
                stat = entry.stat()
                complete = name + MARKER in entries
                files.append(
                    _DropFile(
                        Path(entry.path),
                        match[1],
                        match[2],
                        int(match[3]),
                        stat.st_size,
                        stat.st_mtime_ns,
                        complete,
                    )
                )
        except OSError as exc:
            raise LegacyUnavailable(f"tax drop directory unreachable: {exc.strerror or exc}") from None
        files.sort(key=lambda f: (f.seq, f.name))
        for first, second in zip(files, files[1:], strict=False):
            if first.seq == second.seq:
                raise BadLegacyData("two files carry the same sequence number", row=f"{second.name}:1")
        return files

    def _refresh(self, deadline: float) -> None:
        """Ingest every completed file not yet staged, in order; wait for transfers in progress."""
        files = self._scan()
        with self._locked(deadline):
            known = {
                name: (seq, size)
                for name, seq, size in self._db.execute("SELECT name, seq, size FROM ingested_file")
            }
            last_seq = max((seq for seq, _ in known.values()), default=0)
        pending = []
        for drop in files:
            if drop.name in known:
                if known[drop.name][1] != drop.size:
                    raise BadLegacyData("file changed after it was ingested", row=f"{drop.name}:1")
            elif drop.seq <= last_seq:
                raise BadLegacyData(
                    f"file arrived out of sequence (files up to {last_seq} are ingested)",
                    row=f"{drop.name}:1",
                )
            else:
                pending.append(drop)
        for index, listed in enumerate(pending):
            drop = listed if listed.complete else self._await_marker(listed, deadline)
            if drop is None:
                continue  # the transfer was aborted and the file withdrawn
            if time.monotonic() > deadline:
                raise LegacyTimeout(
                    f"tax ingest backlog: {len(pending) - index} files left after the {self._timeout}s "
                    "deadline; what was ingested is kept"
                )
            known_bad = self._known_bad(drop)
            if known_bad is not None:
                raise known_bad
            with self._locked(deadline):
                try:
                    self._ingest(drop)
                except BadLegacyData as exc:
                    self._rejected[drop.name] = (drop.size, drop.mtime_ns, exc)
                    raise

    def _await_marker(self, drop: _DropFile, deadline: float) -> _DropFile | None:
        marker = drop.path.with_name(drop.name + MARKER)
        while True:
            try:
                if marker.exists():
                    stat = drop.path.stat()
                    return _DropFile(
                        drop.path, drop.kind, drop.day, drop.seq, stat.st_size, stat.st_mtime_ns, True
                    )
                if not drop.path.exists():
                    if not self._drop_dir.is_dir():
                        raise LegacyUnavailable("tax drop directory unreachable")
                    return None
            except OSError as exc:
                raise LegacyUnavailable(f"tax drop directory unreachable: {exc.strerror or exc}") from None
            if time.monotonic() >= deadline:
                raise LegacyTimeout(
                    f"{drop.name} is still in transfer (no {MARKER} marker) "
                    f"after the {self._timeout}s deadline"
                )
            time.sleep(_POLL)

    def _known_bad(self, drop: _DropFile) -> BadLegacyData | None:
        """A file rejected before and unchanged since: rejected again without reading it."""
        seen = self._rejected.get(drop.name)
        if seen is None or seen[:2] != (drop.size, drop.mtime_ns):
            return None
        return copy.copy(seen[2])

    def _locked(self, deadline: float) -> _Held:
        return _Held(self._lock, deadline)

    # --- ingesting one file ---------------------------------------------------------------------

    def _ingest(self, drop: _DropFile) -> None:
        """Stage one completed file in one transaction: all of it, or nothing."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            if db.execute("SELECT 1 FROM ingested_file WHERE name = ?", (drop.name,)).fetchone():
                db.execute("ROLLBACK")  # another process staged it meanwhile
                return
            digest = hashlib.sha256()
            try:
                with drop.path.open("rb") as handle:
                    reader = _Lines(handle, digest, drop)
                    if drop.kind == "NSRDJ":
                        records = _RegistrationFile(db, drop, reader).ingest()
                    else:
                        records = _CertificateFile(db, drop, reader).ingest()
            except OSError as exc:
                raise LegacyUnavailable(f"cannot read {drop.name}: {exc.strerror or exc}") from None
            db.execute(
                "INSERT INTO ingested_file (seq, name, kind, size, sha256, records, ingested_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    drop.seq,
                    drop.name,
                    drop.kind,
                    reader.size,
                    digest.hexdigest(),
                    records,
                    datetime.now(UTC).isoformat(),
                ),
            )
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise


@contextlib.contextmanager
def _staging_errors() -> Iterator[None]:
    """The staging store locked by another process past the deadline, or failing outright."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise LegacyTimeout("the tax staging store stayed locked past the deadline") from exc
        raise LegacyUnavailable(f"the tax staging store failed: {exc}") from exc
    except sqlite3.Error as exc:
        raise LegacyUnavailable(f"the tax staging store failed: {exc}") from exc


class _Held:
    """The adapter's lock, taken within the call's deadline."""

    def __init__(self, lock: threading.RLock, deadline: float) -> None:
        self._lock = lock
        self._deadline = deadline

    def __enter__(self) -> None:
        if not self._lock.acquire(timeout=max(self._deadline - time.monotonic(), 0.0)):
            raise LegacyTimeout("the tax staging store is busy ingesting; deadline passed")

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


class _Lines:
    """The lines of a file (bytes, line end removed), hashing and counting what is read."""

    def __init__(self, handle: IO[bytes], digest: Any, drop: _DropFile) -> None:
        self._handle = handle
        self._digest = digest
        self.drop = drop
        self.size = 0

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        encoding_checked = False
        for number, raw in enumerate(self._handle, 1):
            self._digest.update(raw)
            self.size += len(raw)
            if not encoding_checked and not raw.isascii():
                _not_utf8(raw, self.row(number))  # one tool writes a whole file: its first text decides
                encoding_checked = True
            yield number, raw.rstrip(b"\r\n")

    def row(self, line: int) -> str:
        return f"{self.drop.name}:{line}"


def _not_utf8(raw: bytes, row: str) -> None:
    """UTF-8 bytes often decode as GBK too, into mojibake that would be staged silently; Chinese
    text in GBK is practically never valid UTF-8. So a line with non-ASCII bytes that is valid
    UTF-8 means the file was written in the wrong encoding."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return
    raise BadLegacyData("the file is UTF-8, the exchange specifies GBK", row=row)


class _RegistrationFile:
    """NSRDJ: fixed-width records whose widths are GBK bytes, so fields are sliced before decoding."""

    def __init__(self, db: sqlite3.Connection, drop: _DropFile, lines: _Lines) -> None:
        self._db = db
        self._drop = drop
        self._lines = lines

    def ingest(self) -> int:
        batch: list[tuple[Any, ...]] = []
        records = 0
        trailer: int | None = None
        last = 0
        for line, raw in self._lines:
            last = line
            row = self._lines.row(line)
            if trailer is not None:
                raise BadLegacyData("record after the trailer", row=row)
            if line == 1:
                expected = f"HNSRDJ{self._drop.day}{self._drop.seq:06d}".encode("ascii")
                if raw != expected:
                    raise BadLegacyData("header does not name this file's kind, date and sequence", row=row)
            elif raw[:1] == b"D":
                batch.append(self._record(raw, row, line))
                records += 1
                if len(batch) >= BATCH:
                    self._flush(batch)
            elif raw[:1] == b"T":
                count = raw[1:].decode("ascii", errors="replace")
                if len(raw) != 11 or not count.isdigit():
                    raise BadLegacyData("malformed trailer", row=row)
                trailer = int(count)
                if trailer != records:
                    raise BadLegacyData(f"trailer counts {trailer} records, the file has {records}", row=row)
            else:
                raise BadLegacyData("unknown record type", row=row)
        if trailer is None:
            raise BadLegacyData("no trailer record: file incomplete", row=self._lines.row(last + 1))
        self._flush(batch)
        return records

    def _record(self, raw: bytes, row: str, line: int) -> tuple[Any, ...]:
        if len(raw) != _RECORD_BYTES:
            raise BadLegacyData(f"record is {len(raw)} bytes, the layout has {_RECORD_BYTES}", row=row)
        value = {}
        for item, start, end in _LAYOUT:
            try:
                value[item] = raw[start:end].decode(ENCODING)
            except UnicodeDecodeError:
                raise BadLegacyData(f"{item} is not valid GBK", row=row) from None
        kind = _KIND.get(value["taxpayer_kind"])
        if kind is None:
            raise BadLegacyData("unknown taxpayer kind code", row=row)
        subject_type = SubjectType.ID_CARD if kind == "3" else SubjectType.USCC
        taxpayer_id, _ = _identifier(value["taxpayer_id"].strip(), subject_type, row)
        office_code = value["tax_office_code"]
        if not _OFFICE_CODE.match(office_code):
            raise BadLegacyData("tax office code is not 11 digits", row=row)
        status = _STATUS.get(value["status"].strip())
        if status is None:
            raise BadLegacyData("unknown taxpayer status", row=row)
        return (
            taxpayer_id,
            subject_type.value,
            _text(value["taxpayer_name"], "taxpayer name", row),
            kind,
            office_code,
            _text(value["tax_office_name"], "tax office name", row),
            _date(value["registered_on"], "registration date", row),
            status,
            self._drop.seq,
            line,
        )

    def _flush(self, batch: list[tuple[Any, ...]]) -> None:
        """A later registration of the same taxpayer supersedes the earlier one."""
        self._db.executemany(
            "INSERT INTO taxpayer (taxpayer_id, subject_type, name, kind, office_code, office, "
            "registered_on, status, seq, line) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (taxpayer_id) DO UPDATE SET "
            "subject_type = excluded.subject_type, name = excluded.name, kind = excluded.kind, "
            "office_code = excluded.office_code, office = excluded.office, "
            "registered_on = excluded.registered_on, status = excluded.status, seq = excluded.seq, "
            "line = excluded.line",
            batch,
        )
        batch.clear()


class _CertificateFile:
    """WSZM: ``|``-delimited records. Lines are decoded before splitting: a GBK trail byte can be 0x7C."""

    def __init__(self, db: sqlite3.Connection, drop: _DropFile, lines: _Lines) -> None:
        self._db = db
        self._drop = drop
        self._lines = lines
        self._receipts: list[tuple[Any, ...]] = []
        self._events: list[tuple[Any, ...]] = []
        self._seen: dict[str, int] = {}  # receipt -> line, within this file

    def ingest(self) -> int:
        records = 0
        total = Decimal("0.00")
        trailer: tuple[int, Decimal] | None = None
        last = 0
        for line, raw in self._lines:
            last = line
            row = self._lines.row(line)
            if trailer is not None:
                raise BadLegacyData("record after the trailer", row=row)
            try:
                fields = raw.decode(ENCODING).split("|")
            except UnicodeDecodeError as exc:
                raise BadLegacyData(f"not valid GBK at byte {exc.start}", row=row) from None
            kind = fields[0]
            if line == 1:
                if fields != ["H", "WSZM", self._drop.day, f"{self._drop.seq:06d}"]:
                    raise BadLegacyData("header does not name this file's kind, date and sequence", row=row)
            elif kind in {"N", "C"}:
                if len(fields) != _WSZM_FIELDS:
                    raise BadLegacyData(f"{len(fields)} fields, expected {_WSZM_FIELDS}", row=row)
                total += self._receipt(fields, row, line) if kind == "N" else self._void(fields, row, line)
                records += 1
            elif kind == "T":
                if len(fields) != 3 or not fields[1].isdigit():
                    raise BadLegacyData("malformed trailer", row=row)
                trailer = (int(fields[1]), _amount(fields[2], "trailer total", row))
                if trailer[0] != records:
                    raise BadLegacyData(
                        f"trailer counts {trailer[0]} records, the file has {records}", row=row
                    )
                if trailer[1] != total:
                    raise BadLegacyData(
                        f"trailer total {trailer[1]} differs from the records' {total}", row=row
                    )
            else:
                raise BadLegacyData("unknown record type", row=row)
        if trailer is None:
            raise BadLegacyData("no trailer record: file incomplete", row=self._lines.row(last + 1))
        self._flush()
        return records

    def _parse(self, fields: list[str], row: str) -> tuple[Any, ...]:
        receipt_no = fields[1]
        if not _RECEIPT_NO.match(receipt_no):
            raise BadLegacyData("tax receipt number is not 18 digits", row=row)
        taxpayer_id, subject_type = _identifier(fields[2].strip(), None, row)
        period_from = _date(fields[6], "tax period start", row)
        period_to = _date(fields[7], "tax period end", row)
        if period_to < period_from:
            raise BadLegacyData("tax period ends before it starts", row=row)
        return (
            receipt_no,
            taxpayer_id,
            subject_type.value,
            _text(fields[3], "taxpayer name", row),
            _text(fields[4], "levy item", row),
            _text(fields[5], "levy detail", row),
            period_from,
            period_to,
        )

    def _receipt(self, fields: list[str], row: str, line: int) -> Decimal:
        parsed = self._parse(fields, row)
        amount = _amount(fields[8], "amount", row)
        if amount <= 0:
            raise BadLegacyData("a tax receipt's amount must be positive", row=row)
        paid_on = _date(fields[9], "payment date", row)
        receipt_no = parsed[0]
        if receipt_no in self._seen:
            raise BadLegacyData(f"receipt already on line {self._seen[receipt_no]}", row=row)
        self._seen[receipt_no] = line
        office = _text(fields[10], "tax office", row)
        seq = self._drop.seq
        self._receipts.append((*parsed, format(amount, ".2f"), paid_on, office, seq, line))
        self._events.append((seq, line, receipt_no, 0))
        if len(self._receipts) >= BATCH:
            self._flush()
        return amount

    def _void(self, fields: list[str], row: str, line: int) -> Decimal:
        """A correction (作废): it must cancel a live receipt already staged, for its full amount."""
        parsed = self._parse(fields, row)
        amount = _amount(fields[8], "amount", row)
        voided_on = _date(fields[9], "void date", row)
        self._flush()
        original = self._db.execute(
            "SELECT taxpayer_id, amount, paid_on, voided_on FROM receipt WHERE receipt_no = ?", (parsed[0],)
        ).fetchone()
        if original is None:
            raise BadLegacyData("correction for an unknown tax receipt", row=row)
        if original[3] is not None:
            raise BadLegacyData("correction for a receipt already voided", row=row)
        if original[0] != parsed[1] or Decimal(original[1]) != -amount:
            raise BadLegacyData("correction does not match the receipt's taxpayer and amount", row=row)
        if voided_on < original[2]:
            raise BadLegacyData("receipt voided before it was paid", row=row)
        self._db.execute("UPDATE receipt SET voided_on = ? WHERE receipt_no = ?", (voided_on, parsed[0]))
        self._db.execute(
            "INSERT INTO event (seq, line, receipt_no, cancelled) VALUES (?, ?, ?, 1)",
            (self._drop.seq, line, parsed[0]),
        )
        return amount

    def _flush(self) -> None:
        if not self._receipts:
            return
        try:
            self._db.executemany(
                "INSERT INTO receipt (receipt_no, taxpayer_id, subject_type, taxpayer_name, levy_item, "
                "levy_detail, period_from, period_to, amount, paid_on, tax_office, seq, line) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                self._receipts,
            )
        except sqlite3.IntegrityError:
            for receipt in self._receipts:
                earlier = self._db.execute(
                    "SELECT seq, line FROM receipt WHERE receipt_no = ? AND seq < ?",
                    (receipt[0], self._drop.seq),
                ).fetchone()
                if earlier is not None:
                    raise BadLegacyData(
                        f"tax receipt already delivered in file {earlier[0]:06d} line {earlier[1]}",
                        row=self._lines.row(receipt[-1]),
                    ) from None
            raise
        self._db.executemany(
            "INSERT INTO event (seq, line, receipt_no, cancelled) VALUES (?, ?, ?, ?)", self._events
        )
        self._receipts.clear()
        self._events.clear()


# --- field mapping --------------------------------------------------------------------------------


# Names, offices, levy items and dates repeat across records: the pure conversions are memoised.
_normalised = functools.lru_cache(maxsize=1 << 16)(normalise_text)


def _text(value: str, what: str, row: str) -> str:
    """Padding stripped, full-width forms folded (NFKC); empty is not an answer."""
    text = _normalised(value)
    if not text:
        raise BadLegacyData(f"{what} is empty", row=row)
    return text


@functools.lru_cache(maxsize=1 << 14)
def _calendar_date(value: str) -> str | None:
    if not _DIGITS8.match(value):
        return None
    try:
        return date(int(value[:4]), int(value[4:6]), int(value[6:])).isoformat()
    except ValueError:
        return None


def _date(value: str, what: str, row: str) -> str:
    """YYYYMMDD (GB/T 7408 basic format) as the ISO 8601 extended form the staging store keeps."""
    parsed = _calendar_date(value)
    if parsed is None:
        raise BadLegacyData(f"{what} is not a YYYYMMDD calendar date", row=row)
    return parsed


def _amount(value: str, what: str, row: str) -> Decimal:
    if not _AMOUNT.match(value):
        raise BadLegacyData(f"{what} is not an amount with two decimals", row=row)
    return Decimal(value)


@functools.lru_cache(maxsize=1 << 16)
def _validated(value: str, subject_type: SubjectType | None) -> tuple[str, SubjectType]:
    """GB 11643-1999 or GB 32100-2015; with no type (receipts do not say the taxpayer kind) a citizen
    ID is tried first, then a USCC: a USCC's leading codes never form a valid citizen-ID province."""
    if subject_type is SubjectType.USCC:
        return validate_uscc(value).value, SubjectType.USCC
    try:
        return validate_citizen_id(value).value, SubjectType.ID_CARD
    except InvalidIdentifier:
        if subject_type is SubjectType.ID_CARD:
            raise
    return validate_uscc(value).value, SubjectType.USCC


def _identifier(value: str, subject_type: SubjectType | None, row: str) -> tuple[str, SubjectType]:
    """A validated taxpayer id; an invalid one makes the file bad legacy data."""
    try:
        return _validated(value, subject_type)
    except InvalidIdentifier as exc:
        raise BadLegacyData(f"invalid taxpayer id: {exc.reason}", row=row) from None


def _payment(row: tuple[Any, ...]) -> dict[str, Any]:
    receipt_no, levy_item, levy_detail, period_from, period_to, amount, paid_on, tax_office = row
    return {
        "receipt_no": receipt_no,
        "levy_item": levy_item,
        "levy_detail": levy_detail,
        "period_from": period_from,
        "period_to": period_to,
        "amount": amount,
        "paid_on": paid_on,
        "tax_office": tax_office,
    }


def _certificate(row: tuple[Any, ...]) -> CertificateRecord:
    seq, line, cancelled, receipt_no, taxpayer_id, subject_type, name = row[:7]
    fields = _payment((receipt_no, *row[7:14]))
    if cancelled:
        fields["voided_on"] = row[14]
    paid_on = date.fromisoformat(fields["paid_on"])
    return CertificateRecord(
        license_type=LICENSE_TYPE,
        source_id=receipt_no,
        source_version=f"{seq:06d}:{line:06d}",
        holder=Subject(SubjectType(subject_type), taxpayer_id),
        holder_name=name,
        issued_on=paid_on,
        valid_from=paid_on,
        valid_to=None,
        fields=fields,
        cancelled=bool(cancelled),
    )


def _parse_watermark(watermark: str | None) -> tuple[int, int]:
    if watermark is None:
        return (0, 0)
    match = _WATERMARK.match(watermark)
    if match is None:
        raise ValueError(f"not a tax change-feed watermark: {watermark!r}")
    return int(match[1]), int(match[2])


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
