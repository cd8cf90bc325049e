"""What the legacy-fault tests share: the hub's settings, signed questions, and the checks of a problem
answer, of its time bound and of nothing left stuck (issue 10, item 2)."""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from prometheus_client import REGISTRY

import adapters
from adapters.base import Subject
from adapters.population import Population, in_all_systems
from adapters.registry import declared_datasets
from adapters.simulation import Fault, RunningSystem
from certs import jose
from certs.jwk import jwk_thumbprint
from certs.keys import PrivateKey
from exchange.config import Settings
from exchange.demo import DEMO_CLIENT_ID, DEMO_MATTER, DEMO_PURPOSE

TIMEOUT = 0.5  # EXCHANGE_LEGACY_TIMEOUT_SECONDS of every hub and gateway here
MARGIN = 2.0  # what a shared 2-core machine may add to a bound
FAIL_MAX = 3  # EXCHANGE_LEGACY_CIRCUIT_FAIL_MAX
RESET = 1.0  # EXCHANGE_LEGACY_CIRCUIT_RESET_SECONDS
RETRIES = 1  # EXCHANGE_LEGACY_RETRIES: an unavailable system costs two failures, the others one
SLOW_DELAY = TIMEOUT + MARGIN + 1.0  # a SLOW system answers only after the hub must have answered
PERSONS = 60

# One query resource per department, keyed by the citizen ID, every item asked.
RESOURCES = {
    "household": "301001001-000001",
    "tax": "302001001-000001",
    "social_insurance": "303001001-000001",
    "real_estate": "304002001-000001",
}
# Each fault: the status and problem type the consumer must see.
EXPECTED = {
    Fault.UNAVAILABLE: (503, "legacy-unavailable"),
    Fault.TIMEOUT: (504, "legacy-timeout"),
    Fault.SLOW: (504, "legacy-timeout"),
    Fault.GARBAGE: (502, "legacy-bad-data"),
    Fault.WRONG_ENCODING: (502, "legacy-bad-data"),
}
ADAPTER_CODE = str(Path(adapters.__file__).parent)


def hub_settings(home: Path, database: dict[str, str], **overrides: Any) -> Settings:
    """A hub that gives up on a legacy call after TIMEOUT and trips a circuit after FAIL_MAX failures."""
    return Settings(
        home=home,
        database_url=database.get("EXCHANGE_DATABASE_URL", ""),
        demo_persons=PERSONS,
        demo_grants=True,
        legacy_timeout_seconds=TIMEOUT,
        legacy_circuit_fail_max=FAIL_MAX,
        legacy_circuit_reset_seconds=RESET,
        legacy_retries=RETRIES,
        **overrides,
    )


def legacy_env() -> dict[str, str]:
    """The same policy for a gateway process, as environment variables."""
    return {
        "EXCHANGE_LEGACY_TIMEOUT_SECONDS": str(TIMEOUT),
        "EXCHANGE_LEGACY_CIRCUIT_FAIL_MAX": str(FAIL_MAX),
        "EXCHANGE_LEGACY_CIRCUIT_RESET_SECONDS": str(RESET),
        "EXCHANGE_LEGACY_RETRIES": str(RETRIES),
    }


@dataclass(frozen=True)
class Citizen:
    """Someone every department knows, and what must never appear in a problem answer."""

    citizen_id: str
    name: str

    @property
    def subject(self) -> Subject:
        return Subject.parse("id_card", self.citizen_id)

    @property
    def private(self) -> tuple[str, ...]:
        return (self.citizen_id, self.citizen_id.lower(), self.name)


def citizen() -> Citizen:
    for household in Population(PERSONS).households():
        for person in household.members:
            if in_all_systems(person, household):
                return Citizen(person.citizen_id, person.name)
    raise AssertionError(f"nobody is known to every department in {PERSONS} persons")


