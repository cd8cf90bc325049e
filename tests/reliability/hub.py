"""Real `exchange up` and `exchange sync` processes that a test may kill -9, and the signed traffic it
sends them.

A hub here runs in its own process group (``process_group=0``): SIGKILL to the group takes the
uvicorn supervisor and every worker at once, as a crashed machine or a container's OOM kill does,
and never reaches pytest. Processes still die with pytest (``PR_SET_PDEATHSIG``) and log to files.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from adapters.population import Population
from exchange.client import ExchangeClient
from exchange.demo import DEMO_CLIENT_ID, DEMO_MATTER
from tests.processes import die_with_parent, exchange_exe, free_port, tail, wait_for_health

RESOURCE = "301001001-000001"  # household: basic information, granted to the demo consumer
GONE_LIMIT = 15  # seconds for killed processes to disappear: a hang guard, not an assertion
HUB_ENV = {
    "EXCHANGE_DEMO_PERSONS": "60",
    "EXCHANGE_DEMO_GRANTS": "true",
    # One consumer sends everything: the per-consumer rate limit would refuse the test's own load.
    "EXCHANGE_RATE_LIMIT_PER_SECOND": "1000000",
    "EXCHANGE_RATE_LIMIT_BURST": "1000000",
    "EXCHANGE_LOG_FORMAT": "json",
}


def environment(home: Path, database: Mapping[str, str], **values: str) -> dict[str, str]:
    """A child's environment from scratch: no EXCHANGE_* of the caller, this home and database."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("EXCHANGE_")}
    env.update(COLUMNS="200", EXCHANGE_HOME=str(home), **database, **values)
    return env


def database_url(home: Path, database: Mapping[str, str]) -> str:
    """Where the hub of ``home`` keeps its data: the PostgreSQL URL given, or its SQLite file."""
    return database.get("EXCHANGE_DATABASE_URL") or f"sqlite:///{home / 'exchange.db'}"


@dataclass
class GroupHub:
    """`exchange up` and its workers, the leaders of their own process group."""

    process: subprocess.Popen[bytes]
    url: str
    home: Path
    env: dict[str, str] = field(repr=False)
    log: Path = field(repr=False)

    def members(self) -> list[int]:
        """The live (not zombie) processes of the hub's group."""
        return group_members(self.process.pid)

    def workers(self) -> list[int]:
        """The processes that serve requests: uvicorn's spawned workers, or `exchange up` itself."""
        spawned = [pid for pid in self.members() if b"spawn_main" in _cmdline(pid)]
        return spawned or [self.process.pid]

    def wait_for_workers(self, count: int) -> list[int]:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            found = [pid for pid in self.members() if b"spawn_main" in _cmdline(pid)]
            if len(found) == count:
                return found
            time.sleep(0.2)
        pytest.fail(f"expected {count} hub workers, found {self.members()}:\n{self.tail()}", pytrace=False)

    def kill(self) -> None:
        """SIGKILL to the whole group; returns once no process of it is left."""
        kill_group(self.process)
        wait_gone(self.process.pid, f"the killed hub group:\n{self.tail()}")

    def stop(self) -> None:
        """SIGTERM to the supervisor (it drains and stops its workers), then SIGKILL to what is left."""
        if self.process.poll() is None:
            self.process.terminate()
            with suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=30)
        kill_group(self.process)

    def tail(self, lines: int = 60) -> str:
        return tail(self.log, lines)


@contextmanager
def serving(base: Path, env: Mapping[str, str], *args: str, name: str = "hub") -> Iterator[GroupHub]:
    """`exchange up <args>` on a free port in its own process group; stopped (or killed) at the end."""
    port = free_port()
    log = base / f"{name}.log"
    with log.open("w", encoding="utf-8") as output:
        process = subprocess.Popen(  # noqa: S603 - our own command
            [exchange_exe(), "up", "--no-sync", *args, "--port", str(port)],
            stdout=output,
            stderr=subprocess.STDOUT,
            env=dict(env),
            cwd=base,
            preexec_fn=die_with_parent,  # noqa: PLW1509 - no threads are started before the fork
            process_group=0,
        )
    hub = GroupHub(process, f"http://127.0.0.1:{port}", Path(env["EXCHANGE_HOME"]), dict(env), log)
    try:
        wait_for_health(process, hub.url, log)
        yield hub
    finally:
        hub.stop()


def kill_group(process: subprocess.Popen[bytes]) -> None:
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def group_members(group: int) -> list[int]:
    """Live processes whose process group is ``group`` (Linux /proc); zombies do not count."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) == group:  # state, ppid, pgrp
            found.append(int(entry.name))
    return sorted(found)


def children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[1]) == parent:
            found.append(int(entry.name))
    return sorted(found)


def wait_gone(group: int, what: str) -> None:
    deadline = time.monotonic() + GONE_LIMIT
    while group_members(group):
        if time.monotonic() > deadline:
            pytest.fail(f"processes {group_members(group)} outlived {what}", pytrace=False)
        time.sleep(0.05)


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def citizens(persons: int, count: int) -> list[str]:
    """Citizens every simulated department knows, from the demo population of ``persons``."""
    found = list(_take(Population(persons).known_everywhere(), count))
    assert len(found) == count, f"the demo population of {persons} has only {len(found)} such citizens"
    return found


def _take(items: Iterator[str], count: int) -> Iterator[str]:
    for index, item in enumerate(items):
        if index == count:
            return
        yield item


@dataclass(frozen=True)
class Sent:
    """One signed request: what it should get, and its body."""

    kind: str  # allowed | denied_matter | invalid_subject
    expected: int
    body: bytes
    path: str = f"/v1/query/{RESOURCE}"


class Requests:
    """Signed queries by the demo consumer: allowed ones, and ones the hub must refuse (and audit)."""

    KINDS = {"allowed": 200, "denied_matter": 403, "invalid_subject": 422}

    def __init__(self, home: Path, hub_url: str, persons: int) -> None:
        self._client = ExchangeClient(
            DEMO_CLIENT_ID, home / "demo" / "consumer.key", hub_url, home / "pki" / "ca.pem", lifetime=300
        )
        self._citizens = citizens(persons, 5)
        self._count = 0

    def close(self) -> None:
        self._client.close()

    def make(self, kind: str) -> Sent:
        self._count += 1
        citizen = self._citizens[self._count % len(self._citizens)]
        matter = DEMO_MATTER
        if kind == "denied_matter":
            matter = "NOT-GRANTED-0001"  # no grant names this matter: 403
        elif kind == "invalid_subject":
            citizen = citizen[:-1] + ("0" if citizen[-1] != "0" else "1")  # a wrong check digit: 422
        body = self._client.signed_query(
            RESOURCE,
            "id_card",
            citizen,
            ["name"],
            matter_code=matter,
            purpose="可靠性测试",
            operator_id=f"clerk-{uuid.uuid4().hex[:6]}",
            operator_name="李窗口",
        )
        return Sent(kind, self.KINDS[kind], body)
