"""The license feed: every title once, oldest first, resumable anywhere, with cancellations."""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterator
from contextlib import closing

import pytest

from adapters.base import Subject
from adapters.errors import BadLegacyData
from adapters.population import Population
from adapters.real_estate.adapter import RealEstateAdapter
from adapters.real_estate.datasets import LICENSE_TYPE, PERSONAL, TITLE
from adapters.real_estate.simulator import APP_KEY_FILE, SIMULATOR, STORE, RunningRegistry
from adapters.simulation import Fault
from tests.adapters.real_estate.conftest import build_register, quick_guard
from tests.adapters.real_estate.truth import properties, title_items

PAGE = 7  # small pages, so the feed crosses many page boundaries


@pytest.fixture(scope="module")
def small() -> Population:
    return Population(150)


@pytest.fixture(scope="module")
def feed_registry(tmp_path_factory: pytest.TempPathFactory, small: Population) -> Iterator[RunningRegistry]:
    """A register of its own: these tests cancel titles."""
    root = build_register(tmp_path_factory.mktemp("real_estate_feed") / "registry", small)
    system = SIMULATOR.start(root)
    yield system
    system.close()


@pytest.fixture(scope="module")
def adapter(feed_registry: RunningRegistry) -> RealEstateAdapter:
    key = (feed_registry.root / APP_KEY_FILE).read_text()
    return RealEstateAdapter(feed_registry.url, app_key=key, page_size=PAGE, guard=quick_guard())


def test_the_feed_has_every_title_once_oldest_first(adapter, small):
    changes = list(adapter.changes_since(None))
    truth = {p.certificate_no: p for p in properties(small)}
    assert len(changes) == len(truth) > 2 * PAGE
    sequences = [int(c.watermark) for c in changes]
    assert sequences == sorted(set(sequences))
    for change in changes:
        record = change.record
        prop = truth[record.source_id]
        assert record.license_type == LICENSE_TYPE
        assert record.source_version == change.watermark
        assert record.holder == Subject.parse("id_card", prop.owners[0].citizen_id)
        assert record.holder_name == prop.owners[0].name
        assert record.issued_on == record.valid_from == prop.registered_on
        assert record.valid_to is None
        assert dict(record.fields) == title_items(prop)
        assert record.cancelled is (prop.cancelled_on is not None)


@pytest.mark.parametrize("position", [0, 1, PAGE - 1, PAGE, PAGE + 1, 20])
def test_resuming_from_any_watermark_yields_exactly_the_rest(adapter, position):
    changes = list(adapter.changes_since(None))
    rest = list(adapter.changes_since(changes[position].watermark))
    assert [c.record.source_id for c in rest] == [c.record.source_id for c in changes[position + 1 :]]


def test_resuming_from_the_last_watermark_yields_nothing(adapter):
    *_, last = adapter.changes_since(None)
    assert list(adapter.changes_since(last.watermark)) == []


def test_a_cancellation_appears_as_a_new_version_at_the_end(adapter, feed_registry, small):
    before = {c.record.source_id: c for c in adapter.changes_since(None)}
    *_, last = before.values()
    source_id = feed_registry.cancel_one()
    assert source_id in before and not before[source_id].record.cancelled
    after = list(adapter.changes_since(last.watermark))
    assert [c.record.source_id for c in after] == [source_id]
    record = after[0].record
    assert record.cancelled and record.fields["status"] == "2"
    assert record.source_version != before[source_id].record.source_version
    assert int(after[0].watermark) > int(last.watermark)
    # the title itself now answers 注销, and it left its owner's holdings
    unit = Subject.parse("property_unit", record.fields["unit_number"])
    assert adapter.lookup(TITLE, unit, ["status"]) == {"status": "2"}
    holdings = adapter.lookup(PERSONAL, record.holder, ["properties"])["properties"]
    assert record.fields["unit_number"] not in {p["unit_number"] for p in holdings}
    # and the whole feed still holds every title exactly once
    assert len(list(adapter.changes_since(None))) == len(before)


def test_cancel_one_stores_a_cancellation_registration(feed_registry):
    source_id = feed_registry.cancel_one()
    with closing(sqlite3.connect(feed_registry.root / STORE)) as db:
        status, cancelled_on, sequence = db.execute(
            "SELECT qszt, zxsj, xh FROM djxx WHERE xh = (SELECT MAX(xh) FROM djxx)"
        ).fetchone()
    assert (status, cancelled_on is not None) == ("2", True)
    assert feed_registry.cancel_one() != source_id  # the next one cancels another title


def test_the_feed_streams_page_by_page(adapter, feed_registry, small):
    """Corrupting a title on a later page does not stop the first page from being read."""
    late = list(properties(small))[3 * PAGE]
    feed_registry.inject(Fault.GARBAGE, Subject.parse("property_unit", late.unit_number))
    try:
        first_page = list(itertools.islice(adapter.changes_since(None), PAGE))
        assert len(first_page) == PAGE
        with pytest.raises(BadLegacyData, match=late.unit_number):
            list(adapter.changes_since(None))
    finally:
        feed_registry.heal()


def test_a_bad_watermark_is_refused(adapter):
    with pytest.raises(ValueError, match="watermark"):
        next(adapter.changes_since("abc"))
