"""Structured logs: JSON lines with the request id that the response header, the problem document and
the audit entry carry; incoming ids only when sane; no subject identifier in any line."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from datetime import datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from exchange.api.app import create_app
from exchange.audit.models import AuditEntry
from exchange.db.engine import session_factory
from exchange.demo import DEMO_CLIENT_ID
from exchange.observability import logs
from exchange.observability.middleware import accepted_request_id
from tests.exchange.observability.conftest import HOUSEHOLD, signed_query


def _lines(captured) -> list[dict]:
    return [json.loads(line) for line in captured.lines()]


def _hub_text(captured) -> str:
    """Every captured line but the test client's own (httpx logs the URLs it requests)."""
    return "\n".join(line for line in captured.lines() if json.loads(line)["logger"] != "httpx")


def _request_line(captured, request_id: str) -> dict:
    lines = [
        line
        for line in _lines(captured)
        if line["logger"] == "exchange.requests" and line.get("request_id") == request_id
    ]
    assert len(lines) == 1, lines
    return lines[0]


def _entry(engine, request_id: str) -> AuditEntry:
    with session_factory(engine)() as session:
        return session.scalars(select(AuditEntry).where(AuditEntry.request_id == request_id)).one()


def test_a_problem_its_header_and_its_log_line_share_one_request_id(hub, json_log):
    response = hub.get("/v1/directory/resources/399999999-000001")
    assert response.status_code == 404
    request_id = response.headers["x-request-id"]
    assert response.json()["request_id"] == request_id
    line = _request_line(json_log, request_id)
    assert line["route"] == "/v1/directory/resources/{code}"
    assert (line["method"], line["status"], line["level"]) == ("GET", 404, "info")
    assert line["message"] == "GET /v1/directory/resources/{code} 404"
    assert isinstance(line["duration_ms"], float | int) and line["duration_ms"] >= 0
    assert datetime.fromisoformat(line["time"].replace("Z", "+00:00")).tzinfo is not None
    assert isinstance(line["pid"], int)
    assert "399999999-000001" not in _hub_text(json_log)  # the raw path is never logged


def test_a_refused_exchange_names_one_id_in_problem_header_audit_entry_and_log(hub, json_log, citizen):
    response = signed_query(hub, citizen, matter_code="NOT-GRANTED")
    assert response.status_code == 403
    request_id = response.headers["x-request-id"]
    assert response.json()["request_id"] == request_id
    entry = _entry(hub.engine, request_id)
    assert entry.decision == "deny"
    line = _request_line(json_log, request_id)
    assert line["route"] == "/v1/query/{resource_code}" and line["status"] == 403
    assert line["client_id"] == DEMO_CLIENT_ID
    assert (line["endpoint"], line["resource"], line["decision"]) == ("query", HOUSEHOLD, "deny")
    assert line["audit_index"] == entry.index
    assert citizen not in _hub_text(json_log)


def test_a_sane_incoming_request_id_is_kept_end_to_end(hub, json_log, citizen):
    response = signed_query(hub, citizen, headers={"X-Request-ID": "portal-20261121-0001"})
    assert response.status_code == 200, response.text
    assert response.headers["x-request-id"] == "portal-20261121-0001"
    assert _entry(hub.engine, "portal-20261121-0001").decision == "allow"
    line = _request_line(json_log, "portal-20261121-0001")
    assert line["decision"] == "allow" and line["client_id"] == DEMO_CLIENT_ID
    assert citizen not in _hub_text(json_log)


@pytest.mark.parametrize(
    "given",
    [
        "short",  # fewer than 8 characters
        "has a space in it",
        "x" * 65,
        "-leading-dash",
        'quote"d-value',
        "req-{citizen}",  # holds a subject identifier: never logged, never stored
        "{citizen}",
    ],
)
def test_an_unusable_incoming_request_id_is_replaced(hub, citizen, given):
    given = given.format(citizen=citizen)
    assert accepted_request_id(given) is None
    response = hub.get("/v1/directory/resources", headers={"X-Request-ID": given})
    request_id = response.headers["x-request-id"]
    assert request_id != given and len(request_id) == 32 and int(request_id, 16) >= 0


@pytest.mark.parametrize("given", ["portal-0001", "6f1c1d0e-8f5e-4b8e-9a51-0c0e5a3b9d2f", "a.b:c_d-e1"])
def test_sane_request_ids_are_accepted(given):
    assert accepted_request_id(given) == given


