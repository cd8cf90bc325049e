"""The adapter's answers equal the population's truth for every title and every person."""

from __future__ import annotations

import pytest

from adapters.base import Adapter, Match, Subject
from adapters.errors import SubjectNotFound, UnknownDataset, UnknownItem, UnsupportedSubject
from adapters.real_estate import DEPARTMENT
from adapters.real_estate.datasets import DATASETS, HISTORY, PERSONAL, TITLE
from exchange.identifiers import make_citizen_id, make_property_unit
from tests.adapters.real_estate.truth import history, holdings, persons, properties, title_items

TITLE_ITEMS = [item.name for item in DATASETS[0].items]
PERSONAL_ITEMS = [item.name for item in DATASETS[1].items]
HISTORY_ITEMS = [item.name for item in DATASETS[2].items]


@pytest.fixture(scope="module")
def adapter(registry):
    return registry.adapter()


def test_adapter_speaks_the_protocol(adapter):
    assert isinstance(adapter, Adapter)
    assert adapter.department == DEPARTMENT
    assert [d.code for d in adapter.datasets()] == [TITLE, PERSONAL, HISTORY]
    assert "app" not in repr(adapter).lower()  # the application key never shows


def test_every_title_matches_the_population(adapter, population):
    count = 0
    for prop in properties(population):
        subject = Subject.parse("property_unit", prop.unit_number)
        assert adapter.lookup(TITLE, subject, TITLE_ITEMS) == title_items(prop), prop.unit_number
        count += 1
    assert count > 50


def test_every_persons_holdings_match_the_population(adapter, population):
    owners = 0
    for person, household in persons(population):
        answer = adapter.lookup(PERSONAL, Subject.parse("id_card", person.citizen_id), PERSONAL_ITEMS)
        assert answer == holdings(person, household), person.citizen_id
        owners += answer["has_property"]
    assert owners > 50


def test_every_persons_history_matches_the_population(adapter, population):
    """Cancelled titles stay in the history; a citizen never registered as an owner is not found."""
    never, cancelled = 0, 0
    for person, household in persons(population):
        subject = Subject.parse("id_card", person.citizen_id)
        expected = history(person, household)
        if expected is None:
            with pytest.raises(SubjectNotFound):
                adapter.lookup(HISTORY, subject, HISTORY_ITEMS)
            never += 1
        else:
            assert adapter.lookup(HISTORY, subject, HISTORY_ITEMS) == expected, person.citizen_id
            cancelled += any(t["status"] == "2" for t in expected["titles"])
    assert never > 50 and cancelled > 0


def test_lookup_returns_the_asked_items_in_order(adapter, population):
    prop = next(properties(population))
    subject = Subject.parse("property_unit", prop.unit_number)
    answer = adapter.lookup(TITLE, subject, ["status", "area", "certificate_no"])
    assert list(answer) == ["status", "area", "certificate_no"]
    assert answer["area"] == format(prop.area, "f")


def test_cancelled_titles_are_answered_with_status_2_and_left_out_of_holdings(adapter, population):
    cancelled = [p for p in properties(population) if p.cancelled_on is not None]
    assert cancelled, "the 300-person population has cancelled titles"
    for prop in cancelled:
        subject = Subject.parse("property_unit", prop.unit_number)
        assert adapter.lookup(TITLE, subject, ["status"]) == {"status": "2"}
        owner = Subject.parse("id_card", prop.owners[0].citizen_id)
        listed = adapter.lookup(PERSONAL, owner, ["properties"])["properties"]
        assert prop.unit_number not in {p["unit_number"] for p in listed}


def test_a_person_owning_nothing_is_an_answer_not_an_error(adapter, population):
    person = next(p for p, h in persons(population) if not holdings(p, h)["has_property"])
    answer = adapter.lookup(PERSONAL, Subject.parse("id_card", person.citizen_id), PERSONAL_ITEMS)
    assert answer == {"has_property": False, "property_count": 0, "properties": []}


def test_a_citizen_the_register_never_saw_owns_nothing(adapter):
    from datetime import date

    stranger = Subject.parse("id_card", make_citizen_id("110105", date(1970, 1, 1), 999))
    assert adapter.lookup(PERSONAL, stranger, ["has_property", "property_count"]) == {
        "has_property": False,
        "property_count": 0,
    }
    with pytest.raises(SubjectNotFound):  # while its registration history does not exist
        adapter.lookup(HISTORY, stranger, ["title_count"])


def test_an_unknown_unit_is_subject_not_found(adapter):
    unknown = Subject.parse("property_unit", make_property_unit("330106", 999, 999, "GB", 99999, "F", 1))
    with pytest.raises(SubjectNotFound):
        adapter.lookup(TITLE, unknown, ["status"])
    with pytest.raises(SubjectNotFound):
        adapter.verify(TITLE, unknown, {"status": "1"})


def test_request_errors(adapter, population):
    prop = next(properties(population))
    unit = Subject.parse("property_unit", prop.unit_number)
    person = Subject.parse("id_card", prop.owners[0].citizen_id)
    with pytest.raises(UnknownDataset):
        adapter.lookup("304009001-000001", unit, ["status"])
    with pytest.raises(UnsupportedSubject):
        adapter.lookup(TITLE, person, ["status"])
    with pytest.raises(UnsupportedSubject):
        adapter.lookup(PERSONAL, unit, ["has_property"])
    with pytest.raises(UnknownItem):
        adapter.lookup(TITLE, unit, ["price"])
    with pytest.raises(UnknownItem):
        adapter.lookup(TITLE, unit, [])


def test_verify_matches_without_disclosing(adapter, population):
    prop = next(p for p in properties(population) if len(p.owners) == 2 and p.cancelled_on is None)
    unit = Subject.parse("property_unit", prop.unit_number)
    truth = title_items(prop)
    claims = {
        "certificate_no": prop.certificate_no.replace("(", "（").replace(
            ")", "）"
        ),  # full-width still matches
        "area": f"{prop.area:.3f}",  # decimals compare by value
        "owners": truth["owners"],
        "mortgaged": prop.mortgaged,
        "status": "1",
    }
    assert adapter.verify(TITLE, unit, claims) == dict.fromkeys(claims, Match.MATCH)
    wrong = {"area": str(prop.area + 1), "mortgaged": not prop.mortgaged, "owners": truth["owners"][:1]}
    assert adapter.verify(TITLE, unit, wrong) == dict.fromkeys(wrong, Match.MISMATCH)
    if prop.mortgagee is None:
        assert adapter.verify(TITLE, unit, {"mortgagee": "杭州银行"}) == {"mortgagee": Match.UNKNOWN}


def test_verify_holdings(adapter, population):
    person, household = next((p, h) for p, h in persons(population) if holdings(p, h)["property_count"] == 1)
    subject = Subject.parse("id_card", person.citizen_id)
    assert adapter.verify(PERSONAL, subject, {"has_property": True, "property_count": 1}) == {
        "has_property": Match.MATCH,
        "property_count": Match.MATCH,
    }
    assert adapter.verify(PERSONAL, subject, {"has_property": False}) == {"has_property": Match.MISMATCH}
