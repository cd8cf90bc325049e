"""Worker processes that seal licenses, so that a sync seals on every core (``EXCHANGE_SYNC_WORKERS``).

This module handles department keys: keep it small. The keys never cross a pipe. Each worker is a
fresh ``python -m exchange.licenses.sealing_workers <pki dir> <department>...`` that loads the keys of
those departments from their files (0600, the same files :class:`DepartmentSigner` reads in the sync's
own process) and then answers requests on its stdin/stdout: a request is the department, the sealing
time and the records with their status-list entries (pickled), the answer the compact SD-JWT VCs made
by :func:`exchange.licenses.sealing.seal`, the very function the sync's process would call. Only the
sync's process talks to its workers, over pipes nobody else holds.

Not :class:`concurrent.futures.ProcessPoolExecutor`: its spawned workers import the parent's
``__main__`` first (the whole CLI, or Airflow's task runner: seconds and 100+ MiB each), and forking a
process that runs threads (the simulated legacy systems) is unsafe. A worker here imports only the
sealing code (about 35 MiB).

A batch is split into one contiguous chunk per worker, each worker holds at most one request, and
:meth:`PooledSealer.start_sealing` returns at once: the sync reads its next batch while the workers
seal (:mod:`exchange.licenses.sync`). Batches under :data:`MIN_POOLED_BATCH` licenses are sealed in
the sync's own process, and the workers start with the first larger batch, so a small sync starts no
process at all.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import struct
import subprocess
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from certs.store import PkiPaths
from exchange.licenses.sealing import ToSeal, seal
from exchange.queries.evidence import DepartmentSigner

MIN_POOLED_BATCH = 200  # licenses; below this, a round trip to the workers costs more than it saves
READY = "ready"


class SealingWorkerError(RuntimeError):
    """A sealing worker could not start or died; the batch is not sealed (the sync run fails and resumes)."""


class SealingWorkers:
    """Worker processes that seal for ``department_ids`` with keys from ``pki_dir``; a context manager.

    ``processes`` workers start on the first batch of at least ``min_batch`` licenses (default
    :data:`MIN_POOLED_BATCH`) and stop with :meth:`close` (end of the sync).
    """

    def __init__(
        self,
        pki_dir: Path,
        department_ids: Sequence[str],
        *,
        processes: int,
        min_batch: int | None = None,
    ) -> None:
        if processes < 1:
            raise ValueError("sealing needs at least one worker process")
        self._pki_dir = Path(pki_dir)
        self._department_ids = list(department_ids)
        self._processes = processes
        self._min_batch = MIN_POOLED_BATCH if min_batch is None else min_batch
        self._workers: list[_Worker] = []
        self._pending: Callable[[], list[str]] | None = None
        self._broken: str | None = None

    def __enter__(self) -> SealingWorkers:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def started(self) -> int:
        """How many worker processes are running (0 until the first large batch)."""
        return len(self._workers)

    def sealer(self, department_id: str) -> PooledSealer:
        """The department's sealer; it also holds the department's key in this process, for small batches."""
        if department_id not in self._department_ids:
            raise KeyError(f"the sealing workers hold no key of {department_id}")
        local = DepartmentSigner.load(PkiPaths(self._pki_dir), department_id)
        return PooledSealer(self, local, self._min_batch)

    def submit(
        self, department_id: str, items: Sequence[ToSeal], *, now: datetime
    ) -> Callable[[], list[str]]:
        """Send ``items`` to the workers; the returned function waits for their credentials, in order."""
        if self._broken:
            raise SealingWorkerError(self._broken)
        if self._pending is not None:  # one request per worker at a time: collect the previous one first
            with contextlib.suppress(ValueError):  # its refusal was the previous batch's business
                self._pending()
        self._start()
        chunks = _split(list(items), len(self._workers))
        busy = []
        try:
            for worker, chunk in zip(self._workers, chunks, strict=False):
                worker.send((department_id, now, [(i.record, i.status_uri, i.status_index) for i in chunk]))
                busy.append(worker)
        except SealingWorkerError as exc:
            self._fail(str(exc))
            raise
        outcome: list[str] | ValueError | None = None

        def collect() -> list[str]:
            nonlocal outcome
            if outcome is None:
                self._pending = None
                try:
                    outcome = _collect(busy)
                except ValueError as exc:  # a record the key refused; every answer was read
                    outcome = exc
                except SealingWorkerError as exc:
                    self._fail(str(exc))
                    raise
                except BaseException:  # answers may be left in the pipes: these workers are done
                    self._fail("interrupted while collecting a batch")
                    raise
            if isinstance(outcome, ValueError):
                raise outcome
            return outcome

        self._pending = collect
        return collect

    def close(self) -> None:
        """Stop the workers: end of input, then a grace period, then a kill."""
        workers, self._workers = self._workers, []
        for worker in workers:
            worker.close()

    def _start(self) -> None:
        if self._workers:
            return
        try:
            for _ in range(self._processes):
                self._workers.append(_Worker.spawn(self._pki_dir, self._department_ids))
            for worker in self._workers:
                worker.wait_ready()
        except SealingWorkerError as exc:
            self._fail(str(exc))
            raise

    def _fail(self, reason: str) -> None:
        self._broken = reason
        self._pending = None
        self.close()


class PooledSealer:
    """A department's :class:`~exchange.licenses.sealing.LicenseSealer` backed by the workers."""

    def __init__(self, workers: SealingWorkers, local: DepartmentSigner, min_batch: int) -> None:
        self.department_id = local.department_id
        self._workers = workers
        self._local = local
        self._min_batch = min_batch

    def seal_licenses(self, items: Sequence[ToSeal], *, now: datetime) -> list[str]:
        return self.start_sealing(items, now=now)()

    def start_sealing(self, items: Sequence[ToSeal], *, now: datetime) -> Callable[[], list[str]]:
        """Start sealing ``items``; the returned function waits for the credentials, in order.

        Raises (from the returned function) ``ValueError`` for a record the key refuses, as
        :func:`~exchange.licenses.sealing.seal` does, and :class:`SealingWorkerError`.
        """
        if len(items) < self._min_batch:
            credentials = self._local.seal_licenses(items, now=now)
            return lambda: credentials
        return self._workers.submit(self.department_id, items, now=now)


