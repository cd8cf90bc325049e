"""The legacy API as the bureau's gateway serves it: signatures, envelope, paging and its quirks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from adapters.base import Subject
from adapters.errors import BadLegacyData, LegacyUnavailable
from adapters.population import Population
from adapters.social_insurance.adapter import (
    CHANGES,
    CONTRIBUTIONS,
    PERSON,
    AppCredentials,
    SocialInsuranceAdapter,
    canonical_request,
    sign_request,
)
from adapters.social_insurance.datasets import CERTIFICATE, ENROLMENT
from adapters.social_insurance.simulator import CREDENTIALS_FILE, SocialInsuranceSystem

from . import truth
from .conftest import quiet_guard


@pytest.fixture(scope="module")
def credentials(store: Path) -> AppCredentials:
    return AppCredentials.load(store / CREDENTIALS_FILE)


@pytest.fixture(scope="module")
def insured(population: Population):
    """A contributing person whose history is long enough to span several pages."""
    return next(
        p
        for p in population.persons_iter()
        if truth.contributing_job(p, population)
        and truth.enrolment(p, population)["contribution_months"] > 60
    )


def _get(
    system: SocialInsuranceSystem, credentials: AppCredentials, path: str, query: list, **sign
) -> httpx.Response:
    headers = sign_request(credentials, "GET", path, query, **sign)
    return httpx.get(system.url + path, params=query, headers=headers, timeout=5)


def test_the_signature_is_base64_hmac_sha256_over_the_documented_canonical_string():
    credentials = AppCredentials("si0123456789abcdef", "s3cret")
    headers = sign_request(
        credentials,
        "GET",
        "/api/v1/person/contributions",
        [("page_size", "100"), ("aac002", "33010619900101001X"), ("page", "2")],
        now_ms=1_790_000_000_000,
        nonce="00112233445566778899aabbccddeeff",
    )
    canonical = (
        "GET\n/api/v1/person/contributions\naac002=33010619900101001X&page=2&page_size=100\n"
        "1790000000000\n00112233445566778899aabbccddeeff\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"  # SHA-256 of the empty body
    )
    expected = base64.b64encode(hmac.new(b"s3cret", canonical.encode(), hashlib.sha256).digest()).decode()
    assert headers == {
        "X-App-Key": "si0123456789abcdef",
        "X-Timestamp": "1790000000000",
        "X-Nonce": "00112233445566778899aabbccddeeff",
        "X-Signature-Method": "HmacSHA256",
        "X-Signature": expected,
    }
    # unreserved characters stay, everything else is percent-encoded (RFC 3986), then sorted
    assert canonical_request("GET", "/p", [("b", "中 文"), ("a", "x~y")], "1", "n", b"").split("\n")[2] == (
        "a=x~y&b=%E4%B8%AD%20%E6%96%87"
    )


def test_the_gateway_refuses_unsigned_forged_stale_and_replayed_requests_under_http_200(
    system: SocialInsuranceSystem, credentials: AppCredentials, insured
):
    query = [("aac002", insured.citizen_id)]
    unsigned = httpx.get(system.url + PERSON, params=query, timeout=5)
    forged = _get(system, AppCredentials(credentials.app_key, "not-the-secret"), PERSON, query)
    stranger = _get(system, AppCredentials("si-unknown", credentials.app_secret), PERSON, query)
    stale = _get(system, credentials, PERSON, query, now_ms=int(time.time() * 1000) - 301_000)
    first = _get(system, credentials, PERSON, query, nonce="a-nonce-used-twice")
    replay = _get(system, credentials, PERSON, query, nonce="a-nonce-used-twice")
    codes = [r.json()["code"] for r in (unsigned, stranger, forged, stale, first, replay)]
    assert codes == ["1001", "1002", "1003", "1004", "0000", "1005"]
    assert {r.status_code for r in (unsigned, stranger, forged, stale, replay)} == {200}
    assert forged.json()["message"] == "签名验证失败"


def test_a_wrong_secret_is_unavailable_and_the_secret_is_never_shown(
    system: SocialInsuranceSystem, credentials: AppCredentials, insured
):
    wrong = AppCredentials(credentials.app_key, "wrong-secret-value")
    adapter = SocialInsuranceAdapter(system.url, wrong, guard=quiet_guard(), timeout=2)
    with pytest.raises(LegacyUnavailable, match="1003") as caught:
        adapter.lookup(ENROLMENT, Subject.parse("id_card", insured.citizen_id), ["name"])
    assert "wrong-secret-value" not in str(caught.value) and "wrong-secret-value" not in repr(wrong)
    assert credentials.app_secret not in repr(credentials)
    adapter.close()


def test_business_errors_come_back_under_http_200(
    system: SocialInsuranceSystem, credentials: AppCredentials, insured
):
    missing = _get(system, credentials, PERSON, [("aac002", "110101195001019987")])
    assert missing.status_code == 200 and missing.json()["code"] == "3001"
    too_big = _get(system, credentials, CONTRIBUTIONS, [("aac002", insured.citizen_id), ("page_size", "101")])
    assert too_big.status_code == 200 and too_big.json()["code"] == "2001"
    assert too_big.json()["message"] == "参数错误: page_size 取值 1-100"


def test_monthly_records_carry_the_legacy_quirks(
    system: SocialInsuranceSystem, credentials: AppCredentials, insured, population: Population
):
    query = [("aac002", insured.citizen_id), ("page", "1"), ("page_size", "100")]
    response = _get(system, credentials, CONTRIBUTIONS, query)
    assert response.headers["content-type"] == "application/json;charset=UTF-8"
    envelope = json.loads(response.content, parse_float=Decimal)
    assert (envelope["code"], envelope["message"]) == ("0000", "成功")
    data = envelope["data"]
    assert data["page"] == 1 and data["page_size"] == 100 and data["total"] > 100
    records = data["list"]
    assert {type(r["AAE003"]) for r in records} == {int, str}  # AAE003 as a number and as a string
    assert {type(r["AAE180"]) for r in records} == {str, int, Decimal}  # "8765.00", 8765, 8765.0
    assert {r["AAE140"] for r in records} <= {"11", "21", "31", "41", "51"}  # two-digit legacy codes
    first = records[0]
    assert int(first["AAE002"]) == int(first["AAE003"]) + 1  # the first month was paid the month after
    info = _get(system, credentials, PERSON, [("aac002", insured.citizen_id)]).json()["data"]
    assert info["AAC003"] != insured.name and info["AAC003"].strip() == insured.name.replace("·", "・")


def test_the_change_list_carries_each_persons_certificate_with_the_legacy_quirks(
    system: SocialInsuranceSystem, credentials: AppCredentials, population: Population
):
    plain = _get(system, credentials, CHANGES, [("page_size", "100")]).json()["data"]
    assert "jfzm" not in plain["list"][0] and "sjjzny" not in plain  # only when asked for
    response = _get(system, credentials, CHANGES, [("page_size", "100"), ("jfzm", "1")])
    data = json.loads(response.content, parse_float=Decimal)["data"]
    assert data["sjjzny"] == f"{population.as_of:%Y%m}"
    entries = data["list"]
    assert [e["cursor"] for e in entries] == [e["cursor"] for e in plain["list"]]
    spans = [span for entry in entries for span in entry["jfzm"]["list"]]
    assert {type(s["AAE041"]) for s in spans} == {int, str}  # YYYYMM as a number and as a string
    assert None in {s["AAE042"] for s in spans}  # still paying: no end month
    assert {type(s["AAE180"]) for s in spans} == {str, int, Decimal}
    assert {s["AAE140"] for s in spans} == {"11", "21", "31", "41", "51"}
    persons = {p.citizen_id: p for p in population.persons_iter()}
    for entry in entries:
        person, certificate = persons[entry["AAC002"]], entry["jfzm"]
        jobs = truth.registered_jobs(person, population)
        assert certificate["ljjfys"] == str(truth.enrolment(person, population)["contribution_months"])
        assert len(certificate["list"]) == sum(4 + (job.start <= truth.MATERNITY_LAST) for job in jobs)
        starts = [int(span["AAE041"]) for span in certificate["list"]]
        assert starts == sorted(starts)  # as a printed certificate lists them
    refused = _get(system, credentials, CHANGES, [("jfzm", "yes")]).json()
    assert refused["code"] == "2001" and "jfzm" in refused["message"]


def test_the_adapter_pages_whenever_total_exceeds_the_page_size(
    system: SocialInsuranceSystem, credentials: AppCredentials, insured, population: Population
):
    requests: list[str] = []

    class Counting(httpx.HTTPTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            requests.append(request.url.path)
            return super().handle_request(request)

    small = SocialInsuranceAdapter(
        system.url, credentials, guard=quiet_guard(), page_size=7, transport=Counting()
    )
    subject = Subject.parse("id_card", insured.citizen_id)
    items = ["name", "contribution_history", "contribution_months", "as_of_month"]
    assert small.lookup(CERTIFICATE, subject, items) == truth.certificate(insured, population)
    probe = _get(system, credentials, CONTRIBUTIONS, [("aac002", insured.citizen_id), ("page_size", "1")])
    total = probe.json()["data"]["total"]
    assert total > 7
    assert requests.count(CONTRIBUTIONS) == -(-total // 7) and requests.count(PERSON) == 1
    small.close()


def _mock_adapter(records: list[dict], total: int | None = None) -> SocialInsuranceAdapter:
    """An adapter whose transport answers one page of ``records`` (for quirks the simulator never makes)."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == PERSON:
            data = {
                "AAC001": "3301000000000001",
                "AAC002": request.url.params["aac002"],
                "AAC003": "王芳",
                "AAC008": "1",
                "AAB001": "3300000001",
                "AAB004": "杭州华信科技有限公司",
                "insurances": [{"AAE140": "110", "AAC031": "1"}],
            }
        else:
            data = {"total": len(records) if total is None else total, "sjjzny": 202610, "list": records}
        return httpx.Response(
            200, content=json.dumps({"code": "0000", "message": "成功", "data": data}, default=float).encode()
        )

    credentials = AppCredentials("k", "s")
    return SocialInsuranceAdapter(
        "http://si.invalid", credentials, guard=quiet_guard(), transport=httpx.MockTransport(handler)
    )


