"""The query benchmark: the signed, audited ``/v1/query`` against a bare pass-through to the same adapter.

One hub process (one uvicorn worker, the passthrough factory of :mod:`exchange.bench.passthrough`)
serves both routes on loopback from a throw-away home with the demo departments; the load
generator (:mod:`exchange.bench.loadgen`) is a second process, so on a two-core machine each has a
core. Every signed request is signed before its phase starts. In this order:

1. a warm-up of each route, which also estimates its rate so that each phase lasts about ``seconds``;
2. saturation: ``concurrency`` connections back to back, in rounds that alternate the routes (the
   machine's other load weighs on both alike), the throughput;
3. half load of each route: an open loop at half its saturation rate, p50/p95/p99 latency.

The hub worker's resident memory is sampled throughout; every answer must be a 200 (a signed query
that did not get its evidence would make the figures meaningless), else the run fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import cycle, islice
from pathlib import Path

import httpx
import psutil

from adapters.simulation import read_manifest
from directory import service as directory
from exchange.bench.loadgen import Spec
from exchange.bench.processes import free_port, python_command
from exchange.bench.report import BenchError, Section, Target
from exchange.client import ExchangeClient
from exchange.config import Settings
from exchange.db.engine import engine_for, session_factory
from exchange.demo import DEMO_CLIENT_ID, DEMO_MATTER, DEMO_PURPOSE

PASSTHROUGH = "/bench/passthrough/{code}"
SIGNED = "/v1/query/{code}"
RATIO_TARGET = 0.5  # issue 9: signed/pass-through throughput >= 0.5
TAIL_TARGET = 3.0  # issue 9: p99 <= 3 x p50 at half load
RSS_TARGET_MB = 200  # issue 9: hub worker RSS <= 200 MB under load
SUBJECTS = 200
ROUTES = ("passthrough", "signed")
ROUNDS = 3


@dataclass(frozen=True)
class Phase:
    route: str
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float


@dataclass(frozen=True)
class Workload:
    code: str
    items: list[str]
    subjects: list[str]


def run(seconds: float, workdir: Path, progress: Callable[[str], None], *, concurrency: int = 32) -> Section:
    home = workdir / "query"
    env = _environment(home)
    progress("query: initialising a hub home with the demo departments")
    _check(
        python_command("exchange.cli.main", "up", "--init-only", "--no-sync"), env, "exchange up --init-only"
    )
    target = _target(home)
    client = ExchangeClient(
        DEMO_CLIENT_ID,
        home / "demo" / "consumer.key",
        "http://127.0.0.1",
        home / "pki" / "ca.pem",
        lifetime=300,
    )
    with client, _hub(home, env, workdir / "hub.log") as (port, worker), _MemorySampler(worker) as memory:
        figures = _measure(target, client, port, seconds, concurrency, workdir, progress)
    signed, plain = figures["signed_saturation"], figures["passthrough_saturation"]
    half = figures["signed_half"]
    section = Section("query")
    section.figures = {
        "signed_rps": signed.rps,
        "passthrough_rps": plain.rps,
        "ratio": signed.rps / plain.rps,
        "p50_ms": half.p50_ms,
        "p95_ms": half.p95_ms,
        "p99_ms": half.p99_ms,
        "half_load_rps": half.rps,
        "passthrough_p50_ms": figures["passthrough_half"].p50_ms,
        "passthrough_p99_ms": figures["passthrough_half"].p99_ms,
        "worker_rss_mb": memory.peak_mb,
        "concurrency": concurrency,
        "resource": target.code,
        "items": target.items,
        "phases": {name: vars(phase) for name, phase in figures.items()},
    }
    section.targets = [
        Target(
            "query.ratio", "signed/pass-through throughput >= 0.5", signed.rps / plain.rps, ">=", RATIO_TARGET
        ),
        Target("query.tail", "p99 <= 3 x p50 at half load", half.p99_ms / half.p50_ms, "<=", TAIL_TARGET),
        Target(
            "query.worker_rss_mb", "hub worker RSS <= 200 MB under load", memory.peak_mb, "<=", RSS_TARGET_MB
        ),
    ]
    return section


def _measure(
    target: Workload,
    client: ExchangeClient,
    port: int,
    seconds: float,
    concurrency: int,
    workdir: Path,
    progress: Callable[[str], None],
) -> dict[str, Phase]:
    """Saturation in alternating rounds of the two routes, so that a change in the machine's other
    load during the run weighs on both alike; then each route at half its saturation rate."""
    rates = {}
    for route in ROUTES:
        rates[route] = _phase(route, target, client, port, "closed", concurrency, 0.0, 200, workdir).rps
        progress(f"query: {route}, warm-up at {rates[route]:,.0f}/s")
    rounds: dict[str, list[Phase]] = {route: [] for route in ROUTES}
    progress(f"query: saturating, {ROUNDS} rounds of each route, about {seconds:.0f} s a route")
    for _ in range(ROUNDS):
        for route in ROUTES:
            count = int(rates[route] * seconds / ROUNDS)
            rounds[route].append(
                _phase(route, target, client, port, "closed", concurrency, 0.0, count, workdir)
            )
    figures = {}
    for route in ROUTES:
        saturation = figures[f"{route}_saturation"] = _combined(rounds[route])
        rate = saturation.rps / 2
        progress(f"query: {route}, {saturation.rps:,.0f}/s at saturation; half load at {rate:,.0f}/s")
        figures[f"{route}_half"] = _phase(
            route, target, client, port, "open", concurrency * 2, rate, int(rate * seconds), workdir
        )
    return figures


def _combined(rounds: Sequence[Phase]) -> Phase:
    """Rounds as one phase: requests over time summed; latency percentiles those of the slowest round."""
    requests, seconds = sum(p.requests for p in rounds), sum(p.seconds for p in rounds)
    return Phase(
        route=rounds[0].route,
        requests=requests,
        seconds=seconds,
        rps=requests / seconds,
        p50_ms=max(p.p50_ms for p in rounds),
        p95_ms=max(p.p95_ms for p in rounds),
        p99_ms=max(p.p99_ms for p in rounds),
    )


def _phase(
    route: str,
    target: Workload,
    client: ExchangeClient,
    port: int,
    mode: str,
    concurrency: int,
    rate: float,
    count: int,
    workdir: Path,
) -> Phase:
    count = max(count, 50)
    subjects = list(islice(cycle(target.subjects), count))
    if route == "signed":
        path = SIGNED.format(code=target.code)
        requests = [(path, "application/jwt", _signed(client, target, subject)) for subject in subjects]
    else:
        path = PASSTHROUGH.format(code=target.code)
        requests = [
            (
                path,
                "application/json",
                json.dumps({"subject": {"type": "id_card", "value": s}, "fields": target.items}).encode(),
            )
            for s in subjects
        ]
    spec_path = workdir / f"load-{route}-{mode}.json"
    Spec("127.0.0.1", port, mode, concurrency, requests, rate).write(spec_path)
    done = subprocess.run(  # noqa: S603 - our own interpreter and module
        python_command("exchange.bench.loadgen", str(spec_path)), capture_output=True, text=True, check=False
    )
    spec_path.unlink()
    if done.returncode != 0:
        raise BenchError(f"the load generator failed ({done.returncode}):\n{done.stderr}")
    result = json.loads(done.stdout)
    if set(result["statuses"]) != {"200"}:
        raise BenchError(
            f"{route} {mode}: not every answer was a 200: {result['statuses']} {result['failures']}"
        )
    latencies = sorted(result["latencies_ms"])
    return Phase(
        route=route,
        requests=result["sent"],
        seconds=result["elapsed_s"],
        rps=result["sent"] / result["elapsed_s"],
        p50_ms=_percentile(latencies, 0.50),
        p95_ms=_percentile(latencies, 0.95),
        p99_ms=_percentile(latencies, 0.99),
    )


def _signed(client: ExchangeClient, target: Workload, subject: str) -> bytes:
    return client.signed_query(
        target.code,
        "id_card",
        subject,
        target.items,
        matter_code=DEMO_MATTER,
        purpose=DEMO_PURPOSE,
        operator_id="bench",
        operator_name="exchange bench",
    )


def _percentile(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of sorted values."""
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


