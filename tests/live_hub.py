"""A real `exchange up` process for tests: started on a free loopback port with its own EXCHANGE_HOME,
awaited on /health, stopped (SIGTERM, then SIGKILL) when the block ends.

Used by the browser tests (tests/console/conftest.py) and the several-workers test of the audit log
(tests/exchange/audit/test_concurrent_workers.py). The environment is built from scratch without the
caller's EXCHANGE_* variables, so a hub never sees the developer's settings.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.processes import die_with_parent, exchange_exe, free_port, stop, wait_for_health


@dataclass(frozen=True)
class LiveHub:
    """A hub served by a real `exchange up` process; ``env`` runs further CLI commands against it."""

    url: str
    home: Path
    env: dict[str, str] = field(repr=False)
    exe: str = field(repr=False)
    pid: int | None = field(default=None, repr=False)  # the `exchange up` process (uvicorn's supervisor)
    log: Path | None = field(default=None, repr=False)  # its stdout and stderr

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run ``exchange <args>`` against this hub's home; a failure shows the command's output."""
        try:
            return subprocess.run(
                [self.exe, *args],
                capture_output=True,
                text=True,
                env=self.env,
                cwd=self.home.parent,
                timeout=120,
                check=True,
            )
        except subprocess.CalledProcessError as exc:
            exc.add_note(f"stdout:\n{exc.stdout}\nstderr:\n{exc.stderr}")
            raise

    def worker_pids(self) -> list[int]:
        """The uvicorn worker processes `exchange up --workers N` spawned (Linux /proc)."""
        if self.pid is None:
            return []
        return [pid for pid in _children(self.pid) if b"spawn_main" in _cmdline(pid)]


@contextmanager
def serve(base: Path, *args: str, env: Mapping[str, str] | None = None) -> Iterator[LiveHub]:
    """`exchange up <args>` with EXCHANGE_HOME ``base/var``, logging to ``base/exchange-up.log``."""
    home = base / "var"
    port = free_port()
    exe = exchange_exe()
    # Built from scratch: the hub may outlive the per-test environment of tests/conftest.py.
    environment = {name: value for name, value in os.environ.items() if not name.startswith("EXCHANGE_")}
    environment.update(EXCHANGE_HOME=str(home), COLUMNS="200", **(env or {}))
    log_path = base / "exchange-up.log"
    with log_path.open("w", encoding="utf-8") as log:
        # The log is a file, not a pipe: a pipe nobody reads would fill up and block the server.
        process = subprocess.Popen(
            [exe, "up", *args, "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=environment,
            cwd=base,
            preexec_fn=die_with_parent,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for_health(process, url, log_path)
        yield LiveHub(url=url, home=home, env=environment, exe=exe, pid=process.pid, log=log_path)
    finally:
        stop(process)


def _children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent:  # field 4, after "pid (comm) state"
            found.append(int(entry.name))
    return sorted(found)


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""
