"""An in-memory department for the hub's own tests: the same protocol, no legacy system behind it.

It passes the same contract suite as the four real adapters (tests/adapters/test_contract.py), so a
hub test that runs against it exercises exactly the behaviour a real department promises, and it
can be told to fail in each of the ways a legacy system fails.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date
from typing import Any

from adapters.base import (
    AccessMethod,
    Adapter,
    CertificateRecord,
    Change,
    DataItem,
    DatasetDeclaration,
    Department,
    Health,
    Match,
    SharingType,
    Subject,
    SubjectType,
)
from adapters.errors import BadLegacyData, LegacyTimeout, LegacyUnavailable, SubjectNotFound
from adapters.mapping import compare, find_dataset, select
from adapters.population import Household, Population
from adapters.resilience import LegacyGuard
from adapters.simulation import SLOW_SECONDS, Fault

FAKE_DEPARTMENT = Department(
    id="fake",
    name="测试部门",
    name_en="Test department (in-memory fake)",
    uscc="11330100MB0000099U",
)
PERSON_DATASET = "399001001-000001"
LICENSE_TYPE = "fake_certificate"

DATASETS: tuple[DatasetDeclaration, ...] = (
    DatasetDeclaration(
        code=PERSON_DATASET,
        name="测试人员信息",
        summary="Name, sex and birth date of a person, for tests of the hub.",
        items=(
            DataItem("name", "姓名", "string", "GA/T 2000.4", personal=True),
            DataItem("sex", "性别", "code", "GB/T 2261.1", personal=True),
            DataItem("birth_date", "出生日期", "date", "GB/T 7408", personal=True),
            DataItem("household_no", "户号", "string", "GA/T 2000.46", personal=True),
        ),
        subject_types=frozenset({SubjectType.ID_CARD}),
        sharing_type=SharingType.CONDITIONAL,
        update_cycle="real-time",
        access_methods=frozenset({AccessMethod.QUERY, AccessMethod.VERIFY, AccessMethod.LICENSE}),
        sharing_conditions="For tests only.",
        legal_basis="None: test data.",
        license_type=LICENSE_TYPE,
    ),
)


class FakeAdapter:
    """Answers from a dict of records; ``fault`` makes every call fail as a legacy system would."""

    department = FAKE_DEPARTMENT

    def __init__(
        self,
        records: Mapping[str, Mapping[str, Any]] | None = None,
        *,
        guard: LegacyGuard | None = None,
        timeout: float = 1.0,
    ) -> None:
        self.records: dict[str, dict[str, Any]] = {k: dict(v) for k, v in (records or {}).items()}
        self.cancelled: dict[str, int] = {}  # source_id -> change sequence
        self.fault: Fault | None = None
        self.garbage: set[str] = set()
        self.delay = SLOW_SECONDS  # how late a SLOW fake answers
        self.timeout = timeout
        self._guard = guard or LegacyGuard(FAKE_DEPARTMENT.id)
        self._sequence = {key: index for index, key in enumerate(self.records, start=1)}

    def datasets(self) -> Sequence[DatasetDeclaration]:
        return DATASETS

    def lookup(self, dataset: str, subject: Subject, items: Sequence[str]) -> dict[str, Any]:
        declaration = find_dataset(DATASETS, dataset, subject)
        return select(declaration, self._guard.call(lambda: self._fetch(subject)), items)

    def verify(self, dataset: str, subject: Subject, claims: Mapping[str, Any]) -> dict[str, Match]:
        declaration = find_dataset(DATASETS, dataset, subject)
        return compare(declaration, self._guard.call(lambda: self._fetch(subject)), claims)

    def changes_since(self, watermark: str | None) -> Iterator[Change]:
        after = int(watermark) if watermark else 0
        events = sorted(
            [(seq, key, False) for key, seq in self._sequence.items()]
            + [(seq, key, True) for key, seq in self.cancelled.items()]
        )
        for sequence, key, cancelled in events:
            if sequence <= after:
                continue
            self._guard.call(self._probe)
            yield Change(self._certificate(key, cancelled), str(sequence))

    def health(self) -> Health:
        started = time.perf_counter()
        try:
            self._probe()
        except (LegacyUnavailable, LegacyTimeout) as exc:
            return Health(False, str(exc), _ms(started), self._guard.state)
        return Health(True, f"{len(self.records)} records", _ms(started), self._guard.state)

    def _probe(self) -> None:
        if self.fault is Fault.UNAVAILABLE:
            raise LegacyUnavailable("fake legacy system is down")
        if self.fault is Fault.TIMEOUT or (self.fault is Fault.SLOW and self.delay > self.timeout):
            time.sleep(self.timeout)
            raise LegacyTimeout(f"fake legacy system did not answer within {self.timeout} s")
        if self.fault is Fault.SLOW:
            time.sleep(self.delay)

    def _fetch(self, subject: Subject) -> dict[str, Any]:
        self._probe()
        record = self.records.get(subject.value)
        if record is None:
            raise SubjectNotFound("no such person in the fake department")
        if subject.value in self.garbage or (self.fault is Fault.GARBAGE and not self.garbage):
            raise BadLegacyData("birth date 20231345 is not a date", row=f"records[{subject.value}]")
        if self.fault is Fault.WRONG_ENCODING:
            raise BadLegacyData("name is mis-encoded (U+FFFD)", row=f"records[{subject.value}].name")
        return record

    def _certificate(self, key: str, cancelled: bool) -> CertificateRecord:
        record = self.records[key]
        fields = {name: record[name] for name in ("name", "sex", "birth_date", "household_no")}
        version = hashlib.sha256(json.dumps([fields, cancelled], sort_keys=True).encode()).hexdigest()[:16]
        born = date.fromisoformat(record["birth_date"])
        return CertificateRecord(
            license_type=LICENSE_TYPE,
            source_id=key,
            source_version=version,
            holder=Subject.parse("id_card", key),
            holder_name=record["name"],
            issued_on=born,
            valid_from=born,
            valid_to=None,
            fields=fields,
            cancelled=cancelled,
        )


def records_from(households: Iterable[Household]) -> dict[str, dict[str, Any]]:
    """The fake's records for the living members of ``households``."""
    return {
        person.citizen_id: {
            "name": person.name,
            "sex": person.sex,
            "birth_date": person.birth_date.isoformat(),
            "household_no": person.household,
        }
        for household in households
        for person in household.members
        if person.alive
    }


