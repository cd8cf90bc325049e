"""GET /metrics: the Prometheus exposition (docs/observability.md).

Unauthenticated, like every Prometheus target, so it holds nothing personal: counts by consumer,
resource, department and route template, and the audit log's size, never a subject identifier, a
request id or a raw path. Operators still restrict it to their monitoring network at the edge.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from exchange.observability.collectors import DatabaseCollector
from exchange.observability.metrics import exposition

router = APIRouter(tags=["operations"])


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    """Every worker's request counters and latencies, and the audit and sync state read now."""
    body, content_type = exposition(
        [DatabaseCollector(request.app.state.hub.sessions)], accept=request.headers.get("accept")
    )
    return Response(body, headers={"Content-Type": content_type, "Cache-Control": "no-store"})
