"""JWS compact serialization (RFC 7515) with the hub's keys: the one place that signs and checks JWS.

Algorithms: ``EdDSA`` for Ed25519 (RFC 8037) and ``ES256`` for P-256 (RFC 7518); on input also the
fully-specified ``Ed25519`` of RFC 9864. ``none``, HMAC and RSA are refused: the key decides the
algorithm, never the token's header. Certificates travel in ``x5c`` (RFC 7515 section 4.1.6: base64
DER, the signer's certificate first).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from jwt.algorithms import OKPAlgorithm

from certs.keys import PrivateKey, PublicKey

ACCEPTED_ALGORITHMS = ("EdDSA", "Ed25519", "ES256")

# RFC 9864's fully-specified name for EdDSA over Ed25519; PyJWT knows only "EdDSA".
if "Ed25519" not in jwt.api_jws._jws_global_obj.get_algorithms():
    jwt.register_algorithm("Ed25519", OKPAlgorithm())


class JoseError(ValueError):
    """A JWS that is malformed, uses a refused algorithm, or does not verify."""


class MalformedToken(JoseError):
    """Not a well-formed token: not compact JWS, a header without ``alg``, a payload that is not a JSON
    object (even under a good signature), a required claim missing or a NumericDate that is not a
    number. A server answers it 400; any other :class:`JoseError` (refused ``alg``, bad signature,
    wrong ``aud``, expired) is about trust, 401 (RFC 7519 section 7.2, RFC 8725 section 3.1)."""


def algorithm_for(key: PrivateKey | PublicKey) -> str:
    """The JWS ``alg`` we emit for a key: ``EdDSA`` or ``ES256``."""
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return "EdDSA"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) and isinstance(
        key.curve, ec.SECP256R1
    ):
        return "ES256"
    raise JoseError(f"unsupported key type {type(key).__name__}")


def x5c_of(chain: Sequence[x509.Certificate]) -> list[str]:
    return list(_x5c(tuple(chain)))


@lru_cache(maxsize=64)
def _x5c(chain: tuple[x509.Certificate, ...]) -> tuple[str, ...]:
    """Encoded once per chain: a department signs every license and answer with the same one."""
    return tuple(
        base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode("ascii") for cert in chain
    )


def certificates_from_x5c(values: object) -> list[x509.Certificate]:
    if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
        raise JoseError("x5c must be a non-empty list of base64 DER certificates")
    try:
        return [x509.load_der_x509_certificate(base64.b64decode(v, validate=True)) for v in values]
    except ValueError as exc:
        raise JoseError(f"x5c holds something that is not a certificate: {exc}") from None


def sign(
    claims: Mapping[str, Any],
    key: PrivateKey,
    *,
    typ: str,
    kid: str | None = None,
    x5c: Sequence[x509.Certificate] = (),
) -> str:
    """A compact JWS over the JSON of ``claims``, with ``alg`` chosen by the key."""
    headers: dict[str, Any] = {"typ": typ}
    if kid is not None:
        headers["kid"] = kid
    if x5c:
        headers["x5c"] = x5c_of(x5c)
    return jwt.encode(dict(claims), key, algorithm=algorithm_for(key), headers=headers)


class JwsSigner:
    """Signs many compact JWS with one key and one protected header, encoding the header once.

    For a department that seals thousands of licenses with the same ``typ``, ``kid`` and ``x5c``
    (about 1.7 KB of header), building and encoding that header per token was a large share of the
    work. The output is byte for byte what :func:`sign` (PyJWT) produces for the same claims: the
    header as PyJWT writes it (``{"typ": "JWT", "alg": ...}`` updated with ours, keys sorted, no
    spaces), the claims as ``json.dumps(claims, separators=(",", ":"))``, base64url without padding
    (RFC 7515 section 7.1), and the signature of PyJWT's algorithm for the key (raw ``r || s`` for
    ES256). ``tests/certs/test_jose.py`` holds the two to the same bytes.
    """

    def __init__(
        self,
        key: PrivateKey,
        *,
        typ: str,
        kid: str | None = None,
        x5c: Sequence[x509.Certificate] = (),
    ) -> None:
        alg = algorithm_for(key)
        protected: dict[str, Any] = {"alg": alg}
        if typ:  # PyJWT drops an empty typ
            protected["typ"] = typ
        if kid is not None:
            if not isinstance(kid, str):
                raise TypeError("kid must be a string")
            protected["kid"] = kid
        if x5c:
            protected["x5c"] = x5c_of(x5c)
        header_json = json.dumps(protected, separators=(",", ":"), sort_keys=True).encode()
        self._prefix = _b64url(header_json) + b"."
        self._sign = jwt.api_jws._jws_global_obj.get_algorithm_by_name(alg).sign
        self._key = key

    def sign(self, claims: Mapping[str, Any]) -> str:
        """A compact JWS over the JSON of ``claims``: JSON values only (NumericDates as numbers, not
        ``datetime``), ``iss`` a string when present."""
        if "iss" in claims and not isinstance(claims["iss"], str):
            raise TypeError("Issuer (iss) must be a string.")
        signing_input = self._prefix + _b64url(_CLAIMS_JSON(dict(claims)).encode("utf-8"))
        return (signing_input + b"." + _b64url(self._sign(signing_input, self._key))).decode("ascii")


# json.dumps(claims, separators=(",", ":")), as PyJWT encodes claims, with one encoder for every call.
_CLAIMS_JSON = json.JSONEncoder(separators=(",", ":")).encode
_URLSAFE = bytes.maketrans(b"+/", b"-_")


def _b64url(data: bytes) -> bytes:
    """base64url without padding: base64.urlsafe_b64encode(data).rstrip(b"=") without its wrappers."""
    return binascii.b2a_base64(data, newline=False).translate(_URLSAFE).rstrip(b"=")


# RFC 7515 section 7.1: three base64url segments (RFC 4648 section 5, no padding) joined by dots; an
# empty signature is alg none, refused below.
_COMPACT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*")


def header(token: str | bytes) -> dict[str, Any]:
    """The unverified protected header: only to pick the key; never trust it for anything else.

    Parsed here rather than by PyJWT, which checks each segment one character at a time in Python:
    the hub reads every request's header before it verifies it.
    """
    text = token.decode("ascii", "replace") if isinstance(token, bytes) else token
    if _COMPACT.fullmatch(text) is None:
        raise MalformedToken("not a compact JWS: three base64url segments joined by dots are required")
    encoded = text.partition(".")[0]
    try:
        found = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    except (ValueError, binascii.Error, RecursionError) as exc:  # RecursionError: JSON nested too deep
        raise MalformedToken(f"not a compact JWS: the header is not base64url JSON ({exc})") from None
    if not isinstance(found, dict):
        raise MalformedToken("not a compact JWS: the header is not a JSON object")
    if not isinstance(found.get("alg"), str):
        raise MalformedToken("not a compact JWS: the header has no alg (RFC 7515 section 4.1.1)")
    if found["alg"] not in ACCEPTED_ALGORITHMS:
        raise JoseError(f"algorithm {found.get('alg')!r} is not accepted; use EdDSA or ES256")
    return found


def verify(
    token: str | bytes,
    key: PublicKey,
    *,
    typ: str,
    audience: str | None = None,
    leeway: float = 0,
    require: Sequence[str] = (),
    now: datetime | None = None,
) -> dict[str, Any]:
    """The verified claims. The algorithm must match the key; ``typ`` must be exactly ``typ``.

    ``exp``, ``nbf`` and ``iat`` (when present) are checked against ``now`` (default: the clock)
    with ``leeway`` seconds of tolerance (RFC 7519 section 4.1).
    """
    found = header(token)
    expected = algorithm_for(key)
    if found["alg"] not in ({"EdDSA", "Ed25519"} if expected == "EdDSA" else {"ES256"}):
        raise JoseError(f"algorithm {found['alg']} does not match the signer's {expected} key")
    if found.get("typ") != typ:
        raise JoseError(f"typ must be {typ!r}, not {found.get('typ')!r}")
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[found["alg"]],
            audience=audience,
            options={
                "require": list(require),
                "verify_aud": audience is not None,
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
            },
        )
    except jwt.InvalidSignatureError as exc:  # a DecodeError, but about trust
        raise JoseError(str(exc)) from None
    except (jwt.DecodeError, jwt.MissingRequiredClaimError) as exc:  # checked after the signature
        raise MalformedToken(str(exc)) from None
    except jwt.PyJWTError as exc:
        raise JoseError(str(exc)) from None
    _check_times(claims, (now or datetime.now(UTC)).timestamp(), leeway)
    return claims


def _check_times(claims: Mapping[str, Any], now: float, leeway: float) -> None:
    for name in ("exp", "nbf", "iat"):
        value = claims.get(name)
        if value is not None and (not isinstance(value, int | float) or isinstance(value, bool)):
            raise MalformedToken(f"{name} must be a NumericDate")
    if "exp" in claims and claims["exp"] <= now - leeway:
        raise JoseError("the token has expired (exp)")
    if "nbf" in claims and claims["nbf"] > now + leeway:
        raise JoseError("the token is not valid yet (nbf)")
    if "iat" in claims and claims["iat"] > now + leeway:
        raise JoseError("the token was issued in the future (iat)")
