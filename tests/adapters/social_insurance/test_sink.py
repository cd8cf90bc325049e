"""The sink streams the population into the store in bounded memory, fast, and keeps the app secret private."""

from __future__ import annotations

import json
import sqlite3
import stat
import time
import tracemalloc
from pathlib import Path

import pytest

from adapters.population import Household, Population
from adapters.social_insurance.simulator import CREDENTIALS_FILE, DB_FILE, SocialInsuranceSink

from . import truth


@pytest.fixture(scope="module")
def generated() -> tuple[Population, list[Household]]:
    """4,000 persons generated once, outside the measurements (the first 1,000 are a smaller population)."""
    population = Population(4_000)
    return population, list(population.households())


def _feed(root: Path, population: Population, households: list[Household], persons: int, batch: int) -> float:
    """Stream the first ``persons`` into a new store; the CPU seconds spent adding them (fixed costs such
    as the schema, the credentials and the index build at close are not per person)."""
    sink = SocialInsuranceSink(root, population, batch_rows=batch)
    fed, spent = 0, 0.0
    for household in households:
        if fed >= persons:
            break
        started = time.process_time()
        sink.add_household(household)
        spent += time.process_time() - started
        fed += len(household.members)
    for employer in population.employers():
        sink.add_employer(employer)
    sink.close()
    return spent


def _peak(root: Path, generated: tuple[Population, list[Household]], persons: int) -> int:
    tracemalloc.start()
    try:
        _feed(root, *generated, persons=persons, batch=200)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_population(tmp_path: Path, generated):
    small = _peak(tmp_path / "small", generated, 1_000)
    large = _peak(tmp_path / "large", generated, 4_000)
    assert large < small * 1.25, (small, large)


def test_the_store_holds_spans_not_months_and_only_insured_persons(store: Path, population: Population):
    with sqlite3.connect(store / DB_FILE) as db:
        persons = dict(db.execute("SELECT aac002, aac008 FROM ac01"))
        spans = db.execute("SELECT COUNT(*) FROM ac02").fetchone()[0]
        indexes = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        mode = db.execute("PRAGMA journal_mode").fetchone()[0]
    insured = [p for p in population.persons_iter() if truth.is_insured(p, population)]
    assert set(persons) == {p.citizen_id for p in insured}
    expected = sum(
        4 + (job.start <= truth.MATERNITY_LAST)
        for p in insured
        for job in truth.registered_jobs(p, population)
    )
    assert spans == expected
    assert {"ac01_aac002", "ac01_chg_seq", "ab01_aab998", "ac02_open_pension"} <= indexes
    assert mode == "wal"


def test_the_app_secret_is_in_an_owner_only_file_and_nowhere_else(store: Path):
    path = store / CREDENTIALS_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    credentials = json.loads(path.read_text(encoding="utf-8"))
    assert set(credentials) == {"app_key", "app_secret"} and len(credentials["app_secret"]) >= 32
    assert credentials["app_secret"].encode() not in (store / DB_FILE).read_bytes()
