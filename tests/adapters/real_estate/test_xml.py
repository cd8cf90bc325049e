"""The registry's XML: namespaces by URI not prefix, legacy quirks, and hostile documents."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import httpx
import pytest

from adapters.base import Subject
from adapters.errors import BadLegacyData, LegacyTimeout, LegacyUnavailable
from adapters.real_estate.adapter import (
    API,
    APP_KEY_HEADER,
    ENVELOPE_NS,
    RECORD_NS,
    RealEstateAdapter,
    exact_decimal,
    parse_document,
    parse_share,
)
from adapters.real_estate.datasets import PERSONAL, TITLE
from exchange.identifiers import make_citizen_id
from tests.adapters.real_estate.conftest import quick_guard

UNIT = "330106001002GB00017F00120305"
OWNER_A = "11010519491231002X"
OWNER_B = "330102196305315532"
STRANGER = make_citizen_id("110105", date(1980, 1, 1), 1)


def record(ns: str = "", **overrides: str | None) -> str:
    """One BDCDJXX with the record elements under prefix ``ns`` ("" = default namespace)."""
    p = f"{ns}:" if ns else ""
    values = {
        "BDCDYH": UNIT,
        "BDCQZH": "浙（2019）杭州市不动产权第0000183号",
        "ZL": "西湖区文三路１２号3幢1203室",
        "GHYT": "10",
        "JZMJ": "89.5000",
        "QLLX": "4",
        "GYFS": "2",
        "DJSJ": "2019-03-05T10:23:00",
        "QSZT": "现势",
        "ZXSJ": None,
        "DYZT": "1",
        "DYQR": "杭州银行",
        "CFZT": "0",
    } | overrides
    body = "".join(f"<{p}{k}>{v}</{p}{k}>" for k, v in values.items() if v is not None)
    owners = (
        f"<{p}QLR><{p}QLRMC>阿依古丽•买买提</{p}QLRMC><{p}ZJZL>1</{p}ZJZL>"
        f"<{p}ZJH>{OWNER_A.lower()}</{p}ZJH><{p}QLBL>50%</{p}QLBL></{p}QLR>"
        f"<{p}QLR><{p}QLRMC>夏静</{p}QLRMC><{p}ZJZL>1</{p}ZJZL>"
        f"<{p}ZJH>{OWNER_B}</{p}ZJH><{p}QLBL>1/2</{p}QLBL></{p}QLR>"
    )
    return f'<{p}BDCDJXX XH="7">{body}<{p}QLRXX>{owners}</{p}QLRXX></{p}BDCDJXX>'


def document(
    *,
    env: str = "jh",
    rec: str = "",
    env_ns: str = ENVELOPE_NS,
    rec_ns: str = RECORD_NS,
    records: list[str] | None = None,
    head: str = "",
) -> bytes:
    """An envelope with the given prefixes (``""`` = that namespace is the default one)."""
    e = f"{env}:" if env else ""
    declarations = f'xmlns{":" + env if env else ""}="{env_ns}" xmlns{":" + rec if rec else ""}="{rec_ns}"'
    records = [record(rec)] if records is None else records
    text = (
        f'<?xml version="1.0" encoding="UTF-8"?><{e}Message {declarations}>'
        f"<{e}Head><{e}ZTDM>0000</{e}ZTDM><{e}JLS>{len(records)}</{e}JLS>{head}</{e}Head>"
        f"<{e}Data>{''.join(records)}</{e}Data></{e}Message>"
    )
    return text.encode()


def test_quirky_record_maps_to_standard_values():
    title = parse_document(document(), "test").titles[0]
    items = title.items()
    assert items["certificate_no"] == "浙(2019)杭州市不动产权第0000183号"  # full-width parentheses
    assert items["location"] == "西湖区文三路12号3幢1203室"  # full-width digits
    assert items["area"] == "89.5"  # survey precision "89.5000"
    assert items["use"] == "住宅"
    assert items["right_type"] == "国有建设用地使用权/房屋所有权"
    assert items["co_ownership"] == "按份共有"
    assert items["registered_on"] == "2019-03-05"  # date part of a dateTime
    assert items["status"] == "1"  # the old system's word 现势
    assert (items["mortgaged"], items["mortgagee"], items["seized"]) == (True, "杭州银行", False)
    assert items["owners"] == [
        {"name": "阿依古丽·买买提", "id_number": OWNER_A, "share": "0.5"},  # U+2022 -> U+00B7, x -> X
        {"name": "夏静", "id_number": OWNER_B, "share": "0.5"},
    ]
    assert title.sequence == 7


@pytest.mark.parametrize(
    ("env", "rec"),
    [("jh", ""), ("", "dj"), ("a", "b"), ("ns0", "ns1"), ("env", "djxx")],
)
def test_the_same_document_with_other_prefixes_parses_the_same(env, rec):
    reference = parse_document(document(), "test")
    assert parse_document(document(env=env, rec=rec), "test") == reference


def test_a_document_may_bind_the_envelope_prefix_to_the_record_namespace_only_by_uri():
    # prefix "dj" for the envelope namespace and "jh" for the records: URIs decide, not names
    assert parse_document(document(env="dj", rec="jh"), "t") == parse_document(document(), "t")


@pytest.mark.parametrize(
    ("options", "where"),
    [
        ({"rec_ns": "urn:bdc:djxx:2009"}, "/jh:Message/jh:Data/dj:BDCDJXX[1]"),
        ({"env_ns": "urn:bdc:jhxx:2009"}, "/"),
        ({"env_ns": RECORD_NS, "rec_ns": ENVELOPE_NS}, "/"),
    ],
)
def test_a_wrong_namespace_is_bad_legacy_data(options, where):
    with pytest.raises(BadLegacyData) as caught:
        parse_document(document(**options), "GET /x")
    assert caught.value.row.startswith(f"GET /x {where}")


def test_a_record_without_namespace_is_rejected():
    plain = record().replace("<BDCDJXX", '<BDCDJXX xmlns=""')
    with pytest.raises(BadLegacyData, match="unexpected element BDCDJXX"):
        parse_document(document(records=[plain]), "t")


XXE = b"""<?xml version="1.0"?>
<!DOCTYPE m [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<jh:Message xmlns:jh="urn:bdc:jhxx:2019"><jh:Head><jh:ZTDM>&xxe;</jh:ZTDM></jh:Head></jh:Message>"""
LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE m [<!ENTITY a "aaaaaaaaaa">'
    + b"".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">'.encode() for i in range(8))
    + b']><jh:Message xmlns:jh="urn:bdc:jhxx:2019"><jh:Head><jh:ZTXX>&i;</jh:ZTXX></jh:Head></jh:Message>'
)
DTD_ONLY = b'<?xml version="1.0"?><!DOCTYPE m SYSTEM "http://127.0.0.1:9/m.dtd"><m/>'


@pytest.mark.parametrize("body", [XXE, LAUGHS, DTD_ONLY], ids=["xxe", "billion-laughs", "external-dtd"])
def test_hostile_documents_are_rejected(body):
    with pytest.raises(BadLegacyData, match="forbidden XML construct"):
        parse_document(body, "GET /x")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("50%", "0.5"),
        ("0.5", "0.5"),
        ("1/2", "0.5"),
        ("100%", "1"),
        ("1", "1"),
        ("1/1", "1"),
        ("1.00", "1"),
        ("12.5%", "0.125"),
        ("１／４", "0.25"),
        ("２５％", "0.25"),
        ("3/8", "0.375"),
    ],
)
def test_shares_in_every_notation_become_exact_decimal_fractions(text, expected):
    assert exact_decimal(parse_share(text, "row")) == expected


@pytest.mark.parametrize("text", ["1/3", "0", "0%", "150%", "1/0", "abc", "-0.5", "2", "1e-1", "", "NaN"])
def test_bad_shares_are_bad_legacy_data(text):
    with pytest.raises(BadLegacyData) as caught:
        parse_share(text, "QLR[1]/QLBL")
    assert caught.value.row == "QLR[1]/QLBL"


@pytest.mark.parametrize(
    ("field", "value", "element"),
    [
        ("JZMJ", "-89.50", "dj:JZMJ"),
        ("JZMJ", "0", "dj:JZMJ"),
        ("JZMJ", "8.9e1", "dj:JZMJ"),
        ("JZMJ", None, "dj:JZMJ"),
        ("BDCDYH", "330106001002GB00017X00120305", "dj:BDCDYH"),
        ("BDCQZH", "2019-183", "dj:BDCQZH"),
        ("GHYT", "99", "dj:GHYT"),
        ("QLLX", "", "dj:QLLX"),
        ("GYFS", "0", "dj:QLRXX"),  # 单独所有 with two owners
        ("DJSJ", "2019-02-30", "dj:DJSJ"),
        ("DJSJ", "05/03/2019", "dj:DJSJ"),
        ("QSZT", "9", "dj:QSZT"),
        ("QSZT", "2", "dj:ZXSJ"),  # cancelled without a cancellation date
        ("DYQR", None, "dj:DYQR"),  # mortgaged without a mortgagee
        ("CFZT", "Y", "dj:CFZT"),
    ],
)
def test_inconsistent_records_name_the_xml_path(field, value, element):
    with pytest.raises(BadLegacyData) as caught:
        parse_document(document(records=[record(**{field: value})]), "GET /bdcdj/v1/bdcdy/x")
    row = caught.value.row
    assert row.startswith("GET /bdcdj/v1/bdcdy/x /jh:Message/jh:Data/dj:BDCDJXX[1]/"), row
    assert element in row


@pytest.mark.parametrize(
    ("before", "after", "element"),
    [
        (OWNER_B, "330102196305315533", "dj:QLR[2]/dj:ZJH"),  # bad check digit
        ("<dj:QLBL>1/2</dj:QLBL>", "<dj:QLBL>1/3</dj:QLBL>", "dj:QLR[2]/dj:QLBL"),
        ("<dj:QLBL>1/2</dj:QLBL>", "<dj:QLBL>40%</dj:QLBL>", "dj:QLRXX"),  # shares add up to 0.9
        ("<dj:ZJZL>1</dj:ZJZL><dj:ZJH>33", "<dj:ZJZL>6</dj:ZJZL><dj:ZJH>33", "dj:QLR[2]/dj:ZJZL"),
    ],
)
def test_bad_owner_rows_name_the_owner(before, after, element):
    text = record("dj").replace(before, after)
    with pytest.raises(BadLegacyData) as caught:
        parse_document(document(rec="dj", records=[text]), "t")
    assert element in caught.value.row


def test_record_count_must_match_the_head():
    body = document().replace(b"<jh:JLS>1</jh:JLS>", b"<jh:JLS>2</jh:JLS>")
    with pytest.raises(BadLegacyData, match="JLS=2"):
        parse_document(body, "t")


def test_legacy_status_codes():
    failing = document().replace(
        b"<jh:ZTDM>0000</jh:ZTDM>", b"<jh:ZTDM>9001</jh:ZTDM><jh:ZTXX>busy</jh:ZTXX>"
    )
    with pytest.raises(LegacyUnavailable, match="9001"):
        parse_document(failing, "t")
    refused = document().replace(b"<jh:ZTDM>0000</jh:ZTDM>", b"<jh:ZTDM>1001</jh:ZTDM>")
    with pytest.raises(BadLegacyData, match="1001"):
        parse_document(refused, "t")


# --- the same checks end to end, with the HTTP layer replaced by a function (httpx.MockTransport) ---


def adapter_answering(handler) -> RealEstateAdapter:
    return RealEstateAdapter(
        "http://registry.test",
        app_key="secret-key",
        guard=quick_guard(),
        transport=httpx.MockTransport(handler),
    )


def xml(body: bytes, status: int = 200) -> httpx.Response:
    return httpx.Response(status, content=body, headers={"content-type": "application/xml; charset=utf-8"})


def test_the_adapter_sends_its_key_and_asks_by_unit_and_by_owner():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.path, dict(request.url.params), request.headers[APP_KEY_HEADER]))
        return xml(document())

    adapter = adapter_answering(handler)
    assert adapter.lookup(TITLE, Subject.parse("property_unit", UNIT), ["area"]) == {"area": "89.5"}
    answer = adapter.lookup(PERSONAL, Subject.parse("id_card", OWNER_A), ["properties"])
    assert answer["properties"][0]["share"] == "0.5"
    assert seen == [
        (f"{API}/bdcdy/{UNIT}", {}, "secret-key"),
        (f"{API}/qlr", {"zjh": OWNER_A}, "secret-key"),
    ]


def test_an_answer_for_another_unit_is_bad_legacy_data():
    other = UNIT[:-1] + "6"
    adapter = adapter_answering(lambda request: xml(document(records=[record(BDCDYH=other)])))
    with pytest.raises(BadLegacyData, match="asked for unit"):
        adapter.lookup(TITLE, Subject.parse("property_unit", UNIT), ["area"])


def test_an_owner_query_answering_titles_of_someone_else_is_bad_legacy_data():
    adapter = adapter_answering(lambda request: xml(document()))
    with pytest.raises(BadLegacyData, match="asked owner 0 times") as caught:
        adapter.lookup(PERSONAL, Subject.parse("id_card", STRANGER), ["has_property"])
    assert STRANGER not in str(
        caught.value
    )  # the citizen ID stays out of error messages  # the citizen ID stays out of error messages


@pytest.mark.parametrize(
    ("response", "error", "text"),
    [
        (httpx.Response(503, text="Service Unavailable"), LegacyUnavailable, "HTTP 503"),
        (httpx.Response(500, text="oops"), LegacyUnavailable, "HTTP 500"),
        (httpx.Response(504, text="gateway"), LegacyTimeout, "gateway"),
        (httpx.Response(401, text="no"), LegacyUnavailable, "application key"),
        (httpx.Response(404, text="no route"), BadLegacyData, "HTTP 404"),
        (httpx.Response(200, json={"area": 1}), BadLegacyData, "not XML"),
        (xml(XXE), BadLegacyData, "forbidden XML construct"),
        (xml(document()[:-20]), BadLegacyData, "malformed XML"),
    ],
)
def test_http_failures_map_to_typed_errors(response, error, text):
    adapter = adapter_answering(lambda request: response)
    with pytest.raises(error, match=text) as caught:
        adapter.lookup(TITLE, Subject.parse("property_unit", UNIT), ["area"])
    assert "secret-key" not in str(caught.value)


def test_an_undecodable_body_is_bad_legacy_data():
    def handler(request: httpx.Request) -> httpx.Response:
        headers = {"content-encoding": "gzip", "content-type": "application/xml"}
        return httpx.Response(200, headers=headers, stream=httpx.ByteStream(b"not gzip"))

    with pytest.raises(BadLegacyData, match="DecodingError"):
        adapter_answering(handler).lookup(TITLE, Subject.parse("property_unit", UNIT), ["area"])


def test_transport_failures_map_to_typed_errors():
    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    unit = Subject.parse("property_unit", UNIT)
    with pytest.raises(LegacyUnavailable):
        adapter_answering(refused).lookup(TITLE, unit, ["area"])
    with pytest.raises(LegacyTimeout):
        adapter_answering(slow).lookup(TITLE, unit, ["area"])
    health = adapter_answering(refused).health()
    assert not health.ok and "unreachable" in health.detail


def test_exact_decimal_never_uses_exponents():
    assert exact_decimal(Decimal("1E+2")) == "100"
    assert exact_decimal(Decimal("90.00")) == "90"
    assert exact_decimal(Decimal("0.1250")) == "0.125"
