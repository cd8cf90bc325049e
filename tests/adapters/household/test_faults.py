"""Each injected fault breaks the legacy interface itself and surfaces as one typed error."""

from __future__ import annotations

import threading
import time

import pytest

from adapters.base import Subject
from adapters.errors import BadLegacyData, LegacyTimeout, LegacyUnavailable
from adapters.household.datasets import HOUSEHOLD_REGISTER, PERSON_BASIC
from adapters.simulation import Fault

from .conftest import quiet_guard


def test_supported_faults(system):
    assert system.supported_faults == frozenset(Fault)


def test_unavailable_when_the_database_file_is_gone(fresh, households):
    system = fresh()
    adapter = system.adapter(guard=quiet_guard())
    person = Subject.parse("id_card", households[0].head.citizen_id)
    system.inject(Fault.UNAVAILABLE)
    assert not system.path.exists()
    with pytest.raises(LegacyUnavailable, match="unreachable"):
        adapter.lookup(PERSON_BASIC, person, ["name"])
    with pytest.raises(LegacyUnavailable):
        next(adapter.changes_since(None))
    health = adapter.health()
    assert not health.ok and "unreachable" in health.detail
    assert not system.path.exists()  # read-only: the adapter never creates an empty database
    system.heal()
    assert adapter.lookup(PERSON_BASIC, person, ["name"]) == {"name": households[0].head.name}
    assert adapter.health().ok


def test_timeout_when_another_session_holds_an_exclusive_lock(fresh, households):
    system = fresh()
    adapter = system.adapter(guard=quiet_guard(), timeout=0.2)
    person = Subject.parse("id_card", households[0].head.citizen_id)
    system.inject(Fault.TIMEOUT)
    started = time.monotonic()
    with pytest.raises(LegacyTimeout, match="deadline"):
        adapter.lookup(HOUSEHOLD_REGISTER, person, ["members"])
    assert 0.15 < time.monotonic() - started < 2.0
    with pytest.raises(LegacyTimeout):
        next(adapter.changes_since(None))
    assert not adapter.health().ok
    system.heal()
    assert adapter.lookup(PERSON_BASIC, person, ["name"]) == {"name": households[0].head.name}


def test_garbage_in_the_subjects_row(fresh, households):
    system = fresh()
    adapter = system.adapter(guard=quiet_guard())
    household = next(h for h in households if len(h.members) >= 2)
    victim, mate = household.members[1], household.members[0]
    system.inject(Fault.GARBAGE, Subject.parse("id_card", victim.citizen_id))
    with pytest.raises(BadLegacyData, match="CSRQ") as caught:
        adapter.lookup(PERSON_BASIC, Subject.parse("id_card", victim.citizen_id), ["name"])
    assert caught.value.row == f"RK_CZRKJBXX GMSFHM={victim.citizen_id}"
    # the household-mate's own record is fine, but the booklet that lists the victim is not
    assert adapter.lookup(PERSON_BASIC, Subject.parse("id_card", mate.citizen_id), ["name"])
    with pytest.raises(BadLegacyData) as caught:
        adapter.lookup(HOUSEHOLD_REGISTER, Subject.parse("id_card", mate.citizen_id), ["members"])
    assert caught.value.row == f"RK_CZRKJBXX GMSFHM={victim.citizen_id}"
    system.heal()
    assert adapter.lookup(PERSON_BASIC, Subject.parse("id_card", victim.citizen_id), ["birth_date"]) == {
        "birth_date": victim.birth_date.isoformat()
    }


def test_garbage_everywhere(fresh, households):
    system = fresh()
    adapter = system.adapter(guard=quiet_guard(fail_max=100))
    system.inject(Fault.GARBAGE)
    for household in households[::25]:
        person = household.members[-1]
        with pytest.raises(BadLegacyData, match="XB") as caught:
            adapter.lookup(PERSON_BASIC, Subject.parse("id_card", person.citizen_id), ["name"])
        assert caught.value.row == f"RK_CZRKJBXX GMSFHM={person.citizen_id}"
    with pytest.raises(BadLegacyData):
        next(adapter.changes_since(None))
    system.heal()
    assert sum(1 for _ in adapter.changes_since(None)) == len(households)


def test_the_circuit_opens_after_repeated_failures_and_health_says_so(fresh, households):
    system = fresh()
    adapter = system.adapter(guard=quiet_guard(fail_max=2, reset_timeout=60))
    person = Subject.parse("id_card", households[0].head.citizen_id)
    system.inject(Fault.UNAVAILABLE)
    for _ in range(2):
        with pytest.raises(LegacyUnavailable):
            adapter.lookup(PERSON_BASIC, person, ["name"])
    system.heal()
    with pytest.raises(LegacyUnavailable, match="circuit open"):
        adapter.lookup(PERSON_BASIC, person, ["name"])
    health = adapter.health()
    assert health.ok and health.circuit == "open"


def test_retries_ride_out_a_short_lock(fresh, households):
    """The default guard retries idempotent reads; a lock released meanwhile is not an error."""
    system = fresh()
    adapter = system.adapter(timeout=0.3)
    system.inject(Fault.TIMEOUT)
    threading.Timer(0.1, system.heal).start()
    person = households[0].head
    assert adapter.lookup(PERSON_BASIC, Subject.parse("id_card", person.citizen_id), ["name"]) == {
        "name": person.name
    }
