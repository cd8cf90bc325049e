"""The one contract every department adapter keeps, run against all four and the in-memory fake.

Each system is the simulated legacy system started over one shared synthetic population; the
adapter reaches it only through its legacy interface. What is checked here is what the hub, the
directory and the license sync rely on; each department's own tests check its legacy quirks.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pytest

from adapters.base import AccessMethod, Adapter, DatasetDeclaration, Match, SharingType, Subject, SubjectType
from adapters.errors import (
    BadLegacyData,
    LegacyTimeout,
    LegacyUnavailable,
    SubjectNotFound,
    UnknownDataset,
    UnknownItem,
    UnsupportedSubject,
)
from adapters.fake import FakeSystem
from adapters.population import Household, Person, Population, in_all_systems
from adapters.registry import DEPARTMENTS
from adapters.resilience import LegacyGuard
from adapters.simulation import Fault, RunningSystem, generate, running
from exchange.identifiers import make_citizen_id, validate_uscc

PERSONS = 240
SYSTEMS = [*DEPARTMENTS, "fake"]
RESOURCE_CODE = re.compile(r"^3(?P<item>\d{2})\d{3}\d{3}-\d{6}$")
DEPARTMENT_ITEM = {
    "household": "01",
    "tax": "02",
    "social_insurance": "03",
    "real_estate": "04",
    "fake": "99",
}
LICENSE_TYPES = {
    "household": {"household_register"},
    "tax": {"tax_payment_certificate"},
    "social_insurance": {"social_insurance_certificate"},
    "real_estate": {"real_estate_title"},
    "fake": {"fake_certificate"},
}
ITEM_TYPES = {"string", "date", "integer", "decimal", "boolean", "code", "array"}
# A valid citizen ID that no simulated system knows (born in Beijing, far outside the population).
STRANGER = Subject.parse("id_card", make_citizen_id("110101", date(1950, 1, 1), 998))


@dataclass
class Truth:
    population: Population
    person: Person  # known to every department
    household: Household
    employer_uscc: str
    unit_number: str


@pytest.fixture(scope="module")
def truth() -> Truth:
    population = Population(PERSONS)
    for household in population.households():
        for person in household.members:
            if in_all_systems(person, household):
                unit = next(p.unit_number for p in household.properties if p.cancelled_on is None)
                employer = population.employer(person.current_job.employer)
                return Truth(population, person, household, employer.uscc, unit)
    raise AssertionError("the population has nobody known to every department")


@pytest.fixture(scope="module")
def legacy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, RunningSystem]]:
    root = tmp_path_factory.mktemp("legacy")
    generate(root, PERSONS)
    with running(root) as systems:
        yield systems


@pytest.fixture(scope="module")
def fake(truth: Truth) -> Iterator[FakeSystem]:
    system = FakeSystem(truth.population)
    yield system
    system.close()


@pytest.fixture(params=SYSTEMS)
def department_id(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def system(department_id: str, request: pytest.FixtureRequest) -> Iterator[RunningSystem]:
    if department_id == "fake":
        system = request.getfixturevalue("fake")
    else:
        system = request.getfixturevalue("legacy")[department_id]
    yield system
    system.heal()


def _adapter(system: RunningSystem, **guard: float) -> Adapter:
    options = {"fail_max": 50, "retries": 1, "backoff_initial": 0.001, "backoff_max": 0.002} | guard
    return system.adapter(guard=LegacyGuard("contract", **options), timeout=0.5)


def _subject_for(dataset: DatasetDeclaration, truth: Truth) -> Subject:
    if SubjectType.ID_CARD in dataset.subject_types:
        return Subject.parse("id_card", truth.person.citizen_id)
    if SubjectType.USCC in dataset.subject_types:
        return Subject.parse("uscc", truth.employer_uscc)
    return Subject.parse("property_unit", truth.unit_number)


def _queryable(adapter: Adapter) -> list[DatasetDeclaration]:
    return [d for d in adapter.datasets() if AccessMethod.QUERY in d.access_methods]


# --- declarations --------------------------------------------------------------------------------


def test_the_adapter_is_the_registered_department(system: RunningSystem, department_id: str):
    adapter = _adapter(system)
    assert isinstance(adapter, Adapter)
    if department_id != "fake":
        assert adapter.department == DEPARTMENTS[department_id]
    validate_uscc(adapter.department.uscc)


def test_declarations_are_complete_for_the_directory(system: RunningSystem, department_id: str):
    adapter = _adapter(system)
    datasets = adapter.datasets()
    assert datasets
    codes = [d.code for d in datasets]
    assert len(codes) == len(set(codes))
    for dataset in datasets:
        match = RESOURCE_CODE.match(dataset.code)
        assert match, dataset.code
        assert match["item"] == DEPARTMENT_ITEM[department_id]
        assert dataset.name and dataset.summary and dataset.update_cycle
        assert dataset.subject_types
        names = [item.name for item in dataset.items]
        assert len(names) == len(set(names)), dataset.code
        for item in dataset.items:
            assert re.fullmatch(r"[a-z][a-z0-9_]*", item.name), item.name
            assert item.type in ITEM_TYPES, (dataset.code, item.name, item.type)
            assert item.title and item.standard_ref, (dataset.code, item.name)
            assert isinstance(item.personal, bool)
        if dataset.sharing_type is SharingType.NONE:
            assert not dataset.access_methods
        else:
            assert dataset.items and dataset.access_methods
        if dataset.sharing_type is SharingType.CONDITIONAL:
            assert dataset.sharing_conditions, dataset.code
        if AccessMethod.LICENSE in dataset.access_methods:
            assert dataset.license_type in LICENSE_TYPES[department_id]
        assert set(dataset.related) <= set(codes) - {dataset.code}, dataset.code
    assert any(AccessMethod.LICENSE in d.access_methods for d in datasets)


# --- lookup and verify -----------------------------------------------------------------------------


def _assert_typed(dataset: DatasetDeclaration, values: dict) -> None:
    json.dumps(values)  # JSON-ready, exactly as the hub will sign it
    for name, value in values.items():
        if value is None:
            continue
        kind = dataset.item(name).type
        if kind == "date":
            date.fromisoformat(value[:10])
        elif kind == "decimal":
            Decimal(value)
        elif kind == "integer":
            assert isinstance(value, int) and not isinstance(value, bool), (name, value)
        elif kind == "boolean":
            assert isinstance(value, bool), (name, value)
        elif kind == "array":
            assert isinstance(value, list), (name, value)
        else:
            assert isinstance(value, str), (name, value)


def test_lookup_answers_every_item_asked_and_only_those(system: RunningSystem, truth: Truth):
    adapter = _adapter(system)
    for dataset in _queryable(adapter):
        subject = _subject_for(dataset, truth)
        names = [item.name for item in dataset.items]
        values = adapter.lookup(dataset.code, subject, names)
        assert list(values) == names
        assert any(v not in (None, "", []) for v in values.values()), dataset.code
        _assert_typed(dataset, values)
        assert list(adapter.lookup(dataset.code, subject, names[-1:])) == names[-1:]


def test_verify_matches_the_record_and_discloses_nothing(
    system: RunningSystem, truth: Truth, department_id: str
):
    adapter = _adapter(system)
    checked = 0
    for dataset in adapter.datasets():
        if AccessMethod.VERIFY not in dataset.access_methods:
            continue
        subject = _subject_for(dataset, truth)
        scalar = [i.name for i in dataset.items if i.type in {"string", "code", "date", "decimal", "integer"}]
        values = adapter.lookup(dataset.code, subject, scalar)
        present = {name: value for name, value in values.items() if value not in (None, "")}
        assert present, dataset.code
        results = adapter.verify(dataset.code, subject, present)
        assert results == dict.fromkeys(present, Match.MATCH)
        for name, value in present.items():
            assert adapter.verify(dataset.code, subject, {name: _different(dataset, name, value)}) == {
                name: Match.MISMATCH
            }, (dataset.code, name)
        checked += 1
    assert checked or department_id == "fake"


def _different(dataset: DatasetDeclaration, name: str, value: object) -> object:
    kind = dataset.item(name).type
    if kind == "date":
        return "1999-01-01" if value != "1999-01-01" else "1999-01-02"
    if kind in {"decimal", "integer"}:
        return str(Decimal(str(value)) + 1)
    return f"{value}X"


def test_unknown_dataset_item_and_empty_questions_are_request_errors(system: RunningSystem, truth: Truth):
    adapter = _adapter(system)
    dataset = _queryable(adapter)[0]
    subject = _subject_for(dataset, truth)
    with pytest.raises(UnknownDataset):
        adapter.lookup("399999999-999999", subject, [dataset.items[0].name])
    with pytest.raises(UnknownItem, match="no_such_item"):
        adapter.lookup(dataset.code, subject, ["no_such_item"])
    with pytest.raises(UnknownItem):
        adapter.lookup(dataset.code, subject, [])
    with pytest.raises(UnknownItem):
        adapter.verify(dataset.code, subject, {"no_such_item": "x"})


def test_a_subject_of_the_wrong_kind_is_refused(system: RunningSystem, truth: Truth):
    adapter = _adapter(system)
    for dataset in _queryable(adapter):
        other = next(t for t in SubjectType if t not in dataset.subject_types)
        subject = {
            SubjectType.ID_CARD: Subject.parse("id_card", truth.person.citizen_id),
            SubjectType.USCC: Subject.parse("uscc", truth.employer_uscc),
            SubjectType.PROPERTY_UNIT: Subject.parse("property_unit", truth.unit_number),
        }[other]
        with pytest.raises(UnsupportedSubject):
            adapter.lookup(dataset.code, subject, [dataset.items[0].name])


def test_an_unknown_subject_is_never_a_silent_empty_answer(system: RunningSystem):
    adapter = _adapter(system)
    refused = 0
    for dataset in _queryable(adapter):
        if SubjectType.ID_CARD not in dataset.subject_types:
            continue
        names = [item.name for item in dataset.items]
        try:
            values = adapter.lookup(dataset.code, STRANGER, names)
        except SubjectNotFound:
            refused += 1
        else:  # a department may answer "holds nothing" (e.g. no property): then fully
            assert list(values) == names
    assert refused, "at least one dataset must say it does not know the subject"


# --- change feed -----------------------------------------------------------------------------------


def test_the_change_feed_streams_valid_certificates_and_resumes_exactly(system: RunningSystem):
    adapter = _adapter(system)
    declared = {d.license_type for d in adapter.datasets() if d.license_type}
    changes = list(adapter.changes_since(None))
    assert len(changes) >= 5
    for change in changes:
        record = change.record
        assert record.license_type in declared
        assert Subject.parse(record.holder.type, record.holder.value) == record.holder
        assert record.holder_name and record.source_id and record.source_version
        assert record.valid_from <= (record.valid_to or date.max)
        json.dumps(dict(record.fields))
    middle = len(changes) // 2
    rest = list(adapter.changes_since(changes[middle].watermark))
    assert [(c.record.source_id, c.record.source_version) for c in rest] == [
        (c.record.source_id, c.record.source_version) for c in changes[middle + 1 :]
    ]
    assert list(adapter.changes_since(changes[-1].watermark)) == []


def test_a_withdrawn_certificate_comes_through_the_feed_as_a_cancellation(system: RunningSystem):
    adapter = _adapter(system)
    last = None
    for change in adapter.changes_since(None):
        last = change.watermark
    source_id = system.cancel_one()
    after = list(adapter.changes_since(last))
    cancelled = [c.record for c in after if c.record.source_id == source_id]
    assert cancelled and cancelled[-1].cancelled


# --- failures --------------------------------------------------------------------------------------


def test_health_reports_a_live_system_and_a_dead_one(system: RunningSystem):
    adapter = _adapter(system)
    health = adapter.health()
    assert health.ok and health.circuit == "closed" and health.latency_ms >= 0
    system.inject(Fault.UNAVAILABLE)
    down = adapter.health()
    assert not down.ok and down.detail


def test_an_unavailable_system_is_a_typed_error_and_opens_the_breaker(system: RunningSystem, truth: Truth):
    adapter = _adapter(system, fail_max=3, retries=0, reset_timeout=60)
    dataset = _queryable(adapter)[0]
    subject = _subject_for(dataset, truth)
    item = [dataset.items[0].name]
    system.inject(Fault.UNAVAILABLE)
    for _ in range(3):
        with pytest.raises(LegacyUnavailable):
            adapter.lookup(dataset.code, subject, item)
    system.heal()
    started = time.perf_counter()
    with pytest.raises(LegacyUnavailable, match="circuit open"):
        adapter.lookup(dataset.code, subject, item)  # the system is back, but the breaker is open
    assert time.perf_counter() - started < 1.0  # failing fast, not waiting on the legacy system
    assert adapter.health().circuit == "open"


def test_every_system_can_fail_in_every_way(system: RunningSystem):
    assert system.supported_faults == frozenset(Fault)


def test_a_slow_system_is_a_timeout_not_a_hang(system: RunningSystem, truth: Truth):
    adapter = _adapter(system, retries=0)
    dataset = _queryable(adapter)[0]
    subject = _subject_for(dataset, truth)
    system.inject(Fault.TIMEOUT)
    started = time.perf_counter()
    with pytest.raises(LegacyTimeout):
        adapter.lookup(dataset.code, subject, [dataset.items[0].name])
    assert time.perf_counter() - started < 5


def test_a_system_answering_late_times_out_at_the_deadline_or_answers_within_it(
    system: RunningSystem, truth: Truth
):
    """SLOW really waits (a lock, a transfer, a trickling answer): not an error raised at once."""
    adapter = _adapter(system, retries=0)  # a 0.5 s deadline
    dataset = _queryable(adapter)[0]
    subject = _subject_for(dataset, truth)
    item = [dataset.items[0].name]
    expected = adapter.lookup(dataset.code, subject, item)
    system.inject(Fault.SLOW, delay=2.5)
    started = time.perf_counter()
    with pytest.raises(LegacyTimeout):
        adapter.lookup(dataset.code, subject, item)
    assert 0.4 < time.perf_counter() - started < 0.5 + 1.5
    system.heal()
    patient = system.adapter(guard=LegacyGuard("contract-patient", retries=0), timeout=5)
    system.inject(Fault.SLOW, delay=0.3)
    started = time.perf_counter()
    assert patient.lookup(dataset.code, subject, item) == expected
    assert 0.1 < time.perf_counter() - started < 3


def test_text_in_the_wrong_encoding_is_bad_legacy_data_not_mojibake(system: RunningSystem, truth: Truth):
    adapter = _adapter(system)
    dataset = _queryable(adapter)[0]
    subject = _subject_for(dataset, truth)
    items = [item.name for item in dataset.items]
    expected = adapter.lookup(dataset.code, subject, items)
    system.inject(Fault.WRONG_ENCODING, subject)
    with pytest.raises(BadLegacyData):
        adapter.lookup(dataset.code, subject, items)
    system.heal()
    assert adapter.lookup(dataset.code, subject, items) == expected


def test_garbage_from_the_legacy_system_is_reported_with_its_row(system: RunningSystem, truth: Truth):
    adapter = _adapter(system)
    dataset = _queryable(adapter)[0]
    subject = _subject_for(dataset, truth)
    system.inject(Fault.GARBAGE, subject)
    with pytest.raises(BadLegacyData) as caught:
        adapter.lookup(dataset.code, subject, [item.name for item in dataset.items])
    assert caught.value.row
    system.heal()
    assert adapter.lookup(dataset.code, subject, [dataset.items[0].name])
