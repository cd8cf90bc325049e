"""The simulated real-estate registration system: a SQLite register behind an XML-over-HTTP query API.

Store (``root/registry.sqlite``, written by :class:`RegistrySink`): table ``djxx`` holds one row per
title (不动产权), keyed by its change sequence ``xh`` (a new one on every change: the change feed's
cursor) with a unique index on the unit number; table ``qlr`` holds the owners (权利人) with an index
on their ID number. Values are stored the way the registry's data actually looks after years of
migrations: shares as "50%", "0.5" or "1/2", areas with or without trailing zeros, older records with
full-width digits and parentheses, text status words instead of codes, "•" in names, lower-case x.

Interface (:func:`create_app`, served by :class:`adapters.legacy_http.ThreadedServer`), every
request carrying the application key (``root/appkey``, mode 0600) in ``X-BDC-AppKey``:

- ``GET /bdcdj/v1/bdcdy/{BDCDYH}``: the title of one unit (JLS=0 when unknown);
- ``GET /bdcdj/v1/qlr?zjh=...``: every title (live or cancelled) the ID number holds a share of;
- ``GET /bdcdj/v1/bgjl?qsxh=N&mys=M``: up to M titles changed after sequence N, oldest first, with the
  next cursor (XYYXH) and whether more follow (SFYXY);
- ``GET /bdcdj/v1/health``: a cheap probe.

Answers are namespaced XML (see :mod:`adapters.real_estate.adapter`); the query endpoints put the
records in the default namespace, the change feed (written by another vendor) uses prefixes.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterable
from contextlib import closing
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from adapters.base import Department, Subject
from adapters.legacy_http import ThreadedServer, trickled
from adapters.mapping import normalise_text
from adapters.population import Employer, Household, Population, Property
from adapters.real_estate import DEPARTMENT
from adapters.real_estate.adapter import (
    API,
    APP_KEY_HEADER,
    DEFAULT_TIMEOUT,
    ENVELOPE_NS,
    RECORD_NS,
    RealEstateAdapter,
)
from adapters.resilience import LegacyGuard
from adapters.simulation import SLOW_SECONDS, Fault
from exchange.identifiers import InvalidIdentifier, validate_property_unit

STORE = "registry.sqlite"
APP_KEY_FILE = "appkey"
BATCH_ROWS = 20_000
MAX_PAGE = 1000
HANG_SECONDS = 60.0  # a hanging request gives up after this long (or as soon as the fault is healed)
XML = "application/xml; charset=utf-8"

# Standard values -> the registry's legacy codes (the adapter holds the reverse tables).
_USE = {"住宅": "10", "商业": "30", "办公": "60"}
_RIGHT_TYPE = {"国有建设用地使用权/房屋所有权": "4"}
_CO_OWNERSHIP = {"单独所有": "0", "共同共有": "1", "按份共有": "2"}
_FULL_WIDTH = str.maketrans("0123456789()", "０１２３４５６７８９（）")

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE djxx (
    xh INTEGER PRIMARY KEY,  -- change sequence (变更序号): new on every change
    bdcdyh TEXT NOT NULL,    -- 不动产单元号 GB/T 37346
    bdcqzh TEXT NOT NULL,    -- 不动产权证书号
    zl TEXT NOT NULL,        -- 坐落
    ghyt TEXT NOT NULL,      -- 规划用途 code
    jzmj TEXT NOT NULL,      -- 建筑面积, decimal text
    qllx TEXT NOT NULL,      -- 权利类型 code
    gyfs TEXT NOT NULL,      -- 共有方式 code
    djsj TEXT NOT NULL,      -- 登记时间
    qszt TEXT NOT NULL,      -- 权属状态: 1/现势, 2/注销
    zxsj TEXT,               -- 注销时间
    dyzt TEXT NOT NULL,      -- 抵押状态 0/1
    dyqr TEXT,               -- 抵押权人
    cfzt TEXT NOT NULL       -- 查封状态 0/1
);
CREATE TABLE qlr (
    bdcdyh TEXT NOT NULL,
    sxh INTEGER NOT NULL,    -- 顺序号: order of the owners on the certificate
    qlrmc TEXT NOT NULL,     -- 权利人名称
    zjzl TEXT NOT NULL,      -- 证件种类: 1 居民身份证
    zjh TEXT NOT NULL,       -- 证件号
    qlbl TEXT NOT NULL,      -- 权利比例, as entered
    PRIMARY KEY (bdcdyh, sxh)
) WITHOUT ROWID;
"""
_INDEXES = """
CREATE UNIQUE INDEX djxx_bdcdyh ON djxx (bdcdyh);
CREATE INDEX qlr_zjh ON qlr (zjh);
"""
_TITLE_FIELDS = ("xh", "bdcdyh", "bdcqzh", "zl", "ghyt", "jzmj", "qllx", "gyfs", "djsj", "qszt", "zxsj")
_TITLE_FIELDS += ("dyzt", "dyqr", "cfzt")
_OWNER_FIELDS = ("qlrmc", "zjzl", "zjh", "qlbl")
_INSERT_TITLE = (
    "INSERT INTO djxx (xh, bdcdyh, bdcqzh, zl, ghyt, jzmj, qllx, gyfs, djsj, qszt, zxsj, dyzt, dyqr, cfzt) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_OWNER = "INSERT INTO qlr (bdcdyh, sxh, qlrmc, zjzl, zjh, qlbl) VALUES (?, ?, ?, ?, ?, ?)"
_BY_UNIT = (
    "SELECT d.*, q.qlrmc, q.zjzl, q.zjh, q.qlbl FROM djxx d JOIN qlr q ON q.bdcdyh = d.bdcdyh "
    "WHERE d.bdcdyh = ? ORDER BY d.xh, q.sxh"
)
_BY_OWNER = (  # CROSS JOIN fixes the join order: from the owner index outwards, never a scan of djxx
    "SELECT d.*, q.qlrmc, q.zjzl, q.zjh, q.qlbl FROM (SELECT DISTINCT bdcdyh FROM qlr WHERE zjh IN (?, ?)) o "
    "CROSS JOIN djxx d ON d.bdcdyh = o.bdcdyh CROSS JOIN qlr q ON q.bdcdyh = d.bdcdyh ORDER BY d.xh, q.sxh"
)
_CHANGED_AFTER = (
    "SELECT d.*, q.qlrmc, q.zjzl, q.zjh, q.qlbl FROM (SELECT * FROM djxx WHERE xh > ? ORDER BY xh LIMIT ?) d "
    "JOIN qlr q ON q.bdcdyh = d.bdcdyh ORDER BY d.xh, q.sxh"
)


# --- the sink: population -> legacy store ---------------------------------------------------------


class RegistrySink:
    """Streams titles and owners into the store in batches; indexes are built once, at close."""

    def __init__(self, root: Path, population: Population, *, batch_rows: int = BATCH_ROWS) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self._batch_rows = batch_rows
        self._db = sqlite3.connect(root / STORE, isolation_level=None)
        for pragma in ("journal_mode=OFF", "synchronous=OFF", "temp_store=MEMORY", "cache_size=-16000"):
            self._db.execute(f"PRAGMA {pragma}")
        self._db.executescript(_SCHEMA)
        self._db.execute("INSERT INTO meta VALUES ('as_of', ?)", (population.as_of.isoformat(),))
        _write_app_key(root / APP_KEY_FILE)
        self._titles: list[tuple[Any, ...]] = []
        self._owners: list[tuple[Any, ...]] = []
        self._sequence = 0

    def add_household(self, household: Household) -> None:
        for prop in household.properties:
            self._sequence += 1
            self._titles.append(_title_row(self._sequence, prop))
            self._owners.extend(_owner_rows(self._sequence, prop))
        if len(self._titles) + len(self._owners) >= self._batch_rows:
            self._flush()

    def add_employer(self, employer: Employer) -> None:
        """Employers hold no titles in the synthetic population; the register has nothing to add."""

    def close(self) -> None:
        self._flush()
        self._db.executescript(_INDEXES)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("ANALYZE")
        self._db.close()

    def _flush(self) -> None:
        if not self._titles and not self._owners:
            return
        self._db.execute("BEGIN")
        self._db.executemany(_INSERT_TITLE, self._titles)
        self._db.executemany(_INSERT_OWNER, self._owners)
        self._db.execute("COMMIT")
        self._titles.clear()
        self._owners.clear()


def _title_row(sequence: int, prop: Property) -> tuple[Any, ...]:
    """One title as the registry stores it, with the quirks of its age (deterministic per title)."""
    year = prop.registered_on.year
    certificate = prop.certificate_no.translate(_FULL_WIDTH) if year < 2016 else prop.certificate_no
    location = prop.location.translate(_FULL_WIDTH) if year < 2010 else prop.location
    area = (f"{prop.area:.4f}", f"{prop.area:.2f}", str(prop.area))[sequence % 3]  # survey vs entry
    registered = f"{prop.registered_on.isoformat()}T{9 + sequence % 8:02d}:{sequence % 60:02d}:00"
    cancelled = prop.cancelled_on.isoformat() if prop.cancelled_on else None
    if year < 2008:  # records from the old system: bare dates and status words
        registered = prop.registered_on.isoformat()
        status = "注销" if prop.cancelled_on else "现势"
    else:
        status = "2" if prop.cancelled_on else "1"
    return (
        sequence,
        prop.unit_number,
        certificate,
        location,
        _USE[prop.use],
        area,
        _RIGHT_TYPE[prop.right_type],
        _CO_OWNERSHIP[prop.co_ownership],
        registered,
        status,
        cancelled,
        "1" if prop.mortgaged else "0",
        prop.mortgagee,
        "1" if prop.seized else "0",
    )


def _owner_rows(sequence: int, prop: Property) -> Iterable[tuple[Any, ...]]:
    for order, owner in enumerate(prop.owners, start=1):
        variant = (sequence + order) % 3
        yield (
            prop.unit_number,
            order,
            owner.name.replace("\u00b7", "\u2022") if sequence % 2 else owner.name,
            "1",
            owner.citizen_id.lower() if sequence % 2 else owner.citizen_id,
            _share_text(owner.share, variant),
        )


def _share_text(share: Decimal, variant: int) -> str:
    """The same share as three clerks entered it: "50%", "0.5", "1/2"."""
    if variant == 0:
        return f"{format((share * 100).normalize(), 'f')}%"
    if variant == 1:
        return format(share.normalize(), "f")
    numerator, denominator = share.as_integer_ratio()
    return f"{numerator}/{denominator}"


def _write_app_key(path: Path) -> None:
    """The interface's application key: a 0600 file, never logged."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(secrets.token_urlsafe(32))
    os.chmod(path, 0o600)


# --- the legacy interface ----------------------------------------------------------------------


@dataclass
class FaultState:
    """What the running system is currently made to do wrong (shared with the server thread)."""

    unavailable: bool = False
    hang: bool = False
    garbage: dict[str | None, str] = field(default_factory=dict)  # subject (None = all) -> mode
    slow: float = 0.0  # seconds every answer takes to trickle in
    gbk: set[str | None] = field(default_factory=set)  # answers about these (None = all) come in GBK

    def clear(self) -> None:
        self.unavailable = False
        self.hang = False
        self.garbage = {}
        self.slow = 0.0
        self.gbk = set()


GARBAGE_MODES = ("area", "unit_number", "namespace", "malformed", "count")


class _Register:
    """Read access to the store from the server's event-loop thread (one connection, read-only)."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
        self._db.row_factory = sqlite3.Row

    def by_unit(self, unit_number: str) -> list[dict[str, Any]]:
        return _grouped(self._db.execute(_BY_UNIT, (unit_number,)))

    def by_owner(self, id_number: str) -> list[dict[str, Any]]:
        variants = (id_number.upper(), id_number.lower())  # the register holds both spellings of 'X'
        return _grouped(self._db.execute(_BY_OWNER, variants))

    def changed_after(self, cursor: int, limit: int) -> list[dict[str, Any]]:
        return _grouped(self._db.execute(_CHANGED_AFTER, (cursor, limit)))

    def ping(self) -> None:
        self._db.execute("SELECT 1 FROM djxx LIMIT 1").fetchall()

    def close(self) -> None:
        self._db.close()


def _grouped(rows: Iterable[sqlite3.Row]) -> list[dict[str, Any]]:
    """Title rows joined with their owners (ordered by title, then owner) -> one dict per title."""
    titles: list[dict[str, Any]] = []
    for row in rows:
        if not titles or titles[-1]["xh"] != row["xh"]:
            titles.append({name: row[name] for name in _TITLE_FIELDS} | {"owners": []})
        titles[-1]["owners"].append({name: row[name] for name in _OWNER_FIELDS})
    return titles


def create_app(register: _Register, app_key: str, faults: FaultState) -> Starlette:
    """The registry's query interface as an ASGI app."""

    async def gate(request: Request) -> Response | None:
        supplied = request.headers.get(APP_KEY_HEADER, "")
        if not secrets.compare_digest(supplied.encode(), app_key.encode()):
            return Response("application key rejected", status_code=401, media_type="text/plain")
        if faults.unavailable:
            return Response("Service Unavailable", status_code=503, media_type="text/plain")
        started = time.monotonic()
        while faults.hang and time.monotonic() - started < HANG_SECONDS:
            await asyncio.sleep(0.02)
        return None

    async def by_unit(request: Request) -> Response:
        refused = await gate(request)
        if refused is not None:
            return refused
        unit = request.path_params["bdcdyh"]
        try:
            validate_property_unit(unit)
        except InvalidIdentifier:
            return _error("1001", "不动产单元号格式错误", 400)
        return _answer("CXBDCDY", register.by_unit(unit), faults, about=unit)

    async def by_owner(request: Request) -> Response:
        refused = await gate(request)
        if refused is not None:
            return refused
        id_number = request.query_params.get("zjh", "")
        if len(id_number) != 18:
            return _error("1001", "证件号格式错误", 400)
        return _answer("CXQLR", register.by_owner(id_number), faults, about=id_number.upper())

    async def changes(request: Request) -> Response:
        refused = await gate(request)
        if refused is not None:
            return refused
        try:
            cursor = int(request.query_params.get("qsxh", "0"))
            size = int(request.query_params.get("mys", "100"))
        except ValueError:
            return _error("1001", "分页参数错误", 400)
        if cursor < 0 or not 1 <= size <= MAX_PAGE:
            return _error("1001", "分页参数错误", 400)
        titles = register.changed_after(cursor, size + 1)
        more = len(titles) > size
        titles = titles[:size]
        extra = {"XYYXH": str(titles[-1]["xh"] if titles else cursor), "SFYXY": "1" if more else "0"}
        return _answer("BGJL", titles, faults, about=None, extra=extra, prefixed=True)

    async def health(request: Request) -> Response:
        refused = await gate(request)
        if refused is not None:
            return refused
        register.ping()
        return _deliver(_document("XTJC", [], {}), faults, [], None)

    return Starlette(
        routes=[
            Route(f"{API}/bdcdy/{{bdcdyh}}", by_unit),
            Route(f"{API}/qlr", by_owner),
            Route(f"{API}/bgjl", changes),
            Route(f"{API}/health", health),
        ]
    )


def _answer(
    kind: str,
    titles: list[dict[str, Any]],
    faults: FaultState,
    *,
    about: str | None,
    extra: dict[str, str] | None = None,
    prefixed: bool = False,
) -> Response:
    mode = _garbage_mode(faults, titles, about)
    if mode is None:
        return _deliver(_document(kind, titles, extra or {}, prefixed=prefixed), faults, titles, about)
    keys = set(faults.garbage)

    def hit(title: dict[str, Any]) -> bool:
        return None in keys or title["bdcdyh"] in keys or bool(_owner_ids(title) & keys)

    if mode == "area" and any(map(hit, titles)):
        titles = [t | {"jzmj": f"-{t['jzmj']}"} if hit(t) else t for t in titles]
    elif mode == "unit_number" and any(map(hit, titles)):
        titles = [t | {"bdcdyh": t["bdcdyh"][:19] + "X" + t["bdcdyh"][20:]} if hit(t) else t for t in titles]
    elif mode in {"area", "unit_number", "count"}:  # nothing to corrupt: the head miscounts instead
        extra = (extra or {}) | {"JLS": str(len(titles) + 1)}
    text = _document(kind, titles, extra or {}, prefixed=prefixed)
    if mode == "namespace":
        text = text.replace(RECORD_NS, "urn:bdc:djxx:2009")
    elif mode == "malformed":
        text = text[: len(text) * 2 // 3]
    return _deliver(text, faults, titles, about)


def _deliver(text: str, faults: FaultState, titles: list[dict[str, Any]], about: str | None) -> Response:
    """The document as bytes: UTF-8 as declared, or GBK under the same UTF-8 declaration and header
    (an export written by another vendor's tool); trickling in when the registry is slow."""
    mis_encoded = faults.gbk and (
        None in faults.gbk or about in faults.gbk or any(_concerns(t, faults.gbk) for t in titles)
    )
    body = text.encode("gbk" if mis_encoded else "utf-8")
    if faults.slow:
        return trickled(body, faults.slow, media_type=XML, stop=lambda: not faults.slow)
    return Response(body, media_type=XML)


def _concerns(title: dict[str, Any], keys: set[str | None]) -> bool:
    return title["bdcdyh"] in keys or bool(_owner_ids(title) & keys)


def _garbage_mode(faults: FaultState, titles: list[dict[str, Any]], about: str | None) -> str | None:
    """The corruption to apply when the answer concerns a corrupted subject (or all are corrupted)."""
    if not faults.garbage:
        return None
    if None in faults.garbage:
        return faults.garbage[None]
    for key, mode in faults.garbage.items():
        if key == about or any(t["bdcdyh"] == key or key in _owner_ids(t) for t in titles):
            return mode
    return None


def _owner_ids(title: dict[str, Any]) -> set[str | None]:
    return {owner["zjh"].upper() for owner in title["owners"]}


def _document(
    kind: str, titles: list[dict[str, Any]], extra: dict[str, str], *, prefixed: bool = False
) -> str:
    """An envelope in the registry's style: ``jh`` for the envelope, records in ``RECORD_NS``."""
    record_prefix = "dj:" if prefixed else ""
    declaration = f'xmlns:dj="{RECORD_NS}"' if prefixed else f'xmlns="{RECORD_NS}"'
    head = {
        "YWLX": kind,
        "FSSJ": datetime.now().replace(microsecond=0).isoformat(),
        "ZTDM": "0000",
        "ZTXX": "成功",
        "JLS": str(len(titles)),
    } | extra
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n',
        f'<jh:Message xmlns:jh="{ENVELOPE_NS}" {declaration}>\n<jh:Head>',
    ]
    parts.extend(f"<jh:{name}>{escape(value)}</jh:{name}>" for name, value in head.items())
    parts.append("</jh:Head>\n<jh:Data>\n")
    for title in titles:
        parts.append(_record(title, record_prefix))
    parts.append("</jh:Data>\n</jh:Message>\n")
    return "".join(parts)


_ELEMENTS = (
    ("BDCDYH", "bdcdyh"),
    ("BDCQZH", "bdcqzh"),
    ("ZL", "zl"),
    ("GHYT", "ghyt"),
    ("JZMJ", "jzmj"),
    ("QLLX", "qllx"),
    ("GYFS", "gyfs"),
    ("DJSJ", "djsj"),
    ("QSZT", "qszt"),
    ("ZXSJ", "zxsj"),
    ("DYZT", "dyzt"),
    ("DYQR", "dyqr"),
    ("CFZT", "cfzt"),
)
_OWNER_ELEMENTS = (("QLRMC", "qlrmc"), ("ZJZL", "zjzl"), ("ZJH", "zjh"), ("QLBL", "qlbl"))


def _record(title: dict[str, Any], p: str) -> str:
    """One BDCDJXX; absent values (no mortgagee, not cancelled) are left out, as the registry does."""
    parts = [f"<{p}BDCDJXX XH={quoteattr(str(title['xh']))}>"]
    for element, column in _ELEMENTS:
        value = title[column]
        if value is not None:
            parts.append(f"<{p}{element}>{escape(str(value))}</{p}{element}>")
    parts.append(f"<{p}QLRXX>")
    for order, owner in enumerate(title["owners"], start=1):
        parts.append(f"<{p}QLR><{p}SXH>{order}</{p}SXH>")
        parts.extend(f"<{p}{e}>{escape(str(owner[c]))}</{p}{e}>" for e, c in _OWNER_ELEMENTS)
        parts.append(f"</{p}QLR>")
    parts.append(f"</{p}QLRXX></{p}BDCDJXX>\n")
    return "".join(parts)


def _error(code: str, message: str, status: int) -> Response:
    text = _document("CW", [], {"ZTDM": code, "ZTXX": message})
    return Response(text, status_code=status, media_type=XML)


# --- the running system ------------------------------------------------------------------------


class RunningRegistry:
    """The registry's HTTP interface up on a loopback port, with the means to break it."""

    supported_faults = frozenset(Fault)

    def __init__(self, root: Path, *, host: str = "127.0.0.1", port: int = 0) -> None:
        store = root / STORE
        if not store.exists():
            raise FileNotFoundError(f"no real-estate register in {root}: generate the legacy data first")
        self._root = root
        self._store = store
        self._app_key = _app_key(root)
        self._faults = FaultState()
        self._register = _Register(store)
        app = create_app(self._register, self._app_key, self._faults)
        self._server = ThreadedServer(app, host=host, port=port).start()
        self._adapters: list[RealEstateAdapter] = []
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def root(self) -> Path:
        return self._root

    def adapter(self, *, guard: LegacyGuard | None = None, timeout: float | None = None) -> RealEstateAdapter:
        adapter = RealEstateAdapter(
            self._server.url, app_key=self._app_key, timeout=timeout or DEFAULT_TIMEOUT, guard=guard
        )
        self._adapters.append(adapter)
        return adapter

    def inject(
        self, fault: Fault, subject: Subject | None = None, *, mode: str = "area", delay: float = SLOW_SECONDS
    ) -> None:
        """UNAVAILABLE: 503 to everything; TIMEOUT: every request hangs; SLOW: every answer trickles
        in over ``delay`` seconds; WRONG_ENCODING: answers about ``subject`` (all when None) are GBK
        bytes under a UTF-8 declaration; GARBAGE: answers about ``subject`` (all when None) are
        corrupted per ``mode`` (one of :data:`GARBAGE_MODES`)."""
        if fault is Fault.UNAVAILABLE:
            self._faults.unavailable = True
        elif fault is Fault.TIMEOUT:
            self._faults.hang = True
        elif fault is Fault.SLOW:
            self._faults.slow = delay
        elif fault is Fault.WRONG_ENCODING:
            self._faults.gbk = self._faults.gbk | {None if subject is None else subject.value}
        elif fault is Fault.GARBAGE:
            if mode not in GARBAGE_MODES:
                raise ValueError(f"unknown garbage mode {mode!r}; one of {', '.join(GARBAGE_MODES)}")
            key = None if subject is None else subject.value
            self._faults.garbage = self._faults.garbage | {key: mode}
        else:
            raise ValueError(f"unsupported fault {fault}")

    def heal(self) -> None:
        self._faults.clear()

    def cancel_one(self) -> str:
        """A cancellation registration (注销登记) of the oldest live, unencumbered title."""
        with self._lock, closing(sqlite3.connect(self._store, isolation_level=None, timeout=10)) as db:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute(
                "SELECT xh, bdcqzh, djsj FROM djxx WHERE qszt IN ('1', '现势') AND dyzt = '0' AND cfzt = '0' "
                "ORDER BY xh LIMIT 1"
            ).fetchone()
            if row is None:
                db.execute("ROLLBACK")
                raise LookupError("the register holds no live title without mortgage or seizure")
            sequence, certificate, registered = row
            cancelled = max(date.today(), date.fromisoformat(registered[:10])).isoformat()
            db.execute(
                "UPDATE djxx SET qszt = '2', zxsj = ?, xh = (SELECT MAX(xh) + 1 FROM djxx) WHERE xh = ?",
                (cancelled, sequence),
            )
            db.execute("COMMIT")
        return normalise_text(certificate)

    def close(self) -> None:
        self._faults.clear()
        for adapter in self._adapters:
            adapter.close()
        self._server.stop()
        self._register.close()


def _app_key(root: Path) -> str:
    return (root / APP_KEY_FILE).read_text(encoding="ascii").strip()


class RegistrySimulator:
    """The :class:`adapters.simulation.SimulatedSystem` of the real-estate registration centre."""

    department: Department = DEPARTMENT
    network = True

    def sink(self, root: Path, population: Population) -> RegistrySink:
        return RegistrySink(root, population)

    def start(self, root: Path, *, host: str = "127.0.0.1", port: int = 0) -> RunningRegistry:
        return RunningRegistry(root, host=host, port=port)

    def connect(
        self,
        root: Path,
        *,
        url: str | None,
        guard: LegacyGuard | None = None,
        timeout: float | None = None,
    ) -> RealEstateAdapter:
        """The query interface at ``url``, with the application key the registry issued (``root``)."""
        if url is None:
            raise ValueError("the real-estate registry is reached by its URL: give url")
        return RealEstateAdapter(url, app_key=_app_key(root), timeout=timeout or DEFAULT_TIMEOUT, guard=guard)


SIMULATOR = RegistrySimulator()

__all__ = ["GARBAGE_MODES", "SIMULATOR", "RegistrySink", "RunningRegistry"]
