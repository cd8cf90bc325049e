"""Every SQL query of the console's monitoring pages (overview, access log, audit), and the anomaly rules.

The pages never write SQL: they build a :class:`Scope` from the signed-in principal and call the
keyword-only functions here, which put ``scope`` into every query of the audit log. Deny by default:
governance sees every entry, a department only the exchanges of its own resources (``provider_id``),
a consumer only its own requests (``client_id``), and any other principal nothing at all.

Times. Entries are stored in UTC; days and hours are those of China Standard Time (UTC+8, no daylight
saving): the overview's days, the access log's date filters and the anomaly windows all use them.

Anomaly rules (every threshold is "more than", so exactly the threshold is normal traffic):

- ``many_subjects``: one consumer asks about more than :data:`DISTINCT_SUBJECTS_PER_HOUR` distinct
  subjects within one clock hour (bulk harvesting of personal data);
- ``off_hours``: one consumer sends more than :data:`OFF_HOURS_PER_DAY` requests outside
  08:00-20:00 on one calendar day (approval windows are staffed in the daytime);
- ``denial_spike``: one consumer is refused more than :data:`DENIALS_PER_HOUR` times within one clock
  hour (probing for data it has no grant for, or a broken integration).

"Within one hour" is a clock hour (10:00-10:59): a burst split across two clock hours is counted in
each separately. A sliding window would need per-row window functions that SQLite and PostgreSQL do
not share; clock hours keep the rules a GROUP BY each, bounded by :data:`ANOMALY_MAX_DAYS`.

Audit integrity. The pages check checkpoints with the audit service's own functions and never touch
the Merkle tree: the signature is the check ``verify_log`` makes (JWS by a certificate the hub CA
issued to the hub, for our hub id, and the row equal to what was signed), and consistency is an
RFC 9162 proof from ``service.consistency`` verified by ``merkle.verify_consistency`` against the
signed roots. That costs O(log n) reads and hashes per checkpoint whatever the log's size (about 5 ms
at a million entries). Recomputing every entry's leaf from its fields (``verify_log``) is O(n), about
60 s per million entries, so the console runs it only on request and only up to
:data:`FULL_VERIFY_MAX_ENTRIES`; ``exchange audit verify`` does it for any size.

Indexes (migrations 0008 and 0009; measured in docs/operations.md "Indexes for the access-log
searches"). Newest-first listing walks the primary key (``index``), or ``(client_id, index)`` and
``(provider_id, index)`` in a consumer's or department's scope; subject search uses
``(subject_value, index)``. The time-window aggregations (overview, anomalies) and the date filters
use ``(recorded_at)``, ``(client_id, recorded_at)`` and ``(provider_id, recorded_at)``.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from cryptography import x509
from sqlalchemy import ColumnElement, Select, String, case, false, func, or_, select, true
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import FunctionElement
from sqlalchemy.types import Integer

from directory.models import Resource
from exchange.audit import merkle, service
from exchange.audit.models import AuditCheckpoint, AuditEntry
from exchange.audit.schemas import LogReport
from exchange.console.accounts import ConsolePrincipal
from exchange.consumers.models import Consumer
from exchange.licenses.models import SyncRun

CST = timezone(timedelta(hours=8), "CST")  # China Standard Time, no daylight saving
WORK_START, WORK_END = 8, 20  # office hours, local: 08:00 up to 20:00
DISTINCT_SUBJECTS_PER_HOUR = 50  # rule many_subjects: more than this many subjects in one clock hour
OFF_HOURS_PER_DAY = 20  # rule off_hours: more than this many requests outside office hours on one day
DENIALS_PER_HOUR = 10  # rule denial_spike: more than this many refusals in one clock hour
ANOMALY_DAYS = 7  # the window the access log checks when no dates are given
ANOMALY_MAX_DAYS = 31  # never more: the rules scan every entry of the window
ANOMALY_LIMIT = 100  # anomalies listed per rule
COUNT_CAP = 10_000  # the access log counts matches up to this, then says "more than"
CSV_MAX_ROWS = 100_000  # an export holds at most this many entries, the newest
CSV_CHUNK = 5_000
TOP_LIMIT = 10
FULL_VERIFY_MAX_ENTRIES = 100_000  # about 6 s; larger logs: `exchange audit verify`
RULES = ("many_subjects", "off_hours", "denial_spike")


# --- who sees what --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """The part of the audit log a principal may see: all, one department's, one consumer's, or none.

    Build it with :meth:`of` (or the named constructors in tests); the empty ``Scope()`` sees nothing.
    """

    everything: bool = False
    provider_id: str | None = None
    client_id: str | None = None

    def __post_init__(self) -> None:
        if sum((self.everything, self.provider_id is not None, self.client_id is not None)) > 1:
            raise ValueError("a scope is everything, one department or one consumer, never two of them")

    @classmethod
    def of(cls, principal: ConsolePrincipal) -> Scope:
        if principal.role == "governance":
            return cls(everything=True)
        if principal.role == "department" and principal.department_id:
            return cls(provider_id=principal.department_id)
        if principal.role == "consumer" and principal.client_id:
            return cls(client_id=principal.client_id)
        return cls()

    def entries(self) -> ColumnElement[bool]:
        """The condition on ``audit_entries`` that keeps what this scope may see."""
        if self.everything:
            return true()
        if self.provider_id is not None:
            return AuditEntry.provider_id == self.provider_id
        if self.client_id is not None:
            return AuditEntry.client_id == self.client_id
        return false()

    def sync_runs(self) -> ColumnElement[bool]:
        """Sync runs: governance sees every department's, a department its own, a consumer none."""
        if self.everything:
            return true()
        if self.provider_id is not None:
            return SyncRun.department_id == self.provider_id
        return false()


