"""The simulated social-insurance system: a SQLite store behind a signed, paged, rate-limited HTTP JSON API.

What is simulated (docs/adapters/social_insurance.md has the full picture):

- the store (``si.sqlite3`` under root): ``ac01`` insured persons, ``ac02`` contribution spans per
  person, insurance type and job (start/end month, base, unit), ``ab01`` employer units, ``meta``.
  Spans, not months, keep a million persons at a few million rows; the API expands them;
- the API gateway: app key + HMAC-SHA256 request signatures (timestamp within 300 s, nonce never
  reused), a token bucket per app key answering HTTP 429 + Retry-After, and the business envelope
  ``{"code", "message", "data"}`` with business errors under HTTP 200;
- the change list, which on request (``jfzm=1``) carries each changed person's 参保缴费证明 computed
  from the stored spans (AAE041-AAE042 per AAE140, base and unit; pension months), a page of
  certificates in one answer, as the bureau's platform produces them;
- the legacy quirks: two-digit AAE140 codes, AAE003/AAE041/AAE042 as a number or a string, AAE042
  null while a span is paid, AAE180 as a string, an integer or a float, CHAR-padded names with a
  katakana middle dot, AAE002 one month after AAE003 for the first month of a job (registered late,
  paid the next month);
- faults: 503 from the gateway, answers that hang until healed, answers that trickle in ``delay``
  seconds late, malformed JSON, corrupt rows (a month 13 in a span, a GBK name read as UTF-8), and
  answers encoded in GB18030 while the header still says ``charset=UTF-8``.

The population's jobs are rendered as they are, with two documented rules: 生育保险 (510) is paid
until 2019-12 and merged into 职工医保 afterwards (国办发〔2019〕10号), and jobs that start after
the data month are not registered yet.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hmac
import json
import math
import os
import secrets
import sqlite3
import threading
import time
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from adapters.base import Adapter, Department, Subject, SubjectType
from adapters.legacy_http import ThreadedServer, trickled
from adapters.population import Employer, Household, Person, Population
from adapters.resilience import LegacyGuard
from adapters.simulation import SLOW_SECONDS, Fault, LegacySink
from adapters.social_insurance import DEPARTMENT
from adapters.social_insurance.adapter import (
    CHANGES,
    CONTRIBUTIONS,
    DEFAULT_TIMEOUT,
    MAX_CLOCK_SKEW_MS,
    MAX_PAGE_SIZE,
    PERSON,
    PING,
    UNIT,
    AppCredentials,
    SocialInsuranceAdapter,
    canonical_request,
    signature,
)

DB_FILE = "si.sqlite3"
CREDENTIALS_FILE = "app_credentials.json"
JSON_MEDIA_TYPE = "application/json;charset=UTF-8"
DEFAULT_RATE = 1000.0  # requests per second and app key
DEFAULT_BURST = 1000
_BATCH_ROWS = 20_000
_PERSON_NUMBER_BASE = 3_301_000_000_000_000  # AAC001: 16 digits, city prefix 3301
_MATERNITY_MERGED_AFTER = 201912  # the last month 生育保险 was collected on its own (国办发〔2019〕10号)
_INSURED_TYPES = ("11", "21", "31", "41")  # two-digit legacy AAE140 paid for every month of a job
_MATERNITY = "51"
_PADDED_NAME = 10  # ac01.aac003 / ab01.aab004 are CHAR columns

SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE ac01 (                 -- 个人参保信息 (insured persons only)
    aac001 INTEGER PRIMARY KEY,     -- 个人编号
    aac002 TEXT NOT NULL,           -- 公民身份号码
    aac003 TEXT NOT NULL,           -- 姓名 (CHAR, padded)
    aac004 TEXT NOT NULL,           -- 性别 GB/T 2261.1
    aac006 TEXT NOT NULL,           -- 出生日期 YYYYMMDD
    aac008 TEXT NOT NULL,           -- 人员参保状态 1 正常 2 暂停 4 终止
    aae036 TEXT NOT NULL,           -- 经办时间
    chg_seq INTEGER NOT NULL        -- change sequence of the incremental-sync interface
);
CREATE TABLE ac02 (                 -- 缴费区间: one row per person, AAE140 and job
    aac001 INTEGER NOT NULL,
    aae140 TEXT NOT NULL,           -- 险种类型, legacy two-digit code
    aae041 INTEGER NOT NULL,        -- 开始年月 YYYYMM
    aae042 INTEGER,                 -- 终止年月 YYYYMM, NULL while contributions continue
    aae180 INTEGER NOT NULL,        -- 缴费基数, in fen (NUMBER(14,2) scaled)
    aaz001 INTEGER NOT NULL,        -- unit (ab01)
    PRIMARY KEY (aac001, aae140, aae041)
) WITHOUT ROWID;
CREATE TABLE ab01 (                 -- 参保单位
    aaz001 INTEGER PRIMARY KEY,
    aab001 TEXT NOT NULL,           -- 单位编号
    aab004 TEXT NOT NULL,           -- 单位名称
    aab998 TEXT NOT NULL,           -- 统一社会信用代码
    aab301 TEXT NOT NULL            -- 所属行政区划
);
"""

