"""The adapter's answers equal the population's truth, for every person and employer of a small population."""

from __future__ import annotations

from datetime import date

import pytest

from adapters.base import Match, Subject
from adapters.errors import SubjectNotFound, UnknownItem, UnsupportedSubject
from adapters.population import Population
from adapters.social_insurance.adapter import SocialInsuranceAdapter
from adapters.social_insurance.datasets import CERTIFICATE, DATASETS, EMPLOYER, ENROLMENT
from exchange.identifiers import make_citizen_id

from . import truth

ENROLMENT_ITEMS = [item.name for item in DATASETS[0].items]


def _person(population: Population, predicate):
    return next(p for p in population.persons_iter() if predicate(p))


def test_every_insured_person_is_answered_as_the_population_says(
    adapter: SocialInsuranceAdapter, population: Population
):
    statuses = []
    for person in population.persons_iter():
        subject = Subject.parse("id_card", person.citizen_id)
        if not truth.is_insured(person, population):
            with pytest.raises(SubjectNotFound):
                adapter.lookup(ENROLMENT, subject, ["name"])
            continue
        answer = adapter.lookup(ENROLMENT, subject, ENROLMENT_ITEMS)
        assert answer == truth.enrolment(person, population)
        statuses.append(answer["insured_status"])
    assert len(statuses) > 40 and set(statuses) == {"1", "2"}


def test_the_certificate_lookup_is_the_history_compressed_into_spans(
    adapter: SocialInsuranceAdapter, population: Population
):
    switched = _person(population, lambda p: len(truth.registered_jobs(p, population)) == 2)
    older = _person(
        population, lambda p: any(j.start.year < 2015 for j in truth.registered_jobs(p, population))
    )
    for person in (switched, older):
        subject = Subject.parse("id_card", person.citizen_id)
        items = ["name", "contribution_history", "contribution_months", "as_of_month"]
        answer = adapter.lookup(CERTIFICATE, subject, items)
        assert answer == truth.certificate(person, population)
    kinds = {span["insurance_type"] for span in answer["contribution_history"]}
    assert kinds == {"110", "210", "310", "410", "510"}  # 510 stops at 2019-12 (merged into 310)
    assert all(
        span["to"] <= "2019-12" for span in answer["contribution_history"] if span["insurance_type"] == "510"
    )


def test_every_employer_is_answered_as_the_population_says(
    adapter: SocialInsuranceAdapter, population: Population
):
    persons = list(population.persons_iter())
    items = [item.name for item in DATASETS[2].items]
    statuses = set()
    for employer in population.employers():
        answer = adapter.lookup(EMPLOYER, Subject.parse("uscc", employer.uscc), items)
        assert answer == truth.employer_record(employer, persons, population)
        statuses.add(answer["status"])
    assert statuses == {"1", "2"}  # small populations leave some employers without insured staff


def test_verify_matches_exact_values_and_their_legacy_spellings(
    adapter: SocialInsuranceAdapter, population: Population
):
    person = _person(population, lambda p: truth.contributing_job(p, population) is not None)
    subject = Subject.parse("id_card", person.citizen_id)
    expected = truth.enrolment(person, population)
    claims = {
        "name": f" {person.name} ",
        "insured_status": "1",
        "latest_contribution_base": str(
            int(expected["latest_contribution_base"][:-3])
        ),  # "8765" == "8765.00"
        "contribution_months": expected["contribution_months"],
        "employer_uscc": expected["employer_uscc"],
    }
    assert adapter.verify(ENROLMENT, subject, claims) == dict.fromkeys(claims, Match.MATCH)
    wrong = {"contribution_months": expected["contribution_months"] + 1, "insured_status": "4"}
    assert adapter.verify(ENROLMENT, subject, wrong) == dict.fromkeys(wrong, Match.MISMATCH)


def test_request_errors_are_raised_before_the_legacy_system_is_asked(
    adapter: SocialInsuranceAdapter, population: Population
):
    person = _person(population, lambda p: truth.is_insured(p, population))
    subject = Subject.parse("id_card", person.citizen_id)
    with pytest.raises(UnknownItem, match="salary"):
        adapter.lookup(ENROLMENT, subject, ["name", "salary"])
    with pytest.raises(UnsupportedSubject):
        adapter.lookup(EMPLOYER, subject, ["employer_name"])
    stranger = Subject.parse("id_card", make_citizen_id("110101", date(1950, 1, 1), 998))
    with pytest.raises(SubjectNotFound):
        adapter.lookup(CERTIFICATE, stranger, ["name"])
    with pytest.raises(SubjectNotFound):
        adapter.lookup(EMPLOYER, Subject.parse("uscc", "91350100M000100Y43"), ["status"])