# --- local days and hours in SQL ------------------------------------------------------------------


class _LocalTime(FunctionElement[Any]):
    inherit_cache = True


class local_day(_LocalTime):  # noqa: N801 - reads as the SQL function it compiles to
    """The China Standard Time date of a UTC timestamp column, as text ``YYYY-MM-DD``."""

    type = String()
    name = "local_day"
    inherit_cache = True


class local_hour(_LocalTime):  # noqa: N801
    """The China Standard Time clock hour of a UTC timestamp column, as text ``YYYY-MM-DD HH``."""

    type = String()
    name = "local_hour"
    inherit_cache = True


class local_hour_of_day(_LocalTime):  # noqa: N801
    """The China Standard Time hour (0-23) of a UTC timestamp column, as an integer."""

    type = Integer()
    name = "local_hour_of_day"
    inherit_cache = True


# SQLite stores the UTC time as text; PostgreSQL has timestamptz: both shifted by a fixed 8 hours.
@compiles(local_day, "sqlite")
def _day_sqlite(element: local_day, compiler: SQLCompiler, **kw: Any) -> str:
    return f"strftime('%Y-%m-%d', {compiler.process(element.clauses, **kw)}, '+8 hours')"


@compiles(local_hour, "sqlite")
def _hour_sqlite(element: local_hour, compiler: SQLCompiler, **kw: Any) -> str:
    return f"strftime('%Y-%m-%d %H', {compiler.process(element.clauses, **kw)}, '+8 hours')"


