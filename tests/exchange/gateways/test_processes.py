"""The production shape on loopback: `exchange up` and `exchange gateway --department tax` as separate
processes with separate homes; the hub reaches the gateway over HTTP and holds no tax key."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from certs.store import PkiPaths
from exchange.client import ExchangeClient, LegacyError, verify_evidence
from exchange.demo import DEMO_CLIENT_ID, DEMO_MATTER
from tests import processes
from tests.exchange.gateways.conftest import DEPARTMENT, someone_everywhere

pytestmark = pytest.mark.filterwarnings("ignore:EdDSA is deprecated")
CERTIFICATE = "302002001-000001"


@dataclass
class Deployment:
    hub: processes.Server
    gateway: processes.Server
    hub_home: Path
    gateway_home: Path
    gateway_args: list[str]


@pytest.fixture(scope="module")
def deployment(
    tmp_path_factory: pytest.TempPathFactory, module_database_env: dict[str, str]
) -> Iterator[Deployment]:
    base = tmp_path_factory.mktemp("gateway-deployment")
    hub_home, gateway_home = base / "hub", base / "gateway"
    hub_port, gateway_port = processes.free_port(), processes.free_port()
    hub_env = processes.clean_env(
        EXCHANGE_HOME=str(hub_home),
        EXCHANGE_DEMO_PERSONS="60",
        EXCHANGE_DEMO_GRANTS="true",
        EXCHANGE_GATEWAYS=json.dumps({DEPARTMENT: f"http://127.0.0.1:{gateway_port}"}),
        **module_database_env,
    )
    gateway_env = processes.clean_env(EXCHANGE_HOME=str(gateway_home))
    processes.run(["up", "--init-only", "--no-sync"], env=hub_env, cwd=base)
    processes.run(["gateway", "request", "--department", DEPARTMENT], env=gateway_env, cwd=base)
    csr = PkiPaths(gateway_home / "pki").department_key(DEPARTMENT).with_suffix(".csr")
    processes.run(["pki", "issue", "--department", DEPARTMENT, "--csr", str(csr)], env=hub_env, cwd=base)
    hub_pki = PkiPaths(hub_home / "pki")
    install = ["--certificate", str(hub_pki.department_cert(DEPARTMENT)), "--ca", str(hub_pki.ca_cert)]
    processes.run(["gateway", "install", "--department", DEPARTMENT, *install], env=gateway_env, cwd=base)
    hub = processes.start(
        ["up", "--no-sync", "--port", str(hub_port)], env=hub_env, cwd=base, port=hub_port, name="hub"
    )
    gateway_args = [
        "gateway",
        "--department",
        DEPARTMENT,
        "--port",
        str(gateway_port),
        "--legacy-dir",
        str(hub_home / "legacy"),  # the simulated tax system's files: a volume both could mount
        "--hub-url",
        hub.url,  # the gateway fetches the hub's CRL
    ]
    gateway = processes.start(gateway_args, env=gateway_env, cwd=base, port=gateway_port, name="gateway")
    running = Deployment(hub, gateway, hub_home, gateway_home, gateway_args)
    try:
        yield running
    finally:
        running.gateway.stop()  # the one running now (a test restarts it)
        hub.stop()


def _client(deployment: Deployment) -> ExchangeClient:
    return ExchangeClient(
        DEMO_CLIENT_ID,
        deployment.hub_home / "demo" / "consumer.key",
        deployment.hub.url,
        deployment.hub_home / "pki" / "ca.pem",
    )


def _ask(client: ExchangeClient):
    return client.query(
        CERTIFICATE,
        "id_card",
        someone_everywhere(),
        ["total_amount"],
        matter_code=DEMO_MATTER,
        purpose="核验完税",
        operator_id="clerk-1",
        operator_name="演示窗口",
    )


def test_a_query_crosses_from_the_hub_process_to_the_gateway_process(deployment):
    assert not PkiPaths(deployment.hub_home / "pki").department_key(DEPARTMENT).exists()
    assert (deployment.gateway_home / "pki" / "crl.pem").exists()  # fetched from the hub
    with _client(deployment) as client:
        evidence = _ask(client)
    assert evidence.department_id == DEPARTMENT and set(evidence.data) == {"total_amount"}
    verified = verify_evidence(
        evidence.token,
        ca_certificate=deployment.hub_home / "pki" / "ca.pem",
        client_id=DEMO_CLIENT_ID,
        request_body=evidence.request_body,
    )
    assert verified.log_index == evidence.log_index
    assert "POST /gateway/v1/answers" in deployment.gateway.log.read_text()
    assert "POST /gateway/v1/evidence" in deployment.gateway.log.read_text()


def test_the_sync_of_the_gateway_department_runs_through_the_gateway(deployment):
    result = processes.run(["sync", DEPARTMENT], env=deployment.hub.env, cwd=deployment.hub_home.parent)
    sealed = re.search(r"tax: run \d+, \d+ read, (\d+) sealed", result.stdout)
    assert sealed is not None and int(sealed.group(1)) > 0, result.stdout
    assert "POST /gateway/v1/licenses/seal" in deployment.gateway.log.read_text()
    audit = processes.run(["audit", "verify"], env=deployment.hub.env, cwd=deployment.hub_home.parent)
    assert audit.returncode == 0


def test_when_the_gateway_stops_the_hub_answers_503_and_recovers(deployment):
    deployment.gateway.stop()
    with _client(deployment) as client, pytest.raises(LegacyError) as raised:
        _ask(client)
    assert raised.value.status == 503
    port = int(deployment.gateway.url.rsplit(":", 1)[1])
    deployment.gateway = processes.start(
        deployment.gateway_args,
        env=deployment.gateway.env,
        cwd=deployment.hub_home.parent,
        port=port,
        name="gateway-restarted",
    )
    with _client(deployment) as client:
        assert _ask(client).department_id == DEPARTMENT
