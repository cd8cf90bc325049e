"""The simulated legacy systems: one contract for all four, and the generator that fills them.

Each department package has a ``simulator`` module exposing ``SIMULATOR``, a
:class:`SimulatedSystem`. It renders the shared synthetic population (:mod:`adapters.population`)
in its own legacy form under ``root`` (``$EXCHANGE_HOME/legacy/<department>``), and starts the
legacy interface there (a front-end database, a batch-file drop, an HTTP service). The adapter it
hands out reaches the system only through that interface, as it would in production.

The demo, the tests and the benchmarks use the same simulators; tests and benchmarks also use
:meth:`RunningSystem.inject` to make a legacy system fail the way real ones do.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from datetime import date
from enum import StrEnum
from importlib import import_module
from pathlib import Path
from typing import Protocol

from adapters.base import Adapter, Department, Subject
from adapters.population import DEFAULT_AS_OF, DEFAULT_SEED, Employer, Household, Population
from adapters.resilience import LegacyGuard

MANIFEST = "population.json"


class Fault(StrEnum):
    """Ways a legacy system fails, each mapped by the adapter to one typed error."""

    UNAVAILABLE = "unavailable"  # -> LegacyUnavailable
    TIMEOUT = "timeout"  # -> LegacyTimeout
    GARBAGE = "garbage"  # -> BadLegacyData naming the row


class LegacySink(Protocol):
    """Writes the population into one legacy system's store, streaming, in batches."""

    def add_household(self, household: Household) -> None: ...

    def add_employer(self, employer: Employer) -> None: ...

    def close(self) -> None:
        """Flush what is buffered; the store is complete and consistent afterwards."""
        ...


class RunningSystem(Protocol):
    """A simulated legacy system that is up, with the means to reach and to break it."""

    supported_faults: frozenset[Fault]

    def adapter(self, *, guard: LegacyGuard | None = None, timeout: float | None = None) -> Adapter:
        """An adapter configured to reach this system through its legacy interface only.

        ``timeout`` (seconds) overrides the adapter's default deadline per legacy call.
        """
        ...

    def inject(self, fault: Fault, subject: Subject | None = None) -> None:
        """Make the legacy system fail. ``GARBAGE`` corrupts the legacy record of ``subject``
        (every record when None) the way that system's data goes bad."""
        ...

    def heal(self) -> None:
        """Undo every injected fault."""
        ...

    def cancel_one(self) -> str:
        """Withdraw one live certificate the way this system does it (注销, 作废, 终止);
        return its ``source_id`` as the adapter's change feed reports it."""
        ...

    def close(self) -> None: ...


class SimulatedSystem(Protocol):
    department: Department

    def sink(self, root: Path, population: Population) -> LegacySink:
        """A writer that creates this system's store in the empty directory ``root``."""
        ...

    def start(self, root: Path) -> RunningSystem:
        """Start the legacy interface over the store in ``root`` (written by :meth:`sink`)."""
        ...


@dataclass(frozen=True)
class PopulationManifest:
    """What was generated into a legacy directory, so later commands know what they serve."""

    persons: int
    seed: int
    as_of: date
    employers: int
    departments: tuple[str, ...]

    def population(self) -> Population:
        return Population(self.persons, seed=self.seed, as_of=self.as_of)


def simulators() -> dict[str, SimulatedSystem]:
    """The four simulated legacy systems, by department id."""
    from adapters.registry import DEPARTMENTS

    return {
        department_id: import_module(f"adapters.{department_id}.simulator").SIMULATOR
        for department_id in DEPARTMENTS
    }


def read_manifest(root: Path) -> PopulationManifest | None:
    try:
        raw = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    return PopulationManifest(
        raw["persons"],
        raw["seed"],
        date.fromisoformat(raw["as_of"]),
        raw["employers"],
        tuple(raw["departments"]),
    )


def generate(
    root: Path,
    persons: int,
    *,
    seed: int = DEFAULT_SEED,
    as_of: date = DEFAULT_AS_OF,
    departments: Sequence[str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> PopulationManifest:
    """Stream a population of ``persons`` into every simulated system under ``root/<department>``.

    Existing legacy data under ``root`` is replaced. The population is generated once and fed to
    all four sinks household by household; ``progress`` is called with the persons written so far.
    The manifest is written last, so an interrupted run leaves no manifest and is redone.
    """
    population = Population(persons, seed=seed, as_of=as_of)
    systems = simulators()
    chosen = list(departments or systems)
    unknown = sorted(set(chosen) - set(systems))
    if unknown:
        raise ValueError(f"unknown department(s) {', '.join(unknown)}; known: {', '.join(sorted(systems))}")
    root.mkdir(parents=True, exist_ok=True)
    (root / MANIFEST).unlink(missing_ok=True)
    sinks = []
    for department_id in chosen:
        directory = root / department_id
        if directory.exists():
            shutil.rmtree(directory)
        directory.mkdir(parents=True)
        sinks.append(systems[department_id].sink(directory, population))
    write_population(_Fanout(sinks), population, progress)
    manifest = PopulationManifest(persons, seed, as_of, population.employers_total, tuple(chosen))
    record = asdict(manifest) | {"as_of": as_of.isoformat()}
    (root / MANIFEST).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return manifest


def write_population(
    sink: LegacySink, population: Population, progress: Callable[[int], None] | None = None
) -> None:
    """Stream ``population`` into ``sink`` (households, then employers) and close it."""
    written = 0
    for household in population.households():
        sink.add_household(household)
        written += len(household.members)
        if progress is not None:
            progress(written)
    for employer in population.employers():
        sink.add_employer(employer)
    sink.close()


class _Fanout:
    """One pass of the generator feeds every sink."""

    def __init__(self, sinks: Sequence[LegacySink]) -> None:
        self._sinks = sinks

    def add_household(self, household: Household) -> None:
        for sink in self._sinks:
            sink.add_household(household)

    def add_employer(self, employer: Employer) -> None:
        for sink in self._sinks:
            sink.add_employer(employer)

    def close(self) -> None:
        for sink in self._sinks:
            sink.close()


@contextmanager
def running(root: Path, departments: Sequence[str] | None = None) -> Iterator[dict[str, RunningSystem]]:
    """Start the simulated systems whose stores are under ``root``; stop them on exit."""
    manifest = read_manifest(root)
    if manifest is None:
        raise FileNotFoundError(f"no simulated legacy data in {root}: run `exchange demo-data` first")
    missing = sorted(set(departments or ()) - set(manifest.departments))
    if missing:
        raise FileNotFoundError(f"no simulated legacy data for {', '.join(missing)} in {root}")
    systems = simulators()
    with ExitStack() as stack:
        started: dict[str, RunningSystem] = {}
        for department_id in departments or manifest.departments:
            system = systems[department_id].start(root / department_id)
            stack.callback(system.close)
            started[department_id] = system
        yield started
