"""Several hub workers append to one audit log and sign checkpoints while requests arrive.

A real `exchange up --workers 2` serves a few hundred signed queries sent at once from several
threads, while both workers' checkpoint loops fire every 0.2 s. Afterwards every answer must name its
own entry (distinct indices 0..n-1, each entry recording that request's and that answer's hash), the
final signed checkpoint must cover them all (inclusion proofs of a sample over HTTP, the whole tree by
`exchange audit verify`, which must pass), no tree size may ever have been shown with two roots, and
both worker processes must have done the work (the CPU time each spent under the load, and the pids
of the JSON request log lines answering queries, when the hub writes them).
On PostgreSQL the workers run as the runtime role (SELECT and INSERT on the audit tables only).
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, text

from adapters.population import Population, in_all_systems
from certs.keys import load_private_key
from exchange.audit import merkle, repository, service
from exchange.audit.models import AuditEntry
from exchange.db.engine import make_engine, session_factory, session_scope
from exchange.demo import DEMO_MATTER
from tests.conftest import NOW
from tests.console.signing import signed_query_body
from tests.exchange.audit.conftest import Signer, record, sign
from tests.live_hub import LiveHub, serve
from tests.pg_roles import RuntimeRole, runtime_role

REQUESTS = 240
THREADS = 8
PROVED = sorted({0, 1, 7, 8, 63, 64, 100, 127, 128, 200, REQUESTS - 2, REQUESTS - 1})  # inclusion over HTTP
RESOURCE = "301001001-000001"  # household: basic information, granted to the demo consumer
HUB_ENV = {
    "EXCHANGE_DEMO_PERSONS": "60",
    "EXCHANGE_DEMO_GRANTS": "true",
    "EXCHANGE_CHECKPOINT_EVERY_ENTRIES": "10",
    "EXCHANGE_CHECKPOINT_EVERY_SECONDS": "0.2",  # each worker's loop checks every 0.2 s
    "EXCHANGE_RATE_LIMIT_PER_SECOND": "100000",
    "EXCHANGE_RATE_LIMIT_BURST": "100000",
}


@pytest.fixture
def role(postgres_url: str) -> Iterator[RuntimeRole]:
    with runtime_role(postgres_url) as role:
        yield role


def test_two_workers_on_sqlite(tmp_path: Path) -> None:
    _two_workers_under_load(tmp_path, {}, f"sqlite:///{tmp_path / 'var' / 'exchange.db'}")


def test_two_workers_on_postgresql_as_the_runtime_role(tmp_path: Path, role: RuntimeRole) -> None:
    database = {"EXCHANGE_DATABASE_URL": role.url, "EXCHANGE_DATABASE_ADMIN_URL": role.owner_url}
    _two_workers_under_load(tmp_path, database, role.owner_url)


@pytest.mark.parametrize("backend", [pytest.param("sqlite", marks=pytest.mark.sqlite), "postgresql"])
def test_appends_and_checkpoints_from_many_connections_take_turns(backend, request, signer: Signer) -> None:
    """The service under the same race without HTTP: appenders and checkpoint signers on their own
    connections (as worker processes have), started together. Every signed size has one root, the
    root of the entries below it."""
    engine = request.getfixturevalue("engine" if backend == "sqlite" else "pg_engine")
    factory = session_factory(engine)
    appended: list[int] = []
    signed: dict[int, set[str]] = defaultdict(set)
    failures: list[BaseException] = []
    start = threading.Barrier(6)
    done = threading.Event()

    def append(n: int) -> None:
        start.wait()
        for i in range(60):
            with session_scope(factory) as session:
                appended.append(service.append(session, record(n * 100 + i), NOW))

    def checkpoint() -> None:
        start.wait()
        while not done.is_set():
            with session_scope(factory) as session:
                if service.tree_size(session):
                    made = sign(session, signer)
                    signed[made.tree_size].add(made.root_hash)

    def guarded(target, *args) -> None:  # noqa: ANN001
        try:
            target(*args)
        except BaseException as exc:  # reported below
            failures.append(exc)
            done.set()

    appenders = [threading.Thread(target=guarded, args=(append, n)) for n in range(4)]
    signers = [threading.Thread(target=guarded, args=(checkpoint,)) for _ in range(2)]
    for thread in appenders + signers:
        thread.start()
    for thread in appenders:
        thread.join()
    done.set()
    for thread in signers:
        thread.join()
    assert failures == []
    assert sorted(appended) == list(range(240))
    with session_factory(engine)() as session:
        leaves = [
            bytes(leaf) for leaf in session.scalars(select(AuditEntry.leaf_hash).order_by(AuditEntry.index))
        ]
        stored = {row.tree_size: row.root_hash for row in repository.checkpoints(session)}
        report = service.verify_log(session, ca_certificate=signer.ca, hub_id=signer.hub_id)
    assert len(stored) >= 3 and all(len(roots) == 1 for roots in signed.values())
    assert {size: roots.pop() for size, roots in signed.items()} == {size: stored[size] for size in signed}
    for size, root in stored.items():
        assert base64.b64decode(root) == merkle.root(leaves[:size]), size
    assert report.ok, report.problems


def _two_workers_under_load(base: Path, database: dict[str, str], inspect_url: str) -> None:
    with serve(base, "--workers", "2", "--no-sync", env={**HUB_ENV, **database}) as hub:
        workers = _wait_for_workers(hub, 2)
        citizens = _citizens(5)
        key = load_private_key(hub.home / "demo" / "consumer.key")
        bodies = [
            signed_query_body(
                key,
                resource=RESOURCE,
                citizen=citizens[i % len(citizens)],
                matter_code=DEMO_MATTER,
                purpose="并发",
            )
            for i in range(REQUESTS)
        ]
        seen_roots: dict[int, set[str]] = defaultdict(set)
        watching = threading.Event()
        watcher = threading.Thread(target=_watch_checkpoints, args=(hub.url, seen_roots, watching))
        cpu_before = {pid: _cpu_seconds(pid) for pid in workers}
        watcher.start()
        try:
            with ThreadPoolExecutor(THREADS) as pool:
                answers = list(pool.map(lambda chunk: _send(hub.url, chunk), _chunks(bodies, THREADS)))
        finally:
            watching.set()
            watcher.join()
        cpu_spent = {pid: _cpu_seconds(pid) - before for pid, before in cpu_before.items()}
        responses = [response for chunk in answers for response in chunk]
        assert [status for _, status, _ in responses] == [200] * REQUESTS, _failures(responses, hub)

        evidence = {body: (_claims(answer), answer) for body, _, answer in responses}
        indices = sorted(claims["log"]["index"] for claims, _ in evidence.values())
        assert indices == list(range(REQUESTS)), "every answer names its own entry, none twice, no gap"

        final = _final_checkpoint(hub.url)
        assert final["tree_size"] == REQUESTS
        root = base64.b64decode(final["root_hash"])
        for index in PROVED:  # `exchange audit verify` below recomputes the whole tree
            proof = httpx.get(
                f"{hub.url}/v1/audit/proof/inclusion", params={"index": index, "tree_size": REQUESTS}
            ).json()
            path = [base64.b64decode(node) for node in proof["inclusion_path"]]
            assert merkle.verify_inclusion(index, REQUESTS, base64.b64decode(proof["leaf_hash"]), path, root)
        total = sum(cpu_spent.values())
        assert all(seconds > 0.15 * total for seconds in cpu_spent.values()), (
            f"both workers must serve requests: CPU seconds each spent under the load {cpu_spent} "
            "(a missing pid: uvicorn restarted that worker, see the hub log)"
        )
    log = hub.log.read_text(encoding="utf-8") if hub.log else ""
    assert "could not sign an audit checkpoint" not in log and "could not record the audit entry" not in log
    serving = _pids_in_request_log(log)
    assert not serving or serving == set(workers), f"queries answered by {serving}, workers {workers}"

    verified = hub.run("audit", "verify")  # exit 0, or CalledProcessError with its output
    assert f"audit log verified: {REQUESTS} entries" in verified.stdout, verified.stdout

    entries, checkpoints = _stored(inspect_url)
    for body, (claims, answer) in evidence.items():  # each entry records its own request and answer
        entry = entries[claims["log"]["index"]]
        assert (entry["request_jti"], entry["request_hash"]) == (claims["req"], _b64url_sha256(body))
        assert entry["response_hash"] == _b64url_sha256(answer)
    assert len(checkpoints) >= 3, "checkpoints must be signed while requests arrive"
    shown_twice = {size: roots for size, roots in seen_roots.items() if len(roots) > 1}
    assert not shown_twice, f"one tree size was shown with two roots: {shown_twice}"
    assert {size: roots.pop() for size, roots in seen_roots.items()} == {
        size: checkpoints.get(size) for size in seen_roots
    }, "every checkpoint shown while the load ran is the one stored"


def _send(url: str, bodies: list[bytes]) -> list[tuple[bytes, int, bytes]]:
    """(request body, status, response body) of each request, sent one after the other.

    A new connection each time: the workers share the listening socket, and a kept-alive connection
    would stay with the worker that accepted it."""
    results = []
    headers = {"Content-Type": "application/jwt", "Connection": "close"}
    with httpx.Client(timeout=60, headers=headers) as client:
        for body in bodies:
            response = client.post(f"{url}/v1/query/{RESOURCE}", content=body)
            results.append((body, response.status_code, response.content))
    return results


def _watch_checkpoints(url: str, seen: dict[int, set[str]], stop: threading.Event) -> None:
    """Record every checkpoint the hub shows while the load runs: size -> the roots shown for it."""
    with httpx.Client(timeout=10) as client:
        while not stop.is_set():
            response = client.get(f"{url}/v1/audit/checkpoint")
            if response.status_code == 200:
                body = response.json()
                seen[body["tree_size"]].add(body["root_hash"])
            time.sleep(0.05)


def _final_checkpoint(url: str) -> dict:
    """The checkpoint of the whole log, which the workers' loops sign within a second."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        response = httpx.get(f"{url}/v1/audit/checkpoint")
        if response.status_code == 200 and response.json()["tree_size"] == REQUESTS:
            return response.json()
        time.sleep(0.1)
    raise AssertionError(f"no checkpoint of size {REQUESTS} within 20 s: {response.text}")


