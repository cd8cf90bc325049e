"""Every fault of the legacy interface becomes one typed error; healing restores service."""

from __future__ import annotations

import socket
import time

import pytest

from adapters.base import Subject
from adapters.errors import BadLegacyData, LegacyTimeout, LegacyUnavailable
from adapters.real_estate.adapter import RealEstateAdapter
from adapters.real_estate.datasets import PERSONAL, TITLE
from adapters.resilience import LegacyGuard
from adapters.simulation import Fault
from tests.adapters.real_estate.conftest import quick_guard
from tests.adapters.real_estate.truth import holdings, persons, properties


@pytest.fixture(scope="module")
def owned(population):
    """Two live titles of different households, each with its first owner."""
    live = [p for p in properties(population) if p.cancelled_on is None]
    first = live[0]
    second = next(
        p for p in live if not {o.citizen_id for o in p.owners} & {o.citizen_id for o in first.owners}
    )
    return first, second


def unit(prop) -> Subject:
    return Subject.parse("property_unit", prop.unit_number)


def owner(prop) -> Subject:
    return Subject.parse("id_card", prop.owners[0].citizen_id)


def test_supported_faults(system):
    assert system.supported_faults == frozenset(Fault)


def test_unavailable_is_legacy_unavailable_until_healed(system, owned):
    adapter = system.adapter(guard=quick_guard())
    system.inject(Fault.UNAVAILABLE)
    with pytest.raises(LegacyUnavailable, match="503"):
        adapter.lookup(TITLE, unit(owned[0]), ["status"])
    with pytest.raises(LegacyUnavailable):
        list(adapter.changes_since(None))
    health = adapter.health()
    assert not health.ok and "503" in health.detail
    system.heal()
    assert adapter.lookup(TITLE, unit(owned[0]), ["status"]) == {"status": "1"}
    assert adapter.health().ok


def test_connection_refused_is_legacy_unavailable(system, owned):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    adapter = RealEstateAdapter(f"http://127.0.0.1:{port}", app_key="k", timeout=1, guard=quick_guard())
    with pytest.raises(LegacyUnavailable, match="unreachable"):
        adapter.lookup(TITLE, unit(owned[0]), ["status"])
    assert not adapter.health().ok


def test_a_hanging_registry_is_legacy_timeout_within_the_deadline(system, owned):
    adapter = system.adapter(guard=quick_guard(), timeout=0.25)
    system.inject(Fault.TIMEOUT)
    started = time.monotonic()
    with pytest.raises(LegacyTimeout):
        adapter.lookup(PERSONAL, owner(owned[0]), ["has_property"])
    health = adapter.health()
    assert time.monotonic() - started < 2.0
    assert not health.ok and "within" in health.detail
    system.heal()
    assert adapter.lookup(PERSONAL, owner(owned[0]), ["has_property"]) == {"has_property": True}


def test_retries_then_the_circuit_opens(system, owned):
    guard = LegacyGuard("re-circuit", fail_max=3, retries=1, backoff_initial=0.001, backoff_max=0.002)
    adapter = system.adapter(guard=guard)
    system.inject(Fault.UNAVAILABLE)
    with pytest.raises(LegacyUnavailable):
        adapter.lookup(TITLE, unit(owned[0]), ["status"])  # two attempts
    with pytest.raises(LegacyUnavailable):
        adapter.lookup(TITLE, unit(owned[0]), ["status"])  # the third failure opens the circuit
    system.heal()
    with pytest.raises(LegacyUnavailable, match="circuit open"):
        adapter.lookup(TITLE, unit(owned[0]), ["status"])
    assert adapter.health().circuit == "open"


@pytest.mark.parametrize(
    ("mode", "where"),
    [
        ("area", "dj:JZMJ"),
        ("unit_number", "dj:BDCDYH"),
        ("namespace", "/jh:Message/jh:Data/dj:BDCDJXX[1]"),
        ("malformed", "GET /bdcdj/v1/"),
        ("count", "GET /bdcdj/v1/"),
    ],
)
def test_garbage_about_a_subject_is_bad_legacy_data_naming_the_place(system, owned, mode, where):
    first, second = owned
    adapter = system.adapter(guard=quick_guard())
    system.inject(Fault.GARBAGE, unit(first), mode=mode)
    with pytest.raises(BadLegacyData) as caught:
        adapter.lookup(TITLE, unit(first), ["status"])
    assert where in caught.value.row
    if mode in {"area", "unit_number"}:
        assert first.unit_number in caught.value.row  # the record is named
    with pytest.raises(BadLegacyData):
        adapter.lookup(PERSONAL, owner(first), ["properties"])  # the same record, reached by owner
    assert adapter.lookup(TITLE, unit(second), ["status"]) == {"status": "1"}  # others are unaffected


def test_garbage_about_a_person_who_owns_nothing_still_fails(system, population):
    person = next(p for p, h in persons(population) if not holdings(p, h)["has_property"])
    adapter = system.adapter(guard=quick_guard())
    subject = Subject.parse("id_card", person.citizen_id)
    system.inject(Fault.GARBAGE, subject)
    with pytest.raises(BadLegacyData, match="JLS"):
        adapter.lookup(PERSONAL, subject, ["has_property"])
    system.heal()
    assert adapter.lookup(PERSONAL, subject, ["has_property"]) == {"has_property": False}


def test_garbage_everywhere_breaks_the_change_feed(system):
    adapter = system.adapter(guard=quick_guard())
    system.inject(Fault.GARBAGE)
    with pytest.raises(BadLegacyData) as caught:
        next(adapter.changes_since(None))
    assert "GET /bdcdj/v1/bgjl?qsxh=0 /jh:Message/jh:Data/dj:BDCDJXX[1]/dj:JZMJ" in caught.value.row
    assert adapter.health().ok  # the probe itself still answers


def test_a_wrong_application_key_is_refused(system, owned):
    adapter = RealEstateAdapter(system.url, app_key="not-the-key", guard=quick_guard())
    with pytest.raises(LegacyUnavailable, match="application key") as caught:
        adapter.lookup(TITLE, unit(owned[0]), ["status"])
    assert "not-the-key" not in str(caught.value)


def test_unknown_garbage_mode_is_refused(system):
    with pytest.raises(ValueError, match="garbage mode"):
        system.inject(Fault.GARBAGE, mode="fire")
