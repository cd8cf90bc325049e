"""docs/protocol.md's worked example stays true: the SDK produces its request byte for byte, another
JOSE library verifies it, and its kid, req_hash and error table match the code."""

from __future__ import annotations

import base64
import re
import uuid
import warnings
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from joserfc import jwt as rfc_jwt
from joserfc.jwk import OKPKey

from certs.jwk import jwk_thumbprint
from exchange.client import ExchangeClient, NotFound, request_hash
from exchange.client import _client as client_module
from tests.conftest import NOW
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
