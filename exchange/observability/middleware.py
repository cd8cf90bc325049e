"""The outermost middleware: a request id for every request, its log line, its latency.

The id is the caller's ``X-Request-ID`` when that is a sane token (see :func:`accepted_request_id`),
else a fresh one. It is put in the request's scope state before anything else runs, so the problem
documents (exchange/api/problems.py), the audit entry of an exchange and every log line written while
the request is served carry the same id, and it is echoed in the ``X-Request-ID`` response header.

One line per request is logged by ``exchange.requests``: method, route template (never the raw path,
which may hold an identifier; never the query string), status, duration and, for a signed exchange,
the consumer, resource, decision and audit index. ``/health`` and ``/metrics``, polled by machines,
are logged at DEBUG.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from exchange.observability import logs, metrics
from exchange.observability.exchanges import STATE_KEY, ExchangeOutcome

logger = logging.getLogger(logs.REQUEST_LOGGER)

HEADER = "x-request-id"
# Letters, digits and . _ : -, 8 to 64 of them (the audit entry keeps at most 64).
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{7,63}")
QUIET_ROUTES = frozenset({"/health", "/metrics"})


def accepted_request_id(value: str | None) -> str | None:
    """The caller's request id, if it is a token we can log and store as it is: 8 to 64 letters,
    digits and ``._:-``, holding nothing shaped like a subject identifier. None otherwise."""
    if value is None or not _TOKEN.fullmatch(value) or logs.mask_identifiers(value) != value:
        return None
    return value


def route_template(scope: Scope) -> str:
    """The matched route's path template (``/v1/query/{resource_code}``), or ``unmatched``."""
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) and path else metrics.UNMATCHED_ROUTE


class RequestObservability:
    """Request id, request log line and HTTP metrics for every HTTP request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = accepted_request_id(Headers(scope=scope).get(HEADER)) or uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        header = (HEADER.encode("latin-1"), request_id.encode("latin-1"))
        status = 500  # unless a response starts: an exception escaped to the server error handler

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() != header[0]]
                message["headers"] = [*kept, header]
            await send(message)

        started = time.perf_counter()
        metrics.HTTP_IN_PROGRESS.inc()
        with logs.request_context(request_id):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                metrics.HTTP_IN_PROGRESS.dec()
                seconds = time.perf_counter() - started
                method = metrics.method_label(scope.get("method", ""))
                route = route_template(scope)
                metrics.HTTP_DURATION.labels(method, route, str(status)).observe(seconds)
                _log(method, route, status, seconds, state.get(STATE_KEY))


def _log(method: str, route: str, status: int, seconds: float, outcome: ExchangeOutcome | None) -> None:
    if route in QUIET_ROUTES and status < 500:
        level = logging.DEBUG
    else:
        level = logging.WARNING if status >= 500 else logging.INFO
    if not logger.isEnabledFor(level):
        return
    fields: dict[str, Any] = {
        "method": method,
        "route": route,
        "status": status,
        "duration_ms": round(seconds * 1000, 2),
    }
    if outcome is not None:
        fields.update({key: value for key, value in outcome.log_fields().items() if value is not None})
    logger.log(level, "%s %s %s", method, route, status, extra=fields)
