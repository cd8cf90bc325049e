"""Tax simulator stores built once per session; tests that break a store copy it first."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.population import Population
from adapters.resilience import LegacyGuard
from adapters.simulation import write_population
from adapters.tax.adapter import TaxAdapter
from adapters.tax.simulator import SIMULATOR, TaxSystem

PERSONS = 300


def build_store(root: Path, persons: int) -> Population:
    """Stream a population into a tax drop directory, as ``exchange demo-data`` does."""
    population = Population(persons)
    write_population(SIMULATOR.sink(root, population), population)
    return population


def quiet_guard() -> LegacyGuard:
    """No retries and a breaker that does not open, so each test sees the raw failure at once."""
    return LegacyGuard("tax-test", retries=0, fail_max=10_000)


@pytest.fixture(scope="session")
def population() -> Population:
    return Population(PERSONS)


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pristine store of ``PERSONS`` persons; never started, only copied."""
    root = tmp_path_factory.mktemp("tax-template")
    build_store(root, PERSONS)
    return root


@pytest.fixture(scope="session")
def system(template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TaxSystem]:
    """A running system shared by read-only tests (nothing is injected or cancelled in it)."""
    root = tmp_path_factory.mktemp("tax-shared") / "tax"
    shutil.copytree(template, root)
    running = SIMULATOR.start(root)
    yield running
    running.close()


@pytest.fixture(scope="session")
def adapter(system: TaxSystem) -> TaxAdapter:
    made = system.adapter(guard=quiet_guard())
    assert isinstance(made, TaxAdapter)
    return made


@pytest.fixture
def fresh(template: Path, tmp_path: Path) -> Iterator[TaxSystem]:
    """A running system of its own, for tests that break or change the store."""
    root = tmp_path / "tax"
    shutil.copytree(template, root)
    running = SIMULATOR.start(root)
    yield running
    running.close()
