"""Real server processes for tests: `exchange up`, `exchange gateway`, on free loopback ports.

The processes log to files (a pipe nobody reads would fill up and block the server), die with
pytest (``PR_SET_PDEATHSIG``) and are stopped with SIGTERM, then SIGKILL.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

STARTUP_LIMIT = 180  # seconds to answer /health: a hang guard, not an assertion
STOP_LIMIT = 15  # seconds between SIGTERM and SIGKILL
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def exchange_exe() -> str:
    return shutil.which("exchange") or str(Path(sys.executable).parent / "exchange")


def clean_env(**values: str) -> dict[str, str]:
    """This process's environment without EXCHANGE_* variables, plus ``values``.

    Fixtures that outlive one test build their environment from scratch: the per-test environment
    of tests/conftest.py is gone by then. The test database switch is kept.
    """
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("EXCHANGE_") or name.startswith("EXCHANGE_TEST_")
    }
    env.update(COLUMNS="200", **values)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    """A server process answering ``url``; ``log`` holds its output."""

    process: subprocess.Popen[bytes]
    url: str
    log: Path
    env: dict[str, str] = field(repr=False)

    def stop(self) -> int:
        """SIGTERM (uvicorn drains and shuts down), then SIGKILL; the exit code."""
        return stop(self.process)

    def tail(self, lines: int = 60) -> str:
        return tail(self.log, lines)


def start(args: Sequence[str], *, env: Mapping[str, str], cwd: Path, port: int, name: str) -> Server:
    """Start ``exchange <args>`` and wait until ``/health`` answers 200."""
    log = cwd / f"{name}.log"
    with log.open("w", encoding="utf-8") as output:
        process = subprocess.Popen(
            [exchange_exe(), *args],
            stdout=output,
            stderr=subprocess.STDOUT,
            env=dict(env),
            cwd=cwd,
            preexec_fn=die_with_parent,
        )
    server = Server(process, f"http://127.0.0.1:{port}", log, dict(env))
    wait_for_health(process, server.url, log, f"exchange {args[0]}")
    return server


def wait_for_health(process: subprocess.Popen[bytes], url: str, log: Path, what: str = "exchange up") -> None:
    """Until ``url``/health answers 200; a process that exits or hangs fails the test with its log."""
    deadline = time.monotonic() + STARTUP_LIMIT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{what} exited with {process.returncode}:\n{tail(log)}", pytrace=False)
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    stop(process)
    pytest.fail(f"{what} did not answer {url}/health in {STARTUP_LIMIT} s:\n{tail(log)}", pytrace=False)


def stop(process: subprocess.Popen[bytes]) -> int:
    """SIGTERM (uvicorn drains and shuts down), then SIGKILL: no server outlives its test."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_LIMIT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def tail(path: Path, lines: int = 60) -> str:
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def run(args: Sequence[str], *, env: Mapping[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``exchange <args>`` to completion; a failure shows its output."""
    try:
        return subprocess.run(
            [exchange_exe(), *args],
            capture_output=True,
            text=True,
            env=dict(env),
            cwd=cwd,
            timeout=300,
            check=True,
        )
    except subprocess.CalledProcessError as exc:
        exc.add_note(f"stdout:\n{exc.stdout}\nstderr:\n{exc.stderr}")
        raise


def die_with_parent() -> None:
    """Linux: the kernel sends SIGTERM to the server if pytest itself dies (killed, crashed)."""
    if sys.platform == "linux":
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