@compiles(local_hour_of_day, "sqlite")
def _hour_of_day_sqlite(element: local_hour_of_day, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(strftime('%H', {compiler.process(element.clauses, **kw)}, '+8 hours') AS INTEGER)"


def _pg_local(element: _LocalTime, compiler: SQLCompiler, **kw: Any) -> str:
    return f"(({compiler.process(element.clauses, **kw)} AT TIME ZONE 'UTC') + INTERVAL '8 hours')"


@compiles(local_day, "postgresql")
def _day_pg(element: local_day, compiler: SQLCompiler, **kw: Any) -> str:
    return f"to_char({_pg_local(element, compiler, **kw)}, 'YYYY-MM-DD')"


@compiles(local_hour, "postgresql")
def _hour_pg(element: local_hour, compiler: SQLCompiler, **kw: Any) -> str:
    return f"to_char({_pg_local(element, compiler, **kw)}, 'YYYY-MM-DD HH24')"


@compiles(local_hour_of_day, "postgresql")
def _hour_of_day_pg(element: local_hour_of_day, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(EXTRACT(HOUR FROM {_pg_local(element, compiler, **kw)}) AS INTEGER)"


def local(moment: datetime) -> datetime:
    """A stored UTC time as China Standard Time."""
    return moment.astimezone(CST)


def day_key(moment: datetime) -> str:
    """What :class:`local_day` gives for this time."""
    return local(moment).strftime("%Y-%m-%d")


def hour_key(moment: datetime) -> str:
    """What :class:`local_hour` gives for this time."""
    return local(moment).strftime("%Y-%m-%d %H")


def off_hours(moment: datetime) -> bool:
    return not WORK_START <= local(moment).hour < WORK_END


def day_start(day: date) -> datetime:
    """00:00 China Standard Time of ``day``."""
    return datetime.combine(day, time(0), CST)


def mask_subject(value: str | None) -> str:
    """An identifier shown without giving it away: the first 3 and last 2 characters (110***...3X)."""
    if not value:
        return ""
    if len(value) <= 5:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 5) + value[-2:]


# --- overview -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DayCount:
    day: date
    allowed: int
    denied: int


@dataclass(frozen=True)
class ConsumerCount:
    client_id: str | None
    name: str | None
    requests: int
    denied: int


def daily_counts(session: Session, *, scope: Scope, days: int, now: datetime) -> list[DayCount]:
    """Allowed and denied requests per local day, the last ``days`` days up to today, zeros included."""
    today = local(now).date()
    first = today - timedelta(days=days - 1)
    day = local_day(AuditEntry.recorded_at)
    rows = session.execute(
        select(day, AuditEntry.decision, func.count())
        .where(scope.entries(), AuditEntry.recorded_at >= day_start(first))
        .group_by(day, AuditEntry.decision)
    ).all()
    counts: dict[tuple[str, str], int] = {(d, decision): n for d, decision, n in rows}
    result = []
    for offset in range(days):
        current = first + timedelta(days=offset)
        key = current.isoformat()
        result.append(DayCount(current, counts.get((key, "allow"), 0), counts.get((key, "deny"), 0)))
    return result


def top_consumers(
    session: Session, *, scope: Scope, since: datetime, limit: int = TOP_LIMIT
) -> list[ConsumerCount]:
    """The consumers sending the most requests since ``since`` (in scope), with their refusals."""
    requests = func.count().label("requests")
    denied = func.sum(case((AuditEntry.decision == "deny", 1), else_=0)).label("denied")
    rows = session.execute(
        select(AuditEntry.client_id, requests, denied)
        .where(scope.entries(), AuditEntry.recorded_at >= since)
        .group_by(AuditEntry.client_id)
        .order_by(requests.desc(), AuditEntry.client_id)
        .limit(limit)
    ).all()
    names = consumer_names(session, [client_id for client_id, _, _ in rows if client_id])
    return [
        ConsumerCount(client_id, names.get(client_id or ""), count, int(refused or 0))
        for client_id, count, refused in rows
    ]


def latest_sync_runs(session: Session, *, scope: Scope) -> dict[str, SyncRun]:
    """Each department's latest license sync run that the scope may see, by department id."""
    latest = select(func.max(SyncRun.id)).where(scope.sync_runs()).group_by(SyncRun.department_id)
    rows = session.scalars(select(SyncRun).where(SyncRun.id.in_(latest.scalar_subquery()))).all()
    return {row.department_id: row for row in rows}


def consumer_names(session: Session, client_ids: Iterable[str]) -> dict[str, str]:
    wanted = sorted(set(client_ids))[:1000]
    if not wanted:
        return {}
    rows = session.execute(select(Consumer.client_id, Consumer.name).where(Consumer.client_id.in_(wanted)))
    return {client_id: name for client_id, name in rows}


def resource_names(session: Session, codes: Iterable[str]) -> dict[str, str]:
    wanted = sorted(set(codes))[:1000]
    if not wanted:
        return {}
    rows = session.execute(select(Resource.code, Resource.name).where(Resource.code.in_(wanted)))
    return {code: name for code, name in rows}


def resource_choices(session: Session, *, scope: Scope) -> list[tuple[str, str]]:
    """(code, name) of the resources a filter may offer: a department's own, else the catalogue."""
    query = select(Resource.code, Resource.name).order_by(Resource.code).limit(1000)
    if scope.provider_id is not None:
        query = query.where(Resource.provider_id == scope.provider_id)
    return [(code, name) for code, name in session.execute(query)]


# --- the access log -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogFilter:
    """What the access log is narrowed to; ``since`` inclusive, ``until`` exclusive (aware times)."""

    subject: str | None = None
    client_id: str | None = None
    resource_code: str | None = None
    decision: str | None = None  # allow | deny
    since: datetime | None = None
    until: datetime | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = []
        if self.subject:
            # Citizen IDs end in a check character X that may have been typed in lower case.
            found.append(AuditEntry.subject_value.in_(sorted({self.subject, self.subject.upper()})))
        if self.client_id:
            found.append(AuditEntry.client_id == self.client_id)
        if self.resource_code:
            found.append(AuditEntry.resource_code == self.resource_code)
        if self.decision in ("allow", "deny"):
            found.append(AuditEntry.decision == self.decision)
        if self.since is not None:
            found.append(AuditEntry.recorded_at >= self.since)
        if self.until is not None:
            found.append(AuditEntry.recorded_at < self.until)
        return found


@dataclass(frozen=True)
class LogRow:
    """One audit entry as the console shows it (no hashes)."""

    index: int
    recorded_at: datetime
    client_id: str | None
    operator_id: str | None
    operator_name: str | None
    resource_code: str | None
    provider_id: str | None
    subject_type: str | None
    subject_value: str | None
    matter_code: str | None
    purpose: str | None
    decision: str
    reason: str | None
    http_status: int
    endpoint: str
    items_asked: list[str] = field(default_factory=list)
    items_returned: list[str] = field(default_factory=list)


_ROW_COLUMNS = [AuditEntry.__table__.c[name] for name in LogRow.__dataclass_fields__]


@dataclass(frozen=True)
class LogPage:
    rows: list[LogRow]
    older: int | None  # cursor (``before``) of the next older page, None when there is none
    newer: int | None  # cursor (``after``) of the next newer page, None when there is none


def _entries(scope: Scope, filters: LogFilter) -> Select[Any]:
    return select(*_ROW_COLUMNS).where(scope.entries(), *filters.conditions())


def search(
    session: Session,
    *,
    scope: Scope,
    filters: LogFilter,
    limit: int,
    before: int | None = None,
    after: int | None = None,
) -> LogPage:
    """A page of matching entries, newest first, by keyset on ``index``: older than ``before`` or newer
    than ``after`` (the newest page when neither is given). O(limit) rows read on the primary key."""
    query = _entries(scope, filters)
    if after is not None:
        found = session.execute(
            query.where(AuditEntry.index > after).order_by(AuditEntry.index).limit(limit + 1)
        ).all()
        more_newer = len(found) > limit
        rows = [LogRow(*row) for row in reversed(found[:limit])]
        more_older = bool(rows) and _exists(session, query.where(AuditEntry.index < rows[-1].index))
    else:
        if before is not None:
            query = query.where(AuditEntry.index < before)
        found = session.execute(query.order_by(AuditEntry.index.desc()).limit(limit + 1)).all()
        more_older = len(found) > limit
        rows = [LogRow(*row) for row in found[:limit]]
        more_newer = (
            before is not None
            and bool(rows)
            and _exists(session, _entries(scope, filters).where(AuditEntry.index > rows[0].index))
        )
    return LogPage(
        rows,
        older=rows[-1].index if rows and more_older else None,
        newer=rows[0].index if rows and more_newer else None,
    )


def _exists(session: Session, query: Select[Any]) -> bool:
    return session.execute(query.with_only_columns(AuditEntry.index).limit(1)).first() is not None


def count(session: Session, *, scope: Scope, filters: LogFilter, cap: int = COUNT_CAP) -> int:
    """How many entries match, counted up to ``cap + 1`` (more than ``cap`` means "more than cap")."""
    limited = select(AuditEntry.index).where(scope.entries(), *filters.conditions()).limit(cap + 1).subquery()
    return session.scalar(select(func.count()).select_from(limited)) or 0


def export(
    session: Session, *, scope: Scope, filters: LogFilter, limit: int = CSV_MAX_ROWS, chunk: int = CSV_CHUNK
) -> Iterator[LogRow]:
    """The matching entries, newest first, at most ``limit`` of them, read ``chunk`` at a time (keyset)."""
    query = _entries(scope, filters).order_by(AuditEntry.index.desc())
    sent, before = 0, None
    while sent < limit:
        page = query if before is None else query.where(AuditEntry.index < before)
        rows = session.execute(page.limit(min(chunk, limit - sent))).all()
        if not rows:
            return
        for row in rows:
            yield LogRow(*row)
        sent += len(rows)
        before = rows[-1].index


# --- anomalies ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Anomaly:
    """One consumer's pattern in one local hour (``YYYY-MM-DD HH``) or day (``YYYY-MM-DD``)."""

    rule: str  # many_subjects | off_hours | denial_spike
    client_id: str | None  # None: requests whose signer was unknown
    period: str
    count: int
    threshold: int


def anomaly_window(
    since: datetime | None, until: datetime | None, *, now: datetime
) -> tuple[datetime, datetime]:
    """The window the rules check: the filter's dates, else the last :data:`ANOMALY_DAYS` days; never
    longer than :data:`ANOMALY_MAX_DAYS` (the most recent part of a longer range)."""
    end = until or now
    start = since or end - timedelta(days=ANOMALY_DAYS)
    return max(start, end - timedelta(days=ANOMALY_MAX_DAYS)), end


def _window(
    scope: Scope, since: datetime, until: datetime, client_id: str | None
) -> list[ColumnElement[bool]]:
    where = [scope.entries(), AuditEntry.recorded_at >= since, AuditEntry.recorded_at < until]
    if client_id:
        where.append(AuditEntry.client_id == client_id)
    return where


def many_subjects(
    session: Session,
    *,
    scope: Scope,
    since: datetime,
    until: datetime,
    client_id: str | None = None,
    threshold: int = DISTINCT_SUBJECTS_PER_HOUR,
    limit: int = ANOMALY_LIMIT,
) -> list[Anomaly]:
    """Consumers asking about more than ``threshold`` distinct subjects within one local clock hour."""
    hour = local_hour(AuditEntry.recorded_at)
    subjects = func.count(AuditEntry.subject_value.distinct())
    rows = session.execute(
        select(AuditEntry.client_id, hour, subjects)
        .where(*_window(scope, since, until, client_id))
        .group_by(AuditEntry.client_id, hour)
        .having(subjects > threshold)
        .order_by(subjects.desc(), hour.desc())
        .limit(limit)
    ).all()
    return [Anomaly("many_subjects", c, period, n, threshold) for c, period, n in rows]


def off_hours_bursts(
    session: Session,
    *,
    scope: Scope,
    since: datetime,
    until: datetime,
    client_id: str | None = None,
    threshold: int = OFF_HOURS_PER_DAY,
    limit: int = ANOMALY_LIMIT,
) -> list[Anomaly]:
    """Consumers sending more than ``threshold`` requests outside 08:00-20:00 on one local day."""
    day, hour = local_day(AuditEntry.recorded_at), local_hour_of_day(AuditEntry.recorded_at)
    requests = func.count()
    rows = session.execute(
        select(AuditEntry.client_id, day, requests)
        .where(*_window(scope, since, until, client_id), or_(hour < WORK_START, hour >= WORK_END))
        .group_by(AuditEntry.client_id, day)
        .having(requests > threshold)
        .order_by(requests.desc(), day.desc())
        .limit(limit)
    ).all()
    return [Anomaly("off_hours", c, period, n, threshold) for c, period, n in rows]


def denial_spikes(
    session: Session,
    *,
    scope: Scope,
    since: datetime,
    until: datetime,
    client_id: str | None = None,
    threshold: int = DENIALS_PER_HOUR,
    limit: int = ANOMALY_LIMIT,
) -> list[Anomaly]:
    """Consumers refused more than ``threshold`` times within one local clock hour."""
    hour = local_hour(AuditEntry.recorded_at)
    denials = func.count()
    rows = session.execute(
        select(AuditEntry.client_id, hour, denials)
        .where(*_window(scope, since, until, client_id), AuditEntry.decision == "deny")
        .group_by(AuditEntry.client_id, hour)
        .having(denials > threshold)
        .order_by(denials.desc(), hour.desc())
        .limit(limit)
    ).all()
    return [Anomaly("denial_spike", c, period, n, threshold) for c, period, n in rows]


def anomalies(
    session: Session, *, scope: Scope, since: datetime, until: datetime, client_id: str | None = None
) -> list[Anomaly]:
    """Every rule's findings in the window (three GROUP BY queries), largest first within each rule."""
    window = {"scope": scope, "since": since, "until": until, "client_id": client_id}
    return [
        *many_subjects(session, **window),
        *off_hours_bursts(session, **window),
        *denial_spikes(session, **window),
    ]


def flags(row: LogRow, found: Sequence[Anomaly]) -> list[str]:
    """The rules whose pattern this entry is part of: every request of a consumer's flagged hour
    (many_subjects), its off-hours requests of a flagged day (off_hours), its refusals of a flagged
    hour (denial_spike)."""
    hour, day = hour_key(row.recorded_at), day_key(row.recorded_at)
    marked = []
    for anomaly in found:
        if anomaly.client_id != row.client_id or anomaly.rule in marked:
            continue
        if (
            (anomaly.rule == "many_subjects" and anomaly.period == hour)
            or (anomaly.rule == "off_hours" and anomaly.period == day and off_hours(row.recorded_at))
            or (anomaly.rule == "denial_spike" and anomaly.period == hour and row.decision == "deny")
        ):
            marked.append(anomaly.rule)
    return sorted(marked, key=RULES.index)


# --- audit integrity ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckpointState:
    """A signed checkpoint and what the console could check about it.

    ``signature_ok``: the JWS verifies with a certificate the hub CA issued to the hub, for our hub
    id, and the row equals the signed claims. ``root_ok``: the log's tree at that size has the signed
    root (None: the log is shorter). ``consistent_ok``: an RFC 9162 consistency proof shows the tree
    extends to ``compared_with`` (the next checkpoint's signed root, else the current log).
    """

    tree_size: int
    root_hash: str
    signed_at: datetime
    signer: str
    signature_ok: bool
    root_ok: bool | None
    consistent_ok: bool | None
    compared_with: int | None
    compared_with_checkpoint: bool
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.signature_ok and self.root_ok is True and self.consistent_ok is not False


@dataclass(frozen=True)
class Integrity:
    log_size: int
    checkpoints: int
    latest: CheckpointState | None
    checked_at: datetime

    @property
    def unsigned(self) -> int:
        return self.log_size - (self.latest.tree_size if self.latest else 0)


def log_size(session: Session) -> int:
    return service.tree_size(session)


def checkpoint_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(AuditCheckpoint)) or 0


