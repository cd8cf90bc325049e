"""The simulated legacy systems: one contract for all four, and the generator that fills them.

Each department package has a ``simulator`` module exposing ``SIMULATOR``, a
:class:`SimulatedSystem`. It renders the shared synthetic population (:mod:`adapters.population`)
in its own legacy form under ``root`` (``$EXCHANGE_HOME/legacy/<department>``), and starts the
legacy interface there (a front-end database, a batch-file drop, an HTTP service). The adapter it
hands out reaches the system only through that interface, as it would in production.

:func:`running` starts systems in this process (the embedded hub, the tests). For a deployment with
one process per system, :func:`serve` starts one department's system (``exchange legacy serve``)
and :func:`connect` builds, in another process (the department gateway), the adapter that reaches
it: by URL for the HTTP systems, through the shared directory for the file-based ones.

The demo, the tests and the benchmarks use the same simulators; tests and benchmarks also use
:meth:`RunningSystem.inject` to make a legacy system fail the way real ones do.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import date
from enum import StrEnum
from importlib import import_module
from pathlib import Path
from typing import Protocol

from adapters.base import Adapter, Department, Subject
from adapters.population import DEFAULT_AS_OF, DEFAULT_SEED, Employer, Household, Population
from adapters.resilience import LegacyGuard

MANIFEST = "population.json"
GENERATION_LOCK = ".generate.lock"


class Fault(StrEnum):
    """Ways a legacy system fails, each mapped by the adapter to one typed error."""

    UNAVAILABLE = "unavailable"  # -> LegacyUnavailable
    TIMEOUT = "timeout"  # -> LegacyTimeout: it hangs until healed
    GARBAGE = "garbage"  # -> BadLegacyData naming the row
    SLOW = "slow"  # answers right, but ``delay`` seconds late: LegacyTimeout when the deadline is shorter
    WRONG_ENCODING = "wrong_encoding"  # text in another encoding than the interface's -> BadLegacyData


SLOW_SECONDS = 3.0  # how late a SLOW system answers unless told otherwise


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

    def inject(self, fault: Fault, subject: Subject | None = None, *, delay: float = SLOW_SECONDS) -> None:
        """Make the legacy system fail. ``GARBAGE`` corrupts the legacy record of ``subject``
        (every record when None) the way that system's data goes bad; ``WRONG_ENCODING`` delivers
        the subject's record (every record when None) in an encoding the interface does not
        declare; ``SLOW`` makes the system answer ``delay`` seconds late (really waiting: a lock
        held, a transfer still running, a response trickling in), then answer correctly."""
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
    network: bool
    """True: the legacy interface is an HTTP service; False: it is the files in the store directory."""

    def sink(self, root: Path, population: Population) -> LegacySink:
        """A writer that creates this system's store in the empty directory ``root``."""
        ...

    def start(self, root: Path, *, host: str = "127.0.0.1", port: int = 0) -> RunningSystem:
        """Start the legacy interface over the store in ``root`` (written by :meth:`sink`).

        An HTTP system binds ``host:port`` (``port`` 0: a free one); a file-based system has no
        network interface and ignores both. Raises ``FileNotFoundError`` when ``root`` holds no store.
        """
        ...

    def connect(
        self,
        root: Path,
        *,
        url: str | None,
        guard: LegacyGuard | None = None,
        timeout: float | None = None,
    ) -> Adapter:
        """An adapter reaching the system started over ``root`` by another process; starts nothing.

        ``url`` is the base URL of an HTTP system (required) and None for a file-based one; the
        credentials an HTTP system issued are read from ``root``. Raises ``ValueError`` when ``url``
        does not fit the system.
        """
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

    def same_population(self, persons: int, seed: int, as_of: date) -> bool:
        return (self.persons, self.seed, self.as_of) == (persons, seed, as_of)


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
    """Stream a population of ``persons`` into the simulated systems under ``root/<department>``
    (all four, or ``departments``).

    The chosen departments' existing stores are replaced; other departments' stores are never
    touched. They stay listed in the manifest when it describes the same population (persons, seed,
    as of), so one department can be (re)generated in a directory shared with others; otherwise the
    manifest lists only the chosen ones. The population is generated once and fed to all sinks
    household by household; ``progress`` is called with the persons written so far. The manifest
    is written last (atomically), so an interrupted run leaves the chosen departments unlisted and
    they are redone. Generations in one directory take turns (a lock file).
    """
    population = Population(persons, seed=seed, as_of=as_of)
    systems = simulators()
    chosen = list(departments or systems)
    unknown = sorted(set(chosen) - set(systems))
    if unknown:
        raise ValueError(f"unknown department(s) {', '.join(unknown)}; known: {', '.join(sorted(systems))}")
    root.mkdir(parents=True, exist_ok=True)
    with _exclusive(root / GENERATION_LOCK):
        previous = read_manifest(root)
        kept: tuple[str, ...] = ()
        if departments and previous is not None and previous.same_population(persons, seed, as_of):
            kept = tuple(d for d in previous.departments if d not in chosen)
        if kept:  # the others stay listed while the chosen ones are rewritten
            _write_manifest(root, replace(previous, departments=kept))
        else:
            (root / MANIFEST).unlink(missing_ok=True)
        sinks = []
        for department_id in chosen:
            directory = root / department_id
            if directory.exists():
                shutil.rmtree(directory)
            directory.mkdir(parents=True)
            sinks.append(systems[department_id].sink(directory, population))
        write_population(_Fanout(sinks), population, progress)
        manifest = PopulationManifest(persons, seed, as_of, population.employers_total, (*kept, *chosen))
        _write_manifest(root, manifest)
    return manifest


