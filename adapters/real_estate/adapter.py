"""The real-estate registration centre's adapter: namespaced XML over HTTP to the registry.

The registry's query interface answers XML documents in the style of the national real-estate
registration data exchange: an envelope in ``urn:bdc:jhxx:2019`` (head with a status code, record
count and, for the change feed, a cursor) around records in ``urn:bdc:djxx:2019`` whose element
names are the registration database's pinyin initials (BDCDYH, BDCQZH, ZL, QLRMC, ZJH, QLBL, ...).
Elements are resolved by namespace URI, never by prefix, and documents are parsed with defusedxml
only (no DTD, no entities, no external references: XXE and entity expansion are rejected).

Everything the registry answers is checked before it is used: unit numbers (GB/T 37346), citizen
IDs (GB 11643-1999), dates, areas, shares (which the registry writes as "50%", "0.5" or "1/2")
and the legacy codes, each failure a :class:`BadLegacyData` naming the XML path and the record.
docs/adapters/real_estate.md has the interface, the mapping table and the failure mapping.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Any, TypeVar
from xml.etree.ElementTree import Element

import httpx
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring

from adapters.base import (
    CertificateRecord,
    Change,
    DatasetDeclaration,
    Department,
    Health,
    Subject,
    SubjectType,
)
from adapters.errors import (
    BadLegacyData,
    LegacyFailure,
    LegacyTimeout,
    LegacyUnavailable,
    SubjectNotFound,
)
from adapters.mapping import RecordLookups, normalise_text
from adapters.real_estate import DEPARTMENT
from adapters.real_estate.datasets import (
    DATASETS,
    HISTORY,
    LICENSE_TYPE,
    PERSONAL,
    STATUS_CANCELLED,
    STATUS_CURRENT,
    TITLE,
)
from adapters.resilience import LegacyGuard
from exchange.identifiers import InvalidIdentifier, validate_citizen_id, validate_property_unit

T = TypeVar("T")

ENVELOPE_NS = "urn:bdc:jhxx:2019"  # 交换信息: the message envelope (head, data)
RECORD_NS = "urn:bdc:djxx:2019"  # 登记信息: the registration records
APP_KEY_HEADER = "X-BDC-AppKey"
API = "/bdcdj/v1"

DEFAULT_TIMEOUT = 5.0  # seconds per legacy call
DEFAULT_PAGE_SIZE = 500
MAX_RESPONSE_BYTES = 32 * 1024 * 1024
STATUS_OK = "0000"

# Legacy code tables of the registration database (TD/T 1066 style) -> the standard items' values.
RIGHT_TYPES = {  # QLLX 权利类型
    "1": "集体土地所有权",
    "2": "国家土地所有权",
    "3": "国有建设用地使用权",
    "4": "国有建设用地使用权/房屋所有权",
    "5": "宅基地使用权",
    "6": "宅基地使用权/房屋所有权",
    "7": "集体建设用地使用权",
    "8": "集体建设用地使用权/房屋所有权",
}
CO_OWNERSHIP = {"0": "单独所有", "1": "共同共有", "2": "按份共有", "3": "其他共有"}  # GYFS 共有方式
USES = {"10": "住宅", "30": "商业", "60": "办公", "80": "其他"}  # GHYT 规划用途 (GB/T 17986.1 classes)
STATUSES = {  # QSZT 权属状态: codes, and the Chinese words older records carry instead
    "1": STATUS_CURRENT,
    "现势": STATUS_CURRENT,
    "2": STATUS_CANCELLED,
    "注销": STATUS_CANCELLED,
}
FLAGS = {"0": False, "1": True}  # DYZT 抵押状态, CFZT 查封状态
ID_TYPE_CITIZEN = "1"  # ZJZL 证件种类: 1 居民身份证

_CERTIFICATE_NO = re.compile(r"^[\u4e00-\u9fff]\((\d{4})\)[\u4e00-\u9fff]{1,12}不动产权第(\d{7})号$")
_DECIMAL = re.compile(r"^\d{1,9}(\.\d{1,6})?$")
_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})(T\d{2}:\d{2}:\d{2}(\.\d+)?([+-]\d{2}:\d{2}|Z)?)?$")
_SHARE = re.compile(r"^(?:(\d{1,3}(?:\.\d{1,6})?)%|(\d{1,6})/(\d{1,6})|(\d(?:\.\d{1,8})?))$")


@dataclass(frozen=True, slots=True)
class TitleOwner:
    """One 权利人 of a title, validated."""

    name: str
    id_number: str
    share: Decimal


@dataclass(frozen=True, slots=True)
class Title:
    """One registration record (不动产权 title) as the registry holds it, validated and mapped."""

    sequence: int  # XH: the registry's change sequence; a new one on every change
    unit_number: str
    certificate_no: str
    location: str
    use: str
    area: Decimal
    right_type: str
    co_ownership: str
    owners: tuple[TitleOwner, ...]
    registered_on: date
    status: str
    cancelled_on: date | None
    mortgaged: bool
    mortgagee: str | None
    seized: bool

    @property
    def live(self) -> bool:
        return self.status == STATUS_CURRENT

    def items(self) -> dict[str, Any]:
        """The 304001001 items, JSON-ready."""
        return {
            "unit_number": self.unit_number,
            "certificate_no": self.certificate_no,
            "location": self.location,
            "use": self.use,
            "area": exact_decimal(self.area),
            "right_type": self.right_type,
            "co_ownership": self.co_ownership,
            "owners": [
                {"name": o.name, "id_number": o.id_number, "share": exact_decimal(o.share)}
                for o in self.owners
            ],
            "registered_on": self.registered_on.isoformat(),
            "mortgaged": self.mortgaged,
            "mortgagee": self.mortgagee,
            "seized": self.seized,
            "status": self.status,
        }


@dataclass(frozen=True, slots=True)
class _Document:
    """A checked envelope: its head fields and the mapped records."""

    head: dict[str, str]
    titles: list[Title]


class RealEstateAdapter(RecordLookups):
    """Adapter for the registry's XML query interface (see the module docstring)."""

    department: Department = DEPARTMENT
    DATASETS = DATASETS

    def __init__(
        self,
        base_url: str,
        *,
        app_key: str,
        timeout: float = DEFAULT_TIMEOUT,
        guard: LegacyGuard | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        if not 1 <= page_size <= 1000:
            raise ValueError("page_size must be within 1..1000 (the registry's limit)")
        self._timeout = timeout
        self._page_size = page_size
        self._guard = guard or LegacyGuard(f"{DEPARTMENT.id}-registry")
        self._client = httpx.Client(
            base_url=base_url,
            headers={APP_KEY_HEADER: app_key, "Accept": "application/xml"},
            timeout=httpx.Timeout(timeout),
            transport=transport,
            follow_redirects=False,
            trust_env=False,  # a private-network system: no proxies from the environment
        )

    def __repr__(self) -> str:  # never show the application key
        return f"RealEstateAdapter({str(self._client.base_url)!r}, timeout={self._timeout})"

    def close(self) -> None:
        self._client.close()

    def changes_since(self, watermark: str | None) -> Iterator[Change]:
        """Every title, oldest change first, resuming after the registry's sequence cursor ``watermark``.

        Pages of ``page_size`` records are fetched one at a time through the guard, so memory stays
        bounded whatever the register's size.
        """
        cursor = _parse_watermark(watermark)
        while True:
            page = self._guard.call(lambda c=cursor: self._changes_page(c), idempotent=True)
            for title in page.titles:
                yield Change(_certificate(title), str(title.sequence))
            cursor = int(page.head["XYYXH"])
            if page.head["SFYXY"] == "0":
                return

    def health(self) -> Health:
        started = time.monotonic()
        try:
            document = self._get(f"{API}/health", f"GET {API}/health", None)
        except LegacyFailure as exc:
            return Health(False, str(exc), _ms(started), circuit=self._guard.state)
        detail = f"registry answered {document.head.get('ZTXX') or 'OK'}"
        return Health(True, detail, _ms(started), circuit=self._guard.state)

    # --- the queries ---------------------------------------------------------------------------

    def _record(
        self, declaration: DatasetDeclaration, subject: Subject, items: frozenset[str]
    ) -> dict[str, Any]:
        if declaration.code == TITLE:
            return self._guard.call(lambda: self._title(subject.value), idempotent=True).items()
        if declaration.code == PERSONAL:
            return self._guard.call(lambda: self._holdings(subject.value), idempotent=True)
        if declaration.code == HISTORY:
            return self._guard.call(lambda: self._history(subject.value), idempotent=True)
        raise AssertionError(f"dataset {declaration.code} has no mapping")  # DATASETS and this agree

    def _title(self, unit_number: str) -> Title:
        where = f"GET {API}/bdcdy/{unit_number}"
        document = self._get(f"{API}/bdcdy/{unit_number}", where, None)
        if not document.titles:
            raise SubjectNotFound(f"the registry holds no real-estate unit {unit_number}")
        if len(document.titles) > 1:
            raise BadLegacyData(f"{len(document.titles)} records for one unit number", row=where)
        title = document.titles[0]
        if title.unit_number != unit_number:
            raise BadLegacyData(f"asked for unit {unit_number}, got {title.unit_number}", row=where)
        return title

    def _owned(self, citizen_id: str) -> list[tuple[Title, TitleOwner]]:
        """Every title (live or cancelled) listing the citizen, with their owner entry, oldest first."""
        where = f"GET {API}/qlr"  # the citizen ID stays out of messages and logs
        document = self._get(f"{API}/qlr", where, {"zjh": citizen_id})
        owned = []
        for index, title in enumerate(document.titles, start=1):
            mine = [owner for owner in title.owners if owner.id_number == citizen_id]
            if len(mine) != 1:
                raise BadLegacyData(
                    f"record lists the asked owner {len(mine)} times",
                    row=f"{where} {_record_path(index)} (BDCDYH={title.unit_number})",
                )
            owned.append((title, mine[0]))
        return sorted(owned, key=lambda pair: (pair[0].registered_on, pair[0].unit_number))

    def _holdings(self, citizen_id: str) -> dict[str, Any]:
        """304002001: live titles only; no title at all is the answer "owns nothing", not an error.

        The registry keeps no register of persons: a citizen ID it never saw holds nothing, which
        is exactly the answer a housing-purchase check needs (see the docs).
        """
        properties = [
            {
                "unit_number": title.unit_number,
                "certificate_no": title.certificate_no,
                "location": title.location,
                "area": exact_decimal(title.area),
                "use": title.use,
                "share": exact_decimal(owner.share),
                "mortgaged": title.mortgaged,
                "seized": title.seized,
            }
            for title, owner in self._owned(citizen_id)
            if title.live
        ]
        return {"has_property": bool(properties), "property_count": len(properties), "properties": properties}

    def _history(self, citizen_id: str) -> dict[str, Any]:
        """304002002: every registration of the citizen as owner; never registered -> SubjectNotFound."""
        owned = self._owned(citizen_id)
        if not owned:
            raise SubjectNotFound("the register holds no registration of this citizen as an owner")
        titles = [
            {
                "unit_number": title.unit_number,
                "certificate_no": title.certificate_no,
                "location": title.location,
                "share": exact_decimal(owner.share),
                "registered_on": title.registered_on.isoformat(),
                "status": title.status,
                "cancelled_on": title.cancelled_on.isoformat() if title.cancelled_on else None,
            }
            for title, owner in owned
        ]
        return {
            "title_count": len(titles),
            "first_registered_on": owned[0][0].registered_on.isoformat(),
            "titles": titles,
        }

    def _changes_page(self, cursor: int) -> _Document:
        where = f"GET {API}/bgjl?qsxh={cursor}"
        document = self._get(f"{API}/bgjl", where, {"qsxh": str(cursor), "mys": str(self._page_size)})
        for name in ("XYYXH", "SFYXY"):
            if name not in document.head:
                raise BadLegacyData(f"change page has no {name}", row=f"{where} /jh:Message/jh:Head")
        next_cursor = _integer(document.head["XYYXH"], f"{where} /jh:Message/jh:Head/jh:XYYXH")
        if document.head["SFYXY"] not in {"0", "1"}:
            raise BadLegacyData("SFYXY is not 0 or 1", row=f"{where} /jh:Message/jh:Head/jh:SFYXY")
        previous = cursor
        for index, title in enumerate(document.titles, start=1):
            if title.sequence <= previous:
                raise BadLegacyData(
                    f"sequence {title.sequence} does not follow {previous}",
                    row=f"{where} {_record_path(index)}/@XH (BDCDYH={title.unit_number})",
                )
            previous = title.sequence
        if next_cursor != previous or (document.head["SFYXY"] == "1" and not document.titles):
            raise BadLegacyData(
                f"cursor XYYXH={next_cursor} does not match the page's last sequence {previous}",
                row=f"{where} /jh:Message/jh:Head/jh:XYYXH",
            )
        return document

    # --- the HTTP transport ----------------------------------------------------------------------

    def _get(self, path: str, where: str, params: dict[str, str] | None) -> _Document:
        """One request with a whole-answer deadline; HTTP and socket failures become typed errors."""
        deadline = time.monotonic() + self._timeout
        try:
            with self._client.stream("GET", path, params=params) as response:
                body = _read(response, deadline, where)
        except httpx.TimeoutException:
            raise LegacyTimeout(
                f"real-estate registry: no answer to {where} within {self._timeout}s"
            ) from None
        except httpx.TransportError as exc:
            raise LegacyUnavailable(f"real-estate registry unreachable ({type(exc).__name__})") from None
        except httpx.HTTPError as exc:  # undecodable content encoding, redirects, ...
            raise BadLegacyData(f"unusable HTTP answer ({type(exc).__name__})", row=where) from None
        return _check_status(response, body, where)


# --- parsing the registry's XML ------------------------------------------------------------------


def parse_document(body: bytes, where: str) -> _Document:
    """Parse and check one envelope; every record is validated and mapped (see the module docstring)."""
    try:
        root = fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise BadLegacyData(f"forbidden XML construct ({type(exc).__name__})", row=where) from None
    except ParseError as exc:
        raise BadLegacyData(f"malformed XML: {exc}", row=where) from None
    if root.tag != _env("Message"):
        raise BadLegacyData(f"root element is {root.tag}, expected {_env('Message')}", row=f"{where} /")
    head_element = _one(root, _env("Head"), f"{where} /jh:Message/jh:Head")
    head = {}
    for child in head_element:
        if not child.tag.startswith(f"{{{ENVELOPE_NS}}}"):
            raise BadLegacyData(
                f"unexpected element {child.tag} in the head", row=f"{where} /jh:Message/jh:Head"
            )
        head[child.tag.split("}", 1)[1]] = (child.text or "").strip()
    status = head.get("ZTDM")
    if status is None:
        raise BadLegacyData("head has no ZTDM", row=f"{where} /jh:Message/jh:Head")
    if status != STATUS_OK:
        message = head.get("ZTXX", "")[:80]
        if status.startswith("9"):  # 9xxx: the registry's own failures (busy, database down)
            raise LegacyUnavailable(f"real-estate registry reported {status} {message}")
        raise BadLegacyData(
            f"registry answered status {status} {message}", row=f"{where} /jh:Message/jh:Head"
        )
    data = _one(root, _env("Data"), f"{where} /jh:Message/jh:Data")
    titles = []
    for index, element in enumerate(data, start=1):
        path = f"{where} {_record_path(index)}"
        if element.tag != _rec("BDCDJXX"):
            raise BadLegacyData(f"unexpected element {element.tag}, expected {_rec('BDCDJXX')}", row=path)
        titles.append(parse_title(element, path))
    count = _integer(head.get("JLS", ""), f"{where} /jh:Message/jh:Head/jh:JLS")
    if count != len(titles):
        raise BadLegacyData(f"head says JLS={count} but the data holds {len(titles)} records", row=where)
    return _Document(head, titles)


def parse_title(element: Element, path: str) -> Title:
    """One BDCDJXX record -> a validated :class:`Title`; ``path`` locates it for error messages."""
    sequence = _integer(element.get("XH", ""), f"{path}/@XH")
    raw_unit = _text(element, "BDCDYH", path)
    try:
        unit_number = validate_property_unit(raw_unit).value
    except InvalidIdentifier as exc:
        raise BadLegacyData(f"invalid unit number: {exc.reason}", row=f"{path}/dj:BDCDYH") from None
    at = f"{path}/dj:{{}} (BDCDYH={unit_number})"

    def field(name: str, *, required: bool = True) -> str | None:
        return _text(element, name, path, required=required, key=unit_number)

    certificate_no = normalise_text(field("BDCQZH") or "")
    if not _CERTIFICATE_NO.match(certificate_no):
        raise BadLegacyData("certificate number is not 省(年)市不动产权第NNNNNNN号", row=at.format("BDCQZH"))
    status = _code(STATUSES, field("QSZT"), at.format("QSZT"))
    cancelled_raw = field("ZXSJ", required=False)
    cancelled_on = _date(cancelled_raw, at.format("ZXSJ")) if cancelled_raw else None
    if (status == STATUS_CANCELLED) != (cancelled_on is not None):
        raise BadLegacyData("QSZT and ZXSJ disagree (注销 needs a date, 现势 none)", row=at.format("ZXSJ"))
    mortgaged = _code(FLAGS, field("DYZT"), at.format("DYZT"))
    mortgagee_raw = field("DYQR", required=False)
    if mortgaged != bool(mortgagee_raw):
        raise BadLegacyData("DYZT and DYQR disagree (a mortgage needs a mortgagee)", row=at.format("DYQR"))
    co_ownership = _code(CO_OWNERSHIP, field("GYFS"), at.format("GYFS"))
    owners = _owners(element, path, unit_number)
    if (co_ownership == "单独所有") != (len(owners) == 1):
        raise BadLegacyData(f"GYFS {co_ownership} with {len(owners)} owners", row=at.format("QLRXX"))
    registered_on = _date(field("DJSJ") or "", at.format("DJSJ"))
    if cancelled_on is not None and cancelled_on < registered_on:
        raise BadLegacyData("cancelled before it was registered", row=at.format("ZXSJ"))
    return Title(
        sequence=sequence,
        unit_number=unit_number,
        certificate_no=certificate_no,
        location=normalise_text(field("ZL") or ""),
        use=_code(USES, field("GHYT"), at.format("GHYT")),
        area=_area(field("JZMJ") or "", at.format("JZMJ")),
        right_type=_code(RIGHT_TYPES, field("QLLX"), at.format("QLLX")),
        co_ownership=co_ownership,
        owners=owners,
        registered_on=registered_on,
        status=status,
        cancelled_on=cancelled_on,
        mortgaged=mortgaged,
        mortgagee=normalise_text(mortgagee_raw) if mortgagee_raw else None,
        seized=_code(FLAGS, field("CFZT"), at.format("CFZT")),
    )


def _owners(element: Element, path: str, unit_number: str) -> tuple[TitleOwner, ...]:
    block = _one(element, _rec("QLRXX"), f"{path}/dj:QLRXX (BDCDYH={unit_number})")
    owners = []
    for index, child in enumerate(block, start=1):
        at = f"{path}/dj:QLRXX/dj:QLR[{index}]"
        if child.tag != _rec("QLR"):
            raise BadLegacyData(f"unexpected element {child.tag}", row=f"{at} (BDCDYH={unit_number})")
        name = normalise_text(_text(child, "QLRMC", at, key=unit_number) or "")
        id_type = _text(child, "ZJZL", at, key=unit_number)
        if id_type != ID_TYPE_CITIZEN:
            raise BadLegacyData(f"owner ID type {id_type} is not 1 (居民身份证)", row=f"{at}/dj:ZJZL")
        raw_id = normalise_text(_text(child, "ZJH", at, key=unit_number) or "")
        try:
            id_number = validate_citizen_id(raw_id).value
        except InvalidIdentifier as exc:
            raise BadLegacyData(f"invalid owner ID number: {exc.reason}", row=f"{at}/dj:ZJH") from None
        raw_share = _text(child, "QLBL", at, key=unit_number) or ""
        share = parse_share(raw_share, f"{at}/dj:QLBL (BDCDYH={unit_number})")
        owners.append(TitleOwner(name, id_number, share))
    if not owners:
        raise BadLegacyData("title without owners", row=f"{path}/dj:QLRXX (BDCDYH={unit_number})")
    if len({o.id_number for o in owners}) != len(owners):
        raise BadLegacyData("an owner is listed twice", row=f"{path}/dj:QLRXX (BDCDYH={unit_number})")
    total = sum((o.share for o in owners), Decimal(0))
    if total != 1:
        raise BadLegacyData(f"owners' shares add up to {total}, not 1", row=f"{path}/dj:QLRXX")
    return tuple(owners)


def parse_share(text: str, row: str) -> Decimal:
    """QLBL as an exact fraction: the registry writes "50%", "0.5" or "1/2" for the same share.

    Only shares with an exact decimal form are accepted (a third has none): the hub carries exact
    decimal strings and would otherwise have to round a legal fact.
    """
    match = _SHARE.match(normalise_text(text))
    if match is None:
        raise BadLegacyData(f"share {text!r} is not a percentage, fraction or decimal", row=row)
    percent, numerator, denominator, plain = match.groups()
    if percent is not None:
        value = Fraction(Decimal(percent)) / 100
    elif numerator is not None:
        if int(denominator) == 0:
            raise BadLegacyData(f"share {text!r} divides by zero", row=row)
        value = Fraction(int(numerator), int(denominator))
    else:
        value = Fraction(Decimal(plain))
    if not 0 < value <= 1:
        raise BadLegacyData(f"share {text!r} is not within (0, 1]", row=row)
    rest = value.denominator
    for prime in (2, 5):
        while rest % prime == 0:
            rest //= prime
    if rest != 1:
        raise BadLegacyData(f"share {text!r} has no exact decimal form", row=row)
    return Decimal(value.numerator) / Decimal(value.denominator)


def exact_decimal(value: Decimal) -> str:
    """The shortest exact decimal string: "0.5", "1", "89.5" (no exponent, no trailing zeros)."""
    return format(value.normalize(), "f")


def _area(text: str, row: str) -> Decimal:
    """JZMJ: building area in m², decimal text ("89.50" and "89.5" both occur), positive."""
    normalised = normalise_text(text)
    if not _DECIMAL.match(normalised):
        raise BadLegacyData(f"area {text!r} is not a positive decimal number", row=row)
    area = Decimal(normalised)
    if area <= 0:
        raise BadLegacyData(f"area {text!r} is not positive", row=row)
    return area


def _date(text: str, row: str) -> date:
    """DJSJ/ZXSJ: xs:date or xs:dateTime (newer records carry a time); the date part counts."""
    match = _DATE.match(text.strip())
    try:
        if match is None:
            raise ValueError(text)
        return date.fromisoformat(match.group(1))
    except ValueError:
        raise BadLegacyData(f"{text!r} is not a date", row=row) from None


def _code(table: Mapping[str, T], raw: str | None, row: str) -> T:
    key = normalise_text(raw or "")
    if key not in table:
        raise BadLegacyData(f"unknown code {raw!r}", row=row)
    return table[key]


def _integer(text: str, row: str) -> int:
    if not text.isascii() or not text.isdigit():
        raise BadLegacyData(f"{text!r} is not a non-negative integer", row=row)
    return int(text)


def _text(
    element: Element, name: str, path: str, *, required: bool = True, key: str | None = None
) -> str | None:
    found = element.findall(_rec(name))
    row = f"{path}/dj:{name}" + (f" (BDCDYH={key})" if key else "")
    if len(found) > 1:
        raise BadLegacyData(f"element {name} occurs {len(found)} times", row=row)
    text = (found[0].text or "").strip() if found else ""
    if required and not text:
        raise BadLegacyData(f"element {name} is {'empty' if found else 'missing'}", row=row)
    return text or None


def _one(element: Element, tag: str, row: str) -> Element:
    found = element.findall(tag)
    if len(found) != 1:
        others = sorted({child.tag for child in element})
        raise BadLegacyData(
            f"expected one {tag}, found {len(found)} (children: {', '.join(others)})", row=row
        )
    return found[0]


def _env(name: str) -> str:
    return f"{{{ENVELOPE_NS}}}{name}"


def _rec(name: str) -> str:
    return f"{{{RECORD_NS}}}{name}"


def _record_path(index: int) -> str:
    return f"/jh:Message/jh:Data/dj:BDCDJXX[{index}]"


# --- HTTP helpers ----------------------------------------------------------------------------------


def _read(response: httpx.Response, deadline: float, where: str) -> bytes:
    """The whole body within the deadline and the size cap (a trickling server cannot hold us)."""
    chunks, size = [], 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            raise BadLegacyData(f"answer larger than {MAX_RESPONSE_BYTES} bytes", row=where)
        if time.monotonic() > deadline:
            raise LegacyTimeout(f"real-estate registry: answer to {where} not complete within the deadline")
        chunks.append(chunk)
    return b"".join(chunks)


def _check_status(response: httpx.Response, body: bytes, where: str) -> _Document:
    status = response.status_code
    if status == 504:
        raise LegacyTimeout(f"real-estate registry gateway timed out on {where}")
    if status >= 500:
        raise LegacyUnavailable(f"real-estate registry answered HTTP {status}")
    if status in {401, 403}:
        raise LegacyUnavailable(f"real-estate registry refused the application key (HTTP {status})")
    if status != 200:
        raise BadLegacyData(f"unexpected HTTP {status}", row=where)
    media_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in {"application/xml", "text/xml"}:
        raise BadLegacyData(f"answer is {media_type or 'untyped'}, not XML", row=where)
    return parse_document(body, where)


def _certificate(title: Title) -> CertificateRecord:
    """One 不动产权证书 for the license sync; its certificate number is the stable source id."""
    first = title.owners[0]
    return CertificateRecord(
        license_type=LICENSE_TYPE,
        source_id=title.certificate_no,
        source_version=str(title.sequence),
        holder=Subject(SubjectType.ID_CARD, first.id_number),
        holder_name=first.name,
        issued_on=title.registered_on,
        valid_from=title.registered_on,
        valid_to=None,
        fields=title.items(),
        cancelled=not title.live,
    )


def _parse_watermark(watermark: str | None) -> int:
    if watermark is None:
        return 0
    if not watermark.isascii() or not watermark.isdigit():
        raise ValueError(f"not a real-estate change watermark: {watermark!r}")
    return int(watermark)


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 3)
