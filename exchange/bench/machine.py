"""The limits of this machine, measured in the run that compares the hub against them.

Each rate is taken on one core for a fixed time: a loop of the primitive alone, no Python work
besides the call, so it is the ceiling a hub operation built on it could reach.
"""

from __future__ import annotations

import hashlib
import os
import platform
import sqlite3
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

SIGNING_INPUT_BYTES = 1_500  # about a license's or an evidence's JWS signing input


def rate(operation: Callable[[], object], seconds: float, batch: int = 200) -> float:
    """Calls of ``operation`` a second, over at least ``seconds`` of calling it in batches."""
    count, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        for _ in range(batch):
            operation()
        count += batch
    return count / elapsed


def ed25519_sign_per_s(seconds: float, size: int = SIGNING_INPUT_BYTES) -> float:
    """Ed25519 signatures a second over ``size``-byte messages (RFC 8032 via OpenSSL), one core."""
    key, message = Ed25519PrivateKey.generate(), os.urandom(size)
    return rate(lambda: key.sign(message), seconds)


def ed25519_verify_per_s(seconds: float, size: int = SIGNING_INPUT_BYTES) -> float:
    """Ed25519 verifications a second over ``size``-byte messages, one core."""
    key, message = Ed25519PrivateKey.generate(), os.urandom(size)
    public, signature = key.public_key(), key.sign(message)
    return rate(lambda: public.verify(signature, message), seconds)


def sha256_per_s(seconds: float, size: int) -> float:
    """SHA-256 digests a second of ``size``-byte inputs, one core."""
    message = os.urandom(size)
    return rate(lambda: hashlib.sha256(message).digest(), seconds, batch=1_000)


def sha256_mb_per_s(seconds: float, size: int = 1 << 20) -> float:
    """SHA-256 throughput over large inputs, MB (10^6 bytes) a second, one core."""
    return sha256_per_s(seconds, size) * size / 1e6


def sqlite_inserts_per_s(seconds: float, directory: Path | None = None) -> float:
    """Rows a second into an on-disk SQLite table, one committed transaction per 1,000 rows.

    The hub's own databases run in WAL mode with synchronous=NORMAL; so does this table.
    """
    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        connection = sqlite3.connect(Path(tmp) / "inserts.db")
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, value BLOB NOT NULL)")
            payload = os.urandom(200)
            count, started = 0, time.perf_counter()
            while (elapsed := time.perf_counter() - started) < seconds:
                with connection:
                    connection.executemany(
                        "INSERT INTO t (id, value) VALUES (?, ?)",
                        ((count + i, payload) for i in range(1_000)),
                    )
                count += 1_000
            return count / elapsed
        finally:
            connection.close()


@dataclass(frozen=True)
class Machine:
    """What the figures are measured against."""

    cores: int
    cpu: str
    python: str
    ed25519_sign_per_s: float
    ed25519_verify_per_s: float
    sha256_mb_per_s: float
    db_inserts_per_s: float


def measure(seconds: float, directory: Path | None = None) -> Machine:
    return Machine(
        cores=os.cpu_count() or 1,
        cpu=_cpu_model(),
        python=platform.python_version(),
        ed25519_sign_per_s=ed25519_sign_per_s(seconds),
        ed25519_verify_per_s=ed25519_verify_per_s(seconds),
        sha256_mb_per_s=sha256_mb_per_s(seconds),
        db_inserts_per_s=sqlite_inserts_per_s(seconds, directory),
    )


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
