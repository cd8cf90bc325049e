"""docker-compose.yml is valid Compose and names only what the code has.

No Docker engine runs in CI, so the file is checked against the Compose Specification JSON schema
shipped in ../shared/standards/compose-spec/, and every command, option, setting, service, volume and
secret it names is checked against the code and the file itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml
from typer.main import get_command

from adapters.registry import DEPARTMENTS
from exchange.cli.main import app
from exchange.config import Settings

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT.parent / "shared" / "standards" / "compose-spec" / "compose-spec.json"
ONE_SHOT = {"hub-init", "airflow-init"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict[str, dict]:
    return compose["services"]


def test_compose_file_matches_the_specification(compose):
    if not SCHEMA.exists():
        pytest.fail(f"the Compose Specification schema is missing at {SCHEMA}")
    schema = json.loads(SCHEMA.read_text())
    jsonschema.validate(compose, schema, cls=jsonschema.Draft7Validator)


def test_the_schema_check_catches_a_broken_file(compose):
    schema = json.loads(SCHEMA.read_text())
    broken = {
        **compose,
        "services": {**compose["services"], "hub": {**compose["services"]["hub"], "restart": 3}},
    }
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema, cls=jsonschema.Draft7Validator)


def _options_along(path: list[str]) -> set[str]:
    """The option names of the commands and groups ``exchange <path>`` passes through."""
    node = get_command(app)
    known: set[str] = set()
    for part in path:
        commands = getattr(node, "commands", {})  # a group (Typer ships its own click classes)
        assert part in commands, f"no `exchange {' '.join(path)}`"
        node = commands[part]
        known |= {opt for param in node.params for opt in (*param.opts, *param.secondary_opts)}
    return known


def test_every_exchange_command_and_option_exists(services):
    checked = 0
    for name, service in services.items():
        command = service.get("command") or []
        if command[:1] != ["exchange"]:
            continue
        arguments = command[1:]
        # Subcommands come first; after the first option everything is options and their values.
        first_option = next((i for i, a in enumerate(arguments) if a.startswith("--")), len(arguments))
        known = _options_along(arguments[:first_option])
        for option in (a for a in arguments[first_option:] if a.startswith("--")):
            assert option in known, (
                f"service {name}: `{' '.join(command[: first_option + 1])}` has no {option}"
            )
        checked += 1
    assert checked >= 10  # hub-init, hub, four legacy systems, four gateways


def test_every_airflow_command_parses(compose, tmp_path):
    airflow_commands = [
        s["command"] for s in compose["services"].values() if s.get("command", [""])[0] == "airflow"
    ]
    assert {tuple(c[1:2]) for c in airflow_commands} == {
        ("db",),
        ("api-server",),
        ("scheduler",),
        ("dag-processor",),
        ("triggerer",),
    }
    # Airflow's own parser, in a child process (it reads its configuration when imported).
    script = (
        "import json, sys\n"
        "from airflow.cli import cli_parser\n"
        "parser = cli_parser.get_parser()\n"
        "for command in json.loads(sys.argv[1]):\n"
        "    parser.parse_args(command[1:])\n"
    )
    healthchecks = [
        s["healthcheck"]["test"][1:]
        for s in compose["services"].values()
        if s.get("healthcheck", {}).get("test", [None, None])[1] == "airflow"
    ]
    result = subprocess.run(
        [sys.executable, "-c", script, json.dumps(airflow_commands + healthchecks)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "AIRFLOW_HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_every_exchange_setting_named_exists(services):
    fields = set(Settings.model_fields)
    for name, service in services.items():
        for variable in service.get("environment", {}):
            if variable.startswith("EXCHANGE_"):
                field = variable.removeprefix("EXCHANGE_").lower()
                assert field in fields, f"service {name}: {variable} is not a setting (exchange/config.py)"


def test_every_host_named_is_a_service(services):
    hosts: list[tuple[str, str]] = []
    for name, service in services.items():
        environment = service.get("environment", {})
        if "EXCHANGE_GATEWAYS" in environment:
            gateways = json.loads(environment["EXCHANGE_GATEWAYS"])
            assert set(gateways) == set(DEPARTMENTS), f"service {name}: a gateway for every department"
            hosts += [(name, urlsplit(url).hostname or "") for url in gateways.values()]
        for value in environment.values():
            if isinstance(value, str) and value.startswith("http://") and "{" not in value:
                hosts.append((name, urlsplit(value).hostname or ""))
        command = service.get("command") or []
        hosts += [(name, urlsplit(a).hostname or "") for a in command if a.startswith("http://")]
    for name, host in hosts:
        assert host in services or host in {"127.0.0.1", "localhost"}, (
            f"service {name} names unknown host {host}"
        )
    assert len(hosts) >= 12


def test_one_gateway_and_one_legacy_system_per_department(services):
    for department_id in DEPARTMENTS:
        slug = department_id.replace("_", "-")
        assert services[f"gateway-{slug}"]["command"][1:4] == ["gateway", "--department", department_id]
        assert services[f"legacy-{slug}"]["command"][1:5] == [
            "legacy",
            "serve",
            "--department",
            department_id,
        ]
        gateway_volumes = {v.split(":")[0] for v in services[f"gateway-{slug}"]["volumes"]}
        assert f"legacy-{slug}" in gateway_volumes, "the gateway reaches its legacy system's files"
        assert f"gateway-{slug}" in gateway_volumes, "its key lives in its own volume"
    hub = services["hub"]["command"]
    assert int(hub[hub.index("--workers") + 1]) >= 2


def test_services_restart_and_report_their_health(services):
    for name, service in services.items():
        if name in ONE_SHOT:
            assert service.get("restart") == "no", name
            continue
        assert service.get("restart") == "unless-stopped", f"{name} restarts after a crash"
        assert service.get("healthcheck", {}).get("test"), f"{name} has a healthcheck"


def test_dependencies_volumes_and_secrets_are_declared(compose, services):
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown {dependency}"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name} mounts {source}, which is not in the repository"
            else:
                assert source in compose["volumes"], f"{name} uses undeclared volume {source}"
        for secret in service.get("secrets", []):
            assert secret in compose["secrets"], f"{name} uses undeclared secret {secret}"
    for secret in compose["secrets"].values():
        assert secret["file"].startswith("./secrets/")


def test_the_postgres_init_script_is_valid_bash():
    script = ROOT / "deploy" / "postgres" / "init-roles.sh"
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0
    assert "exchange_app" in script.read_text() and "NOSUPERUSER" in script.read_text()


def test_secrets_and_data_stay_out_of_git():
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert "/secrets/" in ignored and "/var/" in ignored
