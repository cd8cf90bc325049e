"""A ceiling on request bodies (DESIGN.md "Errors": 413 body too large), for every route.

The signed endpoints read their bodies themselves, at most ``max_body_bytes`` + 1 bytes, so that an
oversized request is refused *and audited* (exchange/api/queries.py); this ceiling sits above theirs and
never reaches them. It stops the JSON and form endpoints (license verification, demo sign-in, management,
console), which would otherwise read and parse a body of any size before their fields' limits apply.
"""

from __future__ import annotations

from fastapi import HTTPException
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Room for the largest credential POST /v1/licenses/verify accepts (200 000 characters) at the default
# max_body_bytes, and never below the signed endpoints' own limit.
BODY_LIMIT_FACTOR = 4


class BodyLimit:
    """413 as soon as a body declares or delivers more than ``limit`` bytes.

    Raised as FastAPI's ``HTTPException`` from ``receive``, so the route's body parsing passes it on to the
    problem handlers (exchange/api/problems.py) instead of calling it a malformed body.
    """

    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        received = 0

        async def bounded() -> Message:
            nonlocal received
            if declared.isdigit() and int(declared) > self.limit:
                raise _too_large(self.limit)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise _too_large(self.limit)
            return message

        await self.app(scope, bounded, send)


def _too_large(limit: int) -> HTTPException:
    return HTTPException(413, f"the body exceeds {limit} bytes")
