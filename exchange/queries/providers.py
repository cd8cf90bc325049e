"""How the hub reaches a providing department: one protocol, two ways.

A department is either *local* (the embedded default: its adapter and its sealing key live in the
hub process) or behind its own *gateway* (production: :mod:`exchange.gateways`, a separate process
next to the legacy system that holds the department's key). The query path
(:mod:`exchange.queries.service`) only talks to a :class:`Provider`, in two steps:

1. :meth:`Provider.answer` asks the department (the legacy lookup; slow, may fail) before the
   audit entry exists;
2. :meth:`Provider.evidence` signs the answer once the audit entry's index is known (fast: it runs
   while the audit log's append lock is held).

The split keeps the slow legacy call outside the append lock and lets a gateway sign only answers
it produced itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from adapters.base import Adapter, Subject
from adapters.errors import LegacyUnavailable
from exchange.licenses.status_list import StatusList, status_list_token
from exchange.queries.evidence import DepartmentSigner

Operation = Literal["query", "verify", "license"]


@dataclass(frozen=True)
class Question:
    """What a consumer asked, as far as the providing department needs to know.

    ``items`` names the data items (query) or the claims' items (verify); ``asked`` holds the
    values to check (verify); ``credentials`` the sealed licenses found for a license search.
    """

    operation: Operation
    resource_code: str
    subject: Subject
    client_id: str
    request_jti: str
    request_hash: str  # base64url SHA-256 of the consumer's exact request body (``req_hash``)
    items: tuple[str, ...] = ()
    asked: dict[str, Any] | None = None
    credentials: tuple[str, ...] = ()


@dataclass(frozen=True)
class Draft:
    """The department's answer before it is signed as evidence: exactly one of the three is set.

    ``token`` is the gateway's signed draft (None for a local department): the gateway signs
    evidence only for a draft it signed itself.
    """

    data: dict[str, Any] | None = None
    results: dict[str, str] | None = None
    credentials: list[str] | None = None
    token: str | None = None

    @property
    def items_returned(self) -> list[str]:
        if self.credentials is not None:
            return [f"{len(self.credentials)} credentials"]
        return list(self.data if self.data is not None else self.results or {})


class Provider(Protocol):
    """A providing department as the hub reaches it."""

    department_id: str

    def answer(self, question: Question) -> Draft:
        """Ask the department's legacy system.

        Raises:
            adapters.errors.AdapterError: the question cannot be answered (unknown subject or
                item) or the legacy system (or the gateway in front of it) failed.
        """
        ...

    def evidence(self, draft: Draft, question: Question, *, log_index: int, now: datetime) -> str:
        """The signed response (DESIGN.md "Signed response") naming audit entry ``log_index``.

        Raises:
            adapters.errors.LegacyFailure: a gateway could not sign it.
        """
        ...

    def status_list_token(self, status_list: StatusList, *, uri: str, now: datetime, ttl: int) -> str:
        """The department's signed Token Status List for ``uri``."""
        ...


class LocalProvider:
    """A department whose adapter and key are in this process (the embedded default, a gateway)."""

    def __init__(self, signer: DepartmentSigner, adapter: Adapter | None) -> None:
        self.department_id = signer.department_id
        self.signer = signer
        self.adapter = adapter

    def answer(self, question: Question) -> Draft:
        if question.operation == "license":
            return Draft(credentials=list(question.credentials))
        if self.adapter is None:
            raise LegacyUnavailable(f"the {self.department_id} legacy system is not connected")
        if question.operation == "query":
            values = self.adapter.lookup(question.resource_code, question.subject, list(question.items))
            return Draft(data={name: values[name] for name in question.items})
        matches = self.adapter.verify(question.resource_code, question.subject, question.asked or {})
        return Draft(results={name: str(match) for name, match in matches.items()})

    def evidence(self, draft: Draft, question: Question, *, log_index: int, now: datetime) -> str:
        return self.signer.sign(
            client_id=question.client_id,
            request_jti=question.request_jti,
            request_hash=question.request_hash,
            resource_code=question.resource_code,
            subject={"type": question.subject.type.value, "value": question.subject.value},
            log_index=log_index,
            now=now,
            data=draft.data,
            results=draft.results,
            credentials=draft.credentials,
        )

    def status_list_token(self, status_list: StatusList, *, uri: str, now: datetime, ttl: int) -> str:
        return status_list_token(status_list, uri=uri, signer=self.signer, now=now, ttl=ttl)
