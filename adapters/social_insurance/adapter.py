"""The social-insurance bureau's adapter: its signed HTTP JSON API behind the hub's one protocol.

The bureau's system (金保工程 core, reached through its API gateway on the private network) speaks the
national social-insurance data elements (AAC002 citizen ID, AAE003 contribution month, AAE180 base,
...) inside a business envelope ``{"code": "0000", "message": "成功", "data": {...}}``. Business errors
come back with HTTP 200 and a non-zero code, so the code is checked on every answer, not just the
status. Every request is signed (:func:`sign_request`); lists are paged (``page_size`` at most 100)
and read to the end; a rate-limited answer is waited out within the call's deadline.

Error translation at the boundary (httpx style): refused, reset, 5xx, gateway refusal ->
``LegacyUnavailable``; deadline passed -> ``LegacyTimeout``; malformed JSON, unknown codes, impossible
months or amounts, invalid identifiers, wrong record counts -> ``BadLegacyData`` naming the endpoint,
page and index; business code "not found" -> ``SubjectNotFound``.

The change feed asks the change list for each person's 参保缴费证明 as the core system computes it
(``jfzm=1``: contribution spans AAE041-AAE042 per AAE140, base and unit, the pension months and the
data month), so a page of up to 100 certificates is one request. Lookups read the monthly records.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote

import httpx

from adapters.base import CertificateRecord, Change, DatasetDeclaration, Health, Subject, SubjectType
from adapters.errors import (
    AdapterError,
    BadLegacyData,
    LegacyTimeout,
    LegacyUnavailable,
    SubjectNotFound,
)
from adapters.mapping import RecordLookups, normalise_text
from adapters.resilience import LegacyGuard
from adapters.social_insurance import DEPARTMENT
from adapters.social_insurance.datasets import (
    CERTIFICATE,
    DATASETS,
    EMPLOYER,
    EMPLOYER_STATUS,
    INSURED_STATUS,
    LICENSE_TYPE,
)
from exchange.identifiers import InvalidIdentifier, validate_citizen_id, validate_uscc

DEFAULT_TIMEOUT = 5.0  # seconds per legacy call (one lookup, or one feed page with its certificates)
MAX_PAGE_SIZE = 100  # the gateway refuses larger pages
CENT = Decimal("0.01")

# --- the gateway's signing recipe (shared with the simulated gateway) -----------------------------

SIGNATURE_METHOD = "HmacSHA256"
MAX_CLOCK_SKEW_MS = 300_000
_UNRESERVED = "-_.~"  # RFC 3986 section 2.3


@dataclass(frozen=True, slots=True)
class AppCredentials:
    """The app key and secret the gateway issued to the hub; the secret never appears in a repr."""

    app_key: str
    app_secret: str = field(repr=False)

    @classmethod
    def load(cls, path: Path) -> AppCredentials:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return cls(raw["app_key"], raw["app_secret"])


def canonical_query(pairs: Iterable[tuple[str, str]]) -> str:
    """Query parameters percent-encoded per RFC 3986 (unreserved kept) and sorted by name, then value."""
    encoded = sorted((quote(k, safe=_UNRESERVED), quote(v, safe=_UNRESERVED)) for k, v in pairs)
    return "&".join(f"{k}={v}" for k, v in encoded)


def canonical_request(
    method: str, path: str, pairs: Iterable[tuple[str, str]], timestamp: str, nonce: str, body: bytes
) -> str:
    """The string the gateway signs: method, path, sorted query, timestamp (ms), nonce, hex SHA-256 of body,
    one per line (the layout of the provincial government API gateways' HMAC schemes)."""
    digest = hashlib.sha256(body).hexdigest()
    return "\n".join((method.upper(), path, canonical_query(pairs), timestamp, nonce, digest))


def signature(secret: str, canonical: str) -> str:
    """base64(HMAC-SHA256(app_secret, canonical string)), RFC 2104."""
    mac = hmac.new(secret.encode("utf-8"), canonical.encode("utf-8"), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode("ascii")


def sign_request(
    credentials: AppCredentials,
    method: str,
    path: str,
    pairs: Sequence[tuple[str, str]],
    body: bytes = b"",
    *,
    now_ms: int | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """The authentication headers of one request; a fresh nonce and timestamp every time."""
    timestamp = str(now_ms if now_ms is not None else int(time.time() * 1000))
    nonce = nonce or secrets.token_hex(16)
    canonical = canonical_request(method, path, pairs, timestamp, nonce, body)
    return {
        "X-App-Key": credentials.app_key,
        "X-Timestamp": timestamp,
        "X-Nonce": nonce,
        "X-Signature-Method": SIGNATURE_METHOD,
        "X-Signature": signature(credentials.app_secret, canonical),
    }


# --- the legacy API's vocabulary ------------------------------------------------------------------

PING = "/api/v1/ping"
PERSON = "/api/v1/person/info"
CONTRIBUTIONS = "/api/v1/person/contributions"
UNIT = "/api/v1/unit/info"
CHANGES = "/api/v1/changes"

OK = "0000"
RATE_LIMITED = "1006"
NOT_FOUND = {"3001", "3002"}  # 未查询到参保人员 / 参保单位
REFUSED = {"1001", "1002", "1003", "1004", "1005", "9999"}  # gateway refused us, or internal error
REJECTED = {"2001", "2002"}  # 参数错误 / 游标无效: the request does not fit the API

# The bureau's system still uses the two-digit AAE140 codes of the 2002 indicator system; the national
# dictionary (and the hub) use the three-digit ones. Three-digit answers are accepted as they are.
LEGACY_INSURANCE_TYPE = {"11": "110", "21": "210", "31": "310", "41": "410", "51": "510"}
NATIONAL_INSURANCE_TYPES = frozenset(LEGACY_INSURANCE_TYPE.values())
PENSION = "110"
CONTRIBUTION_STATUS = {"1", "2", "3"}  # AAC031 个人缴费状态: 参保缴费, 暂停缴费, 终止缴费
_MONTH_ITEMS = frozenset(
    {
        "first_contribution_month",
        "contribution_months",
        "latest_contribution_month",
        "latest_contribution_base",
    }
)


class _Deadline:
    """One legacy call's time budget, shared by every request the call makes."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._at = time.monotonic() + seconds

    def expired(self) -> bool:
        return time.monotonic() >= self._at

    def remaining(self) -> float:
        left = self._at - time.monotonic()
        if left <= 0:
            raise LegacyTimeout(f"social-insurance API: no complete answer within {self.seconds:g} s")
        return left


class _Contribution(NamedTuple):
    """One monthly record (one AAE140 in one AAE003 month), validated. A tuple: there are many."""

    month: int  # months since year 0: year * 12 + month - 1, so consecutive months differ by 1
    insurance_type: str  # national three-digit AAE140
    base: Decimal
    unit_number: str  # AAB001
    unit_name: str  # AAB004


class _Span(NamedTuple):
    """Consecutive months of one insurance type at one base and unit, validated (months as in
    :class:`_Contribution`; a monthly record is a span of one month)."""

    insurance_type: str
    first: int
    last: int
    base: Decimal
    unit_number: str
    unit_name: str


@dataclass(frozen=True, slots=True)
class _Contributions:
    records: tuple[_Contribution, ...]
    as_of: int  # 数据截止年月, in the same month numbering


class SocialInsuranceAdapter(RecordLookups):
    """The municipal HR and social security bureau behind the hub's adapter protocol."""

    department = DEPARTMENT
    DATASETS = DATASETS

    def __init__(
        self,
        base_url: str,
        credentials: AppCredentials,
        *,
        guard: LegacyGuard | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        page_size: int = MAX_PAGE_SIZE,
        feed_page_size: int = MAX_PAGE_SIZE,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """``page_size``: monthly records per page; ``feed_page_size``: persons per change-list page."""
        if not (1 <= page_size <= MAX_PAGE_SIZE and 1 <= feed_page_size <= MAX_PAGE_SIZE):
            raise ValueError(f"page sizes must be 1..{MAX_PAGE_SIZE}")
        self._feed_page_size = feed_page_size
        self._credentials = credentials
        self._guard = guard or LegacyGuard(DEPARTMENT.id)
        self._timeout = timeout
        self._page_size = page_size
        self._client = httpx.Client(
            base_url=base_url,
            timeout=timeout,
            transport=transport,
            headers={"Accept": "application/json"},
        )

    def close(self) -> None:
        self._client.close()

    # --- the protocol ------------------------------------------------------------------------------

    def changes_since(self, watermark: str | None) -> Iterator[Change]:
        """Every insured person's certificate whose record changed after ``watermark``, oldest first.

        The gateway's change list is ordered by its change sequence; each entry carries the opaque
        cursor that resumes right after it, which is the watermark handed out, and the person's
        certificate summary. One request and one guarded call per page, whatever the histories hold.
        """
        cursor = watermark or ""
        while True:
            page = self._guard.call(lambda c=cursor: self._changes_page(c), idempotent=True)
            yield from page.changes
            if not page.has_more:
                return
            cursor = page.next_cursor

    def health(self) -> Health:
        started = time.perf_counter()
        try:
            data = self._get(PING, [], _Deadline(min(self._timeout, 2.0)))
            as_of = _month(data, "sjjzny", f"GET {PING}")
        except AdapterError as exc:
            return Health(False, str(exc), _ms(started), self._guard.state)
        detail = f"social-insurance API answered; data as of {_iso_month(as_of)}"
        return Health(True, detail, _ms(started), self._guard.state)

    # --- records per dataset ---------------------------------------------------------------------

    def _record(
        self, declaration: DatasetDeclaration, subject: Subject, items: frozenset[str]
    ) -> dict[str, Any]:
        return self._guard.call(lambda: self._fetch(declaration, subject, items), idempotent=True)

    def _fetch(
        self, declaration: DatasetDeclaration, subject: Subject, items: frozenset[str]
    ) -> dict[str, Any]:
        deadline = _Deadline(self._timeout)
        if declaration.code == EMPLOYER:
            return self._employer(subject.value, deadline)
        if declaration.code == CERTIFICATE:
            person = self._person(subject.value, deadline)
            contributions = self._contributions(subject.value, None, person.si_number, deadline)
            spans = [
                _Span(r.insurance_type, r.month, r.month, r.base, r.unit_number, r.unit_name)
                for r in contributions.records
            ]
            return _certificate_fields(person.name, spans, contributions.as_of)
        return self._enrolment(subject.value, items, deadline)

    def _enrolment(self, citizen_id: str, items: set[str], deadline: _Deadline) -> dict[str, Any]:
        person = self._person(citizen_id, deadline)
        record: dict[str, Any] = {
            "name": person.name,
            "insured_status": person.status,
            "employer_name": person.unit_name,
            "insurance_types": list(person.paying),
        }
        if "employer_uscc" in items:
            unit = self._unit({"aab001": person.unit_number}, deadline)
            record["employer_uscc"] = unit["employer_uscc"]
        if items & _MONTH_ITEMS:
            pension = self._contributions(citizen_id, PENSION, person.si_number, deadline).records
            if pension:
                latest = max(pension, key=lambda r: r.month)
                record["first_contribution_month"] = _iso_month(min(r.month for r in pension))
                record["latest_contribution_month"] = _iso_month(latest.month)
                record["latest_contribution_base"] = latest.base
            record["contribution_months"] = len(pension)
        return record

    def _employer(self, uscc: str, deadline: _Deadline) -> dict[str, Any]:
        unit = self._unit({"aab998": uscc}, deadline)
        if unit["employer_uscc"] != uscc:
            raise BadLegacyData("the API answered for another employer", row=f"GET {UNIT} AAB998")
        return unit

    # --- the API, endpoint by endpoint -----------------------------------------------------------

    def _person(self, citizen_id: str, deadline: _Deadline) -> _Person:
        data = self._get(PERSON, [("aac002", citizen_id)], deadline)
        si_number = _text(data, "AAC001", f"GET {PERSON}")
        where = f"GET {PERSON} AAC001={si_number}"
        if _text(data, "AAC002", where) != citizen_id:
            raise BadLegacyData("the API answered for another person", row=f"{where} field AAC002")
        status = _code(data, "AAC008", INSURED_STATUS, where)
        paying = []
        for index, insurance in enumerate(_list(data, "insurances", where)):
            at = f"{where} insurances[{index}]"
            kind = _insurance_type(insurance, "AAE140", at)
            if _code(insurance, "AAC031", CONTRIBUTION_STATUS, at) == "1":
                paying.append(kind)
        return _Person(
            si_number=si_number,
            name=_name(data, "AAC003", where),
            status=status,
            unit_number=_text(data, "AAB001", where),
            unit_name=_name(data, "AAB004", where),
            paying=tuple(sorted(set(paying))),
        )

    def _unit(self, key: dict[str, str], deadline: _Deadline) -> dict[str, Any]:
        data = self._get(UNIT, list(key.items()), deadline)
        si_number = _text(data, "AAB001", f"GET {UNIT}")
        where = f"GET {UNIT} AAB001={si_number}"
        if not (si_number.isdigit() and len(si_number) == 10):
            raise BadLegacyData(f"AAB001 {si_number!r} is not a 10-digit unit number", row=where)
        uscc = _text(data, "AAB998", where)
        try:
            validate_uscc(uscc)
        except InvalidIdentifier as exc:
            raise BadLegacyData(f"AAB998 is not a valid USCC: {exc}", row=f"{where} field AAB998") from None
        count = _count(data, "cbrs", where)
        return {
            "employer_name": _name(data, "AAB004", where),
            "employer_uscc": uscc,
            "si_number": si_number,
            "insured_count": count,
            "status": _code(data, "AAB051", EMPLOYER_STATUS, where),
        }

    def _contributions(
        self, citizen_id: str, insurance_type: str | None, si_number: str, deadline: _Deadline
    ) -> _Contributions:
        """Every monthly record of a person (of one AAE140 when given), read page by page."""
        legacy_type = next((k for k, v in LEGACY_INSURANCE_TYPE.items() if v == insurance_type), None)
        records: list[_Contribution] = []
        seen: set[tuple[int, str]] = set()
        total: int | None = None
        as_of: int | None = None
        page = 1
        while True:
            query = [("aac002", citizen_id), ("page", str(page)), ("page_size", str(self._page_size))]
            if legacy_type is not None:
                query.append(("aae140", legacy_type))
            data = self._get(CONTRIBUTIONS, query, deadline)
            where = f"GET {CONTRIBUTIONS} AAC001={si_number} page {page}"
            page_total = _count(data, "total", where)
            page_as_of = _month(data, "sjjzny", where)
            if total is None:
                total, as_of = page_total, page_as_of
            elif (page_total, page_as_of) != (total, as_of):
                raise BadLegacyData("total or data month changed between pages", row=where)
            entries = _list(data, "list", where)
            expected = max(0, min(self._page_size, total - (page - 1) * self._page_size))
            if len(entries) != expected:
                raise BadLegacyData(f"page holds {len(entries)} records, total says {expected}", row=where)
            for index, raw in enumerate(entries):
                at = _At(where, index)
                record = _contribution(raw, at, page_as_of)
                key = (record.month, record.insurance_type)
                if key in seen:
                    raise BadLegacyData("a second record for the same month and insurance type", row=at)
                if insurance_type is not None and record.insurance_type != insurance_type:
                    raise BadLegacyData(f"asked for AAE140 {insurance_type}, got another type", row=at)
                seen.add(key)
                records.append(record)
            if page * self._page_size >= total:
                return _Contributions(tuple(records), page_as_of)
            page += 1

    def _changes_page(self, cursor: str) -> _ChangesPage:
        """One page of the change list with each person's certificate, mapped whole before any of it
        is handed out (the page is the unit of retry, as the guard sees it)."""
        deadline = _Deadline(self._timeout)
        query = [("cursor", cursor), ("page_size", str(self._feed_page_size)), ("jfzm", "1")]
        data = self._get(CHANGES, query, deadline)
        where = f"GET {CHANGES} page after cursor {cursor!r}"
        entries = _list(data, "list", where)
        as_of = _month(data, "sjjzny", where)
        changes = []
        for index, raw in enumerate(entries):
            at = f"{where} index {index}"
            entry = _change_entry(raw, at)
            spans = _certificate_spans(raw, at, entry.si_number, as_of)
            record = _certificate_record(entry, _certificate_fields(entry.name, spans, as_of))
            changes.append(Change(record, entry.cursor))
        has_more = _field(data, "has_more", where)
        if not isinstance(has_more, bool):
            raise BadLegacyData(f"has_more {has_more!r} is not a boolean", row=where)
        next_cursor = _text(data, "next_cursor", where) if has_more else cursor
        if has_more and not changes:
            raise BadLegacyData("an empty page that claims more follow", row=where)
        return _ChangesPage(tuple(changes), has_more, next_cursor)

    def _get(self, path: str, query: list[tuple[str, str]], deadline: _Deadline) -> Any:
        """One signed GET; waits out rate limiting within the deadline; returns the envelope's data."""
        while True:
            remaining = deadline.remaining()
            headers = sign_request(self._credentials, "GET", path, query)
            try:
                # Streamed, so the deadline bounds the whole answer: a server trickling its body in
                # pieces, each within the socket timeout, is a timeout too (not just a silent one).
                with self._client.stream(
                    "GET", path, params=query, headers=headers, timeout=remaining
                ) as response:
                    body = _read_within(response, deadline, path)
            except httpx.TimeoutException:
                raise LegacyTimeout(
                    f"social-insurance API: no answer from {path} within {deadline.seconds:g} s"
                ) from None
            except httpx.TransportError as exc:
                raise LegacyUnavailable(
                    f"social-insurance API unreachable ({type(exc).__name__}) at {path}"
                ) from None
            except httpx.HTTPError as exc:  # an undecodable Content-Encoding, ...: not an answer
                unusable = f"unusable HTTP answer ({type(exc).__name__})"
                raise BadLegacyData(unusable, row=f"GET {path}") from None
            envelope = _envelope(body)
            code = envelope.get("code") if envelope is not None else None
            if response.status_code == 429 or code == RATE_LIMITED:
                wait = _retry_after(response, envelope)
                if wait >= deadline.remaining():
                    raise LegacyUnavailable(
                        f"social-insurance API rate-limits this app key; retry after {wait:g} s "
                        "is past the deadline"
                    )
                time.sleep(wait)
                continue
            if response.status_code >= 500:
                detail = f" (code {code})" if code else ""
                raise LegacyUnavailable(f"social-insurance API answered HTTP {response.status_code}{detail}")
            if response.status_code != 200:
                raise BadLegacyData(f"unexpected HTTP {response.status_code}", row=f"GET {path}")
            if envelope is None:
                raise BadLegacyData("the body is not a JSON business envelope", row=f"GET {path} body")
            return _data(envelope, path)


@dataclass(frozen=True, slots=True)
class _Person:
    si_number: str
    name: str
    status: str
    unit_number: str
    unit_name: str
    paying: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _ChangeEntry:
    si_number: str
    citizen_id: str
    name: str
    status: str
    changed_on: date
    cursor: str


@dataclass(frozen=True, slots=True)
class _ChangesPage:
    changes: tuple[Change, ...]
    has_more: bool
    next_cursor: str


# --- mapping legacy values to standard ones ---------------------------------------------------------


def _certificate_fields(name: str, spans: Sequence[_Span], as_of: int) -> dict[str, Any]:
    """The certificate's items, from monthly records (spans of one month) or the system's own spans."""
    return {
        "name": name,
        "contribution_history": _history(spans),
        "contribution_months": sum(s.last - s.first + 1 for s in spans if s.insurance_type == PENSION),
        "as_of_month": _iso_month(as_of),
    }


def _history(spans: Iterable[_Span]) -> list[dict[str, str]]:
    """Maximal runs of consecutive months with the same insurance type, base and employer.

    Spans of one type must not overlap (both callers check); adjacent ones with equal attributes are
    joined, so monthly records and the system's per-job spans compress to the same history.
    """
    runs: list[list[Any]] = []  # [type, first, last, base, unit number, unit name]
    for span in sorted(spans, key=lambda s: (s.insurance_type, s.first)):
        run = runs[-1] if runs else None
        if (
            run is not None
            and run[0] == span.insurance_type
            and run[2] + 1 == span.first
            and (run[3], run[4], run[5]) == (span.base, span.unit_number, span.unit_name)
        ):
            run[2] = span.last
        else:
            runs.append(list(span))
    runs.sort(key=lambda run: (run[1], run[0]))
    return [
        {
            "from": _iso_month(first),
            "to": _iso_month(last),
            "insurance_type": kind,
            "base": format(base, "f"),
            "employer_name": unit_name,
        }
        for kind, first, last, base, _, unit_name in runs
    ]


def _certificate_record(entry: _ChangeEntry, fields: dict[str, Any]) -> CertificateRecord:
    digest = json.dumps([fields, entry.status], sort_keys=True, ensure_ascii=False).encode("utf-8")
    return CertificateRecord(
        license_type=LICENSE_TYPE,
        source_id=entry.citizen_id,
        source_version=hashlib.sha256(digest).hexdigest()[:16],
        holder=Subject(SubjectType.ID_CARD, entry.citizen_id),
        holder_name=entry.name,
        issued_on=entry.changed_on,
        valid_from=entry.changed_on,
        valid_to=None,
        fields=fields,
        cancelled=entry.status == "4",
    )


def _certificate_spans(raw: Any, at: str, si_number: str, as_of: int) -> list[_Span]:
    """The ``jfzm`` of the change entry ``raw`` (at ``at``): its spans validated, checked not to
    overlap, and its pension months (``ljjfys``) checked against them."""
    certificate = _field(raw, "jfzm", at)
    where = f"{at} AAC001={si_number} jfzm"
    if not isinstance(certificate, dict):
        raise BadLegacyData("jfzm is not an object", row=where)
    listed = _list(certificate, "list", where)
    if not listed:
        raise BadLegacyData("an insured person without a single contribution record", row=where)
    spans = [_certificate_span(item, f"{where}.list[{j}]", as_of) for j, item in enumerate(listed)]
    order = sorted(range(len(spans)), key=lambda j: (spans[j].insurance_type, spans[j].first))
    for previous, current in zip(order, order[1:], strict=False):
        if (
            spans[previous].insurance_type == spans[current].insurance_type
            and spans[current].first <= spans[previous].last
        ):
            raise BadLegacyData(
                f"overlaps list[{previous}]: a second record for the same month and insurance type",
                row=f"{where}.list[{current}]",
            )
    months = _count(certificate, "ljjfys", where)
    counted = sum(s.last - s.first + 1 for s in spans if s.insurance_type == PENSION)
    if months != counted:
        raise BadLegacyData(
            f"ljjfys says {months} pension months, the spans hold {counted}", row=f"{where} field ljjfys"
        )
    return spans


def _certificate_span(raw: Any, where: str, as_of: int) -> _Span:
    if not isinstance(raw, dict):
        raise BadLegacyData("a certificate span is not an object", row=where)
    first = _month(raw, "AAE041", where)
    if first > as_of:
        raise BadLegacyData(
            f"AAE041 {_iso_month(first)} is after the data month", row=f"{where} field AAE041"
        )
    last = as_of if _field(raw, "AAE042", where) is None else _month(raw, "AAE042", where)  # open: 至今
    if last > as_of:
        raise BadLegacyData(f"AAE042 {_iso_month(last)} is after the data month", row=f"{where} field AAE042")
    if last < first:
        raise BadLegacyData("AAE042 (to) is before AAE041 (from)", row=f"{where} field AAE042")
    return _Span(
        insurance_type=_insurance_type(raw, "AAE140", where),
        first=first,
        last=last,
        base=_amount(raw, "AAE180", where),
        unit_number=_text(raw, "AAB001", where),
        unit_name=_name(raw, "AAB004", where),
    )


def _contribution(raw: Any, where: _Where, as_of: int) -> _Contribution:
    if not isinstance(raw, dict):
        raise BadLegacyData("a contribution record is not an object", row=str(where))
    month = _month(raw, "AAE003", where)
    if month > as_of:
        raise BadLegacyData(
            f"AAE003 {_iso_month(month)} is after the data month", row=f"{where} field AAE003"
        )
    if _month(raw, "AAE002", where) < month:
        raise BadLegacyData("AAE002 (paid in) is before AAE003 (paid for)", row=f"{where} field AAE002")
    return _Contribution(
        month=month,
        insurance_type=_insurance_type(raw, "AAE140", where),
        base=_amount(raw, "AAE180", where),
        unit_number=_text(raw, "AAB001", where),
        unit_name=_name(raw, "AAB004", where),
    )


def _change_entry(raw: Any, where: _Where) -> _ChangeEntry:
    if not isinstance(raw, dict):
        raise BadLegacyData("a change entry is not an object", row=str(where))
    citizen_id = _text(raw, "AAC002", where)
    try:
        citizen_id = validate_citizen_id(citizen_id).value
    except InvalidIdentifier as exc:
        raise BadLegacyData(f"AAC002 is not a valid citizen ID: {exc}", row=f"{where} field AAC002") from None
    return _ChangeEntry(
        si_number=_text(raw, "AAC001", where),
        citizen_id=citizen_id,
        name=_name(raw, "AAC003", where),
        status=_code(raw, "AAC008", INSURED_STATUS, where),
        changed_on=_handled_on(raw, "AAE036", where),
        cursor=_text(raw, "cursor", where),
    )


# Field readers: each reads ``data[name]``, checks it and, only when it is wrong, spells out where.


class _At:
    """``<page> index <n>``, formatted only if a record turns out to be bad (most never are)."""

    __slots__ = ("index", "page")

    def __init__(self, page: str, index: int) -> None:
        self.page, self.index = page, index

    def __str__(self) -> str:
        return f"{self.page} index {self.index}"


_Where = str | _At


def _field(data: Any, name: str, where: _Where) -> Any:
    if not isinstance(data, dict) or name not in data:
        raise BadLegacyData(f"field {name} is missing", row=str(where))
    return data[name]


def _month(data: Any, name: str, where: _Where) -> int:
    """An AAE003-style YYYYMM, sent as a string or as a number, as a month count (year * 12 + month - 1)."""
    value = _field(data, name, where)
    month = _parse_month(value) if isinstance(value, str) or type(value) is int else None
    if month is None:
        raise BadLegacyData(f"impossible {name} {value!r}: not a YYYYMM month", row=f"{where} field {name}")
    return month


@lru_cache(maxsize=4096)
def _parse_month(value: str | int) -> int | None:
    text = str(value)
    if not (len(text) == 6 and text.isascii() and text.isdigit()):
        return None
    year, month = int(text[:4]), int(text[4:])
    return year * 12 + month - 1 if 1 <= month <= 12 and 1990 <= year <= 2100 else None


def _iso_month(month: int) -> str:
    return f"{month // 12:04d}-{month % 12 + 1:02d}"


def _amount(data: Any, name: str, where: _Where) -> Decimal:
    """AAE180 arrives as a string, an integer or a JSON number (parsed as Decimal); all become exact cents."""
    value = _field(data, name, where)
    amount = _parse_amount(value) if isinstance(value, str | Decimal) or type(value) is int else None
    if amount is None:
        raise BadLegacyData(
            f"impossible {name} {value!r}: not a positive amount", row=f"{where} field {name}"
        )
    return amount


@lru_cache(maxsize=4096)
def _parse_amount(value: str | int | Decimal) -> Decimal | None:
    try:
        amount = Decimal(value.strip()) if isinstance(value, str) else Decimal(value)
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount <= 0 or amount != amount.quantize(CENT):
        return None
    return amount.quantize(CENT)


def _count(data: Any, name: str, where: _Where) -> int:
    value = _field(data, name, where)
    text = str(value) if type(value) is int else value
    if not (isinstance(text, str) and text.isascii() and text.isdigit()):
        raise BadLegacyData(f"{name} {value!r} is not a count", row=f"{where} field {name}")
    return int(text)


def _insurance_type(data: Any, name: str, where: _Where) -> str:
    value = _field(data, name, where)
    code = value.strip() if isinstance(value, str) else None
    if code in NATIONAL_INSURANCE_TYPES:
        return code
    if code in LEGACY_INSURANCE_TYPE:
        return LEGACY_INSURANCE_TYPE[code]
    raise BadLegacyData(f"unknown {name} insurance type {value!r}", row=f"{where} field {name}")


def _handled_on(data: Any, name: str, where: _Where) -> date:
    """AAE036 经办时间, ``YYYY-MM-DD HH:MM:SS`` (Oracle ``to_char`` style)."""
    value = _text(data, name, where)
    day = _parse_handled(value)
    if day is None:
        raise BadLegacyData(f"{name} {value!r} is not a timestamp", row=f"{where} field {name}")
    return day


@lru_cache(maxsize=4096)
def _parse_handled(value: str) -> date | None:
    try:
        return datetime.strptime(value, "%Y-%m-%d %H:%M:%S").date()
    except ValueError:
        return None


def _text(data: Any, name: str, where: _Where) -> str:
    value = _field(data, name, where)
    if not isinstance(value, str) or not value.strip():
        raise BadLegacyData(f"{name} {value!r} is not a text", row=f"{where} field {name}")
    return value.strip()


def _name(data: Any, name: str, where: _Where) -> str:
    """Names come CHAR-padded, sometimes with a legacy middle dot; U+FFFD or C1 controls mean mis-decoded."""
    value = _field(data, name, where)
    clean = _clean_name(value) if isinstance(value, str) else None
    if clean is None:
        raise BadLegacyData(f"{name} {value!r} is empty or mis-encoded", row=f"{where} field {name}")
    return clean


@lru_cache(maxsize=4096)
def _clean_name(value: str) -> str | None:
    clean = normalise_text(value)
    if not clean or any(ch == "\ufffd" or ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F for ch in clean):
        return None
    return clean


def _code(data: Any, name: str, table: Mapping[str, str] | set[str], where: _Where) -> str:
    value = _field(data, name, where)
    code = value.strip() if isinstance(value, str) else str(value) if type(value) is int else None
    if code not in table:
        raise BadLegacyData(f"unknown {name} code {value!r}", row=f"{where} field {name}")
    return code


def _list(data: Any, name: str, where: _Where) -> list[Any]:
    value = _field(data, name, where)
    if not isinstance(value, list):
        raise BadLegacyData(f"{name} is not a list", row=f"{where} field {name}")
    return value


def _envelope(body: bytes) -> dict[str, Any] | None:
    """The business envelope, or None when the body is not one (a proxy's HTML page, truncated JSON,
    text in another encoding than the UTF-8 the header declares)."""
    try:
        envelope = json.loads(body, parse_float=Decimal)
    except ValueError:
        return None
    return envelope if isinstance(envelope, dict) and isinstance(envelope.get("code"), str) else None


def _data(envelope: dict[str, Any], path: str) -> Any:
    code, message = envelope["code"], str(envelope.get("message", ""))
    if code == OK:
        if "data" not in envelope:
            raise BadLegacyData("a success envelope without data", row=f"GET {path}")
        return envelope["data"]
    if code in NOT_FOUND:
        raise SubjectNotFound(f"the social-insurance system does not know this subject ({code} {message})")
    if code in REFUSED:
        raise LegacyUnavailable(f"social-insurance API refused the call: {code} {message}")
    if code in REJECTED:
        raise BadLegacyData(f"the API rejected the request parameters: {code} {message}", row=f"GET {path}")
    raise BadLegacyData(f"unknown business code {code!r} ({message})", row=f"GET {path}")


def _read_within(response: httpx.Response, deadline: _Deadline, path: str) -> bytes:
    """The whole body, checking the call's deadline as each piece arrives."""
    chunks = []
    for chunk in response.iter_bytes():
        chunks.append(chunk)
        if deadline.expired():
            raise LegacyTimeout(
                f"social-insurance API: answer from {path} not complete within {deadline.seconds:g} s"
            )
    return b"".join(chunks)


def _retry_after(response: httpx.Response, envelope: dict[str, Any] | None) -> float:
    """The gateway's precise hint (data.retry_after_ms) if present, else the Retry-After header."""
    data = envelope.get("data") if envelope else None
    if isinstance(data, dict) and isinstance(data.get("retry_after_ms"), int):
        return max(data["retry_after_ms"], 1) / 1000
    try:
        return max(float(response.headers.get("Retry-After", "1")), 0.001)
    except ValueError:
        return 1.0


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
