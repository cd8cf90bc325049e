"""Legacy faults in the production shape: departments behind their own gateway processes.

`exchange gateway --department social_insurance --legacy-url ...` and `exchange gateway --department
tax --legacy-dir ...` run as separate processes with their own homes and keys and the legacy policy
from the environment (EXCHANGE_LEGACY_*); the social-insurance system is a real HTTP service and
the tax system a real drop directory, both broken from this process the way they break in
production. The hub (in process) reaches the gateways over HTTP. The consumer must see exactly what
the embedded default answers (tests/reliability/test_legacy_faults.py); the circuit lives in the
gateway, next to its legacy system.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from adapters.base import Subject
from adapters.simulation import Fault, RunningSystem, simulators
from certs.keys import load_private_key
from exchange.api.app import create_app
from exchange.bootstrap import bootstrap
from exchange.db.engine import engine_for
from tests import processes
from tests.exchange.gateways.conftest import invoke
from tests.reliability.legacy_faults import (
    EXPECTED,
    MARGIN,
    RESET,
    SLOW_DELAY,
    TIMEOUT,
    Asker,
    assert_nothing_stuck,
    assert_problem,
    check_fault,
    citizen,
    hub_settings,
    legacy_env,
)

pytestmark = pytest.mark.filterwarnings("ignore:EdDSA is deprecated")
GATEWAYED = ("social_insurance", "tax")  # one legacy system over HTTP, one through shared files


@dataclass
class Deployment:
    asker: Asker
    client: TestClient
    systems: dict[str, RunningSystem]  # the legacy systems, served from this process
    gateways: dict[str, processes.Server]

    def inject(self, department: str, fault: Fault, subject: Subject | None = None) -> None:
        self.systems[department].inject(fault, subject, delay=SLOW_DELAY)


def _provision(hub_home: Path, gateway_home: Path, department: str, hub_env: dict[str, str]) -> None:
    """docs/gateways.md: key and CSR at the gateway, certificate from the hub CA, installed there."""
    invoke(gateway_home, "gateway", "request", "--department", department)
    csr = gateway_home / "pki" / "departments" / f"{department}.csr"
    invoke(hub_home, "pki", "issue", "--department", department, "--csr", str(csr), **hub_env)
    certificate = hub_home / "pki" / "departments" / f"{department}.pem"
    invoke(
        gateway_home,
        "gateway",
        "install",
        "--department",
        department,
        "--certificate",
        str(certificate),
        "--ca",
        str(hub_home / "pki" / "ca.pem"),
    )
    shutil.copy(hub_home / "pki" / "crl.pem", gateway_home / "pki" / "crl.pem")


def _spawn(
    department: str, port: int, home: Path, legacy_dir: Path, system: RunningSystem
) -> processes.Server:
    """`exchange gateway` for ``department`` with the legacy policy of these tests, not yet waited for."""
    args = ["gateway", "--department", department, "--port", str(port), "--legacy-dir", str(legacy_dir)]
    url = getattr(system, "url", None)
    if url is not None:  # an HTTP legacy system: reached at its address, its credentials in legacy_dir
        args += ["--legacy-url", url]
    env = processes.clean_env(EXCHANGE_HOME=str(home), **legacy_env())
    log = legacy_dir.parent.parent / f"gateway-{department}.log"
    with log.open("w", encoding="utf-8") as output:
        process = subprocess.Popen(
            [processes.exchange_exe(), *args],
            stdout=output,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=log.parent,
            preexec_fn=processes.die_with_parent,
        )
    return processes.Server(process, f"http://127.0.0.1:{port}", log, env)


@pytest.fixture(scope="module")
def deployment(
    tmp_path_factory: pytest.TempPathFactory, module_database_env: dict[str, str]
) -> Iterator[Deployment]:
    base = tmp_path_factory.mktemp("legacy-faults-gateways")
    hub_home = base / "hub"
    ports = {department: processes.free_port() for department in GATEWAYED}
    gateways = {department: f"http://127.0.0.1:{port}" for department, port in ports.items()}
    # The gateway's own 504 must arrive before the hub gives up on the gateway.
    settings = hub_settings(hub_home, module_database_env, gateways=gateways, gateway_timeout_seconds=5)
    engine = engine_for(settings)
    bootstrap(settings, engine)
    engine.dispose()
    hub_env = {"EXCHANGE_GATEWAYS": json.dumps(gateways), **module_database_env}
    legacy_dir = hub_home / "legacy"  # the volume each legacy service shares with its gateway
    systems: dict[str, RunningSystem] = {}
    started: dict[str, processes.Server] = {}
    try:
        for department in GATEWAYED:  # both gateways start at once: a process start is seconds here
            gateway_home = base / f"gateway-{department}"
            _provision(hub_home, gateway_home, department, hub_env)
            systems[department] = system = simulators()[department].start(legacy_dir / department)
            started[department] = _spawn(department, ports[department], gateway_home, legacy_dir, system)
        for server in started.values():
            processes.wait_for_health(server.process, server.url, server.log, "exchange gateway")
        with TestClient(create_app(settings)) as client:
            assert set(client.app.state.hub.simulated).isdisjoint(GATEWAYED)
            key = load_private_key(settings.demo_dir / "consumer.key")
            yield Deployment(Asker(client, key, citizen()), client, systems, started)
    finally:
        for server in started.values():
            server.stop()
        for system in systems.values():
            system.close()


@pytest.fixture
def healthy(deployment: Deployment) -> Iterator[Deployment]:
    """Afterwards both legacy systems are healed and answering again through their gateways."""
    yield deployment
    for department, system in deployment.systems.items():
        system.heal()
        deployment.asker.answered(department, within=RESET + MARGIN)


def test_faults_behind_gateway_processes_are_their_problems_and_trip_the_gateways_circuit(
    healthy: Deployment,
):
    """One test, so that one xdist worker pays for the processes while the other runs the embedded hub."""
    for department in GATEWAYED:
        for fault in EXPECTED:
            check_fault(healthy.asker, department, fault, healthy.systems[department])
    for department in GATEWAYED:
        _circuit_opens_and_closes(healthy, department)


def _circuit_opens_and_closes(healthy: Deployment, department: str) -> None:
    asker, private = healthy.asker, healthy.asker.who.private
    healthy.inject(department, Fault.TIMEOUT)
    try:
        for _ in range(3):  # EXCHANGE_LEGACY_CIRCUIT_FAIL_MAX of the gateway process
            assert_problem(asker.query(department)[0], 504, "legacy-timeout", private=private)
        response, elapsed = asker.query(department)
        assert_problem(response, 503, "legacy-unavailable", private=private)
        assert elapsed < TIMEOUT / 2  # the gateway did not wait on its hanging legacy system
        opened = time.monotonic()
        other = next(d for d in GATEWAYED if d != department)
        assert asker.query(other)[0].status_code == 200  # the other gateway's circuit is its own
        assert asker.query("household")[0].status_code == 200  # and the hub's local departments
    finally:
        healthy.systems[department].heal()
    time.sleep(max(0.0, RESET - (time.monotonic() - opened)) + 0.05)
    for _ in range(2):
        response, _ = asker.query(department)
        assert response.status_code == 200, response.text
    assert_nothing_stuck(asker.client)
    assert all(server.process.poll() is None for server in healthy.gateways.values())
