"""The 居民户口簿 change feed: order, resume, re-yield on change, cancellation."""

from __future__ import annotations

from datetime import date

import pytest

from adapters.base import Subject
from adapters.errors import SubjectNotFound
from adapters.household import HouseholdAdapter
from adapters.household.datasets import HOUSEHOLD_REGISTER, PERSON_BASIC
from adapters.household.simulator import read_only_url

from .conftest import quiet_guard
from .test_adapter import expected_booklet


@pytest.fixture(scope="module")
def paged(system) -> HouseholdAdapter:
    """Small pages, so every test crosses page boundaries."""
    return HouseholdAdapter(read_only_url(system.path), guard=quiet_guard(), page_size=7)


@pytest.fixture(scope="module")
def feed(paged):
    return list(paged.changes_since(None))


def test_one_record_per_household_equal_to_the_truth(feed, households):
    by_number = {household.number: household for household in households}
    assert sorted(change.record.source_id for change in feed) == sorted(by_number)
    for change in feed:
        record, household = change.record, by_number[change.record.source_id]
        assert record.license_type == "household_register"
        assert record.holder == Subject.parse("id_card", household.head.citizen_id)
        assert record.holder_name == household.head.name
        assert record.issued_on == record.valid_from == household.registered_on
        assert record.valid_to is None and not record.cancelled
        assert dict(record.fields) == expected_booklet(household)


def test_oldest_first_with_increasing_watermarks(feed):
    watermarks = [change.watermark for change in feed]
    assert watermarks == sorted(watermarks) and len(set(watermarks)) == len(watermarks)


def test_resuming_from_any_watermark_yields_exactly_the_rest(paged, feed):
    for position in (0, 6, 7, 13, 50, len(feed) - 2, len(feed) - 1):
        rest = [
            (c.record.source_id, c.record.source_version)
            for c in paged.changes_since(feed[position].watermark)
        ]
        assert rest == [(c.record.source_id, c.record.source_version) for c in feed[position + 1 :]]


def test_a_malformed_watermark_is_refused(paged):
    with pytest.raises(ValueError, match="watermark"):
        next(paged.changes_since("20260101' OR 1=1 --"))


def test_cancel_one_is_reported_last_as_cancelled(fresh, households, feed):
    system = fresh()
    adapter = system.adapter(guard=quiet_guard())
    number = system.cancel_one()
    changes = list(adapter.changes_since(feed[-1].watermark))
    assert [(c.record.source_id, c.record.cancelled) for c in changes] == [(number, True)]
    before = next(c.record for c in feed if c.record.source_id == number)
    assert changes[0].record.source_version != before.source_version
    assert changes[0].record.holder == before.holder
    assert changes[0].watermark > feed[-1].watermark
    household = next(h for h in households if h.number == number)
    member = Subject.parse("id_card", household.members[0].citizen_id)
    assert adapter.lookup(PERSON_BASIC, member, ["status"]) == {"status": "deregistered"}
    with pytest.raises(SubjectNotFound):
        adapter.lookup(HOUSEHOLD_REGISTER, member, ["household_no"])
    assert list(adapter.changes_since(changes[0].watermark)) == []
    assert system.cancel_one() != number


def test_a_deregistered_member_re_yields_the_household_with_a_new_version(fresh, households, feed):
    system = fresh()
    adapter = system.adapter(guard=quiet_guard())
    household = next(h for h in households if sum(p.alive for p in h.members) >= 2)
    leaving = household.members[-1]
    system.deregister(leaving.citizen_id, date(2026, 11, 1))
    changes = list(adapter.changes_since(feed[-1].watermark))
    assert [c.record.source_id for c in changes] == [household.number]
    before = next(c.record for c in feed if c.record.source_id == household.number)
    after = changes[0].record
    assert after.source_version != before.source_version and not after.cancelled
    assert leaving.citizen_id not in [m["id_number"] for m in after.fields["members"]]
    assert adapter.lookup(
        PERSON_BASIC, Subject.parse("id_card", leaving.citizen_id), ["deregistered_on"]
    ) == {"deregistered_on": "2026-11-01"}
    # the last member leaving cancels the household
    for member in household.members:
        if member.alive and member is not leaving:
            system.deregister(member.citizen_id, date(2026, 11, 2))
    last = list(adapter.changes_since(changes[0].watermark))
    assert last[-1].record.source_id == household.number and last[-1].record.cancelled
