"""One simulated register per test session (300 persons), served over loopback HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.population import Population
from adapters.real_estate.simulator import SIMULATOR, RegistrySink, RunningRegistry
from adapters.resilience import LegacyGuard
from adapters.simulation import write_population

PERSONS = 300


def build_register(root: Path, population: Population, **options: int) -> Path:
    """Write ``population`` into a fresh store under ``root`` through the sink."""
    write_population(RegistrySink(root, population, **options), population)
    return root


def quick_guard() -> LegacyGuard:
    """No retries and no backoff worth waiting for: each test sees the first failure."""
    return LegacyGuard("real-estate-test", retries=0, backoff_initial=0.001, backoff_max=0.002)


@pytest.fixture(scope="session")
def population() -> Population:
    return Population(PERSONS)


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory, population: Population) -> Iterator[RunningRegistry]:
    root = build_register(tmp_path_factory.mktemp("real_estate") / "registry", population)
    system = SIMULATOR.start(root)
    yield system
    system.close()


@pytest.fixture
def system(registry: RunningRegistry) -> Iterator[RunningRegistry]:
    """The shared register, healed after every test that breaks it."""
    yield registry
    registry.heal()
