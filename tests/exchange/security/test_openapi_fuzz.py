"""Schemathesis over the hub's own OpenAPI document, in process (ASGI): no input makes a 5xx.

Every operation the document describes is fuzzed with Hypothesis (schemathesis 4.x: the examples,
coverage and fuzzing phases, positive and negative data). The calls carry the credentials each
operation asks for (a management token of the right role, a citizen's demo ID token), so the fuzzed
parameters get past authentication; the signed endpoints mostly answer 4xx to fuzzed bodies, which is
the point: 4xx, never 5xx. Responses are also held to the document: the status is one it lists and
the ``Content-Type`` is the one it gives for that status (RFC 9457 problems included).

Bounded for CI: few examples per operation, no shrinking, Hypothesis derandomized (the same cases on
every run) and without an example database; the hub lives in a temporary EXCHANGE_HOME (or a PostgreSQL
database dropped afterwards) for the module.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, status_code_conformance

from adapters.population import Population
from certs.keys import load_private_key
from certs.store import PkiPaths, read_certificate
from exchange.access.service import issue_token
from exchange.api.app import create_app
from exchange.config import Settings
from exchange.db.engine import engine_for, session_factory, session_scope
from exchange.demo import DEMO_CLIENT_ID
from exchange.subjects.identity import DemoIdentityProvider
from tests.exchange.security.hub import bootstrapped_hub

# The document create_app serves at /openapi.json; test_the_document_is_the_one_served holds them equal.
# Building it needs no database: only the routes.
DOCUMENT = create_app(Settings.model_construct()).openapi()
schema = schemathesis.openapi.from_dict(DOCUMENT)
schemathesis.serializer.alias("application/jwt", "text/plain")  # a compact JWS is ASCII text
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance]


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, module_database_env: dict[str, str]) -> Iterator[FastAPI]:
    """A bootstrapped embedded hub (demo departments, consumer and grants) not started yet: schemathesis
    runs its lifespan around each operation's test. ``app.extra["tokens"]``: a management token per role
    and a citizen's demo ID token."""
    settings_ = bootstrapped_hub(tmp_path_factory.mktemp("fuzzed-hub"), module_database_env, demo_grants=True)
    engine = engine_for(settings_)
    now = datetime.now(UTC)
    tokens = {}
    with session_scope(session_factory(engine)) as session:
        for role, extra in (
            ("admin", {}),
            ("department", {"department_id": "household"}),
            ("consumer", {"client_id": DEMO_CLIENT_ID}),
        ):
            _, tokens[role] = issue_token(session, name=f"fuzz {role}", role=role, now=now, **extra)
    engine.dispose()
    paths = PkiPaths(settings_.pki_dir)
    identity = DemoIdentityProvider(
        load_private_key(paths.hub_key),
        read_certificate(paths.hub_cert),
        issuer=f"{settings_.base_url}/demo-idp",
        audience=settings_.hub_id,
    )
    citizen = next(p.citizen_id for h in Population(60).households() for p in h.members if p.alive)
    tokens["citizen"] = identity.issue(citizen, now=now)  # valid for 30 minutes: longer than the module
    app = create_app(settings_)
    app.extra["tokens"] = tokens
    yield app


def _credentials(app: FastAPI, case: schemathesis.Case) -> dict[str, str]:
    """The Authorization an operation needs: a citizen's ID token, or a management token of the role
    the operation admits (a consumer files applications, a department decides them, else the admin)."""
    path, method = case.operation.path, case.method.upper()
    if path == "/v1/me/access-log":
        role = "citizen"
    elif path == "/v1/applications" and method == "POST":
        role = "consumer"
    elif path.endswith("/decision"):
        role = "department"
    else:
        role = "admin"
    return {"Authorization": f"Bearer {app.extra['tokens'][role]}"}


def test_the_document_is_the_one_served(hub):
    with TestClient(hub) as client:
        assert client.get("/openapi.json").json() == DOCUMENT


@schema.parametrize()
@settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure is reported as found
    suppress_health_check=list(HealthCheck),
)
def test_no_input_makes_a_server_error(case: schemathesis.Case, hub: FastAPI):
    """4xx at worst, as documented; schemathesis reports the request (as curl) of any failure."""
    response = case.call(app=hub, headers=_credentials(hub, case))
    case.validate_response(response, checks=CHECKS)
