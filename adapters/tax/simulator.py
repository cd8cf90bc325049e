"""The tax bureau's collection system as simulated: batch files dropped into a directory (文件交换).

Under ``root`` (``$EXCHANGE_HOME/legacy/tax``):

- ``outbox/``: the drop directory the collection system writes to; the only legacy interface. Every
  file is GBK-encoded with CRLF line ends, opens with a header record, closes with a trailer carrying
  the record count, and is followed by an empty marker ``<file name>.ok`` once it is complete;
- ``adapter/staging.db``: the adapter's own staging store (its state, not the bureau's).

Two kinds of files, numbered by one sequence so that name order is processing order:
``NSRDJ_<yyyymmdd>_<seq>.dat`` (纳税人登记信息, fixed width, widths in GBK bytes) and
``WSZM_<yyyymmdd>_<seq>.txt`` (税收完税证明, ``|``-delimited; voided receipts come as later ``C``
correction records). docs/adapters/tax.md gives the layouts.
"""

from __future__ import annotations

import re
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import IO

from adapters.base import Adapter, Subject
from adapters.code_tables import CITY_NAME, COUNTIES
from adapters.population import Employer, Household, Population, TaxPayment
from adapters.resilience import LegacyGuard
from adapters.simulation import SLOW_SECONDS, Fault
from adapters.tax import DEPARTMENT
from adapters.tax.adapter import DEFAULT_TIMEOUT, TaxAdapter

OUTBOX = "outbox"
UNMOUNTED = "outbox.unmounted"  # where UNAVAILABLE moves the drop directory, like an unmounted share
STAGING = Path("adapter") / "staging.db"
MARKER = ".ok"
MAX_RECORDS = 50_000
ENCODING = "gbk"
EOL = b"\r\n"
REGISTRATION, CERTIFICATES = "NSRDJ", "WSZM"
EXTENSION = {REGISTRATION: "dat", CERTIFICATES: "txt"}
FILE_NAME = re.compile(r"^(NSRDJ|WSZM)_(\d{8})_(\d{6})\.(dat|txt)$")

# The fixed-width registration record (NSRDJ), widths in GBK bytes.
REGISTRATION_LAYOUT = (
    ("record_type", 1),  # D
    ("taxpayer_id", 20),  # 纳税人识别号: USCC or citizen ID, space-padded
    ("taxpayer_name", 80),  # 纳税人名称
    ("taxpayer_kind", 2),  # DW 单位 | GT 个体工商户 | ZR 自然人
    ("tax_office_code", 11),  # 税务机关代码
    ("tax_office_name", 60),  # 税务机关名称
    ("registered_on", 8),  # 登记日期 YYYYMMDD
    ("status", 6),  # 正常 | 停业 | 非正常 | 注销
)
RECORD_BYTES = sum(width for _, width in REGISTRATION_LAYOUT)

# The legacy system keeps digits in names as full-width characters (全角), a common GBK-era habit.
_FULL_WIDTH_DIGITS = str.maketrans("0123456789", "０１２３４５６７８９")


def _office_name(county: str) -> str:
    return f"国家税务总局{CITY_NAME}{COUNTIES[county]}税务局"


def _office_code(county: str) -> str:
    """The 11-digit tax authority code: 1, the county's GB/T 2260 code, 0000."""
    return f"1{county}0000"


def _fixed(text: str, width: int) -> bytes:
    encoded = text.encode(ENCODING)
    if len(encoded) > width:
        raise ValueError(f"{text!r} needs {len(encoded)} bytes, the field has {width}")
    return encoded + b" " * (width - len(encoded))


def _certificate_header(day: str, seq: int) -> bytes:
    return f"H|{CERTIFICATES}|{day}|{seq:06d}".encode("ascii") + EOL


def _ymd(day: date) -> str:
    return f"{day.year:04d}{day.month:02d}{day.day:02d}"


def registration_record(
    taxpayer_id: str, name: str, kind: str, county: str, registered_on: date, status: str
) -> bytes:
    """One NSRDJ record (without the line end)."""
    return b"".join(
        (
            b"D",
            _fixed(taxpayer_id, 20),
            _fixed(name.translate(_FULL_WIDTH_DIGITS), 80),
            kind.encode("ascii"),
            _office_code(county).encode("ascii"),
            _fixed(_office_name(county), 60),
            _ymd(registered_on).encode("ascii"),
            _fixed(status, 6),
        )
    )


