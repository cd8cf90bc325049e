"""RFC 9457 problem details: one stable ``type`` URI per error, and never a 500 for bad input."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from adapters import errors as adapter_errors
from directory import service as directory

# Relative type URIs (RFC 9457 section 3.1.1), resolved against the hub that answered.
PROBLEM_BASE = "/problems/"
MEDIA_TYPE = "application/problem+json"
logger = logging.getLogger("exchange.api")


class Problem(Exception):
    """Raise from a route to answer with a problem document."""

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status, self.slug, self.title, self.detail = status, slug, title, detail
        self.headers = headers or {}
        self.extra = extra


def problem_response(
    request: Request, status: int, slug: str, title: str, detail: str, **extra: Any
) -> JSONResponse:
    body = {
        "type": PROBLEM_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
        "request_id": request_id_of(request),
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE)


def request_id_of(request: Request) -> str:
    return str(request.scope.get("state", {}).get("request_id") or "")


# --- the problems in the OpenAPI document --------------------------------------------------------------

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "An RFC 9457 problem document; switch on `type`, quote `request_id` to the operator.",
    "type": "object",
    "required": ["type", "title", "status", "detail", "request_id"],
    "properties": {
        "type": {"type": "string", "description": "/problems/<slug>, stable per error"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "request_id": {"type": "string"},
    },
}
_PROBLEM_REF = "#/components/schemas/Problem"
_FASTAPI_VALIDATION_REF = "#/components/schemas/HTTPValidationError"


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """A route's ``responses``: the problem documents it may answer, besides the 400 every route with
    parameters or a body answers to input that does not fit them (added by :func:`describe`)."""
    return {
        status: {
            "description": HTTPStatus(status).phrase,
            "content": {MEDIA_TYPE: {"schema": {"$ref": _PROBLEM_REF}}},
        }
        for status in statuses
    }


def describe(document: dict[str, Any]) -> dict[str, Any]:
    """Make FastAPI's OpenAPI document say what the hub answers: the ``Problem`` schema, and instead of
    FastAPI's 422 ``HTTPValidationError`` (which the hub never sends) the 400 problem that
    :func:`install` answers, on every route with parameters or a body, to input that does not fit them."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.get("responses", {})
            generated = responses.get("422", {}).get("content", {}).get("application/json", {})
            if generated.get("schema", {}).get("$ref") == _FASTAPI_VALIDATION_REF:
                del responses["422"]
            if operation.get("parameters") or operation.get("requestBody"):
                responses.setdefault("400", documented(400)[400])
    if _FASTAPI_VALIDATION_REF not in str(document.get("paths")):
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
    return document


_STATUS_SLUGS = {
    400: ("malformed-request", "Malformed request"),
    401: ("unauthenticated", "Unauthenticated"),
    403: ("forbidden", "Forbidden"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    413: ("body-too-large", "Request body too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
}


# The one place adapter errors become HTTP answers (DESIGN.md "Errors"); most specific class first.
_ADAPTER_PROBLEMS: tuple[tuple[type[adapter_errors.AdapterError], int, str, str], ...] = (
    (adapter_errors.LegacyUnavailable, 503, "legacy-unavailable", "Source system unavailable"),
    (adapter_errors.LegacyTimeout, 504, "legacy-timeout", "Source system timed out"),
    (adapter_errors.BadLegacyData, 502, "legacy-bad-data", "Source system answered unusable data"),
    (adapter_errors.SubjectNotFound, 404, "subject-not-found", "Subject not found"),
    (adapter_errors.UnknownDataset, 404, "unknown-resource", "Unknown resource"),
    (adapter_errors.UnknownItem, 400, "unknown-item", "Unknown data item"),
    (adapter_errors.UnsupportedSubject, 400, "unsupported-subject", "Subject type not supported"),
)
LEGACY_RETRY_AFTER_SECONDS = 30


def adapter_problem(exc: adapter_errors.AdapterError) -> Problem:
    """The problem document for an adapter error.

    Legacy failures say only which kind of failure it was: the row of bad legacy data and the
    legacy system's own message are for the operator's log, not for the consumer.
    """
    status, slug, title = next(
        ((status, slug, title) for kind, status, slug, title in _ADAPTER_PROBLEMS if isinstance(exc, kind)),
        (502, "legacy-failure", "Source system failed"),
    )
    if isinstance(exc, adapter_errors.LegacyFailure):
        detail = f"{title.lower()}; try again later or quote the request_id to the operator"
        headers = {"Retry-After": str(LEGACY_RETRY_AFTER_SECONDS)} if status == 503 else {}
        return Problem(status, slug, title, detail, headers)
    return Problem(status, slug, title, str(exc))


_DIRECTORY_PROBLEMS: tuple[tuple[type[directory.DirectoryError], int, str, str], ...] = (
    (directory.NoGrant, 403, "no-grant", "No grant covers this request"),
    (directory.Refused, 403, "refused", "Refused by the sharing rules"),
    (directory.NotFound, 404, "not-found", "Not found"),
    (directory.Conflict, 409, "conflict", "Conflict with the current state"),
    (directory.Invalid, 400, "invalid-request", "Invalid request"),
)


def directory_problem(exc: directory.DirectoryError) -> Problem:
    status, slug, title = next(
        ((status, slug, title) for kind, status, slug, title in _DIRECTORY_PROBLEMS if isinstance(exc, kind)),
        (400, "invalid-request", "Invalid request"),
    )
    return Problem(status, slug, title, str(exc))


def install(app: FastAPI) -> None:
    """The problem handlers; the request id they name comes from
    :class:`exchange.observability.middleware.RequestObservability`, which the app adds outermost."""

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        response = problem_response(request, exc.status, exc.slug, exc.title, exc.detail, **exc.extra)
        response.headers.update(exc.headers)
        return response

    @app.exception_handler(adapter_errors.AdapterError)
    async def _adapter(request: Request, exc: adapter_errors.AdapterError) -> JSONResponse:
        if isinstance(exc, adapter_errors.LegacyFailure):
            logger.warning("legacy system failed: %s", exc, extra={"request_id": request_id_of(request)})
        return await _problem(request, adapter_problem(exc))

    @app.exception_handler(directory.DirectoryError)
    async def _directory(request: Request, exc: directory.DirectoryError) -> JSONResponse:
        return await _problem(request, directory_problem(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        slug, title = _STATUS_SLUGS.get(exc.status_code, ("http-error", "HTTP error"))
        return problem_response(request, exc.status_code, slug, title, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": list(error.get("loc", ())), "msg": error.get("msg", "")} for error in exc.errors()]
        return problem_response(
            request,
            400,
            "malformed-request",
            "Malformed request",
            "the request does not match the expected shape",
            errors=errors,
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error", extra={"request_id": request_id_of(request)})
        return problem_response(
            request,
            500,
            "internal-error",
            "Internal error",
            "the hub failed to handle this request; quote the request_id to the operator",
        )
