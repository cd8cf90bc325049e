"""`exchange up` as a user runs it: a real process that initialises, serves and answers /health."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.certs.helpers import openssl_verify


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_exchange_up_serves_health_and_issues_verifiable_certificates(tmp_path):
    home = tmp_path / "var"
    port = _free_port()
    exe = shutil.which("exchange") or str(Path(sys.executable).parent / "exchange")
    env = {**os.environ, "EXCHANGE_HOME": str(home), "COLUMNS": "200"}
    process = subprocess.Popen(
        [exe, "up", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        response = None
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError(f"exchange up exited early:\n{process.stdout.read()}")
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert response is not None, "no answer from /health within 60 s"
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "ok"
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert str(home / "pki" / "ca.pem") in output
    assert str(home / "demo" / "consumer.key") in output
    certificate = home / "pki" / "consumers" / "demo-approval.pem"
    result = openssl_verify(home / "pki" / "ca.pem", certificate, home / "pki" / "crl.pem")
    assert result.returncode == 0, result.stdout + result.stderr
