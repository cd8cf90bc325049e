"""The explicit registry of departments the hub knows; the hub never imports a department directly."""

from __future__ import annotations

from collections.abc import Sequence
from importlib import import_module

from adapters import household, real_estate, social_insurance, tax
from adapters.base import DatasetDeclaration, Department

DEPARTMENTS: dict[str, Department] = {
    d.id: d
    for d in (
        household.DEPARTMENT,
        tax.DEPARTMENT,
        social_insurance.DEPARTMENT,
        real_estate.DEPARTMENT,
    )
}


def get_department(department_id: str) -> Department:
    """The department with this id; raises ``KeyError`` naming the known ones."""
    try:
        return DEPARTMENTS[department_id]
    except KeyError:
        known = ", ".join(sorted(DEPARTMENTS))
        raise KeyError(f"unknown department {department_id!r}; known: {known}") from None


def declared_datasets(department_id: str) -> Sequence[DatasetDeclaration]:
    """What a department declares to the resource directory (its ``datasets`` module), no I/O."""
    get_department(department_id)
    return import_module(f"adapters.{department_id}.datasets").DATASETS
