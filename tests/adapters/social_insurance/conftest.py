"""One small population, one store, one running API for the whole package (each module that breaks or
changes its system starts its own over a store of its own)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.population import Population
from adapters.resilience import LegacyGuard
from adapters.simulation import write_population
from adapters.social_insurance.adapter import SocialInsuranceAdapter
from adapters.social_insurance.simulator import SIMULATOR, SocialInsuranceSystem

PERSONS = 150


def write_store(root: Path, population: Population) -> Path:
    write_population(SIMULATOR.sink(root, population), population)
    return root


def quiet_guard() -> LegacyGuard:
    """No retries and a breaker that does not open: each test sees exactly one legacy failure."""
    return LegacyGuard("si-test", fail_max=1000, retries=0)


@pytest.fixture(scope="session")
def population() -> Population:
    return Population(PERSONS)


@pytest.fixture(scope="session")
def store(tmp_path_factory: pytest.TempPathFactory, population: Population) -> Path:
    return write_store(tmp_path_factory.mktemp("si") / "social_insurance", population)


@pytest.fixture(scope="session")
def system(store: Path) -> Iterator[SocialInsuranceSystem]:
    running = SIMULATOR.start(store)
    yield running
    running.close()


@pytest.fixture(scope="session")
def adapter(system: SocialInsuranceSystem) -> SocialInsuranceAdapter:
    made = system.adapter(guard=quiet_guard(), timeout=5.0)
    assert isinstance(made, SocialInsuranceAdapter)
    return made