def _write_manifest(root: Path, manifest: PopulationManifest) -> None:
    """Replace the manifest atomically: a process reading it meanwhile sees the old or the new one."""
    record = asdict(manifest) | {"as_of": manifest.as_of.isoformat()}
    staged = root / f".{MANIFEST}.{os.getpid()}"
    staged.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    os.replace(staged, root / MANIFEST)


@contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on ``path`` (created if missing), held for the block."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


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


@contextmanager
def serve(root: Path, department_id: str, *, host: str, port: int) -> Iterator[RunningSystem]:
    """Start one department's simulated system over its store in ``root/<department_id>``; stop it on exit.

    ``root`` is a directory :func:`generate` wrote (its manifest lists the department). An HTTP
    system (social_insurance, real_estate) binds ``host:port``; a file-based one (household, tax)
    has no network interface: its interface is the files under ``root/<department_id>``, which other
    processes reach through a shared directory, so nothing is bound. Used by ``exchange legacy serve``.

    Raises ``ValueError`` for an unknown department and ``FileNotFoundError`` when ``root`` holds
    no store of it.
    """
    simulator = _simulator(department_id)
    system = simulator.start(_store(root, department_id), host=host, port=port)
    try:
        yield system
    finally:
        system.close()


def connect(
    root: Path,
    department_id: str,
    *,
    url: str | None = None,
    guard: LegacyGuard | None = None,
    timeout: float | None = None,
) -> Adapter:
    """An adapter reaching a system that another process serves (:func:`serve`); starts nothing.

    ``root`` is the legacy directory the serving process uses (a shared volume). For an HTTP system
    ``url`` is its base URL (``exchange legacy serve`` prints it) and the credentials it issued are
    read from ``root/<department_id>``; a file-based system takes no ``url``: the adapter reads its
    files (the tax adapter stages into ``root/tax/adapter``, which only adapters write).
    ``guard`` and ``timeout`` as for :meth:`RunningSystem.adapter`.

    Raises ``ValueError`` for an unknown department or a ``url`` that does not fit the system, and
    ``FileNotFoundError`` when ``root`` holds no (complete) store of the department yet.
    """
    simulator = _simulator(department_id)
    if simulator.network and url is None:
        raise ValueError(
            f"the {department_id} system is an HTTP service: connect() needs the url it is served on "
            f"(`exchange legacy serve --department {department_id}` prints it)"
        )
    if not simulator.network and url is not None:
        raise ValueError(
            f"the {department_id} system has no network interface (its interface is the files under "
            f"{root / department_id}): connect() takes no url for it, got {url!r}"
        )
    return simulator.connect(_store(root, department_id), url=url, guard=guard, timeout=timeout)


def _simulator(department_id: str) -> SimulatedSystem:
    systems = simulators()
    try:
        return systems[department_id]
    except KeyError:
        known = ", ".join(sorted(systems))
        raise ValueError(f"unknown department {department_id!r}; known: {known}") from None


def _store(root: Path, department_id: str) -> Path:
    """``root/<department_id>`` once its generation is complete (the manifest lists it)."""
    manifest = read_manifest(root)
    if manifest is None or department_id not in manifest.departments:
        raise FileNotFoundError(
            f"no simulated {department_id} system in {root} (yet): `exchange legacy serve --department "
            f"{department_id} --legacy-dir {root}` generates one, or `exchange demo-data`"
        )
    return root / department_id
