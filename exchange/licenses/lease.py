"""One syncer per department at a time: the process working on a sync run holds it, with a heartbeat.

``exchange sync`` and an Airflow task may both be started for the same department. The run row says
who holds it (a label, the host and the process id) and when it last committed a batch. Another
process may take the run over only when the holder is gone: its process has exited (same host), or
it has not committed a batch for :data:`LEASE` (any host). Otherwise it is refused with
:class:`SyncBusy`, which names the holder. The unique (license_type, source_id, version) constraint
still stands behind this: even a race could not seal a source record twice.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta

from exchange.licenses.models import SyncRun

# Longer than any batch (extract, gate, seal, upsert) and a first legacy ingestion; a live holder
# renews it with every committed batch.
LEASE = timedelta(minutes=10)


class SyncBusy(RuntimeError):
    """Another live process holds the department's sync run."""


@dataclass(frozen=True)
class Holder:
    """Who works on a run: ``label`` says what it is (``exchange sync``, an Airflow task)."""

    label: str
    host: str
    pid: int

    @classmethod
    def this_process(cls, label: str) -> Holder:
        return cls(label, socket.gethostname(), os.getpid())

    def __str__(self) -> str:
        return f"{self.label} (pid {self.pid} on {self.host})"


def holder_of(run: SyncRun) -> Holder | None:
    if run.holder is None or run.holder_host is None or run.holder_pid is None:
        return None
    return Holder(run.holder, run.holder_host, run.holder_pid)


def check_free(run: SyncRun, *, now: datetime, claimant: Holder | None) -> None:
    """Raise :class:`SyncBusy` unless ``claimant`` may work on the run now."""
    current = holder_of(run)
    if current is None or current == claimant or _is_this_process(current):
        return  # free, ours, or left by an earlier attempt in this very process
    if not _alive(current, run.heartbeat_at, now):
        return
    since = run.heartbeat_at.isoformat(timespec="seconds") if run.heartbeat_at else "?"
    raise SyncBusy(
        f"the {run.department_id} sync (run {run.id}) is held by {current}, last batch at {since}; "
        f"wait for it to finish, or stop it (a holder that commits nothing for {LEASE} is taken over)"
    )


def claim(run: SyncRun, holder: Holder, *, now: datetime) -> None:
    """Hold the run (in the caller's transaction) and renew the heartbeat; :class:`SyncBusy` if taken."""
    check_free(run, now=now, claimant=holder)
    run.holder, run.holder_host, run.holder_pid = holder.label, holder.host, holder.pid
    run.heartbeat_at = now


def _is_this_process(holder: Holder) -> bool:
    return holder.host == socket.gethostname() and holder.pid == os.getpid()


def _alive(holder: Holder, heartbeat: datetime | None, now: datetime) -> bool:
    if heartbeat is None or now - heartbeat > LEASE:
        return False
    if holder.host != socket.gethostname():
        return True  # another machine: only the lease can tell
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process, alive
    return True