def _record(month, base, kind="11") -> dict:
    return {
        "AAE002": str(month),
        "AAE003": month,
        "AAE140": kind,
        "AAE180": base,
        "AAB001": "3300000001",
        "AAB004": "杭州华信科技有限公司 ",
    }


SUBJECT = Subject.parse("id_card", "11010519491231002X")


def test_amounts_in_any_spelling_become_exact_decimals():
    adapter = _mock_adapter([_record(202609, " 8765.5 "), _record(202610, Decimal("8765.50"), "110")])
    answer = adapter.lookup(
        ENROLMENT, SUBJECT, ["latest_contribution_base", "contribution_months", "insurance_types"]
    )
    assert answer == {
        "latest_contribution_base": "8765.50",
        "contribution_months": 2,
        "insurance_types": ["110"],
    }


@pytest.mark.parametrize(
    ("record", "complaint"),
    [
        (_record(202313, "5000"), "AAE003"),
        (_record("2023-01", "5000"), "AAE003"),
        (_record(202301, "-5000"), "AAE180"),
        (_record(202301, "5000.001"), "AAE180"),
        (_record(202301, True), "AAE180"),
        (_record(202301, "5000", kind="99"), "AAE140"),
        (_record(202611, "5000"), "AAE003"),  # after the data month
        ({**_record(202301, "5000"), "AAB004": "杭州\ufffd\ufffd公司"}, "AAB004"),
    ],
)
def test_impossible_records_are_bad_legacy_data_naming_page_index_and_field(record, complaint):
    adapter = _mock_adapter([_record(202212, "5000"), record])
    with pytest.raises(BadLegacyData) as caught:
        adapter.lookup(ENROLMENT, SUBJECT, ["contribution_months"])
    assert caught.value.row.endswith(f"page 1 index 1 field {complaint}")


def test_a_page_shorter_than_its_total_is_bad_legacy_data():
    adapter = _mock_adapter([_record(202301, "5000")], total=3)
    with pytest.raises(BadLegacyData, match="page holds 1 records") as caught:
        adapter.lookup(ENROLMENT, SUBJECT, ["contribution_months"])
    assert "page 1" in caught.value.row
