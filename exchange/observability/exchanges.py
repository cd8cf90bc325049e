"""What one signed exchange (query, verify, license search) adds to the metrics and the request log.

The API layer (exchange/api/queries.py) builds an :class:`ExchangeOutcome` from the query path's
trail once its audit entry is written, and calls :func:`record` after that entry committed: the
counter counts exactly the exchanges the audit log holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from exchange.observability import logs, metrics

if TYPE_CHECKING:
    from exchange.queries.service import Trail

STATE_KEY = "exchange_outcome"  # where the request's scope state keeps it for the request log line


@dataclass(frozen=True)
class ExchangeOutcome:
    """The labels of one exchange, each from a bounded registry, and its audit entry's index."""

    endpoint: str
    resource: str
    consumer: str
    decision: str
    status: int
    audit_index: int

    @classmethod
    def of(cls, trail: Trail, audit_index: int) -> ExchangeOutcome:
        """``resource`` is the code only once the directory resolved it (its provider is known): a
        refusal before that would otherwise put any string a caller sent in a path into a label.
        ``consumer`` is set only once a registered consumer's key was found for the signature."""
        return cls(
            endpoint=trail.endpoint,
            resource=trail.resource_code
            if trail.provider_id and trail.resource_code
            else metrics.UNRESOLVED_RESOURCE,
            consumer=trail.client_id or metrics.UNKNOWN_CONSUMER,
            decision=trail.decision,
            status=trail.http_status,
            audit_index=audit_index,
        )

    def log_fields(self) -> dict[str, Any]:
        return {
            "client_id": None if self.consumer == metrics.UNKNOWN_CONSUMER else self.consumer,
            "endpoint": self.endpoint,
            "resource": self.resource,
            "decision": self.decision,
            "audit_index": self.audit_index,
        }


def record(scope_state: dict[str, Any], outcome: ExchangeOutcome, seconds: float) -> None:
    """Count a committed exchange, time it, and name its consumer in the rest of the request's log."""
    metrics.EXCHANGES.labels(
        outcome.endpoint, outcome.resource, outcome.consumer, outcome.decision, str(outcome.status)
    ).inc()
    metrics.EXCHANGE_DURATION.labels(outcome.endpoint, outcome.decision).observe(seconds)
    scope_state[STATE_KEY] = outcome
    if outcome.consumer != metrics.UNKNOWN_CONSUMER:
        logs.bind(client_id=outcome.consumer)


def record_audit_failure(endpoint: str) -> None:
    metrics.AUDIT_FAILURES.labels(endpoint).inc()
