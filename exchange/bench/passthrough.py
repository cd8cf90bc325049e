"""The benchmark's baseline: the hub with one more route that asks a department's adapter directly.

``POST /bench/passthrough/{resource_code}`` takes ``{"subject": {"type", "value"}, "fields": [...]}``
as plain JSON and answers the adapter's values as plain JSON: no request signature, no grant check,
no replay check, no audit entry, no evidence. It is what a bare proxy in front of the same adapter
costs, so that the signed, audited ``/v1/query`` can be compared with it in one run.

The route exists only in this factory, which only ``exchange bench`` starts (on loopback, in a
throw-away home): ``exchange up`` serves :func:`exchange.api.app.create_app`, which has no such route.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool

from adapters.base import Subject
from directory import service as directory
from exchange.api.app import HubState
from exchange.api.app import create_app as create_hub_app
from exchange.api.problems import Problem
from exchange.queries.providers import Provider, Question

PATH = "/bench/passthrough/{resource_code}"
router = APIRouter()


@router.post(PATH, include_in_schema=False)
async def passthrough(resource_code: str, request: Request) -> Response:
    asked = json.loads(await request.body())
    state: HubState = request.app.state.hub
    values = await run_in_threadpool(_lookup, state, resource_code, asked)
    return Response(json.dumps(values, ensure_ascii=False), media_type="application/json")


def _lookup(state: HubState, resource_code: str, asked: dict[str, Any]) -> dict[str, Any]:
    provider = _provider(state, resource_code)
    subject = Subject.parse(asked["subject"]["type"], asked["subject"]["value"])
    question = Question(
        operation="query",
        resource_code=resource_code,
        subject=subject,
        client_id="bench",
        request_jti="",
        request_hash="",
        items=tuple(asked["fields"]),
    )
    data = provider.answer(question).data
    assert data is not None
    return data


_routes: dict[str, Provider] = {}


def _provider(state: HubState, resource_code: str) -> Provider:
    """A routing table in memory, as a bare proxy would have: the directory is read once per code."""
    provider = _routes.get(resource_code)
    if provider is None:
        assert state.exchange is not None
        with state.sessions() as session:
            try:
                department = directory.get_resource(session, code=resource_code).provider_id
            except directory.NotFound:
                raise Problem(404, "unknown-resource", "Unknown resource", resource_code) from None
        provider = _routes[resource_code] = state.exchange.providers[department]
    return provider


def create_app() -> FastAPI:
    app = create_hub_app()
    app.include_router(router)
    return app
