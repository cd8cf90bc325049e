"""`exchange client query|verify`: the embedded demo's defaults, JSON on stdout, one red line on error."""

from __future__ import annotations

import functools
import json
import stat

import httpx
import pytest
from typer.testing import CliRunner

import exchange.cli.client as command
from certs.keys import generate_private_key, write_private_key
from exchange.cli.context import console, errors
from exchange.client import ExchangeClient, verify_evidence
from exchange.demo import DEMO_CLIENT_ID
from tests.conftest import NOW
from tests.exchange.client.conftest import RECORD, RESOURCE, SUBJECT, FakeHub, problem

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
