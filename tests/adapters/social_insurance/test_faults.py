"""Each way the legacy API fails becomes one typed error; the rate limit is waited out within the deadline."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from adapters.base import Subject
from adapters.errors import BadLegacyData, LegacyTimeout, LegacyUnavailable
from adapters.population import Person, Population
from adapters.simulation import Fault
from adapters.social_insurance.adapter import CHANGES, PERSON, SocialInsuranceAdapter, sign_request
from adapters.social_insurance.datasets import CERTIFICATE, DATASETS, EMPLOYER, ENROLMENT
from adapters.social_insurance.simulator import DEFAULT_BURST, DEFAULT_RATE, SIMULATOR, SocialInsuranceSystem

from . import truth
from .conftest import quiet_guard, write_store

ALL = [item.name for item in DATASETS[0].items]


@pytest.fixture(scope="module")
def small() -> Population:
    return Population(40)


@pytest.fixture(scope="module")
def broken_system(
    tmp_path_factory: pytest.TempPathFactory, small: Population
) -> Iterator[SocialInsuranceSystem]:
    running = SIMULATOR.start(write_store(tmp_path_factory.mktemp("si-faults") / "social_insurance", small))
    yield running
    running.close()


@pytest.fixture
def system(broken_system: SocialInsuranceSystem) -> Iterator[SocialInsuranceSystem]:
    yield broken_system
    broken_system.heal()
    broken_system.set_rate_limit(DEFAULT_RATE, DEFAULT_BURST)


@pytest.fixture(scope="module")
def person(small: Population) -> Person:
    return next(p for p in small.persons_iter() if truth.contributing_job(p, small))


@pytest.fixture(scope="module")
def subject(person: Person) -> Subject:
    return Subject.parse("id_card", person.citizen_id)


def _adapter(system: SocialInsuranceSystem, timeout: float = 2.0) -> SocialInsuranceAdapter:
    return SocialInsuranceAdapter(system.url, system._credentials, guard=quiet_guard(), timeout=timeout)


def test_a_503_from_the_gateway_is_unavailable_and_health_says_so(
    system: SocialInsuranceSystem, subject: Subject
):
    adapter = _adapter(system)
    assert adapter.health().ok
    system.inject(Fault.UNAVAILABLE)
    with pytest.raises(LegacyUnavailable, match="HTTP 503"):
        adapter.lookup(ENROLMENT, subject, ["name"])
    health = adapter.health()
    assert not health.ok and "503" in health.detail
    system.heal()
    assert adapter.lookup(ENROLMENT, subject, ["name"])


def test_the_feed_maps_an_unavailable_or_hanging_api_as_lookups_do(system: SocialInsuranceSystem):
    system.inject(Fault.UNAVAILABLE)
    with pytest.raises(LegacyUnavailable, match="HTTP 503"):
        next(iter(_adapter(system).changes_since(None)))
    system.heal()
    system.inject(Fault.TIMEOUT)
    started = time.perf_counter()
    with pytest.raises(LegacyTimeout, match="0.3 s"):
        next(iter(_adapter(system, timeout=0.3).changes_since(None)))
    assert 0.3 <= time.perf_counter() - started < 3.0  # the deadline, not a hang
    system.heal()
    assert next(iter(_adapter(system).changes_since(None))).record.fields


def test_a_refused_connection_is_unavailable(system: SocialInsuranceSystem, subject: Subject):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    adapter = SocialInsuranceAdapter(f"http://127.0.0.1:{port}", system._credentials, guard=quiet_guard())
    with pytest.raises(LegacyUnavailable, match="unreachable"):
        adapter.lookup(ENROLMENT, subject, ["name"])
    assert not adapter.health().ok


def test_a_hanging_api_is_a_timeout_at_the_deadline(system: SocialInsuranceSystem, subject: Subject):
    adapter = _adapter(system, timeout=0.3)
    system.inject(Fault.TIMEOUT)
    started = time.perf_counter()
    with pytest.raises(LegacyTimeout, match="0.3 s"):
        adapter.lookup(ENROLMENT, subject, ["name"])
    assert 0.3 <= time.perf_counter() - started < 3.0  # the deadline, not a hang
    assert not adapter.health().ok
    system.heal()
    assert adapter.lookup(ENROLMENT, subject, ["name"])


def test_malformed_json_is_bad_legacy_data_naming_the_endpoint(
    system: SocialInsuranceSystem, subject: Subject
):
    adapter = _adapter(system)
    system.inject(Fault.GARBAGE)
    with pytest.raises(BadLegacyData) as caught:
        adapter.lookup(ENROLMENT, subject, ["name"])
    assert caught.value.row == f"GET {PERSON} body"
    with pytest.raises(BadLegacyData):
        next(iter(adapter.changes_since(None)))


def test_a_corrupt_month_is_bad_legacy_data_naming_page_and_index(
    system: SocialInsuranceSystem, subject: Subject, person: Person, small: Population
):
    adapter = _adapter(system)
    system.inject(Fault.GARBAGE, subject)
    first = truth.registered_jobs(person, small)[0].start
    for dataset, items in ((ENROLMENT, ALL), (CERTIFICATE, ["contribution_history"])):
        with pytest.raises(BadLegacyData, match=f"AAE003 '?{first.year - 1}13") as caught:
            adapter.lookup(dataset, subject, items)
        assert caught.value.row.endswith("page 1 index 0 field AAE003")
    # the feed reads the system's own certificate: the span that starts in "month 13" is refused there
    with pytest.raises(BadLegacyData, match=f"AAE041 '?{first.year - 1}13") as caught:
        for change in adapter.changes_since(None):
            assert change.record.source_id != person.citizen_id
    assert caught.value.row == (
        f"GET {CHANGES} page after cursor '' index 0 AAC001={3_301_000_000_000_000 + person.index + 1} "
        "jfzm.list[0] field AAE041"
    )
    assert adapter.lookup(ENROLMENT, subject, ["name"]) == {"name": person.name}  # other rows are fine
    system.heal()
    assert adapter.lookup(ENROLMENT, subject, ALL) == truth.enrolment(person, small)


def test_a_mis_encoded_employer_name_is_bad_legacy_data(system: SocialInsuranceSystem, small: Population):
    adapter = _adapter(system)
    employer = next(small.employers())
    subject = Subject.parse("uscc", employer.uscc)
    system.inject(Fault.GARBAGE, subject)
    with pytest.raises(BadLegacyData, match="mis-encoded") as caught:
        adapter.lookup(EMPLOYER, subject, ["employer_name", "status"])
    assert caught.value.row.endswith(f"AAB001={employer.si_number} field AAB004")
    system.heal()
    assert adapter.lookup(EMPLOYER, subject, ["employer_name"]) == {"employer_name": employer.name}


def test_the_rate_limit_answers_429_and_the_adapter_waits_within_its_deadline(
    system: SocialInsuranceSystem, subject: Subject, person: Person, small: Population
):
    system.set_rate_limit(rate=2, burst=1)
    query = [("aac002", person.citizen_id)]
    with httpx.Client(base_url=system.url) as client:
        responses = [
            client.get(PERSON, params=query, headers=sign_request(system._credentials, "GET", PERSON, query))
            for _ in range(2)
        ]
    assert responses[0].json()["code"] == "0000"
    limited = responses[1]
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "1"
    assert limited.json()["code"] == "1006" and 0 < limited.json()["data"]["retry_after_ms"] <= 500

    system.set_rate_limit(rate=25, burst=1)
    started = time.perf_counter()
    answer = _adapter(system).lookup(ENROLMENT, subject, ALL)  # person, unit and pension pages: 4+ requests
    assert answer == truth.enrolment(person, small)
    assert time.perf_counter() - started >= 0.1  # it had to wait for tokens

    system.set_rate_limit(rate=0.5, burst=1)
    _adapter(system).health()  # takes the one token
    with pytest.raises(LegacyUnavailable, match="rate-limits"):
        _adapter(system, timeout=0.5).lookup(ENROLMENT, subject, ["name"])
