"""Subjects entering through the adapter protocol are validated identifiers, never raw strings."""

from __future__ import annotations

import pytest

from adapters.base import Subject, SubjectType
from exchange.identifiers import InvalidIdentifier


def test_subject_parse_validates_and_normalises():
    subject = Subject.parse("id_card", "11010519491231002x")
    assert subject == Subject(SubjectType.ID_CARD, "11010519491231002X")
    assert Subject.parse("uscc", "91350100M000100Y43").type is SubjectType.USCC


@pytest.mark.parametrize(
    ("type_", "value", "error"),
    [
        ("id_card", "110105194912310021", InvalidIdentifier),
        ("uscc", "91350100M000100Y44", InvalidIdentifier),
        ("property_unit", "' OR 1=1 --", InvalidIdentifier),
        ("passport", "E12345678", ValueError),
    ],
)
def test_subject_parse_rejects_bad_identifiers(type_, value, error):
    with pytest.raises(error):
        Subject.parse(type_, value)
