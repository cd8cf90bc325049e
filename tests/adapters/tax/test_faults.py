"""Each injected fault makes the drop directory fail realistically and maps to one typed error."""

from __future__ import annotations

import time

import pytest

from adapters.base import Subject
from adapters.errors import BadLegacyData, LegacyTimeout, LegacyUnavailable
from adapters.population import Population
from adapters.resilience import LegacyGuard
from adapters.simulation import Fault
from adapters.tax.datasets import CERTIFICATE, REGISTRATION
from adapters.tax.simulator import MARKER, TaxSystem

from .conftest import quiet_guard


@pytest.fixture
def subject(population: Population) -> Subject:
    return Subject.parse("id_card", next(p for p in population.persons_iter() if p.tax_payments).citizen_id)


def _new_files(system: TaxSystem, before: set[str]) -> list[str]:
    return sorted({p.name for p in system.outbox.iterdir()} - before)


def test_every_fault_is_supported(fresh: TaxSystem):
    assert fresh.supported_faults == frozenset(Fault)


def test_unmounted_drop_directory_is_unavailable(fresh: TaxSystem, subject: Subject):
    adapter = fresh.adapter(guard=quiet_guard())
    assert adapter.lookup(REGISTRATION, subject, ["status"]) == {"status": "1"}
    fresh.inject(Fault.UNAVAILABLE)
    assert not fresh.outbox.exists()
    with pytest.raises(LegacyUnavailable, match="unreachable"):
        adapter.lookup(REGISTRATION, subject, ["status"])
    with pytest.raises(LegacyUnavailable):
        list(adapter.changes_since(None))
    health = adapter.health()
    assert not health.ok and "unreachable" in health.detail
    fresh.heal()
    assert adapter.lookup(REGISTRATION, subject, ["status"]) == {"status": "1"}
    assert adapter.health().ok


def test_a_transfer_hanging_past_the_deadline_times_out(fresh: TaxSystem, subject: Subject):
    adapter = fresh.adapter(guard=quiet_guard(), timeout=0.3)
    before = {p.name for p in fresh.outbox.iterdir()}
    fresh.inject(Fault.TIMEOUT, subject)
    (hanging,) = _new_files(fresh, before)
    assert not hanging.endswith(MARKER)
    started = time.monotonic()
    with pytest.raises(LegacyTimeout, match="in transfer"):
        adapter.lookup(CERTIFICATE, subject, ["total_amount"])
    assert 0.3 <= time.monotonic() - started < 2
    assert adapter.health().ok and "1 in transfer" in adapter.health().detail
    fresh.heal()
    assert {p.name for p in fresh.outbox.iterdir()} == before
    assert adapter.lookup(CERTIFICATE, subject, ["total_amount"])


def test_garbage_about_a_subject_is_bad_data_naming_file_and_line(fresh: TaxSystem, subject: Subject):
    adapter = fresh.adapter(guard=quiet_guard())
    before = {p.name for p in fresh.outbox.iterdir()}
    fresh.inject(Fault.GARBAGE, subject)
    data, marker = _new_files(fresh, before)
    assert marker == data + MARKER
    assert subject.value.encode() in (fresh.outbox / data).read_bytes()
    with pytest.raises(BadLegacyData, match="not valid GBK") as caught:
        adapter.lookup(REGISTRATION, subject, ["status"])
    assert caught.value.row == f"{data}:2"
    assert not adapter.health().ok
    fresh.heal()
    assert adapter.lookup(REGISTRATION, subject, ["status"]) == {"status": "1"}


def test_garbage_for_everyone_is_a_wrong_trailer_count(fresh: TaxSystem, subject: Subject):
    adapter = fresh.adapter(guard=quiet_guard())
    before = {p.name for p in fresh.outbox.iterdir()}
    fresh.inject(Fault.GARBAGE)
    data, _ = _new_files(fresh, before)
    with pytest.raises(BadLegacyData, match="trailer counts 2 records") as caught:
        adapter.lookup(CERTIFICATE, subject, ["payments"])
    assert caught.value.row == f"{data}:3"
    fresh.heal()
    assert adapter.lookup(CERTIFICATE, subject, ["total_amount"])


def test_repeated_failures_open_the_circuit(fresh: TaxSystem, subject: Subject):
    adapter = fresh.adapter(guard=LegacyGuard("tax-circuit", fail_max=2, retries=0, reset_timeout=60))
    fresh.inject(Fault.UNAVAILABLE)
    for _ in range(2):
        with pytest.raises(LegacyUnavailable):
            adapter.lookup(REGISTRATION, subject, ["status"])
    fresh.heal()
    with pytest.raises(LegacyUnavailable, match="circuit open"):
        adapter.lookup(REGISTRATION, subject, ["status"])
    health = adapter.health()
    assert health.ok and health.circuit == "open"


def test_close_leaves_the_store_as_it_was(fresh: TaxSystem, subject: Subject):
    before = {p.name for p in fresh.outbox.iterdir()}
    fresh.inject(Fault.GARBAGE, subject)
    fresh.inject(Fault.TIMEOUT)
    fresh.inject(Fault.UNAVAILABLE)
    fresh.close()
    assert {p.name for p in fresh.outbox.iterdir()} == before
