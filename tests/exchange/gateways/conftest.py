"""A hub whose tax department sits behind its own gateway (separate EXCHANGE_HOMEs, separate keys).

``provision`` walks the documented set-up: the gateway generates its key and CSR, the hub CA
certifies it (`exchange pki issue --department tax --csr`), the gateway installs the certificate.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from adapters.population import Population, in_all_systems
from exchange.api.app import create_app
from exchange.bootstrap import bootstrap
from exchange.cli.main import app as cli
from exchange.config import Settings, get_settings
from exchange.gateways.app import create_gateway_app

DEPARTMENT = "tax"


def invoke(home: Path, *args: str, **env: str) -> str:
    """Run a CLI command in-process against ``home``; its output (it must succeed)."""
    get_settings.cache_clear()
    result = CliRunner().invoke(cli, list(args), env={"EXCHANGE_HOME": str(home), **env})
    get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    return result.output


def provision(hub_home: Path, gateway_home: Path, *, gateways: str) -> None:
    """Key and CSR at the gateway, certificate from the hub CA, installed at the gateway."""
    invoke(gateway_home, "gateway", "request", "--department", DEPARTMENT)
    csr = gateway_home / "pki" / "departments" / f"{DEPARTMENT}.csr"
    invoke(
        hub_home, "pki", "issue", "--department", DEPARTMENT, "--csr", str(csr), EXCHANGE_GATEWAYS=gateways
    )
    invoke(
        gateway_home,
        "gateway",
        "install",
        "--department",
        DEPARTMENT,
        "--certificate",
        str(hub_home / "pki" / "departments" / f"{DEPARTMENT}.pem"),
        "--ca",
        str(hub_home / "pki" / "ca.pem"),
    )
    shutil.copy(hub_home / "pki" / "crl.pem", gateway_home / "pki" / "crl.pem")


def someone_everywhere() -> str:
    for household in Population(60).households():
        for person in household.members:
            if in_all_systems(person, household):
                return person.citizen_id
    raise AssertionError("nobody is known everywhere in 60 persons")


@dataclass
class GatewayedHub:
    settings: Settings
    hub: TestClient
    gateway: TestClient
    gateway_home: Path


@pytest.fixture
def gatewayed_hub(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[GatewayedHub]:
    """The hub (in-process) with tax behind a gateway app (in-process), joined by a TestClient."""
    gateways = json.dumps({DEPARTMENT: "http://tax-gateway"})
    monkeypatch.setenv("EXCHANGE_GATEWAYS", gateways)
    monkeypatch.setenv("EXCHANGE_DEMO_GRANTS", "true")
    get_settings.cache_clear()
    settings = get_settings()
    from exchange.db.engine import engine_for

    engine = engine_for(settings)
    bootstrap(settings, engine)
    engine.dispose()
    gateway_home = tmp_path / "gateway"
    provision(home, gateway_home, gateways=gateways)
    gateway_settings = Settings(home=gateway_home)
    gateway_app = create_gateway_app(gateway_settings, DEPARTMENT, legacy_dir=settings.legacy_dir)
    with (
        TestClient(gateway_app, base_url="http://tax-gateway") as gateway,
        TestClient(create_app(settings)) as hub,
    ):
        hub.app.state.hub.exchange.providers[DEPARTMENT]._http = gateway  # the network, in-process
        yield GatewayedHub(settings, hub, gateway, gateway_home)
