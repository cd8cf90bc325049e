"""`exchange client query|verify|licenses`: the embedded demo's defaults, JSON (or each license) on stdout,
one red line on error."""

from __future__ import annotations

import functools
import json
import stat
from datetime import date

import httpx
import pytest
from typer.testing import CliRunner

import exchange.cli.client as command
from certs.keys import generate_private_key, write_private_key
from exchange.cli.context import console, errors
from exchange.client import ExchangeClient, verify_evidence
from exchange.demo import DEMO_CLIENT_ID
from exchange.licenses.status_list import INVALID
from tests.conftest import NOW
from tests.exchange.client.conftest import (
    LICENSE_TYPE,
    RECORD,
    RESOURCE,
    STATUS_LIST_ID,
    SUBJECT,
    FakeHub,
    problem,
)

runner = CliRunner()
console.width = errors.width = 200

WHO = [
    "--matter",
    "330100-XK-0001",
    "--purpose",
    "入学审核",
    "--operator-id",
    "clerk-007",
    "--operator-name",
    "李明",
]


@pytest.fixture
def demo_key(settings):
    key = generate_private_key()
    write_private_key(settings.demo_dir / "consumer.key", key)
    return key


@pytest.fixture
def hub(demo_key, signer, monkeypatch):
    """The fake hub behind the command's client (the defaults find the demo key and the CA)."""
    fake = FakeHub(demo_key, signer, client_id=DEMO_CLIENT_ID)
    monkeypatch.setattr(
        command,
        "ExchangeClient",
        functools.partial(ExchangeClient, transport=httpx.MockTransport(fake), clock=lambda: NOW),
    )
    return fake


def invoke(*args: str):
    return runner.invoke(command.app, list(args), catch_exceptions=False, env={"COLUMNS": "200"})


def test_query_with_the_demo_defaults_prints_the_payload_and_saves_the_evidence(hub, tmp_path, initialised):
    saved = tmp_path / "out" / "evidence.jwt"
    result = invoke(
        "query", RESOURCE, "--subject", SUBJECT, "--fields", "name, sex", *WHO, "--save", str(saved)
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["data"] == {"name": RECORD["name"], "sex": RECORD["sex"]}
    assert hub.claims[0]["iss"] == DEMO_CLIENT_ID and hub.claims[0]["fields"] == ["name", "sex"]
    assert hub.requests[0].url == f"http://127.0.0.1:8000/v1/query/{RESOURCE}"
    assert f"evidence saved to {saved}" in result.stderr
    request = saved.with_name("evidence.request.jwt")
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600 == stat.S_IMODE(request.stat().st_mode)
    evidence = verify_evidence(
        saved.read_text().strip(),
        ca_certificate=initialised.ca_cert,
        client_id=DEMO_CLIENT_ID,
        request_body=request.read_bytes().strip(),
        now=NOW,
    )
    assert evidence.payload == payload


def test_verify_sends_each_claim(hub):
    result = invoke(
        "verify",
        RESOURCE,
        "--subject",
        SUBJECT,
        "--claim",
        f"name={RECORD['name']}",
        "--claim",
        "sex=1=x",
        *WHO,
    )
    assert result.exit_code == 0, result.output
    assert hub.claims[0]["claims"] == {"name": RECORD["name"], "sex": "1=x"}
    assert json.loads(result.stdout)["results"] == {"name": "match", "sex": "mismatch"}
    assert "saved" not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--claim", "name"], "not of the form item=value"),
        (["--claim", "=x"], "not of the form item=value"),
        (["--claim", "a=1", "--claim", "a=2"], "given twice"),
        ([], "at least one --claim"),
    ],
)
def test_bad_claims_are_one_red_line(hub, args, message):
    result = invoke("verify", RESOURCE, "--subject", SUBJECT, *args, *WHO)
    assert result.exit_code == 1
    assert message in result.stderr and hub.requests == []


def test_a_problem_shows_status_type_and_detail(hub):
    hub.respond = lambda request: problem(403, "no-grant", "no grant covers item sex")
    result = invoke("query", RESOURCE, "--subject", SUBJECT, "--fields", "sex", *WHO)
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: hub answered 403 /problems/no-grant: no grant covers item sex (request_id req-123)"
    )
    assert result.stdout == ""


def test_rejected_evidence_and_an_unreachable_hub_are_errors(hub):
    hub.tamper = lambda evidence: {**evidence, "aud": "someone-else"}
    result = invoke("query", RESOURCE, "--subject", SUBJECT, "--fields", "name", *WHO)
    assert result.exit_code == 1 and "not valid evidence: aud" in result.stderr

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    hub.respond = down
    result = invoke("query", RESOURCE, "--subject", SUBJECT, "--fields", "name", *WHO)
    assert result.exit_code == 1 and "cannot reach the hub" in result.stderr


