"""docs/protocol.md's worked example stays true: the SDK produces its request byte for byte, another
JOSE library verifies it, its kid, req_hash and error table match the code, and the license search
example runs."""

from __future__ import annotations

import base64
import functools
import re
import shutil
import uuid
import warnings
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from joserfc import jwt as rfc_jwt
from joserfc.jwk import OKPKey

import exchange.client
from certs.jwk import jwk_thumbprint
from certs.keys import generate_private_key, write_private_key
from exchange.client import ExchangeClient, NotFound, request_hash, verify_evidence
from exchange.client import _client as client_module
from tests.conftest import NOW
from tests.exchange.client.conftest import FakeHub
from tests.exchange.client.test_errors import CASES

DOC = (Path(__file__).resolve().parents[3] / "docs" / "protocol.md").read_text(encoding="utf-8")
# RFC 8037 appendix A.1: the published Ed25519 test key.
RFC8037_D = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
RFC8037_X = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
RFC8037_THUMBPRINT = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"  # RFC 8037 A.3


def _rfc8037_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.from_private_bytes(base64.urlsafe_b64decode(RFC8037_D + "="))


def _example_token() -> str:
    (token,) = re.findall(r"^eyJ[\w-]+\.[\w-]+\.[\w-]+$", DOC, flags=re.MULTILINE)
    return token


def test_the_kid_example_is_rfc_7638():
    assert jwk_thumbprint(_rfc8037_key().public_key()) == RFC8037_THUMBPRINT
    assert f"base64url: {RFC8037_THUMBPRINT}" in DOC and RFC8037_D in DOC and RFC8037_X in DOC


def test_the_sdk_sends_the_example_request_byte_for_byte(monkeypatch, initialised):
    sent: list[bytes] = []

    def hub(request: httpx.Request) -> httpx.Response:
        sent.append(request.content)
        return httpx.Response(404, json={"type": "/problems/subject-not-found", "status": 404})

    monkeypatch.setattr(
        client_module.uuid, "uuid4", lambda: uuid.UUID("6f1c2a7e-9b3d-4c5e-8a6f-0b1d2e3c4a5b")
    )
    client = ExchangeClient(
        "demo-approval",
        _rfc8037_key(),
        "http://127.0.0.1:8000",
        initialised.ca_cert,
        transport=httpx.MockTransport(hub),
        clock=lambda: NOW,
    )
    with client, pytest.raises(NotFound):
        client.query(
            "301001001-000001",
            "id_card",
            "11010519491231002X",
            ["name", "sex", "birth_date"],
            matter_code="330100-XK-0001",
            purpose="compulsory education enrolment",
            operator_id="clerk-007",
            operator_name="Li Ming",
        )
    assert sent == [_example_token().encode("ascii")]
    assert f"`req_hash` (section 5) is `{request_hash(sent[0])}`" in DOC


def test_another_jose_library_verifies_the_example():
    key = OKPKey.import_key({"kty": "OKP", "crv": "Ed25519", "x": RFC8037_X})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        token = rfc_jwt.decode(_example_token(), key, algorithms=["EdDSA"])
    assert token.header == {"alg": "EdDSA", "kid": RFC8037_THUMBPRINT, "typ": "exchange-request+jwt"}
    assert token.claims["iat"] == int(NOW.timestamp()) and token.claims["exp"] == token.claims["iat"] + 60
    assert token.claims["jti"] == "6f1c2a7e9b3d4c5e8a6f0b1d2e3c4a5b"


def test_the_error_table_lists_every_status_and_slug():
    for status, slug, kind in CASES:
        row = next(line for line in DOC.splitlines() if line.startswith(f"| {status} |"))
        assert f"`{slug}`" in row and kind.__name__ in row


def _python_blocks(section: str) -> list[str]:
    body = DOC.split(f"\n## {section}", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^```python\n(.*?)^```", body, flags=re.MULTILINE | re.DOTALL)


def test_the_license_search_example_runs(monkeypatch, initialised, signer, sealer, capsys):
    """Section 10's example, as printed, against the fake hub (the current directory is a fresh tmp)."""
    (example,) = _python_blocks("10. ")
    key = generate_private_key()
    write_private_key(Path("var/demo/consumer.key"), key)
    Path("var/pki").mkdir(parents=True)
    shutil.copy(initialised.ca_cert, "var/pki/ca.pem")
    hub = FakeHub(key, signer, client_id="demo-approval")
    hub.credentials = [sealer(index=0), sealer(index=1, serial="H7Q2KA")]
    hub.status_lists["household-1"].set(1, 1)  # the second one is revoked
    # The example runs at the tests' fixed time, over the fake hub: only the clock and transport differ.
    transport = httpx.MockTransport(hub)
    monkeypatch.setattr(
        exchange.client,
        "ExchangeClient",
        functools.partial(ExchangeClient, transport=transport, clock=lambda: NOW),
    )
    monkeypatch.setattr(exchange.client, "verify_evidence", functools.partial(verify_evidence, now=NOW))
    stored: list[tuple[str, bytes]] = []

    namespace = {"store": lambda token, body: stored.append((token, body))}
    exec(compile(example, "docs/protocol.md", "exec"), namespace)  # noqa: S102 - our own documentation

    search = namespace["search"]
    assert stored == [(search.evidence.token, search.evidence.request_body)]
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == f"{search.licenses[0].identifier} valid"
    assert f"{search.licenses[1].identifier} invalid" in printed and "✗ status revoked: INVALID in " in (
        "\n".join(printed)
    )
    assert namespace["shown"].count("~") == 3  # the issuer-signed JWT and two Disclosures
