"""Legacy systems failing the ways real ones do, seen through the hub's HTTP API (issue 10, item 2).

The embedded hub (create_app over a bootstrapped home) with the four simulated departments, each
reached through its real legacy interface: a SQLite front-end database, a GBK file drop, an HTTP
JSON API and an XML-over-HTTP service on loopback sockets. Every department, every fault: the
consumer gets 503, 504 or 502 as RFC 9457 problem details with the request id and no personal data,
within the legacy timeout (0.5 s here) plus a margin; a circuit opens after the configured number of
failures (3 here) and closes after the configured reset (1 s here); one department failing leaves
the others answering; nothing is left stuck. test_legacy_faults_gateways.py does the same with
departments behind their own gateway processes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from adapters.base import Subject
from adapters.registry import DEPARTMENTS
from adapters.simulation import Fault, RunningSystem
from certs.keys import load_private_key
from exchange.api.app import create_app
from exchange.bootstrap import bootstrap
from exchange.db.engine import engine_for
from tests.reliability.legacy_faults import (
    EXPECTED,
    MARGIN,
    RESET,
    SLOW_DELAY,
    TIMEOUT,
    Asker,
    assert_nothing_stuck,
    assert_problem,
    check_fault,
    citizen,
    hub_settings,
    threads_in_adapters,
)

pytestmark = pytest.mark.filterwarnings("ignore:EdDSA is deprecated")


@dataclass
class EmbeddedHub:
    asker: Asker
    client: TestClient
    systems: dict[str, RunningSystem]

    def inject(self, department: str, fault: Fault, subject: Subject | None = None) -> None:
        self.systems[department].inject(fault, subject, delay=SLOW_DELAY)


@pytest.fixture(scope="module")
def hub(
    tmp_path_factory: pytest.TempPathFactory, module_database_env: dict[str, str]
) -> Iterator[EmbeddedHub]:
    settings = hub_settings(tmp_path_factory.mktemp("legacy-faults") / "home", module_database_env)
    engine = engine_for(settings)
    bootstrap(settings, engine)
    engine.dispose()
    with TestClient(create_app(settings)) as client:
        systems = client.app.state.hub.simulated
        assert set(systems) == set(DEPARTMENTS)
        key = load_private_key(settings.demo_dir / "consumer.key")
        yield EmbeddedHub(Asker(client, key, citizen()), client, systems)


@pytest.fixture
def healthy(hub: EmbeddedHub) -> Iterator[EmbeddedHub]:
    """Afterwards every department is healed and answering again (its circuit closed), whatever the test did."""
    yield hub
    for system in hub.systems.values():
        system.heal()
    for department in DEPARTMENTS:
        hub.asker.answered(department, within=RESET + MARGIN)


@pytest.mark.parametrize("department", list(DEPARTMENTS))
def test_each_fault_of_each_department_is_its_problem_within_the_timeout(healthy: EmbeddedHub, department):
    for fault in EXPECTED:
        check_fault(healthy.asker, department, fault, healthy.systems[department])


@pytest.mark.parametrize("department", list(DEPARTMENTS))
def test_the_circuit_opens_after_fail_max_failures_and_closes_after_the_reset(
    healthy: EmbeddedHub, department
):
    asker, private = healthy.asker, healthy.asker.who.private
    healthy.inject(department, Fault.TIMEOUT)  # hangs: not retried, so each request is one failure
    try:
        for _ in range(3):  # EXCHANGE_LEGACY_CIRCUIT_FAIL_MAX
            response, elapsed = asker.query(department)
            assert_problem(response, 504, "legacy-timeout", private=private)
        for _ in range(2):  # open: 503 at once, the hanging system is not asked (that would take 0.5 s)
            response, elapsed = asker.query(department)
            assert_problem(response, 503, "legacy-unavailable", private=private)
            assert elapsed < TIMEOUT / 2
        opened = time.monotonic()
        others = [d for d in DEPARTMENTS if d != department]
        assert all(asker.query(other)[0].status_code == 200 for other in others)  # one circuit each
    finally:
        healthy.systems[department].heal()
    response, elapsed = asker.query(department)
    if time.monotonic() - opened < RESET * 0.8:  # healed, but the circuit has not let a trial through yet
        assert_problem(response, 503, "legacy-unavailable", private=private)
        assert elapsed < TIMEOUT / 2
    time.sleep(max(0.0, RESET - (time.monotonic() - opened)) + 0.05)
    for _ in range(2):  # the trial call succeeds and closes the circuit; normal answers resume
        response, elapsed = asker.query(department)
        assert response.status_code == 200, response.text
    assert_nothing_stuck(asker.client)


@pytest.mark.parametrize("department", list(DEPARTMENTS))
def test_other_departments_answer_while_one_hangs(healthy: EmbeddedHub, department):
    asker = healthy.asker
    asker.query(department)  # warm: the first query of a department may set up its connections
    healthy.inject(department, Fault.TIMEOUT)
    others = [d for d in DEPARTMENTS if d != department]
    asked = [department] * 4 + others * 2
    try:
        with ThreadPoolExecutor(len(asked)) as pool:
            answers = list(pool.map(asker.query, asked))
    finally:
        healthy.systems[department].heal()
    for who, (response, elapsed) in zip(asked, answers, strict=True):
        if who == department:  # 504, or 503 once the circuit opened under the others' failures
            assert response.status_code in (503, 504), response.text
            assert elapsed < TIMEOUT + MARGIN
        else:
            assert response.status_code == 200, f"{who} while {department} hangs: {response.text}"
            assert elapsed < MARGIN
    assert_nothing_stuck(asker.client)


def test_a_request_waiting_on_a_legacy_system_holds_no_database_connection(healthy: EmbeddedHub):
    """The hub's connection pool (5 + 10 by default) is every department's: a request that held its
    connection while a legacy system hung let fifteen such requests stall all the others."""
    engine = healthy.client.app.state.hub.engine
    healthy.inject("social_insurance", Fault.TIMEOUT)
    try:
        with ThreadPoolExecutor(1) as pool:
            waiting = pool.submit(healthy.asker.query, "social_insurance")
            held = []
            while not waiting.done():
                if threads_in_adapters():  # the request is inside the legacy call now
                    held.append(engine.pool.checkedout())
                time.sleep(0.01)
            assert waiting.result()[0].status_code == 504
    finally:
        healthy.systems["social_insurance"].heal()
    assert held, "the request was never seen inside the legacy call"
    assert min(held) == 0, f"connections checked out while the legacy system hung: {held}"
