"""The license sync under `exchange bench`: extract, GX gate, SD-JWT VC sealing and upsert, end to end.

For a small and a large number of licenses, each in its own fresh home under ``workdir`` with a fresh
SQLite database, the synthetic population is generated (``exchange demo-data``, about
:data:`LICENSES_PER_PERSON` licenses a person), the database migrated and the PKI made; then the real
``exchange sync`` of all four departments runs in a child process. Reported, from this one run:

- ``licenses_per_s``: licenses stored at the large size over the pipeline time, the sum of the sync
  runs' own start-to-finish (``sync_runs``; without process start-up, imports and the Data Docs);
- ``raw_sign_per_s``: Ed25519 signatures a second over a license's signing-input size on the cores
  the sync uses: ``cores`` x ``raw_sign_per_s_one_core``, the median of three one-core measurements
  taken in this run (before, between and after the two sizes: ``raw_sign_per_s_samples``; a machine
  shared with other work is not equally busy for a quarter of an hour). ``ratio`` = licenses_per_s /
  raw_sign_per_s, the issue's "on the same cores". ``cores`` is the processes the sync keeps busy, at
  most the machine's: its own process plus ``sync_workers`` sealing workers (``EXCHANGE_SYNC_WORKERS``,
  default the number of CPUs) when there is more than one;
- ``peak_rss_mb``: the sync's process tree at the large size, as the sum of each process's own peak:
  the sync process's from ``os.wait4`` (exact), each sealing worker's sampled from ``/proc`` every
  :data:`SAMPLE_SECONDS`. A sum of peaks is an upper bound of the tree's peak (the processes need not
  peak together, and shared library pages count once per process); ``main_peak_rss_mb`` and
  ``workers_peak_rss_mb`` are its parts;
- ``time_ratio`` = pipeline time large / small, and ``scaling`` = time_ratio divided by the licenses
  ratio (1.0: time in proportion);
- per size: ``wall_s`` and ``cpu_s`` of the whole ``exchange sync`` process with its workers (imports,
  the quality Data Docs included), beside ``pipeline_s``.

Every figure depends on what else the machine runs: compare ratios, not seconds (docs/performance.md).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from exchange.bench.machine import ed25519_sign_per_s
from exchange.bench.processes import python_command
from exchange.bench.report import BenchError, Section, Target
from exchange.config import Settings
from exchange.db.engine import engine_for, session_factory
from exchange.licenses.models import License, SyncRun

LICENSES_PER_PERSON = 2.0  # about: everyone is registered, most pay tax or contributions, some own homes
SIGNING_INPUT_BYTES = 3_900  # a license's JWS signing input (median 3,938 bytes: x5c is most of the header)
RAW_SECONDS = 2.0
SAMPLE_SECONDS = 0.2
MEMORY_LIMIT_MB = 1024  # issue 9: peak RSS <= 1 GiB at the large size
SCALING_LIMIT = 1.1  # issue 9: time(1,000,000) / time(100,000) <= 11, i.e. <= 1.1 x the licenses ratio
RATIO_LIMIT = 0.3  # issue 9: licenses/s >= 0.3 x raw Ed25519 signatures/s on the same cores

Progress = Callable[[str], None]


@dataclass
class SizeFigures:
    persons: int
    licenses: int  # stored: sealed and upserted
    read: int  # changes read from the four feeds
    quarantined: int
    pipeline_s: float
    wall_s: float  # the `exchange sync` process, start to exit (imports, Data Docs included)
    cpu_s: float  # CPU time of that process and its workers, start to exit (user + system)
    peak_rss_mb: float  # main + workers, each its own peak
    main_peak_rss_mb: float
    workers_peak_rss_mb: list[float] = field(default_factory=list)

    @property
    def licenses_per_s(self) -> float:
        return self.licenses / self.pipeline_s


def run(small_licenses: int, large_licenses: int, workdir: Path, progress: Progress) -> Section:
    """Sync ``small_licenses`` and ``large_licenses`` (about) in fresh homes; the ``sync`` section."""
    if not 0 < small_licenses < large_licenses:
        raise ValueError("need 0 < small_licenses < large_licenses")
    workers = Settings(_env_file=None, home=workdir).sync_workers  # the children's: EXCHANGE_SYNC_WORKERS
    cores = min(os.cpu_count() or 1, 1 + workers if workers > 1 else 1)
    samples = [_raw_rate(progress)]
    small = _measure(_persons(small_licenses), workdir / "small", progress)
    samples.append(_raw_rate(progress))
    large = _measure(_persons(large_licenses), workdir / "large", progress)
    samples.append(_raw_rate(progress))
    one_core = statistics.median(samples)
    raw = one_core * cores
    ratio = large.licenses_per_s / raw
    time_ratio = large.pipeline_s / small.pipeline_s
    scaling = time_ratio / (large.licenses / small.licenses)
    figures: dict[str, Any] = {
        "licenses_per_s": large.licenses_per_s,
        "raw_sign_per_s": raw,
        "raw_sign_per_s_one_core": one_core,
        "raw_sign_per_s_samples": samples,
        "ratio": ratio,
        "cores": cores,
        "sync_workers": workers,
        "peak_rss_mb": large.peak_rss_mb,
        "time_ratio": time_ratio,
        "licenses_ratio": large.licenses / small.licenses,
        "scaling": scaling,
        "small": _as_json(small),
        "large": _as_json(large),
    }
    targets = [
        Target(
            "sync.ratio",
            f"licenses/s >= {RATIO_LIMIT} x raw Ed25519 signatures/s on the same cores",
            ratio,
            ">=",
            RATIO_LIMIT,
        ),
        Target(
            "sync.peak_rss_mb",
            f"peak RSS <= {MEMORY_LIMIT_MB // 1024} GiB at the large size",
            large.peak_rss_mb,
            "<=",
            MEMORY_LIMIT_MB,
        ),
        Target(
            "sync.time_ratio",
            f"time(large) / time(small) <= {SCALING_LIMIT} x licenses(large)/licenses(small)",
            time_ratio,
            "<=",
            SCALING_LIMIT * large.licenses / small.licenses,
        ),
    ]
    return Section(name="sync", figures=figures, targets=targets)


def _raw_rate(progress: Progress) -> float:
    progress(f"sync: raw Ed25519 rate over {SIGNING_INPUT_BYTES:,}-byte inputs, one core")
    return ed25519_sign_per_s(RAW_SECONDS, SIGNING_INPUT_BYTES)


def _persons(licenses: int) -> int:
    return max(1, round(licenses / LICENSES_PER_PERSON))


def _as_json(size: SizeFigures) -> dict[str, Any]:
    return {**asdict(size), "licenses_per_s": size.licenses_per_s}


def _measure(persons: int, home: Path, progress: Progress) -> SizeFigures:
    """Generate the population in a fresh ``home``, then time its ``exchange sync``."""
    home.mkdir(parents=True)
    env = _environment(home)
    progress(f"sync: {persons:,} persons: generating the legacy data")
    _check(["demo-data", "--persons", str(persons)], env)
    _check(["db", "upgrade"], env)
    _check(["pki", "init"], env)
    progress(f"sync: {persons:,} persons: exchange sync (all four departments)")
    wall, cpu, main_kib, worker_kib = _sync_process(env)
    engine = engine_for(Settings(_env_file=None, home=home, database_url="", database_url_file=None))
    try:
        with session_factory(engine)() as session:
            runs = session.scalars(select(SyncRun)).all()
            licenses = session.scalar(select(func.count()).select_from(License)) or 0
            unfinished = [run.department_id for run in runs if run.status != "succeeded"]
            if unfinished or not licenses:
                raise BenchError(f"the sync at {persons:,} persons stored {licenses} licenses ({unfinished})")
            figures = SizeFigures(
                persons=persons,
                licenses=licenses,
                read=sum(run.counts.get("read", 0) for run in runs),
                quarantined=sum(run.counts.get("quarantined", 0) for run in runs),
                pipeline_s=sum(
                    (run.finished_at - run.started_at).total_seconds()
                    for run in runs
                    if run.finished_at is not None
                ),
                wall_s=wall,
                cpu_s=cpu,
                peak_rss_mb=(main_kib + sum(worker_kib)) / 1024,
                main_peak_rss_mb=main_kib / 1024,
                workers_peak_rss_mb=[kib / 1024 for kib in worker_kib],
            )
    finally:
        engine.dispose()
    progress(
        f"sync: {persons:,} persons: {figures.licenses:,} licenses in {figures.pipeline_s:.1f} s "
        f"({figures.licenses_per_s:,.0f}/s), peak RSS {figures.peak_rss_mb:.0f} MiB"
    )
    return figures


def _environment(home: Path) -> dict[str, str]:
    """The children's environment: this home and so its own SQLite database, no other ``EXCHANGE_*``
    setting of the caller but ``EXCHANGE_SYNC_WORKERS``."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("EXCHANGE_") or name == "EXCHANGE_SYNC_WORKERS"
    }
    env["EXCHANGE_HOME"] = str(home)
    return env