INDEXES = """
CREATE UNIQUE INDEX ac01_aac002 ON ac01 (aac002);
CREATE UNIQUE INDEX ac01_chg_seq ON ac01 (chg_seq);
CREATE UNIQUE INDEX ab01_aab998 ON ab01 (aab998);
CREATE UNIQUE INDEX ab01_aab001 ON ab01 (aab001);
CREATE INDEX ac02_open_pension ON ac02 (aaz001) WHERE aae140 = '11' AND aae042 IS NULL;
"""


def _yyyymm(day: date) -> int:
    return day.year * 100 + day.month


def _next_month(month: int) -> int:
    """The legacy increment: it never checks that the month it starts from exists."""
    return month + 1 if month % 100 < 12 else (month // 100 + 1) * 100 + 1


def _legacy_name(name: str) -> str:
    return name.replace("\u00b7", "\u30fb").ljust(_PADDED_NAME)


def _write_secret_file(path: Path, content: str) -> None:
    """Create ``path`` readable by its owner only (0600) before any byte of the secret is written."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(content)


# --- the sink ------------------------------------------------------------------------------------


class SocialInsuranceSink:
    """Streams insured persons and their spans into the store, in batches; indexes are built at close."""

    def __init__(self, root: Path, population: Population, *, batch_rows: int = _BATCH_ROWS) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self._batch_rows = batch_rows
        self._as_of = _yyyymm(population.as_of)
        self._handled = f"{population.as_of.isoformat()} 00:00:00"
        self._db = sqlite3.connect(root / DB_FILE, isolation_level=None)
        self._db.execute("PRAGMA journal_mode = OFF")
        self._db.execute("PRAGMA synchronous = OFF")
        self._db.execute("PRAGMA cache_size = -65536")  # 64 MiB: the B-trees being appended to stay cached
        self._db.executescript(SCHEMA)
        self._db.execute("BEGIN")
        self._db.executemany(
            "INSERT INTO meta VALUES (?, ?)",
            [
                ("as_of", str(self._as_of)),
                ("persons", str(population.persons)),
                ("seed", str(population.seed)),
            ],
        )
        credentials = {"app_key": f"si{secrets.token_hex(8)}", "app_secret": secrets.token_urlsafe(32)}
        _write_secret_file(root / CREDENTIALS_FILE, json.dumps(credentials) + "\n")
        self._persons: list[tuple[Any, ...]] = []
        self._spans: list[tuple[Any, ...]] = []
        self._sequence = 0

    def add_household(self, household: Household) -> None:
        for person in household.members:
            if person.jobs:
                self._add_person(person)
        if len(self._spans) >= self._batch_rows:
            self._flush()

    def _add_person(self, person: Person) -> None:
        as_of = self._as_of
        jobs = []  # (start, end, base in fen, unit), chronological as the population gives them
        for job in person.jobs:
            start = job.start.year * 100 + job.start.month
            if start > as_of:
                continue  # the employer registers a job when its first contribution is declared
            end = None if job.end is None else min(job.end.year * 100 + job.end.month, as_of)
            jobs.append((start, end, job.contribution_base * 100, job.employer))
        if not jobs:
            return
        number = _PERSON_NUMBER_BASE + person.index + 1
        spans = self._spans
        for kind in _INSURED_TYPES:  # appended in primary-key order: (person, type, start)
            for start, end, base, unit in jobs:
                spans.append((number, kind, start, end, base, unit))
        for start, end, base, unit in jobs:
            if start <= _MATERNITY_MERGED_AFTER:
                last = _MATERNITY_MERGED_AFTER if end is None else min(end, _MATERNITY_MERGED_AFTER)
                spans.append((number, _MATERNITY, start, last, base, unit))
        self._sequence += 1
        self._persons.append(
            (
                number,
                person.citizen_id,
                _legacy_name(person.name),
                person.sex,
                f"{person.birth_date:%Y%m%d}",
                "1" if any(end is None for _, end, _, _ in jobs) else "2",
                self._handled,
                self._sequence,
            )
        )

    def add_employer(self, employer: Employer) -> None:
        self._flush()
        self._db.execute(
            "INSERT INTO ab01 VALUES (?, ?, ?, ?, ?)",
            (employer.index, employer.si_number, _legacy_name(employer.name), employer.uscc, employer.county),
        )

    def _flush(self) -> None:
        if self._persons:
            self._db.executemany("INSERT INTO ac01 VALUES (?, ?, ?, ?, ?, ?, ?, ?)", self._persons)
            self._persons.clear()
        if self._spans:
            self._db.executemany("INSERT INTO ac02 VALUES (?, ?, ?, ?, ?, ?)", self._spans)
            self._spans.clear()

    def close(self) -> None:
        self._flush()
        self._db.execute("COMMIT")
        self._db.executescript(INDEXES)
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.close()


# --- the API gateway: signatures, replay, rate limit ----------------------------------------------


class _TokenBucket:
    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self._tokens = float(burst)
        self._at = time.monotonic()

    def take(self) -> float:
        """0 when a token was taken, else the seconds until one will be there."""
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1:
            self._tokens -= 1
            return 0.0
        return (1 - self._tokens) / self.rate


class _Refusal(Exception):
    def __init__(self, code: str, message: str, status: int = 200, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.status, self.retry_after = code, message, status, retry_after


class _Gateway:
    """What the bureau's API gateway checks before a request reaches the business service."""

    def __init__(self, credentials: AppCredentials, rate: float, burst: int) -> None:
        self._secrets = {credentials.app_key: credentials.app_secret}
        self._nonces: dict[str, float] = {}
        self._nonce_order: deque[tuple[float, str]] = deque()
        self.buckets: dict[str, _TokenBucket] = {}
        self.rate, self.burst = rate, burst

    def check(self, request: Request, body: bytes) -> None:
        headers = request.headers
        key, stamp, nonce, signed = (
            headers.get(name) for name in ("x-app-key", "x-timestamp", "x-nonce", "x-signature")
        )
        if not (key and stamp and nonce and signed):
            raise _Refusal("1001", "缺少认证参数")
        secret = self._secrets.get(key)
        if secret is None:
            raise _Refusal("1002", "无效的应用标识")
        now = time.time()
        if not (stamp.isascii() and stamp.isdigit()) or abs(now * 1000 - int(stamp)) > MAX_CLOCK_SKEW_MS:
            raise _Refusal("1004", "请求时间戳超出允许范围")
        pairs = request.query_params.multi_items()
        expected = signature(
            secret, canonical_request(request.method, request.url.path, pairs, stamp, nonce, body)
        )
        if not hmac.compare_digest(expected, signed):
            raise _Refusal("1003", "签名验证失败")
        self._remember(f"{key}:{nonce}", now)
        bucket = self.buckets.setdefault(key, _TokenBucket(self.rate, self.burst))
        wait = bucket.take()
        if wait:
            raise _Refusal("1006", "请求过于频繁，请稍后再试", status=429, retry_after=wait)

    def _remember(self, nonce: str, now: float) -> None:
        window = MAX_CLOCK_SKEW_MS / 1000
        while self._nonce_order and self._nonce_order[0][0] < now - window:
            self._nonces.pop(self._nonce_order.popleft()[1], None)
        if nonce in self._nonces:
            raise _Refusal("1005", "重复的请求")
        self._nonces[nonce] = now
        self._nonce_order.append((now, nonce))


# --- the business service -------------------------------------------------------------------------


class _Faults:
    def __init__(self) -> None:
        self.unavailable = False
        self.hang = False
        self.malformed = False
        self.closing = False
        self.slow = 0.0  # seconds every answer takes to trickle in
        self.gb18030: set[str | None] = set()  # answers asking about these (None: all) come in GB18030

    def mis_encoded(self, request: Request) -> bool:
        asked = self.gb18030
        return bool(asked) and (None in asked or any(v in asked for v in request.query_params.values()))


class _Api:
    """The legacy HTTP JSON API over the store; one read connection, used by the server thread only."""

    def __init__(
        self, root: Path, credentials: AppCredentials, faults: _Faults, rate: float, burst: int
    ) -> None:
        self._db = sqlite3.connect(root / DB_FILE, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA busy_timeout = 2000")
        self._as_of = int(self._db.execute("SELECT value FROM meta WHERE key = 'as_of'").fetchone()[0])
        self.gateway = _Gateway(credentials, rate, burst)
        self._faults = faults
        routes = [
            Route(PING, self._endpoint(self._ping)),
            Route(PERSON, self._endpoint(self._person)),
            Route(CONTRIBUTIONS, self._endpoint(self._contributions)),
            Route(UNIT, self._endpoint(self._unit)),
            Route(CHANGES, self._endpoint(self._changes)),
        ]
        self.app = Starlette(routes=routes)

    def close(self) -> None:
        self._db.close()

    def _endpoint(
        self, handler: Callable[[Request], dict[str, Any]]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            if self._faults.unavailable:
                return _unavailable_page()
            while self._faults.hang and not self._faults.closing:
                await asyncio.sleep(0.02)
            try:
                self.gateway.check(request, await request.body())
                payload = {"code": "0000", "message": "成功", "data": handler(request)}
            except ClientDisconnect:  # the caller gave up (its deadline passed while we hung)
                return Response(status_code=499)
            except _Refusal as refusal:
                return _envelope_response(refusal)
            text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
            # a front proxy re-encoding for an old client, the header left as it was
            body = text.encode("gb18030" if self._faults.mis_encoded(request) else "utf-8")
            if self._faults.malformed:
                body = body[: max(1, len(body) // 2)]
            if self._faults.slow:
                stop = self._slow_healed
                return trickled(body, self._faults.slow, media_type=JSON_MEDIA_TYPE, stop=stop)
            return Response(body, media_type=JSON_MEDIA_TYPE)

        return endpoint

    def _slow_healed(self) -> bool:
        return not self._faults.slow or self._faults.closing

    # --- handlers (all queries are on the store; nothing is cached) ---

    def _ping(self, request: Request) -> dict[str, Any]:
        return {"server_time": datetime.now().strftime("%Y-%m-%d %H:%M:%S"), "sjjzny": str(self._as_of)}

    def _person(self, request: Request) -> dict[str, Any]:
        person = self._find_person(request)
        number, citizen_id, name, sex, born, status, handled, _ = person
        spans = self._db.execute(
            "SELECT aae140, aae041, aae042, aaz001 FROM ac02 WHERE aac001 = ? ORDER BY aae140, aae041",
            (number,),
        ).fetchall()
        latest: dict[str, tuple[int, int | None]] = {}
        for kind, start, end, _ in spans:
            if kind not in latest or start > latest[kind][0]:
                latest[kind] = (start, end)
        current_unit = max((s for s in spans if s[0] == "11"), key=lambda s: s[1], default=spans[0])[3]
        unit_number, unit_name = self._db.execute(
            "SELECT aab001, aab004 FROM ab01 WHERE aaz001 = ?", (current_unit,)
        ).fetchone()
        insurances = [
            {"AAE140": kind, "AAC031": "3" if status == "4" else ("1" if end is None else "2")}
            for kind, (_, end) in sorted(latest.items())
        ]
        return {
            "AAC001": str(number),
            "AAC002": citizen_id,
            "AAC003": name,
            "AAC004": sex,
            "AAC006": born,
            "AAC008": status,
            "AAB001": unit_number,
            "AAB004": unit_name,
            "AAE036": handled,
            "insurances": insurances,
        }

    def _contributions(self, request: Request) -> dict[str, Any]:
        number = self._find_person(request)[0]
        params = request.query_params
        page, size = _paging(params)
        kind = params.get("aae140")
        if kind is not None and kind not in (*_INSURED_TYPES, _MATERNITY):
            raise _Refusal("2001", "参数错误: aae140")
        query = "SELECT aae140, aae041, aae042, aae180, aaz001 FROM ac02 WHERE aac001 = ?"
        spans = self._db.execute(
            query + (" AND aae140 = ?" if kind else ""), (number, kind) if kind else (number,)
        )
        months = _expand(tuple(spans), self._as_of)
        chunk = months[(page - 1) * size : page * size]
        units = self._units({row[4] for row in chunk})
        return {
            "total": len(months),
            "page": page,
            "page_size": size,
            "sjjzny": str(self._as_of),
            "list": [
                {
                    "AAE002": str(paid),
                    "AAE003": month if month % 2 else str(month),
                    "AAE140": kind,
                    "AAE180": _legacy_amount(base, month),
                    "AAB001": units[unit][0],
                    "AAB004": units[unit][1],
                }
                for month, kind, paid, base, unit in chunk
            ],
        }

    def _unit(self, request: Request) -> dict[str, Any]:
        params = request.query_params
        select = "SELECT aaz001, aab001, aab004, aab998 FROM ab01 WHERE "
        if "aab998" in params:
            row = self._db.execute(select + "aab998 = ?", (params["aab998"],)).fetchone()
        elif "aab001" in params:
            row = self._db.execute(select + "aab001 = ?", (params["aab001"],)).fetchone()
        else:
            raise _Refusal("2001", "参数错误: aab998 或 aab001 必填")
        if row is None:
            raise _Refusal("3002", "未查询到参保单位信息")
        (insured,) = self._db.execute(
            "SELECT COUNT(*) FROM ac02 s JOIN ac01 p ON p.aac001 = s.aac001 "
            "WHERE s.aaz001 = ? AND s.aae140 = '11' AND s.aae042 IS NULL AND p.aac008 = '1'",
            (row[0],),
        ).fetchone()
        return {
            "AAB001": row[1],
            "AAB004": row[2],
            "AAB998": row[3],
            "AAB051": "1" if insured else "2",
            "cbrs": str(insured),
        }

    def _changes(self, request: Request) -> dict[str, Any]:
        params = request.query_params
        after = _decode_cursor(params.get("cursor", ""))
        _, size = _paging(params)
        with_certificates = params.get("jfzm", "0")
        if with_certificates not in ("0", "1"):
            raise _Refusal("2001", "参数错误: jfzm 取值 0 或 1")
        with self._snapshot():  # the entries and their certificates from one state of the store
            rows = self._db.execute(
                "SELECT aac001, aac002, aac003, aac008, aae036, chg_seq FROM ac01 "
                "WHERE chg_seq > ? ORDER BY chg_seq LIMIT ?",
                (after, size + 1),
            ).fetchall()
            has_more = len(rows) > size
            rows = rows[:size]
            certificates = self._certificates([row[0] for row in rows]) if with_certificates == "1" else {}
        entries = [
            {
                "AAC001": str(number),
                "AAC002": citizen_id,
                "AAC003": name,
                "AAC008": status,
                "AAE036": handled,
                "cursor": _encode_cursor(sequence),
            }
            for number, citizen_id, name, status, handled, sequence in rows
        ]
        data: dict[str, Any] = {"list": entries, "has_more": has_more}
        if with_certificates == "1":
            data["sjjzny"] = str(self._as_of)
            for entry, row in zip(entries, rows, strict=True):
                entry["jfzm"] = certificates.get(row[0], {"ljjfys": "0", "list": []})
        if has_more:
            data["next_cursor"] = entries[-1]["cursor"]
        return data

    @contextlib.contextmanager
    def _snapshot(self) -> Iterator[None]:
        """One read transaction (WAL: the reads see one committed state, writers are not blocked)."""
        self._db.execute("BEGIN")
        try:
            yield
        finally:
            self._db.execute("COMMIT")

    def _certificates(self, numbers: list[int]) -> dict[int, dict[str, Any]]:
        """参保缴费证明 of each person, computed from the stored spans: one query for the page, one for
        the units. The spans are given as the store holds them (one per type and job, open ones with
        AAE042 null), ordered by AAE041 then AAE140 as a printed certificate lists them; ``ljjfys`` is
        the pension months (养老保险累计缴费月数) counted the way the core system counts them."""
        if not numbers:
            return {}
        spans = self._db.execute(
            "SELECT aac001, aae140, aae041, aae042, aae180, aaz001 FROM ac02 "
            "WHERE aac001 IN (SELECT value FROM json_each(?)) ORDER BY aac001, aae041, aae140",
            (json.dumps(numbers),),
        ).fetchall()
        units = self._units({span[5] for span in spans})
        as_of = self._as_of
        certificates: dict[int, dict[str, Any]] = {}
        for number, kind, start, end, base, unit in spans:
            certificate = certificates.get(number)
            if certificate is None:
                certificate = certificates[number] = {"ljjfys": 0, "list": []}
            if kind == "11":
                last = as_of if end is None else end
                certificate["ljjfys"] += (last // 100 - start // 100) * 12 + last % 100 - start % 100 + 1
            certificate["list"].append(
                {
                    "AAE140": kind,
                    "AAE041": start if start % 2 else str(start),
                    "AAE042": None if end is None else (end if end % 2 else str(end)),
                    "AAE180": _legacy_amount(base, start),
                    "AAB001": units[unit][0],
                    "AAB004": units[unit][1],
                }
            )
        for certificate in certificates.values():
            certificate["ljjfys"] = str(certificate["ljjfys"])
        return certificates

    def _find_person(self, request: Request) -> tuple[Any, ...]:
        citizen_id = request.query_params.get("aac002")
        if not citizen_id:
            raise _Refusal("2001", "参数错误: aac002 必填")
        row = self._db.execute(
            "SELECT aac001, aac002, aac003, aac004, aac006, aac008, aae036, chg_seq FROM ac01 "
            "WHERE aac002 = ?",
            (citizen_id,),
        ).fetchone()
        if row is None:
            raise _Refusal("3001", "未查询到该人员参保信息")
        return row

    def _units(self, keys: set[int]) -> dict[int, tuple[str, str]]:
        if not keys:
            return {}
        rows = self._db.execute(
            "SELECT aaz001, aab001, aab004 FROM ab01 WHERE aaz001 IN (SELECT value FROM json_each(?))",
            (json.dumps(sorted(keys)),),
        )
        return {key: (number, name) for key, number, name in rows}


@lru_cache(maxsize=256)
def _expand(spans: tuple[tuple[Any, ...], ...], as_of: int) -> tuple[tuple[int, str, int, int, int], ...]:
    """Spans to monthly records (AAE003, AAE140, AAE002, base, unit), sorted as the API pages them.

    Keyed by the span rows themselves, so a changed row is a new key: paging through one person
    expands their spans once.
    """
    months = []
    for kind, start, end, base, unit in spans:
        month, last = start, end if end is not None else as_of
        while month <= last:
            paid = _next_month(month) if month == start and _next_month(month) <= as_of else month
            months.append((month, kind, paid, base, unit))
            month = _next_month(month)
    months.sort()
    return tuple(months)


def _paging(params: Any) -> tuple[int, int]:
    try:
        page, size = int(params.get("page", "1")), int(params.get("page_size", "20"))
    except ValueError:
        raise _Refusal("2001", "参数错误: page/page_size") from None
    if page < 1 or not 1 <= size <= MAX_PAGE_SIZE:
        raise _Refusal("2001", f"参数错误: page_size 取值 1-{MAX_PAGE_SIZE}")
    return page, size


def _legacy_amount(fen: int, month: int) -> Any:
    """The API's three spellings of a NUMBER(14,2): a string, an integer (when whole), a float."""
    style = month % 3
    if style == 0:
        return f"{fen // 100}.{fen % 100:02d}"
    if style == 1 and fen % 100 == 0:
        return fen // 100
    return fen / 100


def _encode_cursor(sequence: int) -> str:
    return base64.urlsafe_b64encode(f"ac01.chg_seq:{sequence}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    if not cursor:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, sequence = text.partition(":")
        if prefix == "ac01.chg_seq" and sequence.isdigit():
            return int(sequence)
    except (binascii.Error, UnicodeDecodeError):
        pass
    raise _Refusal("2002", "游标无效")


def _envelope_response(refusal: _Refusal) -> Response:
    data = {} if refusal.retry_after is None else {"retry_after_ms": math.ceil(refusal.retry_after * 1000)}
    body = {"code": refusal.code, "message": refusal.message, "data": data}
    headers = (
        {} if refusal.retry_after is None else {"Retry-After": str(max(1, math.ceil(refusal.retry_after)))}
    )
    content = json.dumps(body, ensure_ascii=False).encode("utf-8")
    return Response(content, status_code=refusal.status, media_type=JSON_MEDIA_TYPE, headers=headers)


def _unavailable_page() -> Response:
    html = (
        "<html><head><title>503 Service Temporarily Unavailable</title></head><body>"
        "<center><h1>503 Service Temporarily Unavailable</h1></center>"
        "<hr><center>nginx</center></body></html>"
    )
    return Response(html, status_code=503, media_type="text/html", headers={"Retry-After": "30"})


# --- the running system ---------------------------------------------------------------------------


class SocialInsuranceSystem:
    """The API served on a loopback port, with the means to break it and to change its store."""

    supported_faults = frozenset(Fault)

    def __init__(
        self,
        root: Path,
        *,
        rate: float = DEFAULT_RATE,
        burst: int = DEFAULT_BURST,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if not (root / DB_FILE).exists():
            raise FileNotFoundError(f"no social-insurance store in {root}")
        self._root = root
        self._credentials = AppCredentials.load(root / CREDENTIALS_FILE)
        self._faults = _Faults()
        self._api = _Api(root, self._credentials, self._faults, rate, burst)
        self._control = sqlite3.connect(root / DB_FILE, check_same_thread=False, isolation_level=None)
        self._control.execute("PRAGMA busy_timeout = 5000")
        self._lock = threading.Lock()
        self._corrupted: list[tuple[str, tuple[Any, ...]]] = []  # (restoring statement, parameters)
        self._adapters: weakref.WeakSet[SocialInsuranceAdapter] = weakref.WeakSet()
        self._server = ThreadedServer(self._api.app, host=host, port=port).start()

    @property
    def url(self) -> str:
        return self._server.url

    def adapter(self, *, guard: LegacyGuard | None = None, timeout: float | None = None) -> Adapter:
        adapter = SocialInsuranceAdapter(
            self.url, self._credentials, guard=guard, timeout=timeout or DEFAULT_TIMEOUT
        )
        self._adapters.add(adapter)
        return adapter

    def set_rate_limit(self, rate: float, burst: int) -> None:
        """Change the gateway's token bucket (per app key) from now on."""
        gateway = self._api.gateway
        gateway.rate, gateway.burst = rate, burst
        gateway.buckets = {}

    def inject(self, fault: Fault, subject: Subject | None = None, *, delay: float = SLOW_SECONDS) -> None:
        """UNAVAILABLE: the gateway's 503 page; TIMEOUT: answers hang; SLOW: every answer trickles in
        over ``delay`` seconds; WRONG_ENCODING: answers about ``subject`` (all when None) are GB18030
        labelled UTF-8; GARBAGE: malformed JSON (no subject) or the subject's corrupt row."""
        if fault is Fault.UNAVAILABLE:
            self._faults.unavailable = True
        elif fault is Fault.TIMEOUT:
            self._faults.hang = True
        elif fault is Fault.SLOW:
            self._faults.slow = delay
        elif fault is Fault.WRONG_ENCODING:
            self._faults.gb18030.add(None if subject is None else subject.value)
        elif subject is None:
            self._faults.malformed = True
        else:
            self._corrupt(subject)

    def _corrupt(self, subject: Subject) -> None:
        """A corrupt row in the store: a span that starts in month 13, or a GBK unit name read as UTF-8."""
        with self._lock:
            if subject.type is SubjectType.ID_CARD:
                row = self._control.execute(
                    "SELECT s.aac001, s.aae041 FROM ac02 s JOIN ac01 p ON p.aac001 = s.aac001 "
                    "WHERE p.aac002 = ? AND s.aae140 = '11' ORDER BY s.aae041 LIMIT 1",
                    (subject.value,),
                ).fetchone()
                if row is None:
                    raise ValueError("the social-insurance system holds no such person")
                number, start = row
                broken = (start // 100 - 1) * 100 + 13  # "month 13" of the year before: emitted first
                update = "UPDATE ac02 SET aae041 = ? WHERE aac001 = ? AND aae140 = '11' AND aae041 = ?"
                self._control.execute(update, (broken, number, start))
                self._corrupted.append((update, (start, number, broken)))
            elif subject.type is SubjectType.USCC:
                row = self._control.execute(
                    "SELECT aaz001, aab004 FROM ab01 WHERE aab998 = ?", (subject.value,)
                ).fetchone()
                if row is None:
                    raise ValueError("the social-insurance system holds no such employer")
                key, name = row
                garbled = name.strip().encode("gbk").decode("utf-8", errors="replace")
                update = "UPDATE ab01 SET aab004 = ? WHERE aaz001 = ?"
                self._control.execute(update, (garbled, key))
                self._corrupted.append((update, (name, key)))
            else:
                raise ValueError(f"the social-insurance system holds nothing keyed by {subject.type}")

    def heal(self) -> None:
        self._faults.unavailable = self._faults.hang = self._faults.malformed = False
        self._faults.slow = 0.0
        self._faults.gb18030 = set()
        with self._lock:
            while self._corrupted:
                statement, parameters = self._corrupted.pop()
                self._control.execute(statement, parameters)

    def cancel_one(self) -> str:
        """终止参保 of the last person still contributing: close their spans, bump the change sequence."""
        with self._lock:
            self._control.execute("BEGIN IMMEDIATE")
            try:
                row = self._control.execute(
                    "SELECT aac001, aac002 FROM ac01 WHERE aac008 = '1' ORDER BY aac001 DESC LIMIT 1"
                ).fetchone()
                if row is None:
                    raise LookupError("nobody is contributing any more")
                number, citizen_id = row
                as_of = self._control.execute("SELECT value FROM meta WHERE key = 'as_of'").fetchone()[0]
                self._control.execute(
                    "UPDATE ac02 SET aae042 = ? WHERE aac001 = ? AND aae042 IS NULL", (int(as_of), number)
                )
                self._control.execute(
                    "UPDATE ac01 SET aac008 = '4', aae036 = ?, "
                    "chg_seq = (SELECT MAX(chg_seq) + 1 FROM ac01) WHERE aac001 = ?",
                    (datetime.now().strftime("%Y-%m-%d %H:%M:%S"), number),
                )
                self._control.execute("COMMIT")
            except BaseException:
                self._control.execute("ROLLBACK")
                raise
        return citizen_id

    def close(self) -> None:
        self._faults.closing = True
        self.heal()
        for adapter in list(self._adapters):
            adapter.close()
        self._server.stop()
        self._api.close()
        with contextlib.suppress(sqlite3.Error):
            self._control.close()


class SocialInsuranceSimulator:
    department: Department = DEPARTMENT
    network = True

    def sink(self, root: Path, population: Population) -> LegacySink:
        return SocialInsuranceSink(root, population)

    def start(
        self,
        root: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        rate: float = DEFAULT_RATE,
        burst: int = DEFAULT_BURST,
    ) -> SocialInsuranceSystem:
        return SocialInsuranceSystem(root, rate=rate, burst=burst, host=host, port=port)

    def connect(
        self,
        root: Path,
        *,
        url: str | None,
        guard: LegacyGuard | None = None,
        timeout: float | None = None,
    ) -> Adapter:
        """The API at ``url``, signed with the app credentials the gateway issued (``root``)."""
        if url is None:
            raise ValueError("the social-insurance API is reached by its URL: give url")
        credentials = AppCredentials.load(root / CREDENTIALS_FILE)
        return SocialInsuranceAdapter(url, credentials, guard=guard, timeout=timeout or DEFAULT_TIMEOUT)


SIMULATOR = SocialInsuranceSimulator()
