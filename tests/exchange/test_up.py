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


def test_exchange_up_serves_health_and_issues_verifiable_certificates(tmp_path, home):
    port = _free_port()
    exe = shutil.which("exchange") or str(Path(sys.executable).parent / "exchange")
    env = {**os.environ, "EXCHANGE_HOME": str(home), "COLUMNS": "200", "EXCHANGE_DEMO_GRANTS": "true"}
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
        _the_readme_tour_works(exe, env, port, tmp_path)
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert str(home / "pki" / "ca.pem") in output
    assert str(home / "demo" / "consumer.key") in output
    certificate = home / "pki" / "consumers" / "demo-approval.pem"
    result = openssl_verify(home / "pki" / "ca.pem", certificate, home / "pki" / "crl.pem")
    assert result.returncode == 0, result.stdout + result.stderr


def _the_readme_tour_works(exe: str, env: dict[str, str], port: int, tmp_path: Path) -> None:
    """The commands README.md shows, against the running hub, as a user types them."""

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([exe, *args], capture_output=True, text=True, env=env, timeout=120, check=False)

    subject = run("demo", "subjects", "--count", "1")
    assert subject.returncode == 0, subject.stderr
    citizen = subject.stdout.strip()
    hub = ["--hub", f"http://127.0.0.1:{port}"]
    common = [
        "--subject",
        citizen,
        "--matter",
        "DEMO-0001",
        "--operator-id",
        "clerk-1",
        "--operator-name",
        "演示窗口",
    ]
    answer = tmp_path / "answer.jwt"
    query = run(
        "client",
        "query",
        "301001001-000001",
        *common,
        "--fields",
        "name,sex,address",
        "--purpose",
        "核验户籍",
        "--save",
        str(answer),
        *hub,
    )
    assert query.returncode == 0, query.stdout + query.stderr
    assert '"name"' in query.stdout and answer.exists()
    verify = run(
        "client",
        "verify",
        "304002001-000001",
        *common,
        "--claim",
        "has_property=true",
        "--purpose",
        "购房资格",
        *hub,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert '"has_property": "match"' in verify.stdout
    audit = run("audit", "verify")
    assert audit.returncode == 0, audit.stdout + audit.stderr
