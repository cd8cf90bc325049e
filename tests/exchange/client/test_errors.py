"""Problem documents (RFC 9457) become one exception class per status, with every member kept."""

from __future__ import annotations

from datetime import timedelta
from email.utils import format_datetime

import httpx
import pytest

from exchange.client import (
    BadRequest,
    ExchangeClientError,
    Forbidden,
    HubError,
    InvalidIdentifier,
    LegacyError,
    NotFound,
    RateLimited,
    Replay,
    TooLarge,
    Unauthenticated,
)
from exchange.client._errors import hub_error, retry_after_seconds
from tests.conftest import NOW
from tests.exchange.client.conftest import QUERY_CONTEXT, RESOURCE, SUBJECT, FakeHub, problem

# DESIGN.md "Errors" and the slugs the hub uses (docs/protocol.md's table).
CASES = [
    (400, "malformed-request", BadRequest),
    (401, "unauthenticated", Unauthenticated),
    (403, "forbidden", Forbidden),
    (403, "no-grant", Forbidden),
    (403, "refused", Forbidden),
    (404, "not-found", NotFound),
    (404, "unknown-resource", NotFound),
    (404, "subject-not-found", NotFound),
    (409, "replay", Replay),
    (413, "body-too-large", TooLarge),
    (422, "invalid-identifier", InvalidIdentifier),
    (429, "rate-limited", RateLimited),
    (502, "legacy-bad-data", LegacyError),
    (503, "legacy-unavailable", LegacyError),
    (504, "legacy-timeout", LegacyError),
]


@pytest.mark.parametrize(("status", "slug", "kind"), CASES, ids=[f"{s}-{slug}" for s, slug, _ in CASES])
def test_each_status_raises_its_exception(status, slug, kind, ed25519_consumer, signer, make_client):
    hub = FakeHub(ed25519_consumer, signer, respond=lambda request: problem(status, slug, f"because {slug}"))
    with make_client(hub, ed25519_consumer) as client, pytest.raises(kind) as caught:
        client.query(RESOURCE, "id_card", SUBJECT, ["name"], **QUERY_CONTEXT)
    error = caught.value
    assert isinstance(error, HubError) and isinstance(error, ExchangeClientError)
    assert error.status == status
    assert error.type == f"/problems/{slug}" and error.slug == slug
    assert error.title and error.detail == f"because {slug}"
    assert error.request_id == "req-123"
    assert error.problem["status"] == status
    assert str(error) == f"{status} /problems/{slug}: because {slug} (request_id req-123)"


def test_rate_limited_carries_retry_after_in_seconds():
    response = problem(429, "rate-limited", headers={"Retry-After": "17"})
    error = hub_error(response, now=NOW)
    assert isinstance(error, RateLimited) and error.retry_after == 17


def test_retry_after_may_be_an_http_date():
    when = format_datetime(NOW + timedelta(seconds=90), usegmt=True)
    assert retry_after_seconds(when, now=NOW) == 90
    assert retry_after_seconds(format_datetime(NOW - timedelta(seconds=5), usegmt=True), now=NOW) == 0
    assert retry_after_seconds("soon", now=NOW) is None
    assert retry_after_seconds(None, now=NOW) is None


def test_an_answer_without_a_problem_document_still_maps_by_status():
    response = httpx.Response(
        502, text="<html>Bad Gateway</html>\n", headers={"Content-Type": "text/html", "X-Request-ID": "abc"}
    )
    error = hub_error(response, now=NOW)
    assert isinstance(error, LegacyError)
    assert error.type == "about:blank" and error.title == "Bad Gateway"
    assert error.detail == "<html>Bad Gateway</html>" and error.request_id == "abc"


def test_an_unlisted_status_is_a_plain_hub_error():
    error = hub_error(problem(500, "internal-error", "quote the request_id"), now=NOW)
    assert type(error) is HubError and error.status == 500 and error.slug == "internal-error"
    error = hub_error(httpx.Response(415, json={"type": 7, "detail": ["x"]}), now=NOW)
    assert type(error) is HubError and error.type == "about:blank" and error.detail == ""
