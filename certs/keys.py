"""Private and public keys: generation, 0600 PEM files, and the algorithms we accept.

Only Ed25519 (RFC 8032/8037) and ECDSA P-256 (ES256) keys are accepted anywhere in the hub.
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey


class KeyAlgorithm(StrEnum):
    ED25519 = "ed25519"
    P256 = "p256"


class UnusableKey(ValueError):
    """A key file or key material we cannot or will not use."""


def generate_private_key(algorithm: KeyAlgorithm = KeyAlgorithm.ED25519) -> PrivateKey:
    if algorithm is KeyAlgorithm.ED25519:
        return ed25519.Ed25519PrivateKey.generate()
    return ec.generate_private_key(ec.SECP256R1())


def algorithm_of(key: PrivateKey | PublicKey) -> KeyAlgorithm:
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return KeyAlgorithm.ED25519
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) and isinstance(
        key.curve, ec.SECP256R1
    ):
        return KeyAlgorithm.P256
    raise UnusableKey(f"unsupported key type {type(key).__name__}: use Ed25519 or ECDSA P-256")


def write_private_key(path: Path, key: PrivateKey, passphrase: bytes | None = None) -> None:
    """Write a PKCS#8 PEM private key readable by its owner only; never overwrite an existing key."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    )
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)


def load_private_key(path: Path, passphrase: bytes | None = None) -> PrivateKey:
    """Load a private key, refusing files that group or others can read."""
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise UnusableKey(f"{path} is readable by others (mode {mode:o}); run: chmod 600 {path}")
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=passphrase)
    except (ValueError, TypeError) as exc:
        raise UnusableKey(f"{path}: not a usable PEM private key ({exc})") from None
    algorithm_of(key)  # type: ignore[arg-type]
    return key  # type: ignore[return-value]


def load_public_key(pem: bytes) -> PublicKey:
    """Load a PEM public key (SubjectPublicKeyInfo) of an accepted algorithm."""
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as exc:
        raise UnusableKey(f"not a PEM public key: {exc}") from None
    algorithm_of(key)  # type: ignore[arg-type]
    return key  # type: ignore[return-value]


def public_key_pem(key: PublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")
