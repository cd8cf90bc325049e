"""The change feed's certificate payload (``jfzm``): every legacy spelling is normalised, and anything
impossible in it is BadLegacyData naming the page, the entry's index and the span (mock transport, for
payloads the simulator never makes)."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest

from adapters.errors import BadLegacyData
from adapters.social_insurance.adapter import CHANGES, AppCredentials, SocialInsuranceAdapter
from exchange.identifiers import make_citizen_id

from .conftest import quiet_guard

AS_OF = 202610
UNIT = {"AAB001": "3300000001", "AAB004": "杭州华信科技有限公司 "}
PAGE = f"GET {CHANGES} page after cursor ''"


def _span(kind: Any, first: Any, last: Any, base: Any, **unit: Any) -> dict[str, Any]:
    return {"AAE140": kind, "AAE041": first, "AAE042": last, "AAE180": base, **UNIT, **unit}


def _entry(number: int, spans: list, months: Any, **extra: Any) -> dict[str, Any]:
    return {
        "AAC001": f"33010000000000{number:02d}",
        "AAC002": make_citizen_id("330106", date(1990, 1, number), 1),
        "AAC003": "阿依古丽・买买提  ",
        "AAC008": "1",
        "AAE036": "2026-10-31 00:00:00",
        "cursor": f"c{number}",
        "jfzm": {"ljjfys": months, "list": spans},
        **extra,
    }


GOOD = _entry(1, [_span("11", 202001, None, "5000.00"), _span("21", "202001", "202610", 5000)], "82")


def _adapter(*entries: dict[str, Any], **page: Any) -> SocialInsuranceAdapter:
    """An adapter whose change list is one page of ``entries``."""

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == CHANGES and request.url.params["jfzm"] == "1"
        data = {"list": list(entries), "has_more": False, "sjjzny": str(AS_OF), **page}
        envelope = {"code": "0000", "message": "成功", "data": data}
        return httpx.Response(200, content=json.dumps(envelope, default=float, ensure_ascii=False).encode())

    return SocialInsuranceAdapter(
        "http://si.invalid",
        AppCredentials("k", "s"),
        guard=quiet_guard(),
        transport=httpx.MockTransport(handler),
    )


def test_the_legacy_spellings_of_a_certificate_become_the_standard_fields():
    spans = [
        _span("11", 201801, "201812", 4000),  # a job ended, and another at the same unit and base
        _span("110", 201901, 201912, Decimal("4000.0")),  # joins it: one run 2018-01..2019-12
        _span(" 51 ", "201801", 201912, "4000"),
        _span("11", 202001, None, " 6543.5 ", AAB004="杭州华信科技有限公司"),  # open: to the data month
    ]
    [change] = _adapter(_entry(1, spans, 24 + 82)).changes_since(None)
    record = change.record
    assert record.holder_name == "阿依古丽·买买提" and change.watermark == "c1"
    assert record.fields == {
        "name": "阿依古丽·买买提",
        "contribution_history": [
            _run("2018-01", "2019-12", "110", "4000.00"),
            _run("2018-01", "2019-12", "510", "4000.00"),
            _run("2020-01", "2026-10", "110", "6543.50"),
        ],
        "contribution_months": 106,
        "as_of_month": "2026-10",
    }


def _run(first: str, last: str, kind: str, base: str) -> dict[str, str]:
    employer = "杭州华信科技有限公司"
    return {"from": first, "to": last, "insurance_type": kind, "base": base, "employer_name": employer}


@pytest.mark.parametrize(
    ("span", "complaint"),
    [
        (_span("11", "2023-01", None, "5000"), "AAE041"),
        (_span("11", 202313, None, "5000"), "AAE041"),
        (_span("11", 202611, None, "5000"), "AAE041"),  # starts after the data month
        (_span("11", 202301, 202611, "5000"), "AAE042"),  # ends after it
        (_span("11", 202302, 202301, "5000"), "AAE042"),  # ends before it starts
        (_span("11", 202301, "", "5000"), "AAE042"),
        (_span("11", 202301, None, "-5000"), "AAE180"),
        (_span("11", 202301, None, "5000.001"), "AAE180"),
        (_span("11", 202301, None, True), "AAE180"),
        (_span("99", 202301, None, "5000"), "AAE140"),
        (_span("11", 202301, None, "5000", AAB001=" "), "AAB001"),
        (_span("11", 202301, None, "5000", AAB004="杭州\ufffd\ufffd公司"), "AAB004"),
    ],
)
def test_an_impossible_span_names_page_entry_span_and_field(span, complaint):
    bad = _entry(2, [_span("21", 202301, None, "5000"), span], "46")
    with pytest.raises(BadLegacyData) as caught:
        list(_adapter(GOOD, bad).changes_since(None))
    assert caught.value.row == f"{PAGE} index 1 AAC001=3301000000000002 jfzm.list[1] field {complaint}"


@pytest.mark.parametrize(
    ("certificate", "row", "complaint"),
    [
        (None, "index 1", "field jfzm is missing"),
        ({"jfzm": []}, "index 1 AAC001=3301000000000002 jfzm", "not an object"),
        ({"jfzm": {"ljjfys": "0", "list": []}}, "index 1 AAC001=3301000000000002 jfzm", "single"),
        (
            {"jfzm": {"ljjfys": "1", "list": ["202301"]}},
            "index 1 AAC001=3301000000000002 jfzm.list[0]",
            "not an object",
        ),
        (
            {"jfzm": {"ljjfys": "83", "list": [_span("11", 202001, None, 1), _span("11", 202610, None, 2)]}},
            "index 1 AAC001=3301000000000002 jfzm.list[1]",
            "same month and insurance type",
        ),
        (
            {"jfzm": {"ljjfys": 81, "list": [_span("11", 202001, None, 1)]}},
            "index 1 AAC001=3301000000000002 jfzm field ljjfys",
            "ljjfys says 81 pension months, the spans hold 82",
        ),
        (
            {"jfzm": {"ljjfys": "八十二", "list": [_span("11", 202001, None, 1)]}},
            "index 1 AAC001=3301000000000002 jfzm field ljjfys",
            "not a count",
        ),
    ],
)
def test_an_impossible_certificate_names_page_and_entry(certificate, row, complaint):
    bad = _entry(2, [], "0")
    if certificate is None:
        del bad["jfzm"]
    else:
        bad.update(certificate)
    with pytest.raises(BadLegacyData, match=complaint) as caught:
        list(_adapter(GOOD, bad).changes_since(None))
    assert caught.value.row == f"{PAGE} {row}"


def test_a_page_without_its_data_month_is_bad_legacy_data():
    with pytest.raises(BadLegacyData, match="sjjzny") as caught:
        list(_adapter(GOOD, sjjzny="2026-10").changes_since(None))
    assert caught.value.row == f"{PAGE} field sjjzny"
