"""The adapter's answers equal the synthetic population's truth, for every person."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from adapters.base import AccessMethod, Adapter, Match, SharingType, Subject, SubjectType
from adapters.errors import SubjectNotFound, UnknownDataset, UnknownItem, UnsupportedSubject
from adapters.household import DEPARTMENT, HouseholdAdapter
from adapters.household.adapter import _feed_query
from adapters.household.datasets import DATASETS, HOUSEHOLD_REGISTER, PERSON_BASIC, PERSON_PHOTO
from adapters.population import Household, Person
from exchange.identifiers import make_citizen_id

BASIC_ITEMS = [item.name for item in DATASETS[0].items]
BOOKLET_ITEMS = [item.name for item in DATASETS[1].items]


def expected_basic(person: Person, household: Household) -> dict[str, Any]:
    return {
        "name": person.name,
        "sex": person.sex,
        "ethnicity": person.ethnicity,
        "birth_date": person.birth_date.isoformat(),
        "birthplace": person.birthplace,
        "address": household.address,
        "household_no": household.number,
        "relation_to_head": person.relation,
        "status": "active" if person.alive else "deregistered",
        "deregistered_on": person.deregistered_on.isoformat() if person.deregistered_on else None,
    }


def expected_booklet(household: Household) -> dict[str, Any]:
    active = sorted((p for p in household.members if p.alive), key=lambda p: (p.relation, p.citizen_id))
    return {
        "household_no": household.number,
        "household_type": household.kind,
        "head_name": household.head.name,
        "head_id_number": household.head.citizen_id,
        "address": household.address,
        "members": [
            {
                "name": p.name,
                "id_number": p.citizen_id,
                "relation_to_head": p.relation,
                "sex": p.sex,
                "birth_date": p.birth_date.isoformat(),
            }
            for p in active
        ],
    }


def subject(person: Person) -> Subject:
    return Subject.parse("id_card", person.citizen_id)


def test_is_an_adapter_of_the_household_department(adapter):
    assert isinstance(adapter, Adapter)
    assert adapter.department is DEPARTMENT
    assert adapter.datasets() == DATASETS


def test_declarations_follow_the_hub_conventions():
    codes = [d.code for d in DATASETS]
    assert codes == [PERSON_BASIC, HOUSEHOLD_REGISTER, PERSON_PHOTO]
    assert all(code.startswith("301") and len(code) == 16 for code in codes)
    booklet = DATASETS[1]
    assert booklet.license_type == "household_register"
    assert AccessMethod.LICENSE in booklet.access_methods
    photo = DATASETS[2]
    assert photo.sharing_type is SharingType.NONE and photo.access_methods == frozenset()
    for declaration in DATASETS:
        assert declaration.subject_types == {SubjectType.ID_CARD}
        assert declaration.legal_basis
        if declaration.sharing_type is SharingType.CONDITIONAL:
            assert declaration.sharing_conditions
        for item in declaration.items:
            assert item.name.isascii() and item.name == item.name.lower()
            assert item.type in {"string", "date", "integer", "decimal", "boolean", "code", "array"}
            assert item.standard_ref and item.title


def test_every_person_matches_the_truth(adapter, households):
    for household in households:
        for person in household.members:
            assert adapter.lookup(PERSON_BASIC, subject(person), BASIC_ITEMS) == expected_basic(
                person, household
            ), person.index


def test_every_active_person_finds_the_booklet_of_their_household(adapter, households):
    checked = 0
    for household in households:
        expected = expected_booklet(household)
        for person in household.members:
            if person.alive:
                assert adapter.lookup(HOUSEHOLD_REGISTER, subject(person), BOOKLET_ITEMS) == expected
                checked += 1
            else:
                with pytest.raises(SubjectNotFound):
                    adapter.lookup(HOUSEHOLD_REGISTER, subject(person), ["household_no"])
    assert checked > 250


def test_lookup_returns_only_the_items_asked_in_that_order(adapter, households):
    person = households[0].members[0]
    answer = adapter.lookup(PERSON_BASIC, subject(person), ["sex", "name"])
    assert list(answer) == ["sex", "name"]


def test_verify_matches_without_disclosing(adapter, households):
    dead = next(p for h in households for p in h.members if not p.alive)
    living = households[0].members[0]
    claims = {
        "name": living.name,
        "birth_date": living.birth_date,
        "sex": "2" if living.sex == "1" else "1",
        "deregistered_on": "2020-01-01",
    }
    assert adapter.verify(PERSON_BASIC, subject(living), claims) == {
        "name": Match.MATCH,
        "birth_date": Match.MATCH,
        "sex": Match.MISMATCH,
        "deregistered_on": Match.UNKNOWN,
    }
    assert adapter.verify(PERSON_BASIC, subject(dead), {"status": "deregistered"}) == {"status": Match.MATCH}


def test_verify_a_minority_name_typed_with_another_middle_dot(adapter, households):
    person = next(p for h in households for p in h.members if "\u00b7" in p.name)
    claimed = person.name.replace("\u00b7", "\u30fb")
    assert adapter.verify(PERSON_BASIC, subject(person), {"name": claimed}) == {"name": Match.MATCH}


def test_unknown_subject_is_not_found(adapter):
    nobody = Subject.parse("id_card", make_citizen_id("330106", date(1990, 1, 1), 999))
    with pytest.raises(SubjectNotFound):
        adapter.lookup(PERSON_BASIC, nobody, ["name"])
    with pytest.raises(SubjectNotFound):
        adapter.verify(HOUSEHOLD_REGISTER, nobody, {"household_no": "330000000"})


def test_request_errors(adapter, households):
    person = subject(households[0].members[0])
    with pytest.raises(UnknownDataset):
        adapter.lookup("301009001-000001", person, ["name"])
    with pytest.raises(UnknownItem):
        adapter.lookup(PERSON_BASIC, person, ["name", "salary"])
    with pytest.raises(UnknownItem):
        adapter.verify(PERSON_BASIC, person, {})
    with pytest.raises(UnsupportedSubject):
        adapter.lookup(PERSON_BASIC, Subject.parse("uscc", "91350100M000100Y43"), ["name"])


def test_the_photo_dataset_is_declared_but_never_shared(adapter, households):
    person = subject(households[0].members[0])
    with pytest.raises(UnknownDataset, match="not shared"):
        adapter.lookup(PERSON_PHOTO, person, ["photo"])
    with pytest.raises(UnknownDataset, match="not shared"):
        adapter.verify(PERSON_PHOTO, person, {"photo_taken_on": "2020-01-01"})


def test_health_is_a_real_probe(adapter):
    health = adapter.health()
    assert health.ok and health.circuit == "closed" and health.latency_ms > 0


def test_sql_stays_portable():
    """The only dialect difference is the row limit; no SQLite-only functions in the statements."""
    sqlite, oracle = _feed_query("sqlite", first=False).text, _feed_query("oracle", first=False).text
    assert "LIMIT :limit" in sqlite and "LIMIT" not in oracle and "FETCH FIRST :limit ROWS ONLY" in oracle
    for forbidden in ("||", "IFNULL", "SUBSTR", "GLOB", "STRFTIME", "ROWID", "(GXSJ, HH) >"):
        assert forbidden not in sqlite.upper()


def test_constructor_rejects_nonsense():
    with pytest.raises(ValueError):
        HouseholdAdapter("sqlite:///file:x.db?mode=ro&uri=true", timeout=0)
