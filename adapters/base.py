"""The one protocol every department adapter implements, and the value types it speaks.

The hub, the directory and the license sync see departments only through :class:`Adapter`
(reached via :mod:`adapters.registry`); legacy field names and codes never cross this line.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class Department:
    """A provider department, as its certificate and the resource directory name it.

    ``id`` is the short code used in URLs, key file names and certificates (CN); ``uscc`` is the
    department's unified social credit code (GB 32100-2015), carried in its certificate subject.
    """

    id: str
    name: str
    name_en: str
    uscc: str


class SharingType(StrEnum):
    """The national sharing classes: 无条件共享 / 有条件共享 / 不予共享."""

    UNCONDITIONAL = "unconditional"
    CONDITIONAL = "conditional"
    NONE = "none"


class AccessMethod(StrEnum):
    QUERY = "query"
    VERIFY = "verify"
    LICENSE = "license"


class SubjectType(StrEnum):
    ID_CARD = "id_card"  # GB 11643-1999 citizen ID
    USCC = "uscc"  # GB 32100-2015 unified social credit code
    PROPERTY_UNIT = "property_unit"  # GB/T 37346 real-estate unit number


class Match(StrEnum):
    """A verify answer per item: it never discloses the value itself."""

    MATCH = "match"
    MISMATCH = "mismatch"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Subject:
    """Whom a request is about. Build it with :meth:`parse`, which validates the identifier."""

    type: SubjectType
    value: str

    @classmethod
    def parse(cls, type_: str, value: str) -> Subject:
        """Validate and normalise; raises ``ValueError`` for an unknown type and
        ``exchange.identifiers.InvalidIdentifier`` (a ``ValueError``) for a bad identifier."""
        from exchange.identifiers import validate_citizen_id, validate_property_unit, validate_uscc

        kind = SubjectType(type_)
        validator = {
            SubjectType.ID_CARD: validate_citizen_id,
            SubjectType.USCC: validate_uscc,
            SubjectType.PROPERTY_UNIT: validate_property_unit,
        }[kind]
        return cls(kind, validator(value).value)


@dataclass(frozen=True, slots=True)
class DataItem:
    """One data item of a dataset, named as the standard data element it maps to."""

    name: str
    title: str
    type: str  # string | date | integer | decimal | boolean | code
    standard_ref: str  # the data-element or code-table standard, e.g. "GB/T 2261.1"
    personal: bool
    sensitivity: str = "normal"  # normal | sensitive


@dataclass(frozen=True, slots=True)
class DatasetDeclaration:
    """What a department declares to the resource directory for one dataset."""

    code: str
    name: str
    summary: str
    items: tuple[DataItem, ...]
    subject_types: frozenset[SubjectType]
    sharing_type: SharingType
    update_cycle: str  # real-time | daily | monthly ...
    access_methods: frozenset[AccessMethod]
    sharing_conditions: str = ""
    legal_basis: str = ""
    license_type: str | None = None
    related: tuple[
        str, ...
    ] = ()  # codes of related resources (关联资源代码), e.g. the same facts by another key

    def item(self, name: str) -> DataItem | None:
        return next((item for item in self.items if item.name == name), None)


@dataclass(frozen=True, slots=True)
class CertificateRecord:
    """A certificate as the department's system holds it, for the e-license sync.

    ``source_id`` is stable across versions; ``source_version`` changes whenever the record does;
    ``cancelled`` means the department withdrew it (the sync revokes the license).
    """

    license_type: str
    source_id: str
    source_version: str
    holder: Subject
    holder_name: str
    issued_on: date
    valid_from: date
    valid_to: date | None
    fields: Mapping[str, Any] = field(default_factory=dict)
    cancelled: bool = False


@dataclass(frozen=True, slots=True)
class Change:
    """One record of a change feed and the watermark to resume after it."""

    record: CertificateRecord
    watermark: str


@dataclass(frozen=True, slots=True)
class Health:
    ok: bool
    detail: str
    latency_ms: float
    circuit: str = "closed"


@runtime_checkable
class Adapter(Protocol):
    """A department's legacy system behind the hub's one interface.

    Every method may raise the errors of :mod:`adapters.errors`; none returns a silent empty answer.
    """

    department: Department

    def datasets(self) -> Sequence[DatasetDeclaration]:
        """The datasets this department publishes to the resource directory."""
        ...

    def lookup(self, dataset: str, subject: Subject, items: Sequence[str]) -> dict[str, Any]:
        """The standard-named values of ``items`` for ``subject``.

        Raises ``UnknownDataset``, ``UnknownItem``, ``SubjectNotFound`` or a ``LegacyFailure``.
        """
        ...

    def verify(self, dataset: str, subject: Subject, claims: Mapping[str, Any]) -> dict[str, Match]:
        """Compare claimed values with the record, item by item, without disclosing values."""
        ...

    def changes_since(self, watermark: str | None) -> Iterator[Change]:
        """Certificate records changed after ``watermark`` (all when None), oldest first,
        including cancellations; streamed, never loaded whole."""
        ...

    def health(self) -> Health:
        """Can the legacy system answer now, how fast, and the state of its circuit breaker."""
        ...