class FakeSystem:
    """The fake as a :class:`~adapters.simulation.RunningSystem`, over one population."""

    supported_faults = frozenset(Fault)

    def __init__(self, population: Population) -> None:
        self._records = records_from(population.households())
        self._adapters: list[FakeAdapter] = []
        self._fault: Fault | None = None
        self._delay = SLOW_SECONDS
        self._garbage: set[str] = set()
        self._cancelled: dict[str, int] = {}

    def adapter(self, *, guard: LegacyGuard | None = None, timeout: float | None = None) -> Adapter:
        adapter = FakeAdapter(self._records, guard=guard, timeout=timeout or 1.0)
        adapter.cancelled = self._cancelled  # one legacy system, however many adapters
        adapter.garbage = self._garbage
        adapter.fault = self._fault
        adapter.delay = self._delay
        self._adapters.append(adapter)
        return adapter

    def inject(self, fault: Fault, subject: Subject | None = None, *, delay: float = SLOW_SECONDS) -> None:
        self._fault = fault
        self._delay = delay
        if fault is Fault.GARBAGE and subject is not None:
            self._garbage.add(subject.value)
        for adapter in self._adapters:
            adapter.fault = fault
            adapter.delay = delay

    def heal(self) -> None:
        self._fault = None
        self._garbage.clear()
        for adapter in self._adapters:
            adapter.fault = None

    def cancel_one(self) -> str:
        key = next(k for k in self._records if k not in self._cancelled)
        sequence = len(self._records) + len(self._cancelled) + 1
        self._cancelled[key] = sequence
        return key

    def close(self) -> None:
        self._adapters.clear()


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
