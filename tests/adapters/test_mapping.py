"""How every adapter compares claims: by value, after normalisation, never disclosing the record."""

from __future__ import annotations

import pytest

from adapters.base import AccessMethod, DataItem, DatasetDeclaration, Match, SharingType, SubjectType
from adapters.errors import UnknownItem
from adapters.mapping import compare, normalise_text

DATASET = DatasetDeclaration(
    code="399001001-000001",
    name="t",
    summary="t",
    items=tuple(
        DataItem(name, name, kind, "test", personal=False)
        for name, kind in (
            ("name", "string"),
            ("owned", "boolean"),
            ("area", "decimal"),
            ("count", "integer"),
        )
    ),
    subject_types=frozenset({SubjectType.ID_CARD}),
    sharing_type=SharingType.CONDITIONAL,
    update_cycle="daily",
    access_methods=frozenset({AccessMethod.VERIFY}),
)
RECORD = {"name": "阿依古丽·买买提", "owned": True, "area": "89.50", "count": 2}


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        ({"name": "阿依古丽•买买提"}, Match.MATCH),  # another middle dot
        ({"name": " 阿依古丽·买买提 "}, Match.MATCH),
        ({"name": "阿依古丽"}, Match.MISMATCH),
        ({"owned": True}, Match.MATCH),
        ({"owned": "true"}, Match.MATCH),  # as a form or the command line sends it
        ({"owned": "FALSE"}, Match.MISMATCH),
        ({"owned": "yes"}, Match.MISMATCH),
        ({"area": "89.5"}, Match.MATCH),
        ({"area": 89.5}, Match.MATCH),
        ({"area": "89.51"}, Match.MISMATCH),
        ({"count": "2"}, Match.MATCH),
        ({"count": 3}, Match.MISMATCH),
    ],
)
def test_claims_compare_by_value(claims, expected):
    assert compare(DATASET, RECORD, claims) == dict.fromkeys(claims, expected)


def test_a_missing_value_is_unknown_not_a_mismatch():
    assert compare(DATASET, {"name": None}, {"name": "x"}) == {"name": Match.UNKNOWN}


def test_unknown_items_are_refused():
    with pytest.raises(UnknownItem, match="salary"):
        compare(DATASET, RECORD, {"salary": "1"})


def test_full_width_text_is_normalised():
    assert normalise_text("文三路１２３号\u3000") == "文三路123号"