def certificate_record(payment: TaxPayment, *, person: bool, void_on: date | None = None) -> bytes:
    """One WSZM record: ``N`` for the receipt, ``C`` (作废, red-letter amount) for its correction."""
    taxpayer_id = payment.taxpayer_id
    if person:
        taxpayer_id = taxpayer_id.lower()  # the collection system writes the check character 'x'
    amount = format(payment.amount, ".2f")
    return "|".join(
        (
            "N" if void_on is None else "C",
            payment.receipt_no,
            taxpayer_id,
            payment.taxpayer_name,
            payment.levy_item,
            payment.levy_detail,
            _ymd(payment.period_from),
            _ymd(payment.period_to),
            amount if void_on is None else f"-{amount}",
            _ymd(payment.paid_on if void_on is None else void_on),
            payment.tax_office,
        )
    ).encode(ENCODING)


@dataclass
class _Batch:
    """The file being written: its records and (for WSZM) the amount total for the trailer."""

    path: Path
    handle: IO[bytes]
    records: int = 0
    total: Decimal = field(default_factory=Decimal)


class _BatchWriter:
    """Writes one kind of file, rolling over at ``MAX_RECORDS`` records; marker after trailer."""

    def __init__(self, outbox: Path, kind: str, day: str, next_seq: Callable[[], int]) -> None:
        self._outbox = outbox
        self._kind = kind
        self._day = day
        self._next_seq = next_seq
        self._batch: _Batch | None = None

    def write(self, record: bytes, amount: Decimal | None = None) -> None:
        batch = self._batch
        if batch is None or batch.records >= MAX_RECORDS:
            if batch is not None:
                self._finish(batch)
            batch = self._batch = self._open()
        batch.handle.write(record + EOL)
        batch.records += 1
        if amount is not None:
            batch.total += amount

    def close(self) -> None:
        if self._batch is not None:
            self._finish(self._batch)
            self._batch = None

    def _open(self) -> _Batch:
        seq = self._next_seq()
        path = self._outbox / f"{self._kind}_{self._day}_{seq:06d}.{EXTENSION[self._kind]}"
        handle = path.open("wb", buffering=1 << 20)
        if self._kind == REGISTRATION:
            handle.write(f"H{REGISTRATION}{self._day}{seq:06d}".encode("ascii") + EOL)
        else:
            handle.write(_certificate_header(self._day, seq))
        return _Batch(path, handle)

    def _finish(self, batch: _Batch) -> None:
        if self._kind == REGISTRATION:
            trailer = f"T{batch.records:010d}"
        else:
            trailer = f"T|{batch.records}|{format(batch.total, '.2f')}"
        batch.handle.write(trailer.encode("ascii") + EOL)
        batch.handle.close()
        batch.path.with_name(batch.path.name + MARKER).touch()


class TaxSink:
    """Streams the population into the drop directory: registrations, receipts, then corrections.

    Corrections (``C`` records for voided receipts) are spooled to a temporary file and dropped in
    files after every receipt file, as the collection system reports a void only after the receipt.
    Memory stays bounded: one buffered file per kind and a few counters.
    """

    def __init__(self, root: Path, population: Population) -> None:
        self._outbox = root / OUTBOX
        self._outbox.mkdir(parents=True, exist_ok=True)
        self._day = _ymd(population.as_of)
        self._seq = 0
        self._registrations = _BatchWriter(self._outbox, REGISTRATION, self._day, self._next_seq)
        self._certificates = _BatchWriter(self._outbox, CERTIFICATES, self._day, self._next_seq)
        self._voids = tempfile.TemporaryFile(dir=root)  # noqa: SIM115 - closed in close()

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def add_household(self, household: Household) -> None:
        county = household.county
        for person in household.members:
            payments = person.tax_payments
            if not payments:
                continue
            self._registrations.write(
                registration_record(
                    person.citizen_id,
                    person.name,
                    "ZR",
                    county,
                    min(p.period_from for p in payments),
                    "正常" if person.deregistered_on is None else "注销",
                )
            )
            self._payments(payments, person=True)

    def add_employer(self, employer: Employer) -> None:
        self._registrations.write(
            registration_record(
                employer.uscc, employer.name, "DW", employer.county, employer.founded_on, "正常"
            )
        )
        self._payments(employer.tax_payments, person=False)

    def _payments(self, payments: tuple[TaxPayment, ...], *, person: bool) -> None:
        write = self._certificates.write
        for payment in payments:
            write(certificate_record(payment, person=person), payment.amount)
            if payment.voided_on is not None:
                record = certificate_record(payment, person=person, void_on=payment.voided_on)
                self._voids.write(format(payment.amount, ".2f").encode("ascii") + b" " + record + b"\n")

    def close(self) -> None:
        self._registrations.close()
        self._certificates.close()
        corrections = _BatchWriter(self._outbox, CERTIFICATES, self._day, self._next_seq)
        self._voids.seek(0)
        for line in self._voids:
            amount, _, record = line.rstrip(b"\n").partition(b" ")
            corrections.write(record, -Decimal(amount.decode("ascii")))
        corrections.close()
        self._voids.close()


