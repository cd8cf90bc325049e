"""Where PKI files live under ``$EXCHANGE_HOME/pki`` (directory 0700, private keys 0600)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def safe_file_stem(name: str) -> str:
    """Refuse names that could escape the PKI directory (path traversal) or hide files."""
    if not _SAFE_NAME.fullmatch(name) or ".." in name:
        raise ValueError(
            f"{name!r} is not a safe name: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


@dataclass(frozen=True)
class PkiPaths:
    root: Path

    @property
    def ca_cert(self) -> Path:
        return self.root / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.root / "ca.key"

    @property
    def crl(self) -> Path:
        return self.root / "crl.pem"

    @property
    def hub_cert(self) -> Path:
        return self.root / "hub.pem"

    @property
    def hub_key(self) -> Path:
        return self.root / "hub.key"

    def department_cert(self, department_id: str) -> Path:
        return self.root / "departments" / f"{safe_file_stem(department_id)}.pem"

    def department_key(self, department_id: str) -> Path:
        return self.root / "departments" / f"{safe_file_stem(department_id)}.key"

    def consumer_cert(self, client_id: str) -> Path:
        return self.root / "consumers" / f"{safe_file_stem(client_id)}.pem"

    def ensure_dirs(self) -> None:
        for directory in (self.root, self.root / "departments", self.root / "consumers"):
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.chmod(directory, 0o700)


def write_certificate(path: Path, certificate: x509.Certificate) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(certificate.public_bytes(Encoding.PEM))
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def load_certificate(pem: bytes) -> x509.Certificate:
    """Parse one PEM certificate; a ``ValueError`` says why it is not one."""
    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError as exc:
        raise ValueError(f"not a PEM X.509 certificate: {exc}") from None


def read_certificate(path: Path) -> x509.Certificate:
    return load_certificate(path.read_bytes())