def checkpoints(session: Session, *, limit: int, before: int | None = None) -> list[AuditCheckpoint]:
    """Signed checkpoints, newest (largest) first, smaller than ``before`` when given."""
    query = select(AuditCheckpoint).order_by(AuditCheckpoint.tree_size.desc()).limit(limit)
    if before is not None:
        query = query.where(AuditCheckpoint.tree_size < before)
    return list(session.scalars(query))


def next_checkpoint(session: Session, tree_size: int) -> AuditCheckpoint | None:
    """The checkpoint signed after the one of ``tree_size`` (the smallest larger tree)."""
    return session.scalars(
        select(AuditCheckpoint)
        .where(AuditCheckpoint.tree_size > tree_size)
        .order_by(AuditCheckpoint.tree_size)
        .limit(1)
    ).first()


def check_checkpoints(
    session: Session,
    rows: Sequence[AuditCheckpoint],
    *,
    newer: AuditCheckpoint | None,
    ca_certificate: x509.Certificate | None,
    hub_id: str,
) -> list[CheckpointState]:
    """Check ``rows`` (newest first): each against the checkpoint signed after it (``newer`` for the
    first row), the newest of all against the current log. O(log n) per checkpoint."""
    size = log_size(session)
    signed: dict[int, bytes | None] = {}

    def signed_root(row: AuditCheckpoint) -> bytes | None:
        if row.tree_size not in signed:
            signed[row.tree_size] = _signed_root(row, ca_certificate, hub_id)
        return signed[row.tree_size]

    states = []
    for position, row in enumerate(rows):
        successor = rows[position - 1] if position else newer
        states.append(_check(session, row, successor, size, signed_root))
    return states


