"""Every identifier against the known-answer vectors in vectors.json (valid ones and why others fail)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from exchange.identifiers import (
    InvalidIdentifier,
    validate_citizen_id,
    validate_license_id,
    validate_property_unit,
    validate_uscc,
)

ALL = json.loads(Path(__file__).with_name("vectors.json").read_text(encoding="utf-8"))
VALIDATORS = {
    "id_card": validate_citizen_id,
    "uscc": validate_uscc,
    "property_unit": validate_property_unit,
    "license_id": validate_license_id,
}


def _cases(section: str) -> list:
    return [
        pytest.param(kind, vector, id=f"{kind}:{vector['value']!r}")
        for kind in VALIDATORS
        for vector in ALL[kind][section]
    ]


def _kwargs(vector: dict) -> dict:
    return {key: date.fromisoformat(text) for key, text in vector.get("kwargs", {}).items()}


@pytest.mark.parametrize(("kind", "vector"), _cases("valid"))
def test_valid_vectors(kind: str, vector: dict) -> None:
    result = VALIDATORS[kind](vector["value"], **_kwargs(vector))
    for field, expected in vector["expect"].items():
        actual = getattr(result, field)
        assert (actual.isoformat() if isinstance(actual, date) else actual) == expected


@pytest.mark.parametrize(("kind", "vector"), _cases("invalid"))
def test_invalid_vectors(kind: str, vector: dict) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        VALIDATORS[kind](vector["value"], **_kwargs(vector))
    assert caught.value.kind == kind
    assert vector["error"] in caught.value.reason
    assert str(caught.value) == f"invalid {kind}: {caught.value.reason}"
