"""Citizen sign-in: an OpenID Connect ID token checked against a real JWKS endpoint, and the demo provider."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import jwt
import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from adapters.legacy_http import ThreadedServer
from certs.jwk import public_jwk
from certs.keys import KeyAlgorithm, generate_private_key
from exchange.identifiers import make_citizen_id
from exchange.subjects.identity import NotAuthenticated, OidcProvider

CITIZEN = make_citizen_id("330106", datetime(1985, 3, 2).date(), 123)
ISSUER = "https://idp.example.gov.cn/realms/citizens"
KEY = generate_private_key(KeyAlgorithm.P256)


@pytest.fixture(scope="module")
def jwks_url():
    jwks = {"keys": [public_jwk(KEY.public_key()) | {"kid": "idp-1", "use": "sig", "alg": "ES256"}]}
    app = Starlette(routes=[Route("/jwks", lambda request: JSONResponse(jwks))])
    with ThreadedServer(app) as server:
        yield f"{server.url}/jwks"


def _id_token(key=KEY, kid="idp-1", **claims):
    now = int(time.time())
    body = {"iss": ISSUER, "aud": "exchange-hub", "iat": now, "exp": now + 300, "id_number": CITIZEN} | claims
    return jwt.encode(body, key, algorithm="ES256", headers={"kid": kid})


def _provider(url):
    return OidcProvider(issuer=ISSUER, audience="exchange-hub", jwks_url=url, claim="id_number")


def test_a_valid_id_token_names_the_citizen(jwks_url):
    identity = _provider(jwks_url).authenticate(_id_token(), now=datetime.now(UTC))
    assert identity.citizen_id == CITIZEN and identity.issuer == ISSUER and not identity.demo


@pytest.mark.parametrize(
    ("token_changes", "message"),
    [
        ({"iss": "https://elsewhere"}, "did not verify"),
        ({"aud": "another-app"}, "did not verify"),
        ({"exp": int(time.time()) - 10}, "did not verify"),
        ({"id_number": "110101199003070000"}, "not a valid citizen ID"),
    ],
)
def test_bad_id_tokens_are_refused(jwks_url, token_changes, message):
    with pytest.raises(NotAuthenticated, match=message):
        _provider(jwks_url).authenticate(_id_token(**token_changes), now=datetime.now(UTC))


def test_a_token_signed_by_another_key_is_refused(jwks_url):
    with pytest.raises(NotAuthenticated):
        _provider(jwks_url).authenticate(
            _id_token(key=generate_private_key(KeyAlgorithm.P256)), now=datetime.now(UTC)
        )
    with pytest.raises(NotAuthenticated):
        _provider(jwks_url).authenticate(_id_token(kid="unknown"), now=datetime.now(UTC))


def test_an_unreachable_identity_provider_is_a_refusal_not_a_crash():
    provider = _provider("http://127.0.0.1:9/jwks")
    with pytest.raises(NotAuthenticated):
        provider.authenticate(_id_token(), now=datetime.now(UTC))


def test_oidc_without_its_provider_settings_is_a_configuration_error(home):
    from pydantic import ValidationError

    from exchange.config import Settings

    with pytest.raises(ValidationError, match="EXCHANGE_OIDC_ISSUER"):
        Settings(subject_auth="oidc", oidc_audience="hub", oidc_jwks_url="https://idp/jwks")
