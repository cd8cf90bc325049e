"""JWS recipes: the key picks the algorithm, the header cannot, and another JOSE library agrees."""

from __future__ import annotations

import jwt
import pytest
from joserfc import jws as rfc_jws
from joserfc.jwk import ECKey, OKPKey

from certs import jose
from certs.jwk import public_jwk
from certs.keys import KeyAlgorithm, generate_private_key


# DESIGN.md fixes "EdDSA" as the alg we emit; joserfc warns that RFC 9864 prefers "Ed25519".
@pytest.mark.filterwarnings("ignore:EdDSA is deprecated")
@pytest.mark.parametrize("algorithm", list(KeyAlgorithm))
def test_our_signatures_verify_with_an_independent_library(algorithm):
    key = generate_private_key(algorithm)
    token = jose.sign({"iss": "household", "n": 1}, key, typ="exchange-evidence+jwt", kid="k1")
    jwk = public_jwk(key.public_key())
    imported = OKPKey.import_key(jwk) if jwk["kty"] == "OKP" else ECKey.import_key(jwk)
    alg = jose.algorithm_for(key)
    verified = rfc_jws.deserialize_compact(token, imported, algorithms=[alg])
    assert verified.headers()["typ"] == "exchange-evidence+jwt" and verified.headers()["kid"] == "k1"
    assert jose.verify(token, key.public_key(), typ="exchange-evidence+jwt") == {"iss": "household", "n": 1}


def test_the_rfc_9864_name_ed25519_is_accepted_on_input():
    key = generate_private_key()
    token = jwt.encode({"a": 1}, key, algorithm="Ed25519", headers={"typ": "t"})
    assert jose.verify(token, key.public_key(), typ="t") == {"a": 1}


@pytest.mark.parametrize("alg", ["none", "HS256"])
def test_none_and_hmac_are_refused(alg):
    token = jwt.encode(
        {"a": 1}, None if alg == "none" else "a-hmac-secret-of-at-least-32-bytes!!", algorithm=alg
    )
    with pytest.raises(jose.JoseError, match="not accepted"):
        jose.verify(token, generate_private_key().public_key(), typ="JWT")


def test_the_header_cannot_switch_the_algorithm_of_the_key():
    ed = generate_private_key(KeyAlgorithm.ED25519)
    p256 = generate_private_key(KeyAlgorithm.P256)
    token = jose.sign({"a": 1}, p256, typ="t")
    with pytest.raises(jose.JoseError, match="does not match"):
        jose.verify(token, ed.public_key(), typ="t")


def test_typ_must_match_exactly_and_a_wrong_key_fails():
    key = generate_private_key()
    token = jose.sign({"a": 1}, key, typ="exchange-request+jwt")
    with pytest.raises(jose.JoseError, match="typ"):
        jose.verify(token, key.public_key(), typ="exchange-evidence+jwt")
    with pytest.raises(jose.JoseError):
        jose.verify(token, generate_private_key().public_key(), typ="exchange-request+jwt")
    with pytest.raises(jose.JoseError, match="compact"):
        jose.header("not.a.jws")


def test_x5c_carries_the_chain_in_order(initialised):
    from certs.store import read_certificate

    chain = [read_certificate(initialised.department_cert("tax")), read_certificate(initialised.ca_cert)]
    token = jose.sign({"a": 1}, generate_private_key(), typ="t", x5c=chain)
    assert jose.certificates_from_x5c(jose.header(token)["x5c"]) == chain
    with pytest.raises(jose.JoseError):
        jose.certificates_from_x5c(["bm90IGEgY2VydA=="])
    with pytest.raises(jose.JoseError):
        jose.certificates_from_x5c([])


# --- JwsSigner: the header encoded once, the same bytes as sign() -------------------------------

CLAIMS = [
    {"iss": "urn:dxh:department:household", "iat": 1_790_000_000, "n": 1},
    {"license_name": "居民户口簿", "fields": {"_sd": ["a", "b"]}, "status": {"status_list": {"idx": 7}}},
    {"odd": 'quote " backslash \\ \t\n \u2028 😀', "float": 1.5, "none": None, "list": [True, False]},
    {},
]


@pytest.mark.parametrize("claims", CLAIMS)
def test_the_jws_signer_writes_what_sign_writes(initialised, claims):
    from certs.store import read_certificate

    chain = [read_certificate(initialised.department_cert("tax")), read_certificate(initialised.ca_cert)]
    key = generate_private_key(KeyAlgorithm.ED25519)  # deterministic signatures: the whole token compares
    for options in ({}, {"kid": "k1"}, {"kid": "k1", "x5c": chain}):
        signer = jose.JwsSigner(key, typ="dc+sd-jwt", **options)
        assert signer.sign(claims) == jose.sign(claims, key, typ="dc+sd-jwt", **options)


@pytest.mark.filterwarnings("ignore:EdDSA is deprecated")
def test_the_jws_signer_with_a_p256_key_signs_the_same_input_and_verifies():
    key = generate_private_key(KeyAlgorithm.P256)  # ECDSA signatures differ each time: compare the rest
    claims = CLAIMS[1]
    ours = jose.JwsSigner(key, typ="dc+sd-jwt", kid="k1").sign(claims)
    theirs = jose.sign(claims, key, typ="dc+sd-jwt", kid="k1")
    assert ours.rsplit(".", 1)[0] == theirs.rsplit(".", 1)[0]
    assert jose.verify(ours, key.public_key(), typ="dc+sd-jwt") == claims
    imported = ECKey.import_key(public_jwk(key.public_key()))
    assert rfc_jws.deserialize_compact(ours, imported, algorithms=["ES256"]).headers()["alg"] == "ES256"


def test_the_jws_signer_refuses_what_pyjwt_refuses():
    signer = jose.JwsSigner(generate_private_key(), typ="t")
    with pytest.raises(TypeError, match="iss"):
        signer.sign({"iss": 1})
    with pytest.raises(TypeError):
        signer.sign({"when": object()})
    with pytest.raises(TypeError, match="kid"):
        jose.JwsSigner(generate_private_key(), typ="t", kid=3)  # type: ignore[arg-type]
