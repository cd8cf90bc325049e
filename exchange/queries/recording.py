"""Turning the query path's trail into the audit log's entry, in the request's transaction."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session

from exchange.audit import service as audit
from exchange.audit.schemas import AuditRecord
from exchange.queries.service import Trail


def append_from_trail(
    session: Session, trail: Trail, latency_ms: int, now: datetime, render: Callable[[int], bytes]
) -> int:
    """Append the entry; ``render`` produces the answer for the entry's index (evidence names it),
    and the entry records that answer's hash, so the answer and its entry point at each other."""

    def record(index: int) -> AuditRecord:
        render(index)  # sets trail.response_hash
        return AuditRecord(
            request_id=trail.request_id,
            client_id=trail.client_id,
            operator_id=trail.operator_id,
            operator_name=trail.operator_name,
            resource_code=trail.resource_code,
            provider_id=trail.provider_id,
            subject_type=trail.subject_type,
            subject_value=trail.subject_value,
            items_asked=trail.items_asked,
            items_returned=trail.items_returned,
            matter_code=trail.matter_code,
            purpose=trail.purpose,
            legal_basis=trail.legal_basis,
            decision=trail.decision,  # type: ignore[arg-type]
            reason=trail.reason,
            http_status=trail.http_status,
            latency_ms=latency_ms,
            request_hash=trail.request_hash,
            response_hash=trail.response_hash,
            request_jti=trail.request_jti,
            endpoint=trail.endpoint,  # type: ignore[arg-type]
        )

    return audit.append(session, record, now)
