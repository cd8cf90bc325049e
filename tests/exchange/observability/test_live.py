"""A real `exchange up --workers 2`: metrics added up across the workers, JSON logs from every process,
and SIGTERM: the in-flight request is drained, a final checkpoint covers every entry, the exit is clean."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, func, select

from adapters.population import Population
from certs.keys import load_private_key
from exchange.audit.models import AuditCheckpoint, AuditEntry
from exchange.demo import DEMO_CLIENT_ID, DEMO_MATTER
from tests.console.signing import signed_query_body
from tests.exchange.observability.conftest import HOUSEHOLD, PURPOSE
from tests.processes import die_with_parent, exchange_exe, free_port, wait_for_health

STOP_LIMIT = 60  # seconds from SIGTERM to exit: drain (a second or two here) and final checkpoints
QUERY_ROUTE = "/v1/query/{resource_code}"


def _json_lines(path: Path) -> list[dict]:
    return [
        json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("{")
    ]


def _citizen() -> str:
    for household in Population(60).households():
        for person in household.members:
            if person.alive:
                return person.citizen_id
    raise AssertionError("no living person in the demo population")


def _scrape(url: str) -> dict[tuple[str, tuple], float]:
    """One scrape on a new connection (so either worker may serve it): {(sample, labels): value}."""
    response = httpx.get(f"{url}/metrics", timeout=10)
    assert response.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def _exchanges(samples: dict, decision: str) -> float:
    return sum(
        value
        for (name, labels), value in samples.items()
        if name == "exchange_requests_total" and dict(labels)["decision"] == decision
    )


def _read_response(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_two_workers_count_together_then_drain_and_sign_a_final_checkpoint(tmp_path, hub_database_url):
    home = tmp_path / "var"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    exe = exchange_exe()
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("EXCHANGE_") and name != "PROMETHEUS_MULTIPROC_DIR"
    }
    env.update(
        EXCHANGE_HOME=str(home),
        EXCHANGE_DEMO_PERSONS="60",
        EXCHANGE_DEMO_GRANTS="true",
        EXCHANGE_SHUTDOWN_GRACE_SECONDS="20",
        # After the first checkpoint none is due for a day: what covers the last entries is the final one.
        EXCHANGE_CHECKPOINT_EVERY_SECONDS="86400",
        EXCHANGE_CHECKPOINT_EVERY_ENTRIES="1000000",
        COLUMNS="200",
    )
    if hub_database_url is not None:
        env["EXCHANGE_DATABASE_URL"] = hub_database_url
    stdout, stderr = tmp_path / "stdout.log", tmp_path / "stderr.log"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            [exe, "up", "--no-sync", "--workers", "2", "--port", str(port), "--log-format", "json"],
            stdout=out,
            stderr=err,
            env=env,
            cwd=tmp_path,
            preexec_fn=die_with_parent,
        )
    try:
        wait_for_health(process, url, stderr)
        key = load_private_key(home / "demo" / "consumer.key")
        citizen = _citizen()

        def body(**changes) -> bytes:
            wanted = {"matter_code": DEMO_MATTER, "purpose": PURPOSE, **changes}
            return signed_query_body(key, resource=HOUSEHOLD, citizen=citizen, **wanted)

        # Signed queries, each on a new connection, until both workers have answered some.
        allowed = 0
        serving_pids: set[int] = set()
        while len(serving_pids) < 2 and allowed < 60:
            response = httpx.post(
                f"{url}/v1/query/{HOUSEHOLD}",
                content=body(),
                headers={"Content-Type": "application/jwt"},
                timeout=30,
            )
            assert response.status_code == 200, response.text
            allowed += 1
            serving_pids = {
                line["pid"]
                for line in _json_lines(stderr)
                if line.get("logger") == "exchange.requests" and line.get("route") == QUERY_ROUTE
            }
        assert len(serving_pids) == 2, "one worker answered every request"
        refused = httpx.post(
            f"{url}/v1/query/{HOUSEHOLD}",
            content=body(matter_code="NOT-GRANTED"),
            headers={"Content-Type": "application/jwt"},
            timeout=30,
        )
        assert refused.status_code == 403

        # Whichever worker serves the scrape, it reports what both counted.
        for _ in range(6):
            samples = _scrape(url)
            assert _exchanges(samples, "allow") == allowed
            assert _exchanges(samples, "deny") == 1
            labels = (
                ("consumer", DEMO_CLIENT_ID),
                ("decision", "allow"),
                ("endpoint", "query"),
                ("resource", HOUSEHOLD),
                ("status", "200"),
            )
            assert samples["exchange_requests_total", labels] == allowed
            assert samples["exchange_http_requests_in_progress", ()] >= 1  # this scrape, at least
            assert samples["exchange_audit_tree_size", ()] == allowed + 1
        assert citizen not in httpx.get(f"{url}/metrics", timeout=10).text

        # A request in flight when SIGTERM comes: half its body now, the rest after the signal.
        request = body()
        head = (
            f"POST /v1/query/{HOUSEHOLD} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/jwt\r\nContent-Length: {len(request)}\r\n"
            "X-Request-ID: drain-test-0001\r\n\r\n"
        ).encode("ascii")
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(head + request[:20])
            time.sleep(0.5)  # the worker has started the request
            process.send_signal(signal.SIGTERM)
            time.sleep(1.5)  # the workers are shutting down, this one waiting for the request
            sock.sendall(request[20:])
            answer = _read_response(sock)
        status_line, _, _ = answer.partition(b"\r\n")
        assert status_line.startswith(b"HTTP/1.1 200"), answer[:500]
        assert b"x-request-id: drain-test-0001" in answer.lower()

        assert process.wait(timeout=STOP_LIMIT) == 0, stderr.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    engine = create_engine(hub_database_url or f"sqlite:///{home / 'exchange.db'}")
    try:
        with engine.connect() as connection:
            entries = connection.scalar(select(func.count()).select_from(AuditEntry))
            signed = connection.scalar(select(func.max(AuditCheckpoint.tree_size)))
            drained = connection.execute(
                select(AuditEntry.index, AuditEntry.decision).where(
                    AuditEntry.request_id == "drain-test-0001"
                )
            ).one()
    finally:
        engine.dispose()
    assert entries == allowed + 2
    assert drained.decision == "allow" and drained.index == entries - 1
    assert signed == entries, "the final checkpoint covers every entry, the drained one included"
    verify = subprocess.run(
        [exe, "audit", "verify"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr

    lines = _json_lines(stderr)
    stray = [line for line in stderr.read_text(encoding="utf-8").splitlines() if not line.startswith("{")]
    assert not stray, f"lines that are not JSON: {stray[:10]}"
    finals = [line for line in lines if line["message"] == "signed the final audit checkpoint"]
    assert finals and max(line["tree_size"] for line in finals) == entries
    drained_line = next(line for line in lines if line.get("request_id") == "drain-test-0001")
    assert drained_line["status"] == 200 and drained_line["decision"] == "allow"
    assert any(line["message"].startswith("Waiting for connections to close") for line in lines)
    assert not [line for line in lines if line.get("route") in ("/metrics", "/health")]  # DEBUG only
    assert citizen not in stderr.read_text(encoding="utf-8")
    assert not list((home / "run").glob("metrics-*")), "the run's metrics directory is removed"
