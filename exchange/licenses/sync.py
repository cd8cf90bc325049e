"""The license sync, top to bottom: extract → validate → seal → upsert → record.

Importable task bodies for Airflow (dags/) and ``exchange sync``: they pass run ids, not data. A run
works in batches, and each batch is one transaction that also moves the run's watermark, so a run
killed in the middle and started again resumes after its last committed batch and the store ends up
exactly as if it had never stopped; a run that failed (a legacy system down too long, a sealing
worker killed) is closed as failed, and the next run goes on after its last committed batch.
Idempotent: the same source record twice is one license; a changed record is a new version
superseding the old; a cancellation at the source revokes. One process at a time works on a
department's run (:mod:`exchange.licenses.lease`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_delay, wait_exponential

from adapters.base import CertificateRecord, Change, Department
from adapters.errors import LegacyTimeout, LegacyUnavailable
from exchange.db.engine import session_scope
from exchange.licenses import store
from exchange.licenses.lease import Holder, SyncBusy, check_free, claim
from exchange.licenses.models import QualityResult, QuarantinedRecord, SyncRun
from exchange.licenses.records import NotALicense, license_record, to_json
from exchange.licenses.sealing import LicenseSealer
from exchange.licenses.types import LicenseRecord

# The quality gate's largest batch: a GX validation costs about 0.45 s whatever its size plus about
# 0.1 ms a record, so fewer, larger batches are cheaper (docs/performance.md).
BATCH_SIZE = 5000
DEFAULT_HOLDER = "exchange sync"
# Seconds a batch waits for a legacy system that is busy or down before the run fails: well inside the
# lease (exchange/licenses/lease.py), so a waiting holder is not taken over.
EXTRACT_PATIENCE = 300.0

log = logging.getLogger(__name__)


class ChangeFeed(Protocol):
    """Where a department's certificate changes come from: its adapter (the embedded default), or
    its gateway (:class:`exchange.gateways.client.GatewayProvider`)."""

    department: Department

    def changes_since(self, watermark: str | None) -> Iterator[Change]: ...


@dataclass
class BatchOutcome:
    read: int = 0
    quarantined: int = 0
    created: int = 0
    superseded: int = 0
    revoked: int = 0
    unchanged: int = 0
    watermark: str | None = None
    counts: dict[str, int] = field(default_factory=dict)


@dataclass
class ReadAhead:
    """The next batch's changes, read while worker processes seal the current batch.

    Only with a :class:`~exchange.licenses.sealing.BackgroundSealer` (never with a gateway, which
    keeps the pages it handed out until the hub seals them). Reading a feed is idempotent: the next
    batch uses these changes only if it starts at the watermark they were read after, and a read
    that fails is simply left to the next batch, which retries with patience.
    """

    after: str | None = None
    changes: list[Change] | None = None

    def read(self, adapter: ChangeFeed, watermark: str | None, size: int) -> None:
        try:
            self.changes = list(islice(adapter.changes_since(watermark), size))
        except Exception as exc:  # noqa: BLE001 - the next batch reads again and reports it
            log.debug("%s: reading ahead failed (%s); the next batch reads again", adapter.department.id, exc)
            self.changes = None
            return
        self.after = watermark

    def take(self, watermark: str | None) -> list[Change] | None:
        """The changes read ahead, if they start at ``watermark``; they are handed out once."""
        changes, self.changes = self.changes, None
        return changes if changes is not None and self.after == watermark else None


def start_run(session: Session, *, department_id: str, now: datetime, holder: Holder | None = None) -> int:
    """A new run, or the unfinished one of this department (a killed run is resumed, not repeated).

    A new run starts where the department's last finished run, succeeded or failed, left the feed.

    With a ``holder`` the run is claimed for it; without one (Airflow's start task) it is left for the
    process that syncs it. Raises :class:`SyncBusy` while another live process holds the run.
    """
    unfinished = session.scalars(
        select(SyncRun)
        .where(SyncRun.department_id == department_id, SyncRun.status == "running")
        .with_for_update()
    ).first()
    if unfinished is not None:
        if holder is None:
            check_free(unfinished, now=now, claimant=None)
        else:
            claim(unfinished, holder, now=now)
        return unfinished.id
    # A failed run's watermark is safe too: each batch commits its licenses with the watermark, so it
    # is where the last committed batch left the feed. Going on from there, not from the last success,
    # spares reading the failed run's batches again (and quarantining their bad records twice).
    last = session.scalars(
        select(SyncRun)
        .where(SyncRun.department_id == department_id, SyncRun.status.in_(("succeeded", "failed")))
        .order_by(SyncRun.id.desc())
    ).first()
    watermark = last.watermark_to if last is not None else None
    run = SyncRun(
        department_id=department_id,
        started_at=now,
        status="running",
        watermark_from=watermark,
        watermark_to=watermark,
        counts={},
    )
    if holder is not None:
        claim(run, holder, now=now)
    session.add(run)
    session.flush()
    return run.id


def sync_batch(
    session: Session,
    *,
    run_id: int,
    adapter: ChangeFeed,
    signer: LicenseSealer,
    department: Department,
    now: datetime,
    public_url: str,
    batch_size: int = BATCH_SIZE,
    holder: Holder | None = None,
    patience: float = EXTRACT_PATIENCE,
    read_ahead: ReadAhead | None = None,
) -> BatchOutcome:
    """One batch after the run's watermark: validated, sealed, upserted, and the watermark moved.

    The batch is done for ``holder`` (default: this process as ``exchange sync``), which claims the
    run and renews its heartbeat; :class:`SyncBusy` when another live process holds it. Returns an
    outcome with ``read == 0`` when the feed is exhausted. With ``read_ahead`` and a sealer that seals
    in worker processes, the next batch's changes are read while this one is sealed.
    """
    from exchange.quality.gate import check_batch

    run = session.get(SyncRun, run_id, with_for_update=True)
    if run is None or run.status != "running":
        raise ValueError(f"sync run {run_id} is not running")
    claim(run, holder or Holder.this_process(DEFAULT_HOLDER), now=now)
    changes = read_ahead.take(run.watermark_to) if read_ahead is not None else None
    if changes is None:
        changes = read_changes(adapter, run.watermark_to, batch_size, patience=patience)
    outcome = BatchOutcome(read=len(changes))
    if not changes:
        return outcome
    batch_no = run.counts.get("batches", 0) + 1
    latest = _latest_per_source(changes)
    current: dict[str, dict[str, store.Head]] = {}
    for license_type in {c.record.license_type for c in latest}:
        ids = [c.record.source_id for c in latest if c.record.license_type == license_type]
        current[license_type] = store.heads(session, license_type=license_type, source_ids=ids)
    cancelled: list[store.Head] = []
    by_type: dict[str, list[tuple[CertificateRecord, LicenseRecord, store.Head | None]]] = {}
    for change in latest:
        certificate = change.record
        head = current[certificate.license_type].get(certificate.source_id)
        version = store.next_version(head, certificate)
        if version is None:  # unchanged, or a cancellation already applied
            outcome.unchanged += 1
            continue
        if certificate.cancelled and head is not None:
            cancelled.append(head)
            continue
        try:
            record = license_record(certificate, department=department, version=version)
        except NotALicense as exc:
            _quarantine(session, run_id, certificate, {}, [str(exc)], now)
            outcome.quarantined += 1
            continue
        by_type.setdefault(record.license_type, []).append((certificate, record, head))
    outcome.revoked += store.revoke(session, cancelled, now=now, reason="cancelled at source")
    for license_type, items in by_type.items():
        gate = check_batch(license_type, [record for _, record, _ in items], now=now)
        session.add(
            QualityResult(
                run_id=run_id,
                license_type=license_type,
                batch=batch_no,
                statistics=asdict(gate.statistics),
                result=gate.result_json,
                validated_at=now,
            )
        )
        for index, reasons in gate.failed.items():
            certificate, record, _ = items[index]
            _quarantine(session, run_id, certificate, to_json(record), reasons, now)
            outcome.quarantined += 1
        passed = [store.NewVersion(*items[index]) for index in gate.passed]
        outcome.superseded += store.add_versions(
            session,
            passed,
            signer=signer,
            run_id=run_id,
            now=now,
            public_url=public_url,
            while_sealing=_reading_ahead(read_ahead, adapter, changes[-1].watermark, batch_size),
        )
        outcome.created += len(passed)
    run.watermark_to = changes[-1].watermark
    counts = dict(run.counts)
    for name in ("read", "quarantined", "created", "superseded", "revoked", "unchanged"):
        counts[name] = counts.get(name, 0) + getattr(outcome, name)
    counts["batches"] = batch_no
    run.counts = counts
    outcome.watermark = run.watermark_to
    session.flush()
    return outcome


def _reading_ahead(
    read_ahead: ReadAhead | None, adapter: ChangeFeed, watermark: str, size: int
) -> Callable[[], None] | None:
    """Read the batch after ``watermark`` into ``read_ahead``, once per batch."""
    if read_ahead is None:
        return None

    def read() -> None:
        if read_ahead.changes is None:
            read_ahead.read(adapter, watermark, size)

    return read


def finish_run(session: Session, *, run_id: int, now: datetime, error: str | None = None) -> SyncRun:
    """Close the run; a successful one moves the directory's last-update of the department's licenses."""
    run = session.get(SyncRun, run_id)
    if run is None:
        raise ValueError(f"no sync run {run_id}")
    run.finished_at = now
    run.status = "failed" if error else "succeeded"
    run.error = error
    if not error:
        store.mark_directory_updated(session, department_id=run.department_id, now=now)
    session.flush()
    return run


def run_sync(
    sessions: sessionmaker[Session],
    *,
    department: Department,
    adapter: ChangeFeed,
    signer: LicenseSealer,
    now: Callable[[], datetime],
    public_url: str,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[BatchOutcome], None] | None = None,
    holder: Holder | None = None,
) -> SyncRun:
    """The whole sync of one department, one committed transaction per batch (``exchange sync``).

    Raises :class:`SyncBusy` (leaving the run to its holder) when another live process syncs the
    department; any other failure closes the run as failed and propagates.
    """
    holder = holder or Holder.this_process(DEFAULT_HOLDER)
    with session_scope(sessions) as session:
        run_id = start_run(session, department_id=department.id, now=now(), holder=holder)
    try:
        for outcome in sync_batches(
            sessions,
            run_id=run_id,
            department=department,
            adapter=adapter,
            signer=signer,
            now=now,
            public_url=public_url,
            batch_size=batch_size,
            holder=holder,
        ):
            if progress is not None:
                progress(outcome)
    except SyncBusy:
        raise  # taken over by a live process: the run is not ours to close
    except Exception as exc:
        with session_scope(sessions) as session:
            finish_run(session, run_id=run_id, now=now(), error=f"{type(exc).__name__}: {exc}")
        raise
    with session_scope(sessions) as session:
        run = finish_run(session, run_id=run_id, now=now())
        session.expunge(run)
    return run


def sync_batches(
    sessions: sessionmaker[Session],
    *,
    run_id: int,
    department: Department,
    adapter: ChangeFeed,
    signer: LicenseSealer,
    now: Callable[[], datetime],
    public_url: str,
    batch_size: int = BATCH_SIZE,
    holder: Holder | None = None,
) -> Iterator[BatchOutcome]:
    """Committed batches until the feed is exhausted; the run stays ``running`` (the caller finishes it)."""
    read_ahead = ReadAhead()
    while True:
        with session_scope(sessions) as session:
            outcome = sync_batch(
                session,
                run_id=run_id,
                adapter=adapter,
                signer=signer,
                department=department,
                now=now(),
                public_url=public_url,
                batch_size=batch_size,
                holder=holder,
                read_ahead=read_ahead,
            )
        if not outcome.read:
            return
        yield outcome


def read_changes(adapter: ChangeFeed, watermark: str | None, size: int, *, patience: float) -> list[Change]:
    """Up to ``size`` changes after ``watermark``, waiting out a legacy system that is busy or down.

    Reading the feed is idempotent, so a legacy failure (unavailable, timed out) is retried from the
    same watermark with exponential backoff for up to ``patience`` seconds; a big first drop (the tax
    bureau's batch files) is ingested over several such calls. Then the failure propagates.
    """

    def waiting(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        delay = state.next_action.sleep if state.next_action else 0
        name = adapter.department.id
        log.warning("%s: legacy system not ready (%s); retrying in %.1f s", name, error, delay)

    for attempt in Retrying(
        retry=retry_if_exception_type((LegacyUnavailable, LegacyTimeout)),
        stop=stop_after_delay(patience),
        wait=wait_exponential(multiplier=0.5, max=10),
        before_sleep=waiting,
        reraise=True,
    ):
        with attempt:
            return list(islice(adapter.changes_since(watermark), size))
    raise AssertionError("unreachable: tenacity returns or raises")  # pragma: no cover


def _latest_per_source(changes: list[Change]) -> list[Change]:
    """Only the last change of each source record in a batch: its final state is what the store needs."""
    latest = {(c.record.license_type, c.record.source_id): position for position, c in enumerate(changes)}
    return [
        change
        for position, change in enumerate(changes)
        if latest[(change.record.license_type, change.record.source_id)] == position
    ]


def _quarantine(
    session: Session,
    run_id: int,
    certificate: CertificateRecord,
    record: dict[str, Any],
    reasons: list[str],
    now: datetime,
) -> None:
    session.add(
        QuarantinedRecord(
            run_id=run_id,
            license_type=certificate.license_type,
            source_id=certificate.source_id,
            source_version=certificate.source_version,
            record=record,
            reasons=reasons,
            quarantined_at=now,
        )
    )


def publish_quality(session: Session, *, run_id: int, home: Path) -> Path | None:
    """Render the run's Great Expectations results into the Data Docs under ``home/quality-docs``."""
    results = session.scalars(
        select(QualityResult).where(QualityResult.run_id == run_id).order_by(QualityResult.id)
    ).all()
    if not results:
        return None
    from exchange.quality.data_docs import build_data_docs

    return build_data_docs(home, [(str(run_id), row.license_type, row.result) for row in results])