def _check(args: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(  # noqa: S603 - our own interpreter and command
        python_command("exchange.cli.main", *args), env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise BenchError(f"exchange {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")


def _sync_process(env: dict[str, str]) -> tuple[float, float, int, list[int]]:
    """Wall seconds of one ``exchange sync`` child, the CPU seconds of it and the workers it waited
    for, its own peak RSS (KiB, ``os.wait4``) and the sampled peak RSS (KiB) of each process it
    started (the sealing workers)."""
    started = time.perf_counter()
    child = subprocess.Popen(  # noqa: S603 - our own interpreter and command
        python_command("exchange.cli.main", "sync"),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    peaks: dict[int, int] = {}
    done = threading.Event()
    sampler = threading.Thread(target=_sample_children, args=(child.pid, peaks, done), daemon=True)
    sampler.start()
    assert child.stderr is not None
    errors = child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - started
    done.set()
    sampler.join()
    code = os.waitstatus_to_exitcode(status)
    child.returncode = code
    if code != 0:
        raise BenchError(f"exchange sync failed ({code}):\n{errors.decode(errors='replace')}")
    cpu = usage.ru_utime + usage.ru_stime
    return elapsed, cpu, usage.ru_maxrss, sorted(peaks.values(), reverse=True)


def _sample_children(parent: int, peaks: dict[int, int], done: threading.Event) -> None:
    """Until ``done``: the largest RSS seen of each child process of ``parent`` (Linux ``/proc``)."""
    while not done.wait(SAMPLE_SECONDS):
        for pid in _children(parent):
            rss = _rss_kib(pid)
            if rss is not None and rss > peaks.get(pid, 0):
                peaks[pid] = rss


def _children(parent: int) -> list[int]:
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()  # after "pid (comm) ": state, ppid, ...
        if len(fields) > 1 and fields[1] == str(parent):
            found.append(int(entry.name))
    return found


def _rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None