def _collect(busy: Sequence[_Worker]) -> list[str]:
    """Every busy worker's answer, in order; the first refusal is raised after all were read."""
    results: list[str] = []
    refused: ValueError | None = None
    for worker in busy:
        try:
            results.extend(worker.receive())
        except ValueError as exc:
            refused = refused or exc
    if refused is not None:
        raise refused
    return results


def _split(items: list[ToSeal], parts: int) -> list[list[ToSeal]]:
    """Contiguous, nearly equal chunks (no empty one), in order."""
    parts = max(1, min(parts, len(items)))
    size, extra = divmod(len(items), parts)
    chunks, start = [], 0
    for index in range(parts):
        end = start + size + (1 if index < extra else 0)
        chunks.append(items[start:end])
        start = end
    return chunks


class _Worker:
    """One worker process and its two pipes, from the parent's side."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self._process = process
        assert process.stdin is not None and process.stdout is not None
        self._requests: IO[bytes] = process.stdin
        self._answers: IO[bytes] = process.stdout

    @classmethod
    def spawn(cls, pki_dir: Path, department_ids: Sequence[str]) -> _Worker:
        try:
            process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-m", __name__, str(pki_dir), *department_ids],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )
        except OSError as exc:
            raise SealingWorkerError(f"cannot start a sealing worker: {exc}") from None
        return cls(process)

    def wait_ready(self) -> None:
        kind, detail = self._read()
        if kind != READY:
            raise SealingWorkerError(f"a sealing worker did not start: {detail}")

    def send(self, request: Any) -> None:
        try:
            _write(self._requests, request)
        except (BrokenPipeError, OSError) as exc:
            raise SealingWorkerError(f"a sealing worker is gone ({self._exit()}): {exc}") from None

    def receive(self) -> list[str]:
        kind, detail = self._read()
        if kind == "sealed":
            return detail
        if kind == "refused":
            raise ValueError(detail)
        raise SealingWorkerError(f"a sealing worker failed: {detail}")

    def _read(self) -> tuple[str, Any]:
        try:
            answer = _read(self._answers)
        except (EOFError, OSError, pickle.UnpicklingError) as exc:
            raise SealingWorkerError(f"a sealing worker is gone ({self._exit()}): {exc!r}") from None
        return answer

    def _exit(self) -> str:
        code = self._process.poll()
        return "still running" if code is None else f"exit code {code}"

    def close(self) -> None:
        for stream in (self._requests, self._answers):
            with contextlib.suppress(OSError):
                stream.close()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


# --- the worker's side -------------------------------------------------------------------------


def serve(pki_dir: Path, department_ids: Sequence[str], requests: IO[bytes], answers: IO[bytes]) -> None:
    """Load the departments' keys, say ready, then seal each request until the end of ``requests``."""
    try:
        signers = {d: DepartmentSigner.load(PkiPaths(pki_dir), d) for d in department_ids}
    except Exception as exc:  # a missing or unreadable key: say why, without any key material
        _answer(answers, ("failed", f"{type(exc).__name__}: {exc}"))
        return
    _answer(answers, (READY, None))
    while True:
        try:
            department_id, now, items = _read(requests)
        except EOFError:
            return
        try:
            signer = signers[department_id]
            sealed = [
                seal(record, signer=signer, status_uri=uri, status_index=index, now=now).compact
                for record, uri, index in items
            ]
        except ValueError as exc:
            _answer(answers, ("refused", str(exc)))
        except Exception as exc:
            _answer(answers, ("failed", f"{type(exc).__name__}: {exc}"))
        else:
            _answer(answers, ("sealed", sealed))


def _answer(answers: IO[bytes], message: tuple[str, Any]) -> None:
    _write(answers, message)


# --- the messages: a pickle, preceded by its length -------------------------------------------------
# Whole messages: the writer hands the pipe bytes it already has, the reader takes them off the pipe
# as fast as they come and unpickles afterwards, on its own time (pickling straight into a pipe keeps
# the writer waiting for the reader's unpickling).

_LENGTH = struct.Struct(">Q")


def _write(stream: IO[bytes], message: Any) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_LENGTH.pack(len(data)))
    stream.write(data)
    stream.flush()


def _read(stream: IO[bytes]) -> Any:
    (size,) = _LENGTH.unpack(_exactly(stream, _LENGTH.size))
    return pickle.loads(_exactly(stream, size))  # noqa: S301 - between the sync and its own workers


def _exactly(stream: IO[bytes], size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise EOFError(f"the pipe ended after {len(data)} of {size} bytes")
    return data


def main(argv: Sequence[str]) -> None:
    if len(argv) < 2:
        raise SystemExit("usage: python -m exchange.licenses.sealing_workers PKI_DIR DEPARTMENT...")
    # Ctrl-C reaches the whole process group: the sync decides, and the worker ends with its input.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The answers go to a private copy of stdout; anything printed by accident goes to stderr.
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    with contextlib.suppress(BrokenPipeError):  # the sync is gone
        serve(Path(argv[0]), argv[1:], sys.stdin.buffer, answers)


if __name__ == "__main__":
    main(sys.argv[1:])
