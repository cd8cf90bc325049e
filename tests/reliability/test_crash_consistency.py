"""kill -9 in the middle of the work, then start again: nothing a client was told may be missing.

1. The hub. A real `exchange up --workers 2` answers signed queries from several client threads
   (allowed ones and ones it must refuse: no grant for the matter, an invalid citizen ID) while its
   checkpoint loops sign. At a random moment its whole process group gets SIGKILL. Every answer a
   client received must have its audit entry (DESIGN.md: committed before the answer leaves): the
   entry at the evidence's ``log.index`` records that request's jti and hash and that answer's hash;
   a refusal's ``request_id`` names an entry with its status. The indexes are gapless, before and
   after `exchange up` starts again on the same home; the restarted hub appends after them, still
   refuses the answered requests as replays, and `exchange audit verify` exits 0.
2. The license sync. `exchange sync` on a generated population first loses a sealing worker to
   SIGKILL in the middle of the tax run (it must fail by itself, exit 1), then, started again, is
   itself killed (its process only, as the kernel's OOM killer does) at a random moment, then runs
   to the end. The store must be exactly that of an uninterrupted run on an identical home: the
   same licenses (identifier, version, status, source record, status-list entry), none twice, none
   missing, the same status lists, quarantine and quality results, every change read once, the
   dead holder's run taken over (no stuck lock) and nothing left running.

Both run on the suite's backend: SQLite, or PostgreSQL with ``EXCHANGE_TEST_DATABASE=postgresql``.
The random moments come from a seed printed with every failure; ``EXCHANGE_CRASH_SEED`` replays one.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import random
import shutil
import signal
import subprocess
import threading
import time
from collections import Counter
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.pool import NullPool

from exchange.db.engine import make_engine
from exchange.licenses.status_list import StatusList as Bits
from tests.processes import die_with_parent, exchange_exe, tail
from tests.reliability.hub import (
    HUB_ENV,
    GroupHub,
    Requests,
    Sent,
    children,
    database_url,
    environment,
    serving,
    wait_gone,
)

THREADS = 6
MIX = ("allowed", "allowed", "allowed", "denied_matter", "invalid_subject")
KILL_AFTER = (1.0, 3.0)  # seconds of load before the hub is killed, drawn at random
MIN_ANSWERS = 60  # answers received before the kill, so that the check is not vacuous
LOAD_LIMIT = 90  # seconds to get them: a hang guard
REPLAYED = 20  # answered requests sent again after the restart
CRASH_ENV = {
    **HUB_ENV,
    "EXCHANGE_CHECKPOINT_EVERY_ENTRIES": "25",
    "EXCHANGE_CHECKPOINT_EVERY_SECONDS": "0.5",  # checkpoints are signed while the load runs
}

SYNC_PERSONS = 1500  # about 3,000 licenses over the four departments
SYNC_BATCH = 250  # changes per committed batch: a dozen batches, most sealed by the worker processes
SYNC_LIMIT = 300  # seconds for one `exchange sync`: a hang guard
# When the kills come, drawn at random: a sealing worker once this share of the tax licenses is stored,
# the sync once this share of the rest is.
WORKER_KILL = (0.25, 0.7)
SYNC_KILL = (0.1, 0.75)


CRASH_SEED = os.environ.get("EXCHANGE_CRASH_SEED")  # read before the tests empty EXCHANGE_*


def _seed() -> int:
    return int(CRASH_SEED or random.SystemRandom().randrange(2**31))


# --- 1. the hub ----------------------------------------------------------------------------------


@dataclass
class Answer:
    sent: Sent
    jti: str
    status: int
    body: bytes
    request_id: str


@dataclass
class Load:
    """Client threads sending signed requests until stopped or the hub is gone; every answer received
    is kept, and every request that got none (the connection died) is counted."""

    hub: GroupHub
    answers: list[Answer] = field(default_factory=list)
    unanswered: list[tuple[float, str]] = field(default_factory=list)  # (monotonic time, error)
    errors: list[BaseException] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        self._threads = [threading.Thread(target=self._client, args=(n,)) for n in range(THREADS)]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)
        assert not any(thread.is_alive() for thread in self._threads), "a client thread hangs"

    def _client(self, number: int) -> None:
        requests = Requests(self.hub.home, self.hub.url, int(HUB_ENV["EXCHANGE_DEMO_PERSONS"]))
        try:
            with httpx.Client(timeout=30, headers={"Content-Type": "application/jwt"}) as http:
                for i in itertools.count(number):
                    if self._stop.is_set():
                        return
                    sent = requests.make(MIX[i % len(MIX)])
                    try:
                        response = http.post(self.hub.url + sent.path, content=sent.body)
                    except httpx.TransportError as exc:  # the hub is gone: this request got no answer
                        self.unanswered.append((time.monotonic(), f"{type(exc).__name__}: {exc}"))
                        return
                    self.answers.append(_answer(sent, response))
        except BaseException as exc:  # reported by the test
            self.errors.append(exc)
        finally:
            requests.close()


def _answer(sent: Sent, response: httpx.Response) -> Answer:
    request_id = response.headers.get("x-request-id", "")
    if response.headers.get("content-type", "").startswith("application/problem+json"):
        request_id = response.json()["request_id"]
    return Answer(sent, _payload(sent.body)["jti"], response.status_code, response.content, request_id)


def test_a_hub_killed_under_load_lost_no_entry_of_an_answer_it_gave(tmp_path: Path, new_database) -> None:
    seed = _seed()
    rng = random.Random(seed)
    database = new_database()
    env = environment(tmp_path / "var", database, **CRASH_ENV)
    url = database_url(tmp_path / "var", database)
    with serving(tmp_path, env, "--workers", "2") as hub:
        hub.wait_for_workers(2)
        load = Load(hub)
        started = time.monotonic()
        load.start()
        try:
            kill_at = started + rng.uniform(*KILL_AFTER)
            while time.monotonic() < kill_at or len(load.answers) < MIN_ANSWERS:
                if time.monotonic() > started + LOAD_LIMIT or load.errors or load.unanswered:
                    break
                time.sleep(0.01)
            killed_at = time.monotonic()
            answered_before_kill = len(load.answers)
            hub.kill()
        finally:
            load.stop()
        context = f"seed {seed}, {len(load.answers)} answers\nhub log:\n{hub.tail()}"
        assert not load.errors, f"{load.errors!r} ({context})"
        early = [error for at, error in load.unanswered if at < killed_at]
        assert not early, f"requests failed before the kill: {early[:3]} ({context})"
        assert answered_before_kill >= MIN_ANSWERS, f"too few answers in {LOAD_LIMIT} s ({context})"
        wrong = [(a.sent.kind, a.status, a.body[:200]) for a in load.answers if a.status != a.sent.expected]
        assert not wrong, f"unexpected answers: {wrong[:3]} ({context})"

    entries = _audit_entries(url)  # the log as the crash left it, before anything starts again
    _assert_every_answer_has_its_entry(load.answers, entries, context)
    crashed_size = len(entries)
    print(
        f"seed {seed}: {len(load.answers)} answers before the kill, {len(load.unanswered)} requests cut off, "
        f"{crashed_size} entries after the crash"
    )

    with serving(tmp_path, env, "--workers", "2", name="hub-restarted") as hub:
        requests = Requests(hub.home, hub.url, int(HUB_ENV["EXCHANGE_DEMO_PERSONS"]))
        after: list[Answer] = []
        with httpx.Client(timeout=30, headers={"Content-Type": "application/jwt"}) as http:
            for kind in MIX:
                sent = requests.make(kind)
                after.append(_answer(sent, http.post(hub.url + sent.path, content=sent.body)))
            # An answered request stays spent: its jti was committed with (or before) its entry.
            replays = [a for a in load.answers if a.status == 200][:REPLAYED]
            replayed = [http.post(hub.url + a.sent.path, content=a.sent.body).status_code for a in replays]
        requests.close()
        context = f"seed {seed}\nrestarted hub log:\n{hub.tail()}"
        assert [a.status for a in after] == [a.sent.expected for a in after], context
        assert replayed == [409] * len(replays), context

    entries = _audit_entries(url)
    _assert_every_answer_has_its_entry(load.answers + after, entries, context)
    new = sorted(_payload(a.body)["log"]["index"] for a in after if a.status == 200)
    assert new and min(new) >= crashed_size, f"the restarted hub appended after the crashed log ({context})"
    verified = subprocess.run(  # noqa: S603 - our own command
        [exchange_exe(), "audit", "verify"], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert verified.returncode == 0, f"exchange audit verify: {verified.stdout}{verified.stderr} ({context})"
    assert f"{len(entries):,} entries" in verified.stdout, verified.stdout


def _assert_every_answer_has_its_entry(answers: list[Answer], entries: dict[int, dict], context: str) -> None:
    assert sorted(entries) == list(range(len(entries))), f"the audit log has gaps ({context})"
    by_request_id = {entry["request_id"]: entry for entry in entries.values()}
    for answer in answers:
        if answer.status == 200:
            claims = _payload(answer.body)
            entry = entries.get(claims["log"]["index"])
            assert entry is not None, f"no entry {claims['log']['index']} for an answer given ({context})"
            assert (entry["request_jti"], entry["request_hash"], entry["response_hash"]) == (
                answer.jti,
                _sha256(answer.sent.body),
                _sha256(answer.body),
            ), f"entry {entry['index']} is not that of the answer naming it ({context})"
            assert claims["req"] == answer.jti
        else:
            entry = by_request_id.get(answer.request_id)
            assert entry is not None, f"no entry for refused request {answer.request_id} ({context})"
            assert (entry["request_jti"], entry["http_status"], entry["decision"]) == (
                answer.jti,
                answer.status,
                "deny",
            ), f"entry {entry['index']} does not record the refusal {answer.request_id} ({context})"


def _audit_entries(url: str) -> dict[int, dict]:
    engine = make_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    'SELECT "index", request_id, request_jti, request_hash, response_hash, http_status, '
                    "decision FROM audit_entries"
                )
            ).mappings()
            return {row["index"]: dict(row) for row in rows}
    finally:
        engine.dispose()


def _payload(token: bytes) -> dict:
    payload = token.split(b".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + b"=" * (-len(payload) % 4)))


def _sha256(body: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(body).digest()).rstrip(b"=").decode()


# --- 2. the license sync -------------------------------------------------------------------------


def test_a_sync_killed_mid_run_resumes_to_the_store_of_an_uninterrupted_run(
    tmp_path: Path, new_database
) -> None:
    seed = _seed()
    rng = random.Random(seed)
    reference, crashed = tmp_path / "reference", tmp_path / "crashed"
    databases = {reference: new_database(), crashed: new_database()}
    envs = {
        base: environment(
            base / "var", database, EXCHANGE_DEMO_PERSONS=str(SYNC_PERSONS), EXCHANGE_DEMO_GRANTS="false"
        )
        for base, database in databases.items()
    }
    urls = {base: database_url(base / "var", database) for base, database in databases.items()}
    reference.mkdir()
    _exchange(envs[reference], reference, "up", "--init-only", "--no-sync")
    if databases[crashed]:  # PostgreSQL: the same population, PKI and demo in a database of its own
        crashed.mkdir()
        _exchange(envs[crashed], crashed, "up", "--init-only", "--no-sync")
    else:  # SQLite: the very same home, database included
        shutil.copytree(reference, crashed)

    _exchange(envs[reference], reference, "sync", "--batch-size", str(SYNC_BATCH))
    expected = _store(urls[reference])
    total = len(expected.licenses)
    assert total > 2000, f"the reference sync stored only {total} licenses"

    # First a sealing worker dies: the batch fails, and so the run and `exchange sync` (exit 1). The
    # kill comes in the tax run (the longest feed: the second department synced), after some of its
    # batches committed, so the next run must go on from the failed run's watermark, not start over.
    per_department = Counter(key[2] for key in expected.licenses.elements())
    threshold = per_department["household"] + int(per_department["tax"] * rng.uniform(*WORKER_KILL))
    first = _kill_sync(envs[crashed], crashed, urls[crashed], threshold, rng, "worker")
    context = f"seed {seed}: a sealing worker killed at {first.stored} of {total} licenses\n{first.tail()}"
    assert first.exit_code == 1 and "SealingWorkerError" in first.tail(), f"the sync did not fail ({context})"
    # Then the sync itself, in the run that goes on after the failed one's last committed batch.
    threshold = first.stored + int((total - first.stored) * rng.uniform(*SYNC_KILL))
    second = _kill_sync(envs[crashed], crashed, urls[crashed], threshold, rng, "sync")
    context += f"\nthen the sync killed at {second.stored}\n{second.tail()}"
    assert first.stored <= second.stored <= total, context

    # No stuck lock: the dead holder's run is taken over and finished, not refused or repeated.
    _exchange(envs[crashed], crashed, "sync", "--batch-size", str(SYNC_BATCH))
    got = _store(urls[crashed])
    print(f"seed {seed}: {total} licenses; worker killed at {first.stored}, sync killed at {second.stored}")
    for name in ("licenses", "status_lists", "quarantined", "quality", "feeds"):
        _assert_same(name, getattr(expected, name), getattr(got, name), context)
    assert got.problems == [] and expected.problems == [], f"broken rules: {got.problems[:5]} ({context})"
    left = [
        (department, status, "SealingWorkerError" in error) for _, department, status, error in got.unfinished
    ]
    assert left == [("tax", "failed", True)], (
        f"only the worker's run failed, none runs: {got.unfinished} ({context})"
    )


def _exchange(env: dict[str, str], cwd: Path, *args: str) -> None:
    try:
        subprocess.run(  # noqa: S603 - our own command
            [exchange_exe(), *args],
            env=env,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=SYNC_LIMIT,
            check=True,
        )
    except subprocess.CalledProcessError as exc:
        pytest.fail(
            f"exchange {' '.join(args)} failed ({exc.returncode}):\n{exc.stdout}\n{exc.stderr}", pytrace=False
        )


@dataclass(frozen=True)
class Killed:
    stored: int  # licenses in the store once the killed process group is gone
    exit_code: int
    log: Path

    def tail(self) -> str:
        return tail(self.log, 20)


def _kill_sync(
    env: dict[str, str], cwd: Path, url: str, threshold: int, rng: random.Random, victim: str
) -> Killed:
    """Start `exchange sync`; once ``threshold`` licenses are stored, and a random part of a batch
    later, SIGKILL the ``victim``: ``sync``, the sync's own process (its sealing workers must then end
    by themselves), or ``worker``, one of its sealing workers (the sync must then fail by itself)."""
    log = cwd / f"killed-{victim}.log"
    engine = make_engine(url, poolclass=NullPool)
    with log.open("w", encoding="utf-8") as output:
        process = subprocess.Popen(  # noqa: S603 - our own command
            [exchange_exe(), "sync", "--batch-size", str(SYNC_BATCH)],
            stdout=output,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            preexec_fn=die_with_parent,  # noqa: PLW1509 - no threads are started before the fork
            process_group=0,
        )
    deadline = time.monotonic() + SYNC_LIMIT

    def running(what: str) -> None:
        if process.poll() is not None:
            pytest.fail(
                f"exchange sync ended ({process.returncode}) before {what}:\n{tail(log)}", pytrace=False
            )
        if time.monotonic() > deadline:
            pytest.fail(f"exchange sync did not get to {what} in {SYNC_LIMIT} s:\n{tail(log)}", pytrace=False)
        time.sleep(0.02)

    try:
        while _licenses(engine) < threshold:
            running(f"{threshold} licenses")
        time.sleep(rng.uniform(0, 0.5))  # anywhere in a batch: reading, gating, sealing, committing
        if victim == "sync":
            running("the kill")
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
            wait_gone(
                process.pid, f"the killed sync (its sealing workers end with their input):\n{tail(log)}"
            )
        else:
            while not (
                workers := [pid for pid in children(process.pid) if b"sealing_workers" in _cmdline(pid)]
            ):
                running("starting its sealing workers")
            os.kill(rng.choice(workers), signal.SIGKILL)
            try:
                process.wait(timeout=SYNC_LIMIT)
            except subprocess.TimeoutExpired:
                pytest.fail(
                    f"exchange sync did not end after a sealing worker died:\n{tail(log)}", pytrace=False
                )
            wait_gone(process.pid, f"the failed sync:\n{tail(log)}")
        return Killed(_licenses(engine), process.returncode, log)
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        engine.dispose()


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _licenses(engine) -> int:  # noqa: ANN001
    with engine.connect() as connection:
        return connection.execute(text("SELECT count(*) FROM licenses")).scalar_one()


@dataclass
class Store:
    """What a sync leaves behind, in terms that do not depend on when or in how many runs it ran."""

    licenses: Counter = field(default_factory=Counter)
    status_lists: dict = field(default_factory=dict)
    quarantined: Counter = field(default_factory=Counter)
    quality: Counter = field(default_factory=Counter)
    feeds: dict = field(default_factory=dict)  # department -> (watermark reached, counts summed over runs)
    unfinished: list = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # broken rules inside this one store


def _store(url: str) -> Store:
    engine = make_engine(url, poolclass=NullPool)
    store = Store()
    try:
        with engine.connect() as connection:
            licenses = [dict(row) for row in connection.execute(text("SELECT * FROM licenses")).mappings()]
            lists = [dict(row) for row in connection.execute(text("SELECT * FROM status_lists")).mappings()]
            runs = [
                dict(row)
                for row in connection.execute(text("SELECT * FROM sync_runs ORDER BY id")).mappings()
            ]
            quarantined = connection.execute(
                text("SELECT license_type, source_id, source_version, reasons FROM quarantined_records")
            ).all()
            quality = connection.execute(
                text(
                    "SELECT r.department_id, q.license_type, q.statistics "
                    "FROM quality_results q JOIN sync_runs r ON r.id = q.run_id"
                )
            ).all()
    finally:
        engine.dispose()
    identifiers = {row["id"]: row["identifier"] for row in licenses}
    for row in licenses:
        store.licenses[
            (
                row["identifier"],
                row["license_type"],
                row["department_id"],
                row["source_id"],
                row["source_version"],
                row["version"],
                row["status"],
                row["holder_code"],
                row["status_list_id"],
                row["status_index"],
                identifiers.get(row["superseded_by"]),
                row["revoke_reason"],
                _canonical(row["record"]),
            )
        ] += 1
    for row in lists:
        store.status_lists[row["id"]] = (
            row["department_id"],
            row["size"],
            row["next_index"],
            bytes(row["statuses"]),
        )
    for license_type, source_id, source_version, reasons in quarantined:
        store.quarantined[(license_type, source_id, source_version, _canonical(reasons))] += 1
    for department_id, license_type, statistics in quality:
        figures = {k: v for k, v in _json(statistics).items() if k != "elapsed_ms"}
        store.quality[(department_id, license_type, _canonical(figures))] += 1  # batches count per run
    for run in runs:
        reached, counts = store.feeds.get(run["department_id"], (None, Counter()))
        if run["status"] == "succeeded":
            reached = run["watermark_to"]
        store.feeds[run["department_id"]] = (reached, counts + Counter(_json(run["counts"])))
        if run["status"] != "succeeded":
            store.unfinished.append((run["id"], run["department_id"], run["status"], run["error"]))
    store.problems = _broken_rules(licenses, lists)
    return store


def _broken_rules(licenses: list[dict], lists: list[dict]) -> list[str]:
    """The store's own rules: one entry per credential, its bit follows its row, the credential names
    its entry, one live version per source record, every allocated entry used."""
    problems = []
    bits = {row["id"]: Bits.from_bytes(bytes(row["statuses"]), bits=row["bits"]) for row in lists}
    allocated = {row["id"]: row["next_index"] for row in lists}
    entries = Counter((row["status_list_id"], row["status_index"]) for row in licenses)
    problems += [f"status entry {entry} shared by {n} licenses" for entry, n in entries.items() if n > 1]
    for list_id, used in Counter(row["status_list_id"] for row in licenses).items():
        if used != allocated[list_id]:
            problems.append(f"{list_id}: {allocated[list_id]} entries allocated, {used} used")
    live = Counter((row["license_type"], row["source_id"]) for row in licenses if row["status"] == "valid")
    problems += [f"{key} has {n} valid versions" for key, n in live.items() if n > 1]
    for row in licenses:
        list_id, index = row["status_list_id"], row["status_index"]
        if index >= allocated[list_id]:
            problems.append(f"{row['identifier']}: entry {index} of {list_id} was never allocated")
        wanted = 0 if row["status"] == "valid" else 1
        if bits[list_id].get(index) != wanted:
            problems.append(f"{row['identifier']} is {row['status']} but its status bit is {1 - wanted}")
        claim = _payload(row["credential"].split("~", 1)[0].encode())["status"]["status_list"]
        if claim["idx"] != index or not claim["uri"].endswith(f"/v1/status-lists/{list_id}"):
            problems.append(
                f"{row['identifier']}: its credential names entry {claim}, the row {list_id}/{index}"
            )
    return problems


def _assert_same(name: str, expected, got, context: str) -> None:  # noqa: ANN001
    if expected == got:
        return
    if isinstance(expected, Counter):
        missing, extra = list((expected - got).items()), list((got - expected).items())
    else:
        missing = [(k, v) for k, v in expected.items() if got.get(k) != v]
        extra = [(k, v) for k, v in got.items() if expected.get(k) != v]
    pytest.fail(
        f"{name} differ from an uninterrupted run: {len(missing)} missing or different, e.g. {missing[:2]}; "
        f"{len(extra)} extra or different, e.g. {extra[:2]} ({context})",
        pytrace=False,
    )


def _json(value) -> dict:  # noqa: ANN001 - JSON columns come back as text on some drivers
    return json.loads(value) if isinstance(value, str) else dict(value)


def _canonical(value) -> str:  # noqa: ANN001
    return json.dumps(
        json.loads(value) if isinstance(value, str) else value, sort_keys=True, ensure_ascii=False
    )
