"""Child processes of the benchmarks: each measured on its own (time, peak RSS), never the parent."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence


def python_command(module: str, *args: str) -> list[str]:
    """``python -m module args`` with this interpreter (the project's environment)."""
    return [sys.executable, "-m", module, *args]


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def exchange_command(args: Sequence[str], env: Mapping[str, str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one ``exchange <args>`` child process.

    ``os.wait4`` gives the resource usage of this child alone (``RUSAGE_CHILDREN`` would be the
    maximum over every child so far). Its output is discarded; a failure stops the benchmark.
    """
    started = time.perf_counter()
    child = subprocess.Popen(  # noqa: S603 - our own interpreter and command
        python_command("exchange.cli.main", *args),
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
