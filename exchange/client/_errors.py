"""The client's exception tree; every failure of the hub, the network or the evidence is one of these.

::

    ExchangeClientError
    ├── HubUnreachable          the request may or may not have reached the hub (connect, timeout, ...)
    ├── EvidenceRejected        a 200 answer that is not valid evidence; ``check`` names the failed check
    └── HubError                an RFC 9457 problem document (any status but 200)
        ├── BadRequest          400  malformed-request, ...
        ├── Unauthenticated     401  bad, expired or unknown signature; revoked certificate
        ├── Forbidden           403  no-grant, refused (不予共享), item/matter/purpose outside the grant
        ├── NotFound            404  unknown-resource, subject-not-found
        ├── Replay              409  the jti was already used
        ├── TooLarge            413  body-too-large
        ├── InvalidIdentifier   422  an identifier failed its GB check (the detail says why)
        ├── RateLimited         429  ``retry_after`` seconds
        └── LegacyError         502, 503, 504  the department's legacy system failed

httpx's own errors never leave the client: they are translated here, at the boundary, as httpx
translates those of its transports.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

PROBLEM_MEDIA_TYPE = "application/problem+json"


class ExchangeClientError(Exception):
    """Base of every error the exchange client raises."""


class HubUnreachable(ExchangeClientError):
    """No HTTP answer: connection refused, DNS, TLS, timeout. The hub may still have logged the request."""


class EvidenceRejected(ExchangeClientError):
    """The answer is not evidence we can keep: ``check`` names the failed check, ``detail`` says why."""

    def __init__(self, check: str, detail: str) -> None:
        self.check = check
        self.detail = detail
        super().__init__(f"evidence rejected ({check}): {detail}")


class HubError(ExchangeClientError):
    """The hub answered with an RFC 9457 problem document instead of evidence.

    Attributes:
        status: the HTTP status code.
        type: the problem ``type`` URI (the hub's are relative, e.g. ``/problems/no-grant``).
        title: the short, stable summary of the problem type.
        detail: what went wrong with this request.
        request_id: the hub's id for this request; quote it to the hub operator.
        retry_after: seconds from ``Retry-After`` (429, sometimes 503), else ``None``.
        problem: the whole problem document (extension members included).
    """

    def __init__(
        self,
        *,
        status: int,
        type: str,
        title: str,
        detail: str,
        request_id: str | None,
        retry_after: int | None = None,
        problem: Mapping[str, Any] | None = None,
    ) -> None:
        self.status = status
        self.type = type
        self.title = title
        self.detail = detail
        self.request_id = request_id
        self.retry_after = retry_after
        self.problem: dict[str, Any] = dict(problem or {})
        reference = f" (request_id {request_id})" if request_id else ""
        super().__init__(f"{status} {type}: {detail or title}{reference}")

    @property
    def slug(self) -> str:
        """The last path segment of ``type``: ``no-grant`` for ``/problems/no-grant``."""
        return self.type.rstrip("/").rsplit("/", 1)[-1]


class BadRequest(HubError):
    """400: the request is malformed."""


class Unauthenticated(HubError):
    """401: bad, expired or unknown signature, or a revoked certificate."""


class Forbidden(HubError):
    """403: no grant, outside the grant, or the resource is not shared (不予共享)."""


class NotFound(HubError):
    """404: unknown resource or subject."""


class Replay(HubError):
    """409: the request's ``jti`` was already used within its validity."""


class TooLarge(HubError):
    """413: the request body is larger than the hub accepts."""


class InvalidIdentifier(HubError):
    """422: an identifier (citizen ID, USCC, property unit number) is invalid; ``detail`` says why."""


class RateLimited(HubError):
    """429: too many requests; wait ``retry_after`` seconds."""


class LegacyError(HubError):
    """502, 503 or 504: the providing department's legacy system failed; try again later."""


_BY_STATUS: dict[int, type[HubError]] = {
    400: BadRequest,
    401: Unauthenticated,
    403: Forbidden,
    404: NotFound,
    409: Replay,
    413: TooLarge,
    422: InvalidIdentifier,
    429: RateLimited,
    502: LegacyError,
    503: LegacyError,
    504: LegacyError,
}


def hub_error(response: httpx.Response, *, now: datetime) -> HubError:
    """The exception for a non-200 answer, read from its problem document when it has one.

    The HTTP status decides the class (a proxy's HTML error page still maps by status); the
    document's members fill in the rest.
    """
    problem = _problem_document(response)
    status = response.status_code
    title = _text(problem.get("title")) or response.reason_phrase or "HTTP error"
    detail = _text(problem.get("detail"))
    if not problem and not detail:
        detail = response.text.strip().splitlines()[0][:200] if response.text.strip() else title
    request_id = _text(problem.get("request_id")) or response.headers.get("x-request-id") or None
    kind = _BY_STATUS.get(status, HubError)
    return kind(
        status=status,
        type=_text(problem.get("type")) or "about:blank",
        title=title,
        detail=detail,
        request_id=request_id,
        retry_after=retry_after_seconds(response.headers.get("retry-after"), now=now),
        problem=problem,
    )


def retry_after_seconds(value: str | None, *, now: datetime) -> int | None:
    """``Retry-After`` (RFC 9110 section 10.2.3) as whole seconds: delay-seconds or an HTTP-date."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if value.isdigit():
        return int(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0, int((when - now).total_seconds() + 0.999))


def _problem_document(response: httpx.Response) -> dict[str, Any]:
    media_type = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type not in (PROBLEM_MEDIA_TYPE, "application/json"):
        return {}
    try:
        document = json.loads(response.content)
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""