@dataclass(frozen=True)
class _DropName:
    kind: str
    day: str
    seq: int


def _drop_names(outbox: Path) -> Iterator[tuple[Path, _DropName]]:
    for path in outbox.iterdir():
        match = FILE_NAME.match(path.name)
        if match and EXTENSION[match[1]] == match[4]:
            yield path, _DropName(match[1], match[2], int(match[3]))


class TaxSystem:
    """The running collection system: its drop directory and the means to break it."""

    supported_faults = frozenset(Fault)

    def __init__(self, root: Path) -> None:
        self.root = root
        self.outbox = root / OUTBOX
        self.staging_path = root / STAGING
        if not self.outbox.is_dir():
            if (root / UNMOUNTED).is_dir():  # left unmounted by a run that did not heal
                (root / UNMOUNTED).rename(self.outbox)
            else:
                raise FileNotFoundError(f"no tax drop directory in {root}: generate the legacy data first")
        self.staging_path.parent.mkdir(parents=True, exist_ok=True)
        self._injected: list[Path] = []
        self._transfers: list[tuple[threading.Timer, Path]] = []  # SLOW: transfers completing late
        self._adapters: list[TaxAdapter] = []

    def adapter(self, *, guard: LegacyGuard | None = None, timeout: float | None = None) -> Adapter:
        """An adapter that reads the drop directory and stages into ``root/adapter/staging.db``."""
        made = _adapter(self.root, guard=guard, timeout=timeout)
        self._adapters.append(made)
        return made

    def inject(self, fault: Fault, subject: Subject | None = None, *, delay: float = SLOW_SECONDS) -> None:
        """UNAVAILABLE unmounts the share; TIMEOUT leaves a transfer hanging without its marker;
        SLOW starts a transfer (an empty batch) whose marker comes ``delay`` seconds later;
        GARBAGE drops a completed file with undecodable GBK bytes in the subject's record (or, for
        no subject, a trailer whose record count is wrong); WRONG_ENCODING drops a completed file
        whose receipt for the subject (some taxpayer when None) is written in UTF-8, not GBK."""
        if fault is Fault.UNAVAILABLE:
            if self.outbox.is_dir():
                self.outbox.rename(self.root / UNMOUNTED)
            return
        path, day, seq = self._next_file(CERTIFICATES)
        if fault is Fault.SLOW:
            path.write_bytes(_certificate_header(day, seq) + b"T|0|0.00" + EOL)
            transfer = threading.Timer(delay, path.with_name(path.name + MARKER).touch)
            transfer.daemon = True
            transfer.start()
            self._transfers.append((transfer, path))
            return
        taxpayer_id = subject.value if subject is not None else self._some_taxpayer()
        fields = [
            "N",
            f"399999{day[2:4]}{seq:010d}",
            taxpayer_id,
            "",
            "个人所得税",
            "工资薪金所得",
            f"{day[:4]}0101",
            f"{day[:4]}0131",
            "12.34",
            day,
            _office_name("330106"),
        ]
        header = _certificate_header(day, seq)
        if fault is Fault.WRONG_ENCODING:  # a new export tool writing UTF-8: completed, and wrong
            fields[3] = "张伟"
            record = "|".join(fields).encode("utf-8")
            path.write_bytes(header + record + EOL + b"T|1|12.34" + EOL)
            marker = path.with_name(path.name + MARKER)
            marker.touch()
            self._injected += [path, marker]
            return
        if fault is Fault.TIMEOUT:  # a transfer that never completes: no trailer, no marker
            fields[3] = "在途"
            path.write_bytes(header + "|".join(fields).encode(ENCODING) + EOL)
            self._injected.append(path)
            return
        if subject is not None:
            before, after = "|".join(fields[:3]) + "|", "|" + "|".join(fields[4:])
            record, count = before.encode(ENCODING) + b"\xff\xfe\xfd" + after.encode(ENCODING), 1
        else:
            fields[3] = "错误"
            record, count = "|".join(fields).encode(ENCODING), 2
        path.write_bytes(header + record + EOL + f"T|{count}|12.34".encode("ascii") + EOL)
        marker = path.with_name(path.name + MARKER)
        marker.touch()
        self._injected += [path, marker]

    def heal(self) -> None:
        """Undo the faults; a slow transfer that completed stays (it was delivered, maybe ingested)."""
        if not self.outbox.exists() and (self.root / UNMOUNTED).is_dir():
            (self.root / UNMOUNTED).rename(self.outbox)
        for transfer, path in self._transfers:
            transfer.cancel()
            transfer.join()
            if not path.with_name(path.name + MARKER).exists():
                path.unlink(missing_ok=True)
        self._transfers.clear()
        for path in reversed(self._injected):
            marker = path.with_name(path.name + MARKER)
            marker.unlink(missing_ok=True)
            path.unlink(missing_ok=True)
        self._injected.clear()

    def cancel_one(self) -> str:
        """Void (作废) the oldest live receipt with a ``C`` record in a new completed file."""
        files = sorted(
            ((name.seq, path) for path, name in _drop_names(self.outbox) if name.kind == CERTIFICATES),
        )
        voided: set[bytes] = set()
        for _, path in files:
            with path.open("rb") as handle:
                voided.update(line.split(b"|", 2)[1] for line in handle if line.startswith(b"C|"))
        for _, path in files:
            with path.open("rb") as handle:
                for line in handle:
                    if line.startswith(b"N|") and line.split(b"|", 2)[1] not in voided:
                        return self._void(line.rstrip(b"\r\n").decode(ENCODING).split("|"))
        raise LookupError("no live tax receipt left to void")

    def close(self) -> None:
        """Undo injected faults (the store stays as generated plus cancellations); close adapters."""
        self.heal()
        for made in self._adapters:
            made.close()
        self._adapters.clear()

    def _void(self, fields: list[str]) -> str:
        path, day, seq = self._next_file(CERTIFICATES)
        voided_on = max(day, fields[9])
        correction = ["C", *fields[1:8], f"-{fields[8]}", voided_on, fields[10]]
        path.write_bytes(
            _certificate_header(day, seq)
            + "|".join(correction).encode(ENCODING)
            + EOL
            + f"T|1|-{fields[8]}".encode("ascii")
            + EOL
        )
        path.with_name(path.name + MARKER).touch()
        return fields[1]

    def _next_file(self, kind: str) -> tuple[Path, str, int]:
        """The next file in the sequence, dated the latest batch date in the drop."""
        names = [name for _, name in _drop_names(self.outbox)]
        seq = max((name.seq for name in names), default=0) + 1
        day = max((name.day for name in names), default=_ymd(date.today()))
        return self.outbox / f"{kind}_{day}_{seq:06d}.{EXTENSION[kind]}", day, seq

    def _some_taxpayer(self) -> str:
        for path, name in sorted(_drop_names(self.outbox), key=lambda item: item[1].seq):
            if name.kind == CERTIFICATES:
                with path.open("rb") as handle:
                    for line in handle:
                        if line.startswith(b"N|"):
                            return line.split(b"|", 3)[2].decode("ascii").upper()
        return "11010519491231002X"


