"""Helpers shared by the benchmarks: run a command in a child process and measure only that child."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence


def exchange_command(args: Sequence[str], env: Mapping[str, str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one ``exchange <args>`` child process.

    ``os.wait4`` gives the resource usage of this child alone (``RUSAGE_CHILDREN`` would be the
    maximum over every child so far). Its output is discarded; a failure stops the benchmark.
    """
    started = time.perf_counter()
    child = subprocess.Popen(  # noqa: S603 - our own interpreter and command
        [sys.executable, "-m", "exchange.cli.main", *args],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert child.stderr is not None
    errors = child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        message = errors.decode(errors="replace")
        raise SystemExit(f"exchange {' '.join(args)} failed ({child.returncode}):\n{message}")
    return elapsed, usage.ru_maxrss


def progress(message: str) -> None:
    """A stage of a long benchmark, on stderr so that stdout stays the report."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
