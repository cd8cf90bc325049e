"""docker-compose.yml is valid Compose and names only commands the code has.

No Docker engine runs in CI, so the file is checked against the Compose Specification JSON schema
shipped in ../shared/standards/compose-spec/.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from typer.main import get_command

from exchange.cli.main import app

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT.parent / "shared" / "standards" / "compose-spec" / "compose-spec.json"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_file_matches_the_specification(compose):
    if not SCHEMA.exists():
        pytest.fail(f"the Compose Specification schema is missing at {SCHEMA}")
    schema = json.loads(SCHEMA.read_text())
    jsonschema.validate(compose, schema, cls=jsonschema.Draft7Validator)


def test_every_exchange_command_in_compose_exists(compose):
    root = get_command(app)
    for name, service in compose["services"].items():
        command = service.get("command")
        if not command or command[0] != "exchange":
            continue
        sub = root.commands[command[1]]  # type: ignore[attr-defined]
        known = {opt for param in sub.params for opt in (*param.opts, *param.secondary_opts)}
        for arg in command[2:]:
            if arg.startswith("--"):
                assert arg in known, f"service {name}: `exchange {command[1]}` has no option {arg}"


def test_secrets_and_data_stay_out_of_git():
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert "/secrets/" in ignored and "/var/" in ignored


def test_the_schema_check_catches_a_broken_file(compose):
    schema = json.loads(SCHEMA.read_text())
    broken = {
        **compose,
        "services": {**compose["services"], "hub": {**compose["services"]["hub"], "restart": 3}},
    }
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema, cls=jsonschema.Draft7Validator)
