"""What every adapter does the same way once a legacy record is mapped to standard data elements.

Values an adapter returns are JSON-ready and exact: dates as ISO 8601 strings, money and areas as
decimal strings ("5038.18"), codes as the code table's string, lists of such objects for
multi-record items. The hub signs these values as they are.
"""

from __future__ import annotations

import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from adapters.base import DatasetDeclaration, Match, SharingType, Subject
from adapters.errors import UnknownDataset, UnknownItem, UnsupportedSubject

# Middle dots seen in legacy name fields, all meaning the one in GB 18030 names (U+00B7).
_MIDDLE_DOTS = str.maketrans({"\u2022": "\u00b7", "\u30fb": "\u00b7", "\uff65": "\u00b7", "\u2027": "\u00b7"})


class RecordLookups(ABC):
    """``datasets``, ``lookup`` and ``verify`` for an adapter that maps one legacy record per
    dataset and subject: it only says how to fetch and map that record (:meth:`_record`).

    Unknown datasets, subject kinds and items are refused before the legacy system is asked.
    """

    DATASETS: tuple[DatasetDeclaration, ...]

    def datasets(self) -> Sequence[DatasetDeclaration]:
        return self.DATASETS

    def lookup(self, dataset: str, subject: Subject, items: Sequence[str]) -> dict[str, Any]:
        declaration = find_dataset(self.DATASETS, dataset, subject)
        require_items(declaration, items)
        return select(declaration, self._record(declaration, subject, frozenset(items)), items)

    def verify(self, dataset: str, subject: Subject, claims: Mapping[str, Any]) -> dict[str, Match]:
        declaration = find_dataset(self.DATASETS, dataset, subject)
        require_items(declaration, list(claims))
        return compare(declaration, self._record(declaration, subject, frozenset(claims)), claims)

    @abstractmethod
    def _record(
        self, declaration: DatasetDeclaration, subject: Subject, items: frozenset[str]
    ) -> Mapping[str, Any]:
        """The subject's record of ``declaration`` mapped to standard items (at least ``items``),
        fetched through the adapter's legacy guard; raises ``SubjectNotFound`` or a legacy failure."""


def find_dataset(datasets: Iterable[DatasetDeclaration], code: str, subject: Subject) -> DatasetDeclaration:
    """The declaration of ``code`` if it is shared and keyed by ``subject``'s type; raises otherwise."""
    declaration = next((d for d in datasets if d.code == code), None)
    if declaration is None:
        raise UnknownDataset(f"no dataset {code!r} at this department")
    if declaration.sharing_type is SharingType.NONE:
        raise UnknownDataset(f"dataset {code} ({declaration.name}) is not shared (不予共享)")
    if subject.type not in declaration.subject_types:
        kinds = ", ".join(sorted(declaration.subject_types))
        raise UnsupportedSubject(f"dataset {code} is keyed by {kinds}, not {subject.type}")
    return declaration


def select(
    declaration: DatasetDeclaration, record: Mapping[str, Any], items: Sequence[str]
) -> dict[str, Any]:
    """The asked-for items of a mapped record, in the order asked."""
    require_items(declaration, items)
    return {name: to_json_value(record.get(name)) for name in items}


def compare(
    declaration: DatasetDeclaration, record: Mapping[str, Any], claims: Mapping[str, Any]
) -> dict[str, Match]:
    """Match each claim against the record without disclosing the record's values.

    Unknown when the record holds no value; texts are compared after Unicode NFKC normalisation
    (full-width forms, middle-dot variants), decimals by value, dates in ISO form.
    """
    require_items(declaration, list(claims))
    results = {}
    for name, claimed in claims.items():
        held = to_json_value(record.get(name))
        if held is None or claimed is None:
            results[name] = Match.UNKNOWN
        else:
            results[name] = Match.MATCH if _same(held, to_json_value(claimed)) else Match.MISMATCH
    return results


def normalise_text(value: str) -> str:
    """Legacy text as the standard wants it: NFKC (full-width to half-width), one middle dot, no padding."""
    return unicodedata.normalize("NFKC", value).translate(_MIDDLE_DOTS).strip()


def to_json_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float):
        return format(Decimal(str(value)), "f")
    if isinstance(value, Mapping):
        return {str(k): to_json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json_value(v) for v in value]
    raise TypeError(f"cannot express {type(value).__name__} as a data item value")


def require_items(declaration: DatasetDeclaration, items: Sequence[str]) -> None:
    """Refuse an empty question or an item the dataset does not have (``UnknownItem``)."""
    if not items:
        raise UnknownItem(f"ask for at least one item of dataset {declaration.code}")
    unknown = [name for name in items if declaration.item(name) is None]
    if unknown:
        known = ", ".join(item.name for item in declaration.items)
        raise UnknownItem(f"dataset {declaration.code} has no item {', '.join(unknown)}; it has {known}")


def _same(held: Any, claimed: Any) -> bool:
    if isinstance(held, str) and isinstance(claimed, str | int | float):
        claimed_text = str(claimed)
        try:
            return Decimal(held) == Decimal(claimed_text)
        except InvalidOperation:
            return normalise_text(held) == normalise_text(claimed_text)
    if isinstance(held, bool) and isinstance(claimed, str):  # a form's "true"/"false"
        return claimed.strip().lower() == ("true" if held else "false")
    if isinstance(held, bool) or isinstance(claimed, bool):
        return held is claimed
    if isinstance(held, int) and isinstance(claimed, int | str):
        return str(held) == str(claimed).strip()
    return held == claimed
