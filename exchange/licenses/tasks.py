"""The license sync as three Airflow-free task bodies: start → sync → finish (dags/license_sync.py).

Each takes and returns plain ids and dicts (XCom-sized, JSON), opens its own engine from
:func:`exchange.config.get_settings` and commits its own transactions, so Airflow only wires them.

Restart semantics: ``sync`` commits one transaction per batch, and a failed ``sync`` leaves the run
``running`` (it does not call ``finish_run`` with an error). An Airflow retry of ``sync`` resumes the
same run after its last committed batch; when the retries are spent, the next DAG run's ``start``
returns that unfinished run (:func:`exchange.licenses.sync.start_run`) and continues it. The store ends
up as if nothing had failed.

In the embedded default the department is its simulated legacy system and this process holds its
sealing key, as in :func:`exchange.licenses.runner.sync_departments`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from exchange.config import get_settings
from exchange.db.engine import engine_for, session_factory, session_scope
from exchange.licenses.lease import Holder
from exchange.licenses.models import SyncRun
from exchange.licenses.sync import finish_run, publish_quality, start_run, sync_batches

_COUNTS = ("read", "quarantined", "created", "superseded", "revoked", "unchanged")


def start(department_id: str) -> int:
    """Open a sync run for the department (or return its unfinished one); returns the run id.

    Raises ``KeyError`` for an unknown department and :class:`~exchange.licenses.lease.SyncBusy`
    while another live process syncs it.
    """
    from adapters.registry import get_department

    get_department(department_id)
    with _sessions() as sessions, session_scope(sessions) as session:
        return start_run(session, department_id=department_id, now=_now())


def sync(run_id: int, department_id: str) -> dict[str, Any]:
    """Sync batches into the run until the department's feed is exhausted; one transaction per batch.

    Returns what this call did: ``run_id``, ``batches`` and the counts (``read``, ``quarantined``,
    ``created``, ``superseded``, ``revoked``, ``unchanged``) summed over its batches, and the run's
    ``watermark``. Raises ``ValueError`` when the run is not a running run of this department; any
    other error propagates with the run left ``running`` (see the module docstring). Raises
    :class:`~exchange.licenses.lease.SyncBusy` while another live process (an ``exchange sync``)
    holds the run: Airflow retries the task later.
    """
    from adapters.registry import get_department
    from exchange.licenses.runner import connected

    settings = get_settings()
    department = get_department(department_id)
    summary: dict[str, Any] = {"run_id": run_id, "batches": 0, **dict.fromkeys(_COUNTS, 0)}
    with _sessions() as sessions:
        with session_scope(sessions) as session:
            _running_run(session, run_id, department_id)
        with connected(settings, [department_id]) as departments:
            adapter, signer = departments[department_id]
            for outcome in sync_batches(
                sessions,
                run_id=run_id,
                department=department,
                adapter=adapter,
                signer=signer,
                now=_now,
                public_url=settings.base_url,
                holder=Holder.this_process(f"airflow license_sync task ({department_id})"),
            ):
                summary["batches"] += 1
                for name in _COUNTS:
                    summary[name] += getattr(outcome, name)
                summary["watermark"] = outcome.watermark
        with session_scope(sessions) as session:
            summary["watermark"] = _running_run(session, run_id, department_id).watermark_to
    return summary


def finish(run_id: int) -> dict[str, Any]:
    """Close the run as succeeded; returns ``run_id``, ``department_id``, ``status`` and the run's counts.

    Idempotent: a run already finished (e.g. a retried task whose first try committed) is returned
    unchanged. Raises ``ValueError`` for an unknown run.
    """
    with _sessions() as sessions, session_scope(sessions) as session:
        run = session.get(SyncRun, run_id)
        if run is None:
            raise ValueError(f"no sync run {run_id}")
        if run.status == "running":
            run = finish_run(session, run_id=run_id, now=_now())
            publish_quality(session, run_id=run_id, home=get_settings().home)
        return {
            "run_id": run.id,
            "department_id": run.department_id,
            "status": run.status,
            "watermark": run.watermark_to,
            "counts": dict(run.counts),
        }


def _running_run(session: Session, run_id: int, department_id: str) -> SyncRun:
    run = session.get(SyncRun, run_id)
    if run is None or run.department_id != department_id or run.status != "running":
        raise ValueError(f"sync run {run_id} is not a running run of {department_id}")
    return run


@contextmanager
def _sessions() -> Iterator[sessionmaker[Session]]:
    engine = engine_for(get_settings())
    try:
        yield session_factory(engine)
    finally:
        engine.dispose()


def _now() -> datetime:
    return datetime.now(UTC)
