"""POST /v1/query/{resource_code} and /v1/verify/{resource_code}: signed questions, signed answers.

The audit entry is committed before the answer is returned; if that commit fails, the consumer
gets a 503 and no data (DESIGN.md "Audit log").
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool

from exchange.api.problems import Problem, documented, request_id_of
from exchange.db.engine import session_scope
from exchange.observability import exchanges
from exchange.observability.exchanges import ExchangeOutcome
from exchange.queries.recording import append_from_trail
from exchange.queries.service import Answer, Trail, handle

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from exchange.api.app import HubState

router = APIRouter(tags=["exchange"])
logger = logging.getLogger("exchange.api")
# The signed endpoints' OpenAPI: the JWT in, the evidence or a problem out (DESIGN.md "Errors"; 503 also
# when the audit entry cannot be committed or the hub has no PKI yet).
SIGNED_RESPONSES = documented(400, 401, 403, 404, 409, 413, 415, 422, 429, 502, 503, 504)
SIGNED_EXCHANGE = {
    "requestBody": {
        "required": True,
        "content": {
            "application/jwt": {"schema": {"type": "string", "description": "the signed request JWT"}}
        },
    },
    "responses": {
        "200": {
            "description": "Signed evidence",
            "content": {"application/jwt": {"schema": {"type": "string"}}},
        }
    },
}


@router.post(
    "/v1/query/{resource_code}",
    openapi_extra=SIGNED_EXCHANGE,
    responses=SIGNED_RESPONSES,
    response_class=Response,
)
async def query(resource_code: str, request: Request) -> Response:
    """Ask for the granted data items of one subject; the answer is evidence signed by the department."""
    return await exchange_endpoint("query", resource_code, request)


@router.post(
    "/v1/verify/{resource_code}",
    openapi_extra=SIGNED_EXCHANGE,
    responses=SIGNED_RESPONSES,
    response_class=Response,
)
async def verify(resource_code: str, request: Request) -> Response:
    """Check claimed values item by item: match, mismatch or unknown, never the values themselves."""
    return await exchange_endpoint("verify", resource_code, request)


async def exchange_endpoint(endpoint: str, resource_code: str | None, request: Request) -> Response:
    """Read the bounded body, answer it in a worker thread, commit its audit entry, then respond."""
    state = request.app.state.hub
    if state.exchange is None:
        raise Problem(
            503, "not-initialised", "Hub not initialised", "the hub has no PKI yet: run `exchange up`"
        )
    started = time.perf_counter()
    body = await _bounded_body(request, state.exchange.max_body_bytes)
    answer, outcome = await run_in_threadpool(
        _answer_and_commit,
        state,
        endpoint,
        resource_code,
        body,
        request.headers.get("content-type", ""),
        request_id_of(request),
    )
    exchanges.record(request.scope.setdefault("state", {}), outcome, time.perf_counter() - started)
    return Response(
        answer.body, status_code=answer.status, media_type=answer.media_type, headers=answer.headers
    )


def _answer_and_commit(
    state: HubState, endpoint: str, resource_code: str | None, body: bytes, content_type: str, request_id: str
) -> tuple[Answer, ExchangeOutcome]:
    outcomes: list[ExchangeOutcome] = []

    def append_audit(
        session: Session, trail: Trail, latency_ms: int, now: datetime, render: Callable[[int], bytes]
    ) -> int:
        index = append_from_trail(session, trail, latency_ms, now, render)
        outcomes.append(ExchangeOutcome.of(trail, index))  # the trail is final once its entry is
        return index

    try:
        with session_scope(state.sessions) as session:
            assert state.exchange is not None
            answer = handle(
                session,
                state.exchange,
                endpoint=endpoint,
                resource_code=resource_code,
                body=body,
                content_type=content_type,
                request_id=request_id,
                now=datetime.now(UTC),
                append_audit=append_audit,
                commit=session.commit,
            )
    except Exception:
        logger.exception(
            "could not record the audit entry; nothing was sent", extra={"request_id": request_id}
        )
        exchanges.record_audit_failure(endpoint)
        raise Problem(
            503,
            "audit-unavailable",
            "Audit log unavailable",
            "the exchange could not be recorded, so nothing was answered; try again later",
        ) from None
    return answer, outcomes[-1]  # committed: the answer may leave, and it counts


async def _bounded_body(request: Request, limit: int) -> bytes:
    """At most ``limit`` + 1 bytes are read: enough to know a body is too large without holding it."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return b"\0" * (limit + 1)  # handle() refuses and audits it as 413 without reading it
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                break
    except HTTPException as exc:  # one chunk beyond the ceiling of every route (exchange/api/limits.py)
        if exc.status_code != 413:
            raise
        return b"\0" * (limit + 1)
    return b"".join(chunks)[: limit + 1]