def test_lines_logged_while_a_request_is_served_carry_its_id(hub, json_log):
    def noisy() -> dict:  # a plain def: FastAPI runs it in a worker thread
        logging.getLogger("exchange.test").warning("working on it")
        return {}

    hub.app.add_api_route("/_test/noisy", noisy)
    response = hub.get("/_test/noisy")
    logging.getLogger("exchange.test").warning("outside any request")
    request_id = response.headers["x-request-id"]
    lines = {line["message"]: line for line in _lines(json_log) if line["logger"] == "exchange.test"}
    assert lines["working on it"]["request_id"] == request_id
    assert lines["working on it"]["level"] == "warning"
    assert "request_id" not in lines["outside any request"]
    assert _request_line(json_log, request_id)["route"] == "/_test/noisy"


def test_subject_identifiers_are_masked_in_messages_and_tracebacks(json_log, citizen):
    log = logging.getLogger("exchange.test")
    log.info("looked up %s for the clerk", citizen)
    try:
        raise ValueError(f"no row for subject_value={citizen} (USCC 91350100M000100Y43)")
    except ValueError:
        log.exception("lookup failed", extra={"detail": f"subject {citizen}"})
    text = json_log.stream.getvalue()
    assert citizen not in text and "91350100M000100Y43" not in text
    first, second = _lines(json_log)
    assert first["message"] == "looked up [redacted] for the clerk"
    assert "ValueError: no row for subject_value=[redacted]" in second["exception"]
    assert second["detail"] == "subject [redacted]" and second["level"] == "error"
    assert logs.mask_identifiers("ids 0123456789abcdef0123456789abcdef and 12345") == (
        "ids 0123456789abcdef0123456789abcdef and 12345"
    )


def test_the_text_format_shows_the_same_fields():
    formatter = logs.TextFormatter()
    record = logging.LogRecord("exchange.test", logging.INFO, __file__, 1, "hello %s", ("there",), None)
    with logs.request_context("portal-0001-text"):
        rendered = formatter.format(record)
    assert "hello there" in rendered and "request_id=portal-0001-text" in rendered
    assert "exchange.test" in rendered


def test_uvicorns_log_config_makes_every_logger_write_json(tmp_path):
    """What each `exchange up` worker gets: uvicorn's own lines and the hub's alike, one JSON object each."""
    program = (
        "import logging, logging.config\n"
        "from exchange.observability import logs\n"
        "logging.config.dictConfig(logs.log_config('json'))\n"
        "logging.getLogger('uvicorn.error').info('Started server process [%d]', 7, extra={'color_message': 'x'})\n"
        "logging.getLogger('uvicorn.access').info('should not appear')\n"
        "logging.getLogger('httpx').info('HTTP Request: GET http://legacy/units/123')\n"
        "logging.getLogger('exchange.api').warning('a warning', extra={'request_id': 'given-0001'})\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=True
    )
    lines = [json.loads(line) for line in result.stderr.splitlines()]
    assert [line["message"] for line in lines] == ["Started server process [7]", "a warning"]
    assert lines[0]["logger"] == "uvicorn.error" and "color_message" not in lines[0]
    assert lines[1]["request_id"] == "given-0001" and lines[1]["level"] == "warning"
    assert result.stdout == ""


def test_the_simulated_departments_leave_the_hubs_logging_alone(settings, engine):
    """Their uvicorn servers re-apply uvicorn's default logging when they start; the hub puts its own back."""
    from exchange.bootstrap import bootstrap

    bootstrap(settings, engine)
    uvicorn_logger = logging.getLogger("uvicorn")
    error_logger = logging.getLogger("uvicorn.error")
    sentinel = logging.NullHandler()
    saved = (uvicorn_logger.handlers[:], uvicorn_logger.propagate, error_logger.level)
    uvicorn_logger.handlers, uvicorn_logger.propagate = [sentinel], True
    error_logger.setLevel(logging.INFO)
    try:
        with TestClient(create_app(settings)) as client:
            assert client.app.state.hub.simulated  # the legacy systems did start
            assert uvicorn_logger.handlers == [sentinel] and uvicorn_logger.propagate
            assert error_logger.level == logging.INFO
    finally:
        uvicorn_logger.handlers, uvicorn_logger.propagate = saved[0], saved[1]
        error_logger.setLevel(saved[2])
