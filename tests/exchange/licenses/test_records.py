"""Every department's certificate records become license records with valid GB/T 36904 identifiers."""

from __future__ import annotations

import pytest

from adapters.registry import DEPARTMENTS
from adapters.simulation import generate, running
from exchange.identifiers import validate_license_id
from exchange.licenses.records import NotALicense, from_json, license_record, serial_of, to_json
from exchange.licenses.types import LICENSE_TYPES


@pytest.fixture(scope="module")
def feeds(tmp_path_factory):
    root = tmp_path_factory.mktemp("legacy")
    generate(root, 80)
    with running(root) as systems:
        yield {
            department_id: list(system.adapter().changes_since(None))
            for department_id, system in systems.items()
        }


@pytest.mark.parametrize("department_id", list(DEPARTMENTS))
def test_each_certificate_becomes_a_license_with_a_valid_identifier(feeds, department_id):
    department = DEPARTMENTS[department_id]
    identifiers = set()
    for change in feeds[department_id]:
        record = license_record(change.record, department=department, version=1)
        parsed = validate_license_id(record.identifier)
        assert parsed.issuer_uscc == department.uscc
        assert parsed.type_code == LICENSE_TYPES[record.license_type].type_code and parsed.version == "001"
        assert record.holder_code == change.record.holder.value and record.issuer_name == department.name
        assert from_json(to_json(record)) == record
        identifiers.add((record.number, record.identifier))
    assert len({number for number, _ in identifiers}) == len({identifier for _, identifier in identifiers})


def test_serials_are_the_departments_numbers_or_a_stable_digest():
    assert serial_of("330000123") == "330000123"
    assert serial_of("33010619850302123x") == "33010619850302123X"
    hashed = serial_of("浙(2019)杭州市不动产权第0000183号")
    assert hashed == serial_of("浙(2019)杭州市不动产权第0000183号") and hashed.startswith("H")
    assert len(hashed) <= 32 and hashed.isalnum() and hashed.upper() == hashed
    assert hashed != serial_of("浙(2019)杭州市不动产权第0000184号")


def test_a_certificate_of_another_department_or_type_is_refused(feeds):
    change = feeds["tax"][0]
    with pytest.raises(NotALicense, match="does not issue"):
        license_record(change.record, department=DEPARTMENTS["household"], version=1)
    with pytest.raises(NotALicense, match="version"):
        license_record(change.record, department=DEPARTMENTS["tax"], version=1000)
