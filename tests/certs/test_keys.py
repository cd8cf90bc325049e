"""Key files: owner-only, never overwritten, only the algorithms we accept; RFC 7638 kids."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from joserfc.jwk import ECKey, OKPKey

from certs import service as pki
from certs.jwk import jwk_thumbprint, public_jwk
from certs.keys import (
    KeyAlgorithm,
    UnusableKey,
    generate_private_key,
    load_private_key,
    load_public_key,
    public_key_pem,
    write_private_key,
)

VECTORS = json.loads((Path(__file__).parent / "vectors.json").read_text())


def test_private_key_file_is_0600_and_never_overwritten(tmp_path):
    path = tmp_path / "keys" / "a.key"
    write_private_key(path, generate_private_key())
    assert path.stat().st_mode & 0o777 == 0o600
    with pytest.raises(FileExistsError):
        write_private_key(path, generate_private_key())


def test_readable_private_key_is_refused(tmp_path):
    path = tmp_path / "a.key"
    write_private_key(path, generate_private_key())
    path.chmod(0o644)
    with pytest.raises(UnusableKey, match="chmod 600"):
        load_private_key(path)


def test_encrypted_key_needs_its_passphrase(tmp_path):
    path = tmp_path / "ca.key"
    write_private_key(path, generate_private_key(KeyAlgorithm.P256), b"s3cret")
    assert b"ENCRYPTED" in path.read_bytes()
    assert isinstance(load_private_key(path, b"s3cret"), ec.EllipticCurvePrivateKey)
    with pytest.raises(UnusableKey):
        load_private_key(path, b"wrong")


def test_rsa_and_other_curves_are_refused():
    rsa_pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(UnusableKey, match="Ed25519 or ECDSA P-256"):
        load_public_key(rsa_pem)
    p384 = ec.generate_private_key(ec.SECP384R1()).public_key()
    with pytest.raises(UnusableKey):
        load_public_key(public_key_pem(p384).encode())  # type: ignore[arg-type]
    with pytest.raises(UnusableKey, match="not a PEM public key"):
        load_public_key(b"-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n")


def test_thumbprint_matches_rfc_8037_known_answer():
    vector = VECTORS["rfc8037_a3_ed25519_thumbprint"]
    raw = OKPKey.import_key(vector["jwk"])
    key = ed25519.Ed25519PublicKey.from_public_bytes(raw.get_op_key("verify").public_bytes_raw())
    assert public_jwk(key) == {k: vector["jwk"][k] for k in ("crv", "kty", "x")}
    assert jwk_thumbprint(key) == vector["thumbprint"]


@pytest.mark.parametrize("algorithm", list(KeyAlgorithm))
def test_thumbprint_agrees_with_a_second_jose_library(algorithm):
    key = generate_private_key(algorithm).public_key()
    pem = public_key_pem(key)
    other = (OKPKey if algorithm is KeyAlgorithm.ED25519 else ECKey).import_key(pem)
    assert jwk_thumbprint(key) == other.thumbprint()


def test_csr_gives_its_public_key_only_when_its_signature_holds():
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    key = generate_private_key(KeyAlgorithm.P256)
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "root-of-everything")]))
        .sign(key, hashes.SHA256())
    )
    pem = csr.public_bytes(serialization.Encoding.PEM)
    assert jwk_thumbprint(pki.public_key_from_csr(pem)) == jwk_thumbprint(key.public_key())
    der = bytearray(csr.public_bytes(serialization.Encoding.DER))
    index = der.index(b"root-of-everything")
    der[index] ^= 0x01
    forged = x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM)
    with pytest.raises(UnusableKey, match="key possession"):
        pki.public_key_from_csr(forged)
    with pytest.raises(UnusableKey, match="not a PEM certificate signing request"):
        pki.public_key_from_csr(b"hello")
