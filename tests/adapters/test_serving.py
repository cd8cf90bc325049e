"""Each simulated legacy system as its own process (`exchange legacy serve`), reached with connect().

The service runs as a real subprocess over its own legacy directory; the test process plays the
department gateway: it connects through the URL (HTTP systems) or the shared directory (file-based
ones), looks a known subject up, reads a page of the change feed, then stops the service with SIGTERM.
"""

from __future__ import annotations

import itertools
import subprocess
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.base import AccessMethod, Subject, SubjectType
from adapters.population import Population, in_all_systems
from adapters.registry import DEPARTMENTS
from adapters.resilience import LegacyGuard
from adapters.simulation import connect, generate, read_manifest, serve
from exchange.cli.main import app
from tests import processes

PERSONS = 60
READY = "legacy system serving"
HTTP = {"social_insurance", "real_estate"}
FILES = {"household", "tax"}
READY_LIMIT = processes.STARTUP_LIMIT  # seconds to generate the store and print READY: a hang guard


def _known_citizen_id() -> str:
    population = Population(PERSONS)
    for household in population.households():
        for person in household.members:
            if in_all_systems(person, household):
                return person.citizen_id
    raise AssertionError(f"nobody of {PERSONS} persons is known to every department")


def _launch(department_id: str, base: Path, port: int) -> processes.Server:
    """`exchange legacy serve` as a subprocess over its own legacy directory ``base/<department>``."""
    log = base / f"{department_id}.log"
    args = [
        "legacy",
        "serve",
        "--department",
        department_id,
        "--port",
        str(port),
        "--legacy-dir",
        str(base / department_id),
        "--persons",
        str(PERSONS),
    ]
    env = processes.clean_env(EXCHANGE_HOME=str(base / "home"))
    with log.open("w", encoding="utf-8") as output:
        process = subprocess.Popen(
            [processes.exchange_exe(), *args],
            stdout=output,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=base,
            preexec_fn=processes.die_with_parent,
        )
    return processes.Server(process, f"http://127.0.0.1:{port}", log, env)


def _await_ready(service: processes.Server) -> str:
    """What the service printed once it says where its interface is (file systems have no /health)."""
    deadline = time.monotonic() + READY_LIMIT
    while time.monotonic() < deadline:
        printed = service.log.read_text(encoding="utf-8", errors="replace")
        if READY in printed:
            return printed
        if service.process.poll() is not None:
            pytest.fail(f"exchange legacy serve exited with {service.process.returncode}:\n{service.tail()}")
        time.sleep(0.05)
    service.stop()
    pytest.fail(f"exchange legacy serve printed no {READY!r} in {READY_LIMIT} s:\n{service.tail()}")


def _answers_like_a_gateway(department_id: str, legacy: Path, url: str | None) -> None:
    """connect() from this process: one lookup of a subject every department knows, one feed page."""
    guard = LegacyGuard("serving-test", retries=0, fail_max=10_000)
    adapter = connect(legacy, department_id, url=url, guard=guard, timeout=5)
    subject = Subject.parse("id_card", _known_citizen_id())
    dataset = next(
        d
        for d in adapter.datasets()
        if AccessMethod.QUERY in d.access_methods and SubjectType.ID_CARD in d.subject_types
    )
    names = [item.name for item in dataset.items]
    values = adapter.lookup(dataset.code, subject, names)
    assert list(values) == names, department_id
    assert any(value not in (None, "", []) for value in values.values()), department_id
    page = list(itertools.islice(adapter.changes_since(None), 20))
    assert page and all(change.watermark for change in page), department_id
    close = getattr(adapter, "close", None)
    if close is not None:
        close()


@pytest.mark.parametrize("department_id", list(DEPARTMENTS))
def test_a_served_system_answers_a_gateway_in_another_process(department_id: str, tmp_path: Path):
    port = processes.free_port()
    service = _launch(department_id, tmp_path, port)
    try:
        printed = _await_ready(service)
        legacy = tmp_path / department_id
        if department_id in HTTP:
            url: str | None = f"http://127.0.0.1:{port}"
            assert f"{department_id} legacy system serving on {url}" in printed
        else:
            url = None
            assert f"{department_id} legacy system serving at {legacy / department_id}" in printed
        _answers_like_a_gateway(department_id, legacy, url)
    finally:
        code = service.stop()
    assert code == 0, service.tail()
    assert f"{department_id} legacy system stopped (SIGTERM)" in service.tail()


def test_the_store_is_generated_once_and_joins_the_directory_population(tmp_path: Path):
    """A second service in the same directory keeps the first department's store and population."""
    legacy = tmp_path / "legacy"
    generate(legacy, PERSONS, departments=["tax"])
    before = (legacy / "tax" / "outbox").stat().st_mtime_ns
    generate(legacy, PERSONS, departments=["household"])
    manifest = read_manifest(legacy)
    assert manifest is not None and manifest.departments == ("tax", "household")
    assert (legacy / "tax" / "outbox").stat().st_mtime_ns == before
    with serve(legacy, "tax", host="127.0.0.1", port=0), serve(legacy, "household", host="127.0.0.1", port=0):
        pass


@pytest.mark.parametrize("department_id", sorted(HTTP))
def test_connecting_to_an_http_system_needs_its_url(department_id: str, tmp_path: Path):
    with pytest.raises(ValueError, match=rf"{department_id} system is an HTTP service: .*needs the url"):
        connect(tmp_path, department_id)


@pytest.mark.parametrize("department_id", sorted(FILES))
def test_a_file_based_system_takes_no_url(department_id: str, tmp_path: Path):
    with pytest.raises(ValueError, match=rf"{department_id} system has no network interface"):
        connect(tmp_path, department_id, url="http://127.0.0.1:1")


@pytest.mark.parametrize("department_id", list(DEPARTMENTS))
def test_serving_or_connecting_without_a_store_says_how_to_get_one(department_id: str, tmp_path: Path):
    hint = rf"no simulated {department_id} system in .*exchange legacy serve --department {department_id}"
    with (
        pytest.raises(FileNotFoundError, match=hint),
        serve(tmp_path, department_id, host="127.0.0.1", port=0),
    ):
        pass
    url = "http://127.0.0.1:1" if department_id in HTTP else None
    with pytest.raises(FileNotFoundError, match=hint):
        connect(tmp_path, department_id, url=url)


def test_an_unknown_department_is_named():
    with pytest.raises(ValueError, match="unknown department 'police'; known: "):
        connect(Path("."), "police")
    result = CliRunner().invoke(app, ["legacy", "serve", "--department", "police"])
    assert result.exit_code == 1 and "unknown department 'police'" in result.output