def integrity(
    session: Session, *, ca_certificate: x509.Certificate | None, hub_id: str, now: datetime
) -> Integrity:
    """The latest checkpoint checked against the current log (signature, root, consistency)."""
    latest = checkpoints(session, limit=1)
    states = check_checkpoints(session, latest, newer=None, ca_certificate=ca_certificate, hub_id=hub_id)
    return Integrity(log_size(session), checkpoint_count(session), states[0] if states else None, now)


_full_verification = threading.Lock()


class VerificationBusy(Exception):
    """Another full verification is running in this process."""


def full_verification(
    session: Session, *, ca_certificate: x509.Certificate | None, hub_id: str
) -> LogReport | None:
    """``verify_log`` over the whole log (every entry's fields, every checkpoint), one at a time per
    process; None when the log holds more than :data:`FULL_VERIFY_MAX_ENTRIES` entries."""
    if log_size(session) > FULL_VERIFY_MAX_ENTRIES:
        return None
    if not _full_verification.acquire(blocking=False):
        raise VerificationBusy
    try:
        return service.verify_log(session, ca_certificate=ca_certificate, hub_id=hub_id)
    finally:
        _full_verification.release()


def _signed_root(row: AuditCheckpoint, ca_certificate: x509.Certificate | None, hub_id: str) -> bytes | None:
    """The root the hub signed in this checkpoint, if its signature and signer verify (the check
    ``verify_log`` makes) and the row holds what was signed; None otherwise."""
    if ca_certificate is None:
        return None
    try:
        claims = service.checkpoint_claims(row.signature, ca_certificate, hub_id)
    except ValueError:  # jose.JoseError, and anything a mangled token raises while it is read
        return None
    millis = (row.signed_at - service.EPOCH) // timedelta(milliseconds=1)
    if (claims["tree_size"], claims["root_hash"], claims["timestamp"]) != (
        row.tree_size,
        row.root_hash,
        millis,
    ):
        return None
    return _hash(claims["root_hash"])