def _adapter(root: Path, *, guard: LegacyGuard | None, timeout: float | None) -> TaxAdapter:
    return TaxAdapter(
        root / OUTBOX,
        root / STAGING,
        guard=guard,
        timeout=DEFAULT_TIMEOUT if timeout is None else timeout,
    )


class TaxSimulator:
    department = DEPARTMENT
    network = False  # the interface is the drop directory; other processes share it

    def sink(self, root: Path, population: Population) -> TaxSink:
        return TaxSink(root, population)

    def start(self, root: Path, *, host: str = "127.0.0.1", port: int = 0) -> TaxSystem:
        """The drop directory is the interface: nothing listens, ``host`` and ``port`` are not used."""
        return TaxSystem(root)

    def connect(
        self,
        root: Path,
        *,
        url: str | None = None,
        guard: LegacyGuard | None = None,
        timeout: float | None = None,
    ) -> Adapter:
        """Reads ``root/outbox`` (the collection system writes it) and stages into
        ``root/adapter/staging.db``, the adapters' own store: the simulator never writes it, and
        adapters in several processes share it (each file is staged once, in one transaction)."""
        if url is not None:
            raise ValueError("the tax bureau is reached through its drop directory, not a URL")
        return _adapter(root, guard=guard, timeout=timeout)


SIMULATOR = TaxSimulator()