class Asker:
    """Signed queries of the demo consumer (DESIGN.md "Signed request") to one hub."""

    def __init__(self, client: httpx.Client, key: PrivateKey, who: Citizen) -> None:
        self.client, self.key, self.who = client, key, who

    def query(self, department: str) -> tuple[httpx.Response, float]:
        """The answer to a query of every item of the department's resource, and how long it took."""
        code = RESOURCES[department]
        items = [item.name for item in next(d for d in declared_datasets(department) if d.code == code).items]
        now = int(time.time())
        claims = {
            "iss": DEMO_CLIENT_ID,
            "aud": "exchange-hub",
            "iat": now,
            "exp": now + 60,
            "jti": uuid.uuid4().hex,
            "resource": code,
            "subject": {"type": "id_card", "value": self.who.citizen_id},
            "fields": items,
            "matter_code": DEMO_MATTER,
            "purpose": DEMO_PURPOSE,
            "operator": {"id": "clerk-007", "name": "李窗口"},
        }
        body = jose.sign(
            claims, self.key, typ="exchange-request+jwt", kid=jwk_thumbprint(self.key.public_key())
        )
        started = time.monotonic()
        response = self.client.post(
            f"/v1/query/{code}", content=body.encode(), headers={"Content-Type": "application/jwt"}
        )
        return response, time.monotonic() - started

    def answered(self, department: str, *, within: float) -> float:
        """Wait (up to ``within`` seconds: an open circuit's reset) until a query answers 200 again;
        how long the successful one took."""
        deadline = time.monotonic() + within
        while True:
            response, elapsed = self.query(department)
            if response.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert response.status_code == 200, f"{department} did not recover: {response.text}"
        return elapsed


def assert_problem(response: httpx.Response, status: int, slug: str, *, private: Sequence[str]) -> None:
    """RFC 9457 with the request id; the kind of failure only, no personal or legacy detail."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"].endswith(f"/problems/{slug}"), problem
    assert problem["status"] == status and problem["title"] and problem["detail"]
    assert problem["request_id"] and problem["request_id"] == response.headers["x-request-id"]
    for secret in private:
        assert secret not in response.text, f"{secret!r} leaked into {problem}"
    assert "(at " not in problem["detail"]  # the legacy row is for the operator's log only
    if status == 503:
        assert int(response.headers["retry-after"]) >= 1


def threads_in_adapters() -> list[str]:
    """Threads of this process inside an adapter's call (not the simulated systems' own threads)."""
    busy = []
    for ident, frame in sys._current_frames().items():
        current: Any = frame
        while current is not None:
            path = current.f_code.co_filename
            if path.startswith(ADAPTER_CODE) and path.endswith(("adapter.py", "resilience.py")):
                busy.append(f"thread {ident} in {path}:{current.f_lineno}")
                break
            current = current.f_back
    return busy


def requests_in_progress() -> float:
    return REGISTRY.get_sample_value("exchange_http_requests_in_progress") or 0.0


def assert_nothing_stuck(client: httpx.Client) -> None:
    """No thread left inside a legacy call, no request still in progress, health answers at once."""
    deadline = time.monotonic() + TIMEOUT + MARGIN
    while threads_in_adapters() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert threads_in_adapters() == []
    assert requests_in_progress() == 0
    started = time.monotonic()
    assert client.get("/health").status_code == 200
    assert time.monotonic() - started < 1.0


def check_fault(asker: Asker, department: str, fault: Fault, system: RunningSystem) -> None:
    """One department failing one way: its status within the bound, then healed, answering again."""
    status, slug = EXPECTED[fault]
    system.inject(fault, asker.who.subject, delay=SLOW_DELAY)
    try:
        response, elapsed = asker.query(department)
    finally:
        system.heal()
    assert_problem(response, status, slug, private=asker.who.private)
    assert elapsed < TIMEOUT + MARGIN, f"{department} {fault}: {elapsed:.2f} s"
    if status == 504:
        assert elapsed >= TIMEOUT * 0.9  # the legacy system was really waited for, up to the deadline
    assert_nothing_stuck(asker.client)
    assert asker.answered(department, within=RESET + MARGIN) < MARGIN
