"""The CRL the hub consults on every request (RFC 5280 section 5).

The CRL file in ``$EXCHANGE_HOME/pki/crl.pem`` is the one source of truth shared by every worker:
``exchange pki revoke`` rewrites it atomically and each worker reloads it when the file changes,
at the cost of one ``stat`` per check. A missing, unsigned or foreign CRL fails closed.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography import x509


class RevocationUnavailable(RuntimeError):
    """The CRL cannot be trusted, so no certificate can be accepted."""


@dataclass(frozen=True)
class RevocationState:
    serials: frozenset[int]
    last_update: datetime
    next_update: datetime | None
    number: int | None

    def is_stale(self, now: datetime) -> bool:
        return self.next_update is not None and now > self.next_update


def load_crl(path: Path, ca_certificate: x509.Certificate) -> RevocationState:
    """Parse and authenticate a PEM CRL against the CA certificate."""
    try:
        crl = x509.load_pem_x509_crl(path.read_bytes())
    except FileNotFoundError:
        raise RevocationUnavailable(f"no CRL at {path}; run `exchange pki init`") from None
    except ValueError as exc:
        raise RevocationUnavailable(f"{path} is not a PEM CRL: {exc}") from None
    try:
        return crl_state(crl, ca_certificate)
    except ValueError:
        raise RevocationUnavailable(f"{path} is not signed by the hub CA") from None


def crl_state(crl: x509.CertificateRevocationList, ca_certificate: x509.Certificate) -> RevocationState:
    """The revoked serials of a CRL the CA signed (RFC 5280 section 6.3); ``ValueError`` otherwise."""
    if crl.issuer != ca_certificate.subject or not crl.is_signature_valid(
        ca_certificate.public_key()  # type: ignore[arg-type]
    ):
        raise ValueError("the CRL is not signed by the given hub CA")
    try:
        number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    except x509.ExtensionNotFound:
        number = None
    return RevocationState(
        serials=frozenset(entry.serial_number for entry in crl),
        last_update=crl.last_update_utc,
        next_update=crl.next_update_utc,
        number=number,
    )


def write_crl(path: Path, crl: x509.CertificateRevocationList) -> None:
    """Replace the CRL atomically, so a worker never reads half a file."""
    from cryptography.hazmat.primitives.serialization import Encoding

    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(crl.public_bytes(Encoding.PEM))
    os.replace(tmp, path)


class RevocationChecker:
    """Answers "is this serial revoked?" from the current CRL file, reloading it when it changes."""

    def __init__(self, crl_path: Path, ca_certificate: x509.Certificate) -> None:
        self._path = crl_path
        self._ca = ca_certificate
        self._lock = threading.Lock()
        self._signature: tuple[int, int, int] | None = None
        self._state: RevocationState | None = None

    def state(self) -> RevocationState:
        try:
            stat = self._path.stat()
        except FileNotFoundError:
            raise RevocationUnavailable(f"no CRL at {self._path}; run `exchange pki init`") from None
        signature = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        with self._lock:
            if self._state is None or signature != self._signature:
                self._state = load_crl(self._path, self._ca)
                self._signature = signature
            return self._state

    def is_revoked(self, serial: int) -> bool:
        return serial in self.state().serials
