"""Adapter errors become the problem documents DESIGN.md promises, without leaking legacy details."""

from __future__ import annotations

import logging

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from adapters import errors
from exchange.api import problems
from exchange.observability.middleware import RequestObservability

CASES = [
    (errors.LegacyUnavailable("household: circuit open"), 503, "legacy-unavailable"),
    (errors.LegacyTimeout("no answer within 5 s"), 504, "legacy-timeout"),
    (
        errors.BadLegacyData("CSRQ 20231345 is no date", row="RK_CZRKJBXX GMSFHM=330102196301168395"),
        502,
        "legacy-bad-data",
    ),
    (errors.SubjectNotFound("no such person"), 404, "subject-not-found"),
    (errors.UnknownDataset("no dataset 301999001-000001"), 404, "unknown-resource"),
    (errors.UnknownItem("dataset has no item salary"), 400, "unknown-item"),
    (errors.UnsupportedSubject("keyed by id_card, not uscc"), 400, "unsupported-subject"),
]


@pytest.fixture
def client():
    app = FastAPI()
    problems.install(app)
    app.add_middleware(RequestObservability)

    @app.get("/raise/{index}")
    def _raise(index: int):
        raise CASES[index][0]

    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.mark.parametrize("index", range(len(CASES)))
def test_each_adapter_error_has_its_status_and_stable_type(client, index):
    error, status, slug = CASES[index]
    response = client.get(f"/raise/{index}")
    assert response.status_code == status
    assert response.headers["content-type"] == problems.MEDIA_TYPE
    body = response.json()
    assert body["type"] == f"/problems/{slug}"
    assert body["status"] == status and body["title"]
    assert body["request_id"] == response.headers["x-request-id"]


def test_request_errors_say_what_was_wrong(client):
    assert "salary" in client.get("/raise/5").json()["detail"]


def test_legacy_failures_keep_rows_and_legacy_messages_for_the_operator(client, caplog):
    with caplog.at_level(logging.WARNING, logger="exchange.api"):
        body = client.get("/raise/2").json()
    assert "330102196301168395" not in body["detail"] and "CSRQ" not in body["detail"]
    assert "RK_CZRKJBXX GMSFHM=330102196301168395" in caplog.text


def test_an_unavailable_source_tells_when_to_try_again(client):
    response = client.get("/raise/0")
    assert int(response.headers["retry-after"]) > 0
    assert "circuit" not in response.json()["detail"]
