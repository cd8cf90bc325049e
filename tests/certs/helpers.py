"""Small builders for certificate tests."""

from __future__ import annotations

import subprocess
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding


def write_pem(path: Path, certificate: x509.Certificate) -> Path:
    path.write_bytes(certificate.public_bytes(Encoding.PEM))
    return path


def openssl_verify(
    ca: Path, certificate: Path, crl: Path | None = None, *, at: datetime | None = None
) -> subprocess.CompletedProcess[str]:
    """OpenSSL's verdict on ``certificate``, at ``at`` (the time the test issued it) or now: a CRL
    issued at a test's fixed ``NOW`` is past its nextUpdate a week later."""
    command = ["openssl", "verify", "-CAfile", str(ca)]
    if at is not None:
        command += ["-attime", str(int(at.timestamp()))]
    if crl is not None:
        command += ["-crl_check", "-CRLfile", str(crl)]
    return subprocess.run([*command, str(certificate)], capture_output=True, text=True, check=False)