def _hash(text: str) -> bytes:
    return base64.b64decode(text)


def _check(
    session: Session,
    row: AuditCheckpoint,
    successor: AuditCheckpoint | None,
    size: int,
    signed_root: Callable[[AuditCheckpoint], bytes | None],
) -> CheckpointState:
    base = {
        "tree_size": row.tree_size,
        "root_hash": row.root_hash,
        "signed_at": row.signed_at,
        "signer": row.signer,
    }
    root = signed_root(row)
    if root is None:
        return CheckpointState(
            **base,
            signature_ok=False,
            root_ok=None,
            consistent_ok=None,
            compared_with=None,
            compared_with_checkpoint=False,
            problem="signature",
        )
    if row.tree_size > size:
        return CheckpointState(
            **base,
            signature_ok=True,
            root_ok=False,
            consistent_ok=None,
            compared_with=size,
            compared_with_checkpoint=False,
            problem="shorter",
        )
    later = signed_root(successor) if successor is not None and successor.tree_size <= size else None
    second = successor.tree_size if later is not None and successor is not None else size
    try:
        proof = service.consistency(session, row.tree_size, second)
    except (service.AuditError, merkle.ProofError):
        return CheckpointState(
            **base,
            signature_ok=True,
            root_ok=False,
            consistent_ok=None,
            compared_with=second,
            compared_with_checkpoint=later is not None,
            problem="unreadable",
        )
    path = [_hash(value) for value in proof.consistency_path]
    root_ok = _hash(proof.first_root) == root
    target = later if later is not None else _hash(proof.second_root)
    consistent = merkle.verify_consistency(row.tree_size, second, root, target, path)
    problem = None if root_ok and consistent else ("root" if not root_ok else "consistency")
    return CheckpointState(
        **base,
        signature_ok=True,
        root_ok=root_ok,
        consistent_ok=consistent,
        compared_with=second,
        compared_with_checkpoint=later is not None,
        problem=problem,
    )
