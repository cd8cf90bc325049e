"""A booted hub (real PKI, directory, simulated departments, demo consumer and grants) behind
FastAPI's TestClient, and helpers to send signed queries and read /metrics as Prometheus would."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from adapters.population import Population
from certs.keys import load_private_key
from exchange.api.app import create_app
from exchange.bootstrap import bootstrap
from exchange.config import get_settings
from exchange.demo import DEMO_MATTER
from exchange.observability.logs import JsonFormatter
from tests.console.signing import signed_query_body

HOUSEHOLD = "301001001-000001"  # the household department's person resource (conditional)
PURPOSE = "核验申请材料"


@pytest.fixture(scope="session")
def citizen() -> str:
    """A living person of the 60-person demo population, known to the household department."""
    for household in Population(60).households():
        for person in household.members:
            if person.alive:
                return person.citizen_id
    raise AssertionError("no living person in the demo population")


@pytest.fixture
def hub(settings, engine, monkeypatch) -> Iterator[TestClient]:
    """Checkpoints only when a test signs one: no background timing in the way of the lag gauges."""
    monkeypatch.setenv("EXCHANGE_DEMO_GRANTS", "true")
    monkeypatch.setenv("EXCHANGE_CHECKPOINT_EVERY_SECONDS", "86400")
    monkeypatch.setenv("EXCHANGE_CHECKPOINT_EVERY_ENTRIES", "1000000")
    get_settings.cache_clear()
    settings = get_settings()
    bootstrap(settings, engine)
    with engine.connect() as connection:
        code = connection.execute(
            text("SELECT code FROM resources WHERE provider_id = 'household' ORDER BY code")
        ).scalar()
    assert code == HOUSEHOLD
    with TestClient(create_app(settings)) as client:
        client.settings, client.engine = settings, engine  # type: ignore[attr-defined]
        yield client


def signed_query(client: TestClient, citizen: str, *, headers: dict[str, str] | None = None, **changes):
    key = load_private_key(client.settings.demo_dir / "consumer.key")  # type: ignore[attr-defined]
    wanted: dict = {"matter_code": DEMO_MATTER, "purpose": PURPOSE, **changes}
    body = signed_query_body(key, resource=HOUSEHOLD, citizen=citizen, **wanted)
    return client.post(
        f"/v1/query/{HOUSEHOLD}",
        content=body,
        headers={"Content-Type": "application/jwt", **(headers or {})},
    )


@dataclass
class Scrape:
    """One /metrics answer, parsed by prometheus-client's own parser."""

    text: str
    families: dict

    def value(self, name: str, **labels: str) -> float:
        """The sum of the samples of ``name`` with these labels (0 when none is exposed yet)."""
        return sum(
            sample.value
            for sample in self.samples(name)
            if all(sample.labels.get(key) == value for key, value in labels.items())
        )

    def samples(self, name: str) -> list:
        return [s for family in self.families.values() for s in family.samples if s.name == name]


def scrape(client: TestClient) -> Scrape:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    families = {family.name: family for family in text_string_to_metric_families(response.text)}
    return Scrape(response.text, families)


class Captured(logging.Handler):
    """The hub's JSON formatter on a handler of the root logger: the lines as they would be written."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.stream = io.StringIO()
        self.setFormatter(JsonFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        self.stream.write(self.format(record) + "\n")

    def lines(self) -> list[str]:
        return self.stream.getvalue().splitlines()


@pytest.fixture
def json_log() -> Iterator[Captured]:
    root = logging.getLogger()
    handler = Captured()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