def test_a_missing_key_or_ca_is_one_red_line(settings, tmp_path):
    result = invoke("query", RESOURCE, "--subject", SUBJECT, "--fields", "name", *WHO)
    assert result.exit_code == 1
    assert "no demo consumer key at" in result.stderr and "exchange up" in result.stderr
    args = ["--key", "nope.key", "--ca", "nope.pem"]
    result = invoke("query", RESOURCE, "--subject", SUBJECT, "--fields", "name", *WHO, *args)
    assert result.exit_code == 1 and "cannot read the private key nope.key" in result.stderr
    key = tmp_path / "k.key"
    write_private_key(key, generate_private_key())
    result = invoke("query", RESOURCE, "--subject", SUBJECT, "--fields", "name", *WHO, "--key", str(key))
    assert result.exit_code == 1 and "no hub CA certificate at" in result.stderr
    args = ["--key", str(key), "--ca", "nope.pem"]
    result = invoke("query", RESOURCE, "--subject", SUBJECT, "--fields", "name", *WHO, *args)
    assert result.exit_code == 1 and "cannot read the CA certificate nope.pem" in result.stderr


def test_the_subject_type_is_a_choice(hub):
    result = invoke(
        "query", RESOURCE, "--subject-type", "passport", "--subject", "X", "--fields", "name", *WHO
    )
    assert result.exit_code == 2
    result = invoke("query", RESOURCE, "--subject-type", "uscc", "--subject", "X", "--fields", "name", *WHO)
    assert result.exit_code == 0, result.output
    assert hub.claims[0]["subject"] == {"type": "uscc", "value": "X"}


# --- exchange client licenses ---------------------------------------------------------------------


def test_licenses_prints_each_license_and_check_and_saves_the_evidence(hub, sealer, tmp_path, initialised):
    """An expired and a revoked license are printed with ✗ on their check; the exit code stays 0."""
    hub.credentials = [
        sealer(index=0, serial="H7Q2K9"),
        sealer(index=1, serial="H7Q2KA"),
        sealer(index=2, serial="H7Q2KB", valid_to=date(2025, 12, 31)),
    ]
    hub.status_lists[STATUS_LIST_ID].set(1, INVALID)
    saved = tmp_path / "licenses.jwt"
    result = invoke("licenses", LICENSE_TYPE, "--subject", SUBJECT, *WHO, "--save", str(saved))

    assert result.exit_code == 0, result.output
    assert hub.requests[0].url == "http://127.0.0.1:8000/v1/licenses/search"
    assert hub.claims[0]["license_type"] == LICENSE_TYPE and "resource" not in hub.claims[0]
    lines = result.stdout.splitlines()
    assert lines[0] == f"3 household_register licenses of {SUBJECT}: evidence ev-0, signed by household, " + (
        "audit log entry 41"
    )
    valid, revoked, expired = (line for line in lines if line.startswith("1.2.156.3005.2.1110001."))
    assert valid.endswith("  居民户口簿  valid")
    assert revoked.endswith("NOT VALID (status)") and expired.endswith("NOT VALID (validity_period)")
    assert sum(line.startswith("  ✓ signature ") for line in lines) == 3
    assert "  ✗ status           revoked: INVALID in" in result.stdout
    assert "  ✗ validity_period  expired at 2026-01-01T00:00:00+08:00" in result.stdout
    assert f"evidence saved to {saved}" in result.stderr
    evidence = verify_evidence(
        saved.read_text().strip(),
        ca_certificate=initialised.ca_cert,
        client_id=DEMO_CLIENT_ID,
        request_body=saved.with_name("licenses.request.jwt").read_bytes().strip(),
        now=NOW,
    )
    assert evidence.credentials == hub.credentials


def test_licenses_without_status_checking_fetches_no_status_list(hub, sealer):
    hub.credentials = [sealer()]
    result = invoke("licenses", LICENSE_TYPE, "--subject", SUBJECT, *WHO, "--no-status")
    assert result.exit_code == 0, result.output
    assert "  ✓ status           unknown: status list" in result.stdout
    assert [request.method for request in hub.requests] == ["POST"]


def test_licenses_rejected_evidence_exits_1(hub, sealer):
    hub.credentials = [sealer(holder_code="110105194912310037")]
    result = invoke("licenses", LICENSE_TYPE, "--subject", SUBJECT, *WHO)
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.strip() == (
        "error: the answer is not valid evidence: credentials: credential 0: its holder is not the subject "
        "asked about"
    )


def test_licenses_of_an_unknown_type_is_a_usage_error(hub):
    result = invoke("licenses", "passport", "--subject", SUBJECT, *WHO)
    assert result.exit_code == 2 and hub.requests == []
