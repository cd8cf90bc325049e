"""A small household register written once per session; tests that change it get their own copy."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from adapters.household.adapter import HouseholdAdapter
from adapters.household.simulator import DB_FILE, SIMULATOR, RunningHouseholdRegister
from adapters.population import Household, Population
from adapters.resilience import LegacyGuard

PERSONS = 300


def write_store(root: Path, households: list[Household] | Iterator[Household], **sink_options: int) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    sink = type(SIMULATOR)(**sink_options).sink(root, Population(1))
    for household in households:
        sink.add_household(household)
    sink.close()
    return root


def quiet_guard(**options: float) -> LegacyGuard:
    """No retries and no backoff, so fault tests stay fast and count calls exactly."""
    return LegacyGuard("household-test", retries=0, **options)


@pytest.fixture(scope="session")
def population() -> Population:
    return Population(PERSONS)


@pytest.fixture(scope="session")
def households(population: Population) -> list[Household]:
    return list(population.households())


@pytest.fixture(scope="session")
def store(tmp_path_factory: pytest.TempPathFactory, households: list[Household]) -> Path:
    return write_store(tmp_path_factory.mktemp("household-store"), households)


@pytest.fixture(scope="session")
def system(store: Path) -> Iterator[RunningHouseholdRegister]:
    """Shared and never changed: the truth tests read it."""
    running = SIMULATOR.start(store)
    yield running
    running.close()


@pytest.fixture(scope="session")
def adapter(system: RunningHouseholdRegister) -> HouseholdAdapter:
    made = system.adapter(guard=quiet_guard(), timeout=2.0)
    assert isinstance(made, HouseholdAdapter)
    return made


@pytest.fixture
def fresh(tmp_path: Path, store: Path) -> Iterator[Callable[[], RunningHouseholdRegister]]:
    """A private copy of the store, for tests that cancel, deregister, lock or corrupt."""
    started: list[RunningHouseholdRegister] = []

    def start() -> RunningHouseholdRegister:
        root = tmp_path / f"copy{len(started)}"
        root.mkdir()
        shutil.copyfile(store / DB_FILE, root / DB_FILE)
        started.append(SIMULATOR.start(root))
        return started[-1]

    yield start
    for running in started:
        running.close()