def _wait_for_workers(hub: LiveHub, count: int) -> list[int]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        workers = hub.worker_pids()
        if len(workers) == count:
            return workers
        time.sleep(0.2)
    raise AssertionError(f"expected {count} worker processes under {hub.pid}, found {hub.worker_pids()}")


def _citizens(count: int) -> list[str]:
    """Citizens every simulated department knows, from the demo population `exchange up` generated."""
    found = [
        person.citizen_id
        for household in Population(int(HUB_ENV["EXCHANGE_DEMO_PERSONS"])).households()
        for person in household.members
        if in_all_systems(person, household)
    ]
    assert len(found) >= count
    return found[:count]


def _cpu_seconds(pid: int) -> float:
    """User and system CPU seconds of a process so far; NaN once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / 100  # utime + stime, in USER_HZ (100 on Linux)


def _pids_in_request_log(log: str) -> set[int]:
    """The processes that logged answering a query, when the hub logs requests as JSON with a pid."""
    pids = set()
    for line in log.splitlines():
        if line.startswith("{") and "/v1/query/" in line:
            record = json.loads(line)
            if "pid" in record and str(record.get("route", "")).startswith("/v1/query/"):
                pids.add(record["pid"])
    return pids


def _chunks(items: list[bytes], count: int) -> list[list[bytes]]:
    return [items[i::count] for i in range(count)]


def _claims(token: bytes) -> dict:
    payload = token.split(b".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + b"=" * (-len(payload) % 4)))


def _b64url_sha256(body: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(body).digest()).rstrip(b"=").decode()


def _stored(url: str) -> tuple[dict[int, dict], dict[int, str]]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            entries = {
                row["index"]: dict(row)
                for row in connection.execute(
                    text('SELECT "index", request_jti, request_hash, response_hash FROM audit_entries')
                ).mappings()
            }
            checkpoints = dict(
                connection.execute(text("SELECT tree_size, root_hash FROM audit_checkpoints")).all()
            )
    finally:
        engine.dispose()
    return entries, checkpoints


def _failures(responses: list[tuple[bytes, int, bytes]], hub: LiveHub) -> str:
    failed = [(status, answer[:300]) for _, status, answer in responses if status != 200]
    log = hub.log.read_text(encoding="utf-8")[-3000:] if hub.log else ""
    return f"{len(failed)} of {len(responses)} failed, first: {failed[:3]}\nhub log:\n{log}"
