"""The change feed: every insured person's certificate, oldest change first, resumable, with terminations."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from adapters.base import Subject
from adapters.errors import BadLegacyData
from adapters.population import Population
from adapters.social_insurance.adapter import CHANGES, SocialInsuranceAdapter
from adapters.social_insurance.datasets import CERTIFICATE, EMPLOYER, ENROLMENT, LICENSE_TYPE
from adapters.social_insurance.simulator import DB_FILE, SIMULATOR, SocialInsuranceSystem

from . import truth
from .conftest import quiet_guard, write_store

PERSONS = 60  # the first 60 persons of the package's population


@pytest.fixture(scope="module")
def small() -> Population:
    return Population(PERSONS)


@pytest.fixture(scope="module")
def feed_store(tmp_path_factory: pytest.TempPathFactory, small: Population) -> Path:
    return write_store(tmp_path_factory.mktemp("si-feed") / "social_insurance", small)


@pytest.fixture(scope="module")
def feed_system(feed_store: Path) -> Iterator[SocialInsuranceSystem]:
    running = SIMULATOR.start(feed_store)
    yield running
    running.close()


@pytest.fixture(scope="module")
def feed_adapter(feed_system: SocialInsuranceSystem) -> SocialInsuranceAdapter:
    return SocialInsuranceAdapter(
        feed_system.url, feed_system._credentials, guard=quiet_guard(), timeout=5, feed_page_size=7
    )


@pytest.fixture(scope="module")
def changes(feed_adapter: SocialInsuranceAdapter) -> list:
    return list(feed_adapter.changes_since(None))


def test_the_feed_holds_one_certificate_per_insured_person_equal_to_the_truth(changes, small: Population):
    insured = [p for p in small.persons_iter() if truth.is_insured(p, small)]
    assert len(changes) == len(insured) > 14  # more than two pages of seven
    for change, person in zip(changes, insured, strict=True):
        record = change.record
        assert record.license_type == LICENSE_TYPE
        assert record.source_id == person.citizen_id
        assert record.holder == Subject.parse("id_card", person.citizen_id)
        assert record.holder_name == person.name
        assert dict(record.fields) == truth.certificate(person, small)
        assert record.issued_on == record.valid_from == small.as_of and record.valid_to is None
        assert not record.cancelled
    assert len({c.record.source_version for c in changes}) == len(changes)
    assert len({c.watermark for c in changes}) == len(changes)


def test_a_page_of_certificates_is_one_request_whatever_the_histories_hold(
    feed_system: SocialInsuranceSystem, changes
):
    requests: list[str] = []

    class Counting(httpx.HTTPTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            requests.append(request.url.path)
            return super().handle_request(request)

    adapter = SocialInsuranceAdapter(
        feed_system.url,
        feed_system._credentials,
        guard=quiet_guard(),
        feed_page_size=7,
        transport=Counting(),
    )
    again = [(c.record.source_id, c.record.source_version, c.watermark) for c in adapter.changes_since(None)]
    assert again == [(c.record.source_id, c.record.source_version, c.watermark) for c in changes]
    assert requests == [CHANGES] * -(-len(changes) // 7)  # no contribution pages, no person info
    adapter.close()


def test_the_feed_and_the_certificate_lookup_agree_for_everyone(
    feed_adapter: SocialInsuranceAdapter, changes
):
    """The system's own certificate (the feed) and the monthly records (the lookup) say the same."""
    items = ["name", "contribution_history", "contribution_months", "as_of_month"]
    for change in changes:
        assert feed_adapter.lookup(CERTIFICATE, change.record.holder, items) == dict(change.record.fields)


def test_resuming_from_any_watermark_yields_exactly_the_rest(feed_adapter: SocialInsuranceAdapter, changes):
    keys = [(c.record.source_id, c.record.source_version, c.watermark) for c in changes]
    for index in (len(changes) - 9, len(changes) - 2):  # over a page boundary (7 a page), near the end
        rest = [
            (c.record.source_id, c.record.source_version, c.watermark)
            for c in feed_adapter.changes_since(keys[index][2])
        ]
        assert rest == keys[index + 1 :]
    assert list(feed_adapter.changes_since(changes[-1].watermark)) == []
    with pytest.raises(BadLegacyData, match="2002 游标无效"):
        next(iter(feed_adapter.changes_since("not-a-cursor-of-this-system")))


def test_a_terminated_enrolment_comes_last_as_a_cancellation(
    feed_system: SocialInsuranceSystem, feed_adapter: SocialInsuranceAdapter, changes, small: Population
):
    source_id = feed_system.cancel_one()
    after = list(feed_adapter.changes_since(changes[-1].watermark))
    assert [c.record.source_id for c in after] == [source_id]
    cancelled = after[0].record
    before = next(c.record for c in changes if c.record.source_id == source_id)
    assert cancelled.cancelled and not before.cancelled
    assert cancelled.source_version != before.source_version
    assert cancelled.fields == before.fields  # the history stays; only the enrolment ended
    assert list(feed_adapter.changes_since(after[0].watermark)) == []

    person = next(p for p in small.persons_iter() if p.citizen_id == source_id)
    subject = Subject.parse("id_card", source_id)
    assert feed_adapter.lookup(ENROLMENT, subject, ["insured_status", "insurance_types"]) == {
        "insured_status": "4",
        "insurance_types": [],
    }
    employer = small.employer(truth.contributing_job(person, small).employer)
    expected = truth.employer_record(employer, list(small.persons_iter()), small)["insured_count"] - 1
    answer = feed_adapter.lookup(EMPLOYER, Subject.parse("uscc", employer.uscc), ["insured_count"])
    assert answer == {"insured_count": expected}
    assert feed_system.cancel_one() != source_id  # the next termination is somebody else


def test_an_invalid_citizen_id_in_the_store_is_reported_with_its_row(
    feed_store: Path, feed_adapter: SocialInsuranceAdapter, changes
):
    victim = changes[9].record.source_id
    broken = victim[:-1] + ("0" if victim[-1] != "0" else "1")
    with sqlite3.connect(feed_store / DB_FILE) as db:
        db.execute("UPDATE ac01 SET aac002 = ? WHERE aac002 = ?", (broken, victim))
    try:
        with pytest.raises(BadLegacyData, match="not a valid citizen ID") as caught:
            list(feed_adapter.changes_since(changes[6].watermark))
        assert caught.value.row.endswith("index 2 field AAC002")
        assert "/api/v1/changes" in caught.value.row
    finally:
        with sqlite3.connect(feed_store / DB_FILE) as db:
            db.execute("UPDATE ac01 SET aac002 = ? WHERE aac002 = ?", (victim, broken))
    assert next(iter(feed_adapter.changes_since(changes[8].watermark))).record.source_id == victim
