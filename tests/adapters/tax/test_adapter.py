"""The adapter's answers equal the population's truth, for every person and employer."""

from __future__ import annotations

import re

import pytest

from adapters.base import AccessMethod, Adapter, Match, SharingType, Subject
from adapters.errors import SubjectNotFound, UnknownDataset, UnknownItem, UnsupportedSubject
from adapters.population import Population
from adapters.tax import DEPARTMENT
from adapters.tax.adapter import TaxAdapter
from adapters.tax.datasets import CERTIFICATE, DATASETS, REGISTRATION, TAXPAYER_KIND, TAXPAYER_STATUS

from .truth import CERTIFICATE_ITEMS, REGISTRATION_ITEMS, certificate_truth, employer_truth, person_truth


def test_adapter_satisfies_the_protocol(adapter: TaxAdapter):
    assert isinstance(adapter, Adapter)
    assert adapter.department == DEPARTMENT
    assert list(adapter.datasets()) == list(DATASETS)


def test_every_person_is_answered_as_the_population_says(adapter: TaxAdapter, population: Population):
    registered = unregistered = 0
    for household in population.households():
        for person in household.members:
            subject = Subject.parse("id_card", person.citizen_id)
            if not person.tax_payments:
                unregistered += 1
                for code in (REGISTRATION, CERTIFICATE):
                    with pytest.raises(SubjectNotFound):
                        adapter.lookup(
                            code, subject, ["taxpayer_name"] if code == REGISTRATION else ["payments"]
                        )
                continue
            registered += 1
            assert adapter.lookup(REGISTRATION, subject, REGISTRATION_ITEMS) == person_truth(
                person, household.county
            )
            assert adapter.lookup(CERTIFICATE, subject, CERTIFICATE_ITEMS) == certificate_truth(
                person.tax_payments
            )
    assert registered > 50 and unregistered > 50  # the population exercises both branches


def test_every_employer_is_answered_as_the_population_says(adapter: TaxAdapter, population: Population):
    for employer in population.employers():
        subject = Subject.parse("uscc", employer.uscc)
        assert adapter.lookup(REGISTRATION, subject, REGISTRATION_ITEMS) == employer_truth(employer)
        assert adapter.lookup(CERTIFICATE, subject, CERTIFICATE_ITEMS) == certificate_truth(
            employer.tax_payments
        )


def test_a_registered_taxpayer_whose_receipts_were_all_voided_gets_an_empty_answer(
    adapter: TaxAdapter, population: Population
):
    person = next(
        p
        for p in population.persons_iter()
        if p.tax_payments and all(t.voided_on is not None for t in p.tax_payments)
    )
    answer = adapter.lookup(CERTIFICATE, Subject.parse("id_card", person.citizen_id), CERTIFICATE_ITEMS)
    assert answer == {"payments": [], "total_amount": "0.00", "latest_paid_on": None}


def test_voided_receipts_are_not_certified(adapter: TaxAdapter, population: Population):
    person = next(
        p for p in population.persons_iter() if any(t.voided_on is not None for t in p.tax_payments)
    )
    receipts = {
        p["receipt_no"]
        for p in adapter.lookup(CERTIFICATE, Subject.parse("id_card", person.citizen_id), ["payments"])[
            "payments"
        ]
    }
    assert receipts == {t.receipt_no for t in person.tax_payments if t.voided_on is None}


def test_deceased_taxpayers_are_deregistered(adapter: TaxAdapter, population: Population):
    person = next((p for p in population.persons_iter() if p.tax_payments and not p.alive), None)
    if person is None:
        pytest.skip("no deceased taxpayer in this population")
    subject = Subject.parse("id_card", person.citizen_id)
    assert adapter.lookup(REGISTRATION, subject, ["status"]) == {"status": "4"}


def test_verify_matches_without_disclosing(adapter: TaxAdapter, population: Population):
    person = next(p for p in population.persons_iter() if any(t.voided_on is None for t in p.tax_payments))
    subject = Subject.parse("id_card", person.citizen_id)
    truth = certificate_truth(person.tax_payments)
    claims = {"total_amount": float(truth["total_amount"]), "latest_paid_on": truth["latest_paid_on"]}
    assert adapter.verify(CERTIFICATE, subject, claims) == {
        "total_amount": Match.MATCH,
        "latest_paid_on": Match.MATCH,
    }
    wrong = {"total_amount": "0.01", "payments": []}
    assert adapter.verify(CERTIFICATE, subject, wrong) == {
        "total_amount": Match.MISMATCH,
        "payments": Match.MISMATCH,
    }
    full_width = person.name.translate(str.maketrans("·", "・"))
    assert adapter.verify(REGISTRATION, subject, {"taxpayer_name": full_width, "status": "1"})[
        "taxpayer_name"
    ] == (Match.MATCH)


def test_verify_of_a_voided_only_taxpayer_answers_unknown_for_the_latest_payment(
    adapter: TaxAdapter, population: Population
):
    person = next(
        p
        for p in population.persons_iter()
        if p.tax_payments and all(t.voided_on is not None for t in p.tax_payments)
    )
    subject = Subject.parse("id_card", person.citizen_id)
    result = adapter.verify(CERTIFICATE, subject, {"latest_paid_on": "2025-05-01", "total_amount": "0"})
    assert result == {"latest_paid_on": Match.UNKNOWN, "total_amount": Match.MATCH}


def test_request_errors(adapter: TaxAdapter, population: Population):
    person = next(p for p in population.persons_iter() if p.tax_payments)
    subject = Subject.parse("id_card", person.citizen_id)
    with pytest.raises(UnknownDataset):
        adapter.lookup("302009001-000001", subject, ["taxpayer_name"])
    with pytest.raises(UnknownItem):
        adapter.lookup(REGISTRATION, subject, ["payments"])
    with pytest.raises(UnknownItem):
        adapter.lookup(REGISTRATION, subject, [])
    unit = Subject.parse("property_unit", next(population.households()).properties[0].unit_number)
    with pytest.raises(UnsupportedSubject):
        adapter.lookup(REGISTRATION, unit, ["taxpayer_name"])
    # an employer's USCC asked as the wrong kind of subject is not found, never mixed up
    with pytest.raises(SubjectNotFound):
        adapter.lookup(REGISTRATION, Subject.parse("uscc", "91350100M000100Y43"), ["taxpayer_name"])


def test_declarations_follow_the_hub_conventions():
    code = re.compile(r"^302\d{6}-\d{6}$")
    for declaration in DATASETS:
        assert code.match(declaration.code)
        assert declaration.sharing_type is SharingType.CONDITIONAL and declaration.sharing_conditions
        assert declaration.legal_basis and declaration.update_cycle == "daily"
        for item in declaration.items:
            assert re.fullmatch(r"[a-z][a-z0-9_]*", item.name) and item.title and item.standard_ref
            assert item.type in {"string", "date", "integer", "decimal", "boolean", "code", "array"}
    licensed = [d for d in DATASETS if AccessMethod.LICENSE in d.access_methods]
    assert [d.license_type for d in licensed] == ["tax_payment_certificate"]
    assert set(TAXPAYER_KIND) == {"1", "2", "3"} and TAXPAYER_STATUS["4"] == "注销"
