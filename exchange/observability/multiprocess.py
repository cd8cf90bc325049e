"""The directory where ``exchange up --workers N`` workers keep their metric values.

prometheus-client's multiprocess mode: each worker process writes its counters and histograms to
memory-mapped files in ``PROMETHEUS_MULTIPROC_DIR`` and a scrape, served by any worker, adds them up.
The variable must be set before prometheus-client is first imported in a process, so ``exchange up``
sets it before uvicorn spawns the workers, and the directory must start empty, or values of an
earlier run would be counted again. This module imports nothing of prometheus-client on purpose.
"""

from __future__ import annotations

import os
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
PREFIX = "metrics-"


@dataclass(frozen=True)
class MetricsDir:
    path: Path
    owned: bool  # made by this run (removed when it ends) rather than named by the operator


def prepare(home: Path, workers: int) -> MetricsDir | None:
    """Set up multiprocess mode for a serving run, or leave one process in its own registry.

    An operator's ``PROMETHEUS_MULTIPROC_DIR`` is honoured (its ``*.db`` files are wiped, as
    prometheus-client requires between runs). Otherwise, with more than one worker, a fresh
    ``$EXCHANGE_HOME/run/metrics-<host>-<pid>`` is made and named in the environment the workers
    inherit; directories that earlier runs on this host left behind are removed.
    """
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()
        return MetricsDir(path, owned=False)
    if workers <= 1:
        return None
    run_dir = home / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    _remove_abandoned(run_dir)
    path = run_dir / f"{PREFIX}{_host()}-{os.getpid()}"
    shutil.rmtree(path, ignore_errors=True)  # the same pid on the same host: a container restarted
    path.mkdir(mode=0o700)
    os.environ[MULTIPROC_ENV] = str(path)
    return MetricsDir(path, owned=True)


def release(metrics_dir: MetricsDir | None) -> None:
    """After the run: remove the directory it made (an operator's is left as it is)."""
    if metrics_dir is None:
        return
    if metrics_dir.owned:
        shutil.rmtree(metrics_dir.path, ignore_errors=True)
        if os.environ.get(MULTIPROC_ENV) == str(metrics_dir.path):
            del os.environ[MULTIPROC_ENV]


def _host() -> str:
    return "".join(c if c.isalnum() or c in "-." else "_" for c in socket.gethostname()) or "host"


def _remove_abandoned(run_dir: Path) -> None:
    """Directories of runs on this host whose process is gone (killed before it could clean up)."""
    mine = f"{PREFIX}{_host()}-"
    for candidate in run_dir.glob(f"{mine}*"):
        pid = candidate.name[len(mine) :]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(candidate, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True