def _environment(home: Path) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("EXCHANGE_")}
    env.update(
        EXCHANGE_HOME=str(home),
        # The demo consumer sends every request: the per-consumer rate limit would measure itself.
        EXCHANGE_RATE_LIMIT_PER_SECOND="1000000",
        EXCHANGE_RATE_LIMIT_BURST="1000000",
        EXCHANGE_LOG_FORMAT="json",
    )
    return env


def _check(command: list[str], env: dict[str, str], what: str) -> None:
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise BenchError(f"{what} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")


def _target(home: Path) -> Workload:
    """The household registry's query resource, the items of it a typical approval asks, and citizens
    every department knows."""
    settings = Settings(home=home)
    engine = engine_for(settings)
    try:
        with session_factory(engine)() as session:
            resources, _ = directory.search(session, provider="household", limit=50)
            resource = next(
                r
                for r in resources
                if "query" in r.access_methods and r.sharing_type != "none" and not r.withdrawn
            )
            items = [item.name for item in resource.data_items][:4]
    finally:
        engine.dispose()
    manifest = read_manifest(settings.legacy_dir)
    if manifest is None:
        raise BenchError(f"no demo data in {settings.legacy_dir}")
    subjects = list(islice(manifest.population().known_everywhere(), SUBJECTS))
    return Workload(resource.code, items, subjects)


@contextmanager
def _hub(home: Path, env: dict[str, str], log_path: Path) -> Iterator[tuple[int, psutil.Process]]:
    """One uvicorn worker serving the passthrough factory; its port and process."""
    port = free_port()
    with log_path.open("w", encoding="utf-8") as log:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            python_command(
                "uvicorn",
                "exchange.bench.passthrough:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "1",
                "--no-access-log",
                "--log-level",
                "warning",
            ),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise BenchError(f"the hub exited ({process.returncode}): see {log_path}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise BenchError(f"the hub did not answer /health within 120 s: see {log_path}")
            time.sleep(0.2)
        yield port, psutil.Process(process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class _MemorySampler:
    """The peak resident memory of a process, sampled every 100 ms in a thread."""

    def __init__(self, process: psutil.Process) -> None:
        self.process, self.peak_mb = process, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> _MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.wait(0.1):
            try:
                self.peak_mb = max(self.peak_mb, self.process.memory_info().rss / 2**20)
            except psutil.Error:
                return
