"""Who the data subject is: pluggable authentication of citizens for their access record.

A deployment plugs in the province's identity provider over OpenID Connect (:class:`OidcProvider`:
an ID token verified against the provider's published JWKS, issuer and audience). The embedded
default ships :class:`DemoIdentityProvider`, which signs an ID token for whatever citizen ID it is
given: it proves nothing about who is asking, says so in every token and answer, and is refused
unless ``EXCHANGE_SUBJECT_AUTH=demo``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import jwt
from cryptography import x509

from certs import jose
from certs.keys import PrivateKey
from exchange.identifiers import InvalidIdentifier, validate_citizen_id

DEMO_WARNING = "DEMO identity provider: anyone can sign in as any citizen. Never enable it in production."
DEMO_ID_TOKEN_TYP = "JWT"  # noqa: S105 - a JOSE header value, not a secret
DEMO_LIFETIME = timedelta(minutes=30)


class NotAuthenticated(Exception):
    """No valid subject token; the message says why (never echoes the token)."""


@dataclass(frozen=True)
class SubjectIdentity:
    citizen_id: str
    issuer: str
    demo: bool = False


class IdentityProvider(Protocol):
    def authenticate(self, token: str, *, now: datetime) -> SubjectIdentity: ...


class DemoIdentityProvider:
    """Signs and checks demo ID tokens with the hub's own key (``pki/hub.key``)."""

    def __init__(self, key: PrivateKey, certificate: x509.Certificate, *, issuer: str, audience: str) -> None:
        self._key, self._public = key, certificate.public_key()
        self.issuer, self.audience = issuer, audience

    def issue(self, citizen_id: str, *, now: datetime) -> str:
        subject = _citizen(citizen_id, now)
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "iat": int(now.timestamp()),
            "exp": int((now + DEMO_LIFETIME).timestamp()),
            "demo": DEMO_WARNING,
        }
        return jose.sign(claims, self._key, typ=DEMO_ID_TOKEN_TYP)

    def authenticate(self, token: str, *, now: datetime) -> SubjectIdentity:
        try:
            claims = jose.verify(
                token,
                self._public,
                typ=DEMO_ID_TOKEN_TYP,
                audience=self.audience,
                require=("sub", "exp"),
                now=now,
            )
        except jose.JoseError as exc:
            raise NotAuthenticated(f"the demo ID token did not verify: {exc}") from None
        if claims.get("iss") != self.issuer:
            raise NotAuthenticated("the demo ID token comes from another issuer")
        return SubjectIdentity(_citizen(claims["sub"], now), self.issuer, demo=True)


class OidcProvider:
    """An OpenID Connect ID token (OIDC Core 1.0 section 3.1.3.7) from the province's identity provider.

    The citizen ID is read from ``claim`` (providers differ: ``sub`` when it is the ID number, or a
    custom claim such as ``id_number``). Keys come from ``jwks_url``, cached by PyJWT's JWKS client.
    """

    def __init__(self, *, issuer: str, audience: str, jwks_url: str, claim: str = "sub") -> None:
        self.issuer, self.audience, self.claim = issuer, audience, claim
        self._jwks = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=3600, timeout=5)

    def authenticate(self, token: str, *, now: datetime) -> SubjectIdentity:
        try:
            signing_key = self._jwks.get_signing_key_from_jwt(token)
            claims = jwt.decode(
                token,
                signing_key.key,
                algorithms=["RS256", "ES256", "EdDSA", "PS256"],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "iat", "iss", "aud", self.claim]},
            )
        except jwt.PyJWKClientConnectionError:
            raise NotAuthenticated("the identity provider's keys cannot be fetched now") from None
        except jwt.PyJWTError as exc:
            raise NotAuthenticated(f"the ID token did not verify: {exc}") from None
        return SubjectIdentity(_citizen(str(claims[self.claim]), now), self.issuer)


def _citizen(value: str, now: datetime) -> str:
    try:
        return validate_citizen_id(value, today=now.date()).value
    except InvalidIdentifier as exc:
        raise NotAuthenticated(f"the token's subject is not a valid citizen ID: {exc.reason}") from None
