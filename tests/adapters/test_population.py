"""The synthetic population: deterministic, prefix-stable, valid, consistent and streaming."""

from __future__ import annotations

import hashlib
import tracemalloc
from collections import Counter
from datetime import date
from decimal import Decimal

import pytest

from adapters.code_tables import COUNTIES, ETHNICITY, RELATION, SEX
from adapters.population import (
    SI_BASE_MAX,
    SI_BASE_MIN,
    Population,
    employer_count,
    in_all_systems,
)
from exchange.identifiers import validate_citizen_id, validate_property_unit, validate_uscc

SAMPLE = 3000


@pytest.fixture(scope="module")
def households():
    return list(Population(SAMPLE).households())


def _digest(population: Population) -> str:
    digest = hashlib.sha256()
    for household in population.households():
        digest.update(repr(household).encode())
    for employer in population.employers():
        digest.update(repr(employer).encode())
    return digest.hexdigest()


def test_the_same_seed_gives_the_same_population_and_another_seed_another():
    assert _digest(Population(400)) == _digest(Population(400))
    assert _digest(Population(400, seed=7)) != _digest(Population(400))
    assert _digest(Population(400, as_of=date(2025, 12, 31))) != _digest(Population(400))


def test_a_small_population_is_the_start_of_a_larger_one(households):
    small = list(Population(500).persons_iter())
    large = [person for household in households for person in household.members][:500]
    assert len(small) == 500
    assert [p.citizen_id for p in small] == [p.citizen_id for p in large]
    assert small[:-5] == large[:-5]  # only the cut-short last household may differ


def test_exactly_the_persons_asked_for(households):
    assert sum(len(h.members) for h in households) == SAMPLE
    assert [p.index for h in households for p in h.members] == list(range(SAMPLE))


def test_every_identifier_is_valid_and_unique(households):
    persons = [p for h in households for p in h.members]
    for person in persons:
        parsed = validate_citizen_id(person.citizen_id)
        assert parsed.birth_date == person.birth_date
        assert parsed.sex == person.sex
        assert person.citizen_id.startswith(person.birthplace)
    assert len({p.citizen_id for p in persons}) == len(persons)
    units = [prop.unit_number for h in households for prop in h.properties]
    for unit in units:
        assert validate_property_unit(unit).division_code in COUNTIES
    assert len(set(units)) == len(units)
    certificates = [prop.certificate_no for h in households for prop in h.properties]
    assert len(set(certificates)) == len(certificates)
    assert all(c.startswith("浙(") and c.endswith("号") and "杭州市不动产权第" in c for c in certificates)
    employers = list(Population(SAMPLE).employers())
    assert len(employers) == employer_count(SAMPLE)
    for employer in employers:
        validate_uscc(employer.uscc)
    assert len({e.uscc for e in employers}) == len(employers)
    receipts = [t.receipt_no for h in households for p in h.members for t in p.tax_payments]
    receipts += [t.receipt_no for e in employers for t in e.tax_payments]
    assert len(set(receipts)) == len(receipts)
    assert all(len(r) == 18 and r.isdigit() for r in receipts)


def test_households_are_plausible_families(households):
    for household in households:
        head = household.head
        assert head.relation == "02"
        assert len({p.household for p in household.members}) == 1 == len({household.number})
        for person in household.members:
            assert person.sex in SEX and person.ethnicity in ETHNICITY and person.relation in RELATION
            if person.relation[0] in "23":  # sons and daughters
                assert person.birth_date.year >= head.birth_date.year + 18
            if person.relation in {"11", "12"}:
                assert person.sex != head.sex
        for prop in household.properties:
            assert sum(o.share for o in prop.owners) == Decimal(1)
            members = {p.citizen_id: p.name for p in household.members}
            assert all(members[o.citizen_id] == o.name for o in prop.owners)
            assert prop.area > 0
            assert not (prop.cancelled_on and (prop.mortgaged or prop.seized))


def test_jobs_and_taxes_agree(households):
    employers = employer_count(SAMPLE)
    for person in (p for h in households for p in h.members):
        if not person.alive:
            assert not person.jobs
        for job in person.jobs:
            assert 0 <= job.employer < employers
            assert job.start.day == 1 and (job.end is None or job.start <= job.end)
            assert SI_BASE_MIN <= job.contribution_base <= SI_BASE_MAX
            assert job.start.year - person.birth_date.year >= 17
        for payment in person.tax_payments:
            assert payment.taxpayer_id == person.citizen_id and payment.taxpayer_name == person.name
            assert payment.amount > 0 and payment.period_from <= payment.period_to
            if payment.levy_item == "个人所得税":
                assert person.jobs


def test_the_population_is_varied_enough_to_test_with(households):
    persons = [p for h in households for p in h.members]
    assert Counter(p.sex for p in persons).keys() == {"1", "2"}
    assert len({p.ethnicity for p in persons}) >= 4
    assert len({p.birth_date for p in persons}) > SAMPLE * 0.8
    assert any(not p.alive for p in persons)
    assert any(prop.cancelled_on for h in households for prop in h.properties)
    assert any(t.voided_on for p in persons for t in p.tax_payments)
    assert any("·" in p.name for p in persons)
    shared = sum(in_all_systems(p, h) for h in households for p in h.members)
    assert shared > SAMPLE * 0.05


def _peak_bytes(persons: int) -> int:
    tracemalloc.start()
    for household in Population(persons).households():
        del household
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def test_generation_streams_instead_of_holding_everyone(households):
    tracemalloc.start()
    held = list(Population(1_000).households())
    holding = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del held
    # Holding 5,000 persons would take five times what 1,000 take; streaming keeps a few counters.
    assert _peak_bytes(5_000) < holding, holding
