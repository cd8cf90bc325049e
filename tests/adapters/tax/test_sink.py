"""The sink streams: its memory does not grow with the population."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

from adapters.population import Population
from adapters.tax.simulator import SIMULATOR


def _peak_while_sinking(root: Path, persons: int) -> int:
    population = Population(persons)
    households = list(population.households())  # generated before tracing: only the sink is measured
    employers = list(population.employers())
    tracemalloc.start()
    try:
        sink = SIMULATOR.sink(root, population)
        for household in households:
            sink.add_household(household)
        for employer in employers:
            sink.add_employer(employer)
        sink.close()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_sink_memory_does_not_grow_with_population(tmp_path: Path):
    small = _peak_while_sinking(tmp_path / "small", 2_000)
    large = _peak_while_sinking(tmp_path / "large", 8_000)
    assert large < small * 1.25 + 64 * 1024, (small, large)
    assert sum(p.stat().st_size for p in (tmp_path / "large" / "outbox").iterdir()) > 3 * sum(
        p.stat().st_size for p in (tmp_path / "small" / "outbox").iterdir()
    )
