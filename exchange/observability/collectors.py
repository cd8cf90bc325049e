"""Metrics read from the database when Prometheus scrapes: the audit log's head and checkpoint lag,
and the license syncs that other processes (``exchange sync``, Airflow tasks) run.

Computed by the one worker that serves the scrape, so they are never added up across workers. A
database that cannot be read makes ``exchange_metrics_database_up`` 0 and leaves these out; the
scrape itself still answers.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

import exchange
from adapters.registry import DEPARTMENTS
from exchange.audit import service as audit
from exchange.observability import repository

logger = logging.getLogger("exchange.observability")

# A run's counts (exchange/licenses/sync.py) under the names the metric uses; ``created`` is what
# the run sealed as new license versions.
ROW_KINDS = {
    "read": "read",
    "created": "sealed",
    "superseded": "superseded",
    "revoked": "revoked",
    "unchanged": "unchanged",
    "quarantined": "quarantined",
}
RUN_OUTCOMES = ("succeeded", "failed")


class DatabaseCollector:
    """The scrape-time metrics of one hub: ``collect()`` reads the database in one session."""

    def __init__(
        self, sessions: sessionmaker[Session], *, clock: Callable[[], datetime] | None = None
    ) -> None:
        self._sessions = sessions
        self._clock = clock or (lambda: datetime.now(UTC))

    def collect(self) -> Iterator[Metric]:
        build = GaugeMetricFamily("exchange_build_info", "The hub's version; always 1.", labels=["version"])
        build.add_metric([exchange.__version__], 1)
        yield build
        up = GaugeMetricFamily(
            "exchange_metrics_database_up",
            "1 when this scrape could read the audit and sync state from the database, else 0.",
        )
        try:
            with self._sessions() as session:
                families = [*self._audit(session), *self._sync(session)]
        except SQLAlchemyError as exc:
            logger.warning("metrics: the database could not be read (%s)", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _audit(self, session: Session) -> list[Metric]:
        size = audit.tree_size(session)
        latest = audit.latest_checkpoint(session)
        signed = latest.tree_size if latest is not None else 0
        families: list[Metric] = [
            GaugeMetricFamily("exchange_audit_tree_size", "Entries in the audit log.", value=size),
            GaugeMetricFamily(
                "exchange_audit_checkpoint_size",
                "Tree size of the latest signed checkpoint (0: none signed yet).",
                value=signed,
            ),
            GaugeMetricFamily(
                "exchange_audit_checkpoint_lag_entries",
                "Audit entries newer than the latest signed checkpoint.",
                value=max(size - signed, 0),
            ),
        ]
        if latest is not None:
            at = latest.signed_at.timestamp()
            families += [
                GaugeMetricFamily(
                    "exchange_audit_checkpoint_timestamp_seconds",
                    "When the latest checkpoint was signed (Unix time); absent before the first.",
                    value=at,
                ),
                GaugeMetricFamily(
                    "exchange_audit_checkpoint_age_seconds",
                    "Seconds since the latest checkpoint was signed; absent before the first.",
                    value=max(self._clock().timestamp() - at, 0.0),
                ),
            ]
        return families

    def _sync(self, session: Session) -> list[Metric]:
        departments = set(DEPARTMENTS)
        outcomes: dict[tuple[str, str], int] = defaultdict(int)
        running: dict[str, int] = defaultdict(int)
        rows: dict[tuple[str, str], int] = defaultdict(int)
        last_success: dict[str, float] = {}
        for run in repository.sync_runs(session):
            department = run.department_id
            departments.add(department)
            if run.status == "running":
                running[department] += 1
            elif run.status in RUN_OUTCOMES:
                outcomes[department, run.status] += 1
            if run.status == "succeeded" and run.finished_at is not None:
                finished = run.finished_at.timestamp()
                last_success[department] = max(last_success.get(department, finished), finished)
            for name, kind in ROW_KINDS.items():
                rows[department, kind] += int(run.counts.get(name, 0))

        runs_total = CounterMetricFamily(
            "exchange_sync_runs",
            "Finished license sync runs, by department and outcome (succeeded, failed).",
            labels=["department", "outcome"],
        )
        in_progress = GaugeMetricFamily(
            "exchange_sync_runs_in_progress",
            "License sync runs started and not finished (running, or killed and waiting to resume).",
            labels=["department"],
        )
        rows_total = CounterMetricFamily(
            "exchange_sync_rows",
            "Source records handled by license syncs, by department and kind: read, sealed (new license "
            "versions), superseded, revoked, unchanged, quarantined.",
            labels=["department", "kind"],
        )
        for department in sorted(departments):
            for outcome in RUN_OUTCOMES:
                runs_total.add_metric([department, outcome], outcomes[department, outcome])
            in_progress.add_metric([department], running[department])
            for kind in ROW_KINDS.values():
                rows_total.add_metric([department, kind], rows[department, kind])
        last = GaugeMetricFamily(
            "exchange_sync_last_success_timestamp_seconds",
            "When the department's latest successful sync run finished (Unix time).",
            labels=["department"],
        )
        for department, finished in sorted(last_success.items()):
            last.add_metric([department], finished)

        quarantined = CounterMetricFamily(
            "exchange_sync_quarantined",
            "Records the quality gate quarantined, by department and license type.",
            labels=["department", "license_type"],
        )
        backlog = GaugeMetricFamily(
            "exchange_sync_quarantine_open",
            "Quarantined records not yet resolved, by department and license type.",
            labels=["department", "license_type"],
        )
        totals: dict[tuple[str, str], int] = defaultdict(int)
        unresolved: dict[tuple[str, str], int] = defaultdict(int)
        for count in repository.quarantine_counts(session):
            key = (count.department_id, count.license_type)
            totals[key] += count.records
            if count.open:
                unresolved[key] += count.records
        for key in sorted(totals):
            quarantined.add_metric(list(key), totals[key])
            backlog.add_metric(list(key), unresolved[key])
        return [runs_total, in_progress, rows_total, last, quarantined, backlog]
