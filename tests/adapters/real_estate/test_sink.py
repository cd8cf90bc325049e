"""The sink: the store it writes, its quirks, its indexes, its bounded memory; bad stored rows."""

from __future__ import annotations

import sqlite3
import stat
import statistics
import time
import tracemalloc
from collections import deque
from contextlib import closing
from pathlib import Path

import pytest

from adapters.base import Subject
from adapters.errors import BadLegacyData
from adapters.population import Population
from adapters.real_estate.datasets import PERSONAL, TITLE
from adapters.real_estate.simulator import (
    _BY_OWNER,
    _BY_UNIT,
    _CHANGED_AFTER,
    APP_KEY_FILE,
    SIMULATOR,
    STORE,
    RegistrySink,
)
from tests.adapters.real_estate.conftest import build_register, quick_guard
from tests.adapters.real_estate.truth import properties


def query(registry, sql: str, *params) -> list[tuple]:
    with closing(sqlite3.connect(registry.root / STORE)) as db:
        return db.execute(sql, params).fetchall()


def test_the_store_holds_every_title_and_owner(registry, population):
    props = list(properties(population))
    assert query(registry, "SELECT COUNT(*) FROM djxx") == [(len(props),)]
    assert query(registry, "SELECT COUNT(*) FROM qlr") == [(sum(len(p.owners) for p in props),)]


def test_the_store_really_holds_the_legacy_quirks(registry):
    """The truth tests pass through these, so they must be there."""
    shares = {row[0] for row in query(registry, "SELECT DISTINCT qlbl FROM qlr")}
    assert {"50%", "0.5", "1/2", "100%", "1", "1/1"} <= shares
    assert query(registry, "SELECT COUNT(*) FROM qlr WHERE zjh LIKE '%x'")[0][0] > 0
    assert query(registry, "SELECT COUNT(*) FROM djxx WHERE zl GLOB '*[０-９]*'")[0][0] > 0
    assert query(registry, "SELECT COUNT(*) FROM djxx WHERE bdcqzh LIKE '%（%'")[0][0] > 0
    assert {row[0] for row in query(registry, "SELECT DISTINCT qszt FROM djxx")} >= {"1", "2", "现势"}
    assert query(registry, "SELECT COUNT(*) FROM djxx WHERE jzmj LIKE '%.____'")[0][0] > 0
    assert query(registry, "SELECT COUNT(*) FROM djxx WHERE length(djsj) = 10")[0][0] > 0


@pytest.mark.parametrize(
    ("sql", "params", "index"),
    [
        (_BY_UNIT, ("330102001001GB00001F00231264",), "djxx_bdcdyh"),
        (_BY_OWNER, ("330102196305315532", "330102196305315532"), "qlr_zjh"),
        (_CHANGED_AFTER, (0, 10), "INTEGER PRIMARY KEY"),
    ],
)
def test_lookups_use_the_indexes(registry, sql, params, index):
    steps = [row[-1] for row in query(registry, f"EXPLAIN QUERY PLAN {sql}", *params)]
    assert any(index in step for step in steps), steps
    materialized = {step.split()[-1] for step in steps if step.startswith(("MATERIALIZE", "CO-ROUTINE"))}
    scanned = {step.split()[1] for step in steps if step.startswith("SCAN")}
    assert scanned <= materialized, steps  # only the few rows already selected are scanned


def test_lookups_answer_in_a_few_milliseconds(registry, population):
    adapter = registry.adapter()
    units = [Subject.parse("property_unit", p.unit_number) for p in list(properties(population))[:40]]
    timings = []
    for subject in units:
        started = time.perf_counter()
        adapter.lookup(TITLE, subject, ["status"])
        timings.append(time.perf_counter() - started)
    assert statistics.median(timings) < 0.02


def test_the_application_key_file_is_private(registry):
    mode = stat.S_IMODE((registry.root / APP_KEY_FILE).stat().st_mode)
    assert mode == 0o600


def _sink_peak(root: Path, persons: int) -> int:
    """Peak traced memory of the sink while households stream through it and are then dropped.

    The households are generated before tracing starts (tracing the generator is slow) and each is
    released once written, as ``adapters.simulation.generate`` does.
    """
    population = Population(persons)
    pending = deque(population.households())
    tracemalloc.start()
    try:
        sink = RegistrySink(root, population, batch_rows=200)
        while pending:
            sink.add_household(pending.popleft())
        sink.close()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_sink_memory_does_not_grow_with_the_population(tmp_path):
    small = _sink_peak(tmp_path / "small", 1_000)
    large = _sink_peak(tmp_path / "large", 4_000)
    assert large < small * 1.3 + 64 * 1024, (small, large)


# --- rows that went bad in the store itself ----------------------------------------------------


@pytest.fixture(scope="module")
def damaged(tmp_path_factory):
    """A small register whose store rows were damaged (a bad migration, a hand edit)."""
    population = Population(40)
    root = build_register(tmp_path_factory.mktemp("real_estate_damaged") / "registry", population)
    props = list(properties(population))
    assert len(props) >= 5
    damage = [
        ("UPDATE qlr SET qlbl = '1/3' WHERE bdcdyh = ? AND sxh = 1", "dj:QLR[1]/dj:QLBL"),
        ("UPDATE qlr SET zjh = substr(zjh, 1, 17) || 'Z' WHERE bdcdyh = ? AND sxh = 1", "dj:QLR[1]/dj:ZJH"),
        ("UPDATE djxx SET djsj = '2019-13-01' WHERE bdcdyh = ?", "dj:DJSJ"),
        ("UPDATE djxx SET ghyt = '住宅' WHERE bdcdyh = ?", "dj:GHYT"),
        ("UPDATE djxx SET jzmj = '８９．５０平方米' WHERE bdcdyh = ?", "dj:JZMJ"),
    ]
    with closing(sqlite3.connect(root / STORE)) as db:
        for (sql, _), prop in zip(damage, props, strict=False):
            db.execute(sql, (prop.unit_number,))
        db.commit()
    system = SIMULATOR.start(root)
    yield system, [(prop, where) for (_, where), prop in zip(damage, props, strict=False)]
    system.close()


def test_bad_stored_rows_are_reported_with_the_record(damaged):
    system, cases = damaged
    for prop, where in cases:
        adapter = system.adapter(guard=quick_guard())  # a fresh circuit per case
        with pytest.raises(BadLegacyData) as caught:
            adapter.lookup(TITLE, Subject.parse("property_unit", prop.unit_number), ["status"])
        assert where in caught.value.row and prop.unit_number in caught.value.row, caught.value.row
        if "ZJH" not in where:  # the damaged owner can no longer be found by the right number
            with pytest.raises(BadLegacyData):
                adapter.lookup(PERSONAL, Subject.parse("id_card", prop.owners[0].citizen_id), ["properties"])
