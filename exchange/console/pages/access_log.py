"""The access log: search the audit entries, export them as CSV, see the anomaly rules' findings.

Scope as everywhere in monitoring (``monitoring.Scope``): governance every entry, a department the
exchanges of its resources, a consumer its own requests. Subjects are stored in clear (the citizen's
own access record looks entries up by them), so the search is an exact match on the indexed column.
Governance sees subject identifiers in full (finding who used one citizen's data is the point of the
search); departments and consumers see them masked, and never the internal ``reason`` a consumer was
not told (consumers).

Pages are keyset-paginated on the log index (``before``/``after``), newest first, so a page costs the
same on the first and the millionth entry; the total is counted up to ``monitoring.COUNT_CAP``.
The CSV export (``/console/access-log.csv``) takes the same filters, is UTF-8 with a byte order mark
(so Excel reads the Chinese), starts with a header row and holds at most ``monitoring.CSV_MAX_ROWS``
entries, the newest; the response says when it was cut (``X-Export-Truncated``). Cells that a
spreadsheet would run as a formula are prefixed with an apostrophe (OWASP "CSV injection").
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, StreamingResponse
from sqlalchemy.orm import Session

from exchange.api.deps import db_session
from exchange.console import monitoring
from exchange.console.accounts import ConsolePrincipal
from exchange.console.i18n import translate
from exchange.console.monitoring import LogFilter, LogRow, Scope
from exchange.console.web import PREFIX, language, now, render, require

router = APIRouter(prefix=PREFIX, include_in_schema=False)
PAGE_SIZE = 50
DECISIONS = ("allow", "deny")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
ROLES = ("governance", "department", "consumer")


@dataclass(frozen=True)
class Search:
    """The access log's query string, as typed (to fill the form back in) and as understood."""

    subject: str = ""
    consumer: str = ""
    resource: str = ""
    decision: str = ""
    date_from: str = ""
    date_to: str = ""

    def params(self, **extra: object) -> str:
        values = {
            "subject": self.subject,
            "consumer": self.consumer,
            "resource": self.resource,
            "decision": self.decision,
            "from": self.date_from,
            "to": self.date_to,
            **extra,
        }
        return urlencode({k: v for k, v in values.items() if v not in ("", None)})


def _query(
    subject: str | None = Query(None, max_length=64),
    consumer: str | None = Query(None, max_length=64),
    resource: str | None = Query(None, max_length=64),
    decision: str | None = Query(None, max_length=8),
    date_from: str | None = Query(None, alias="from", max_length=10),
    date_to: str | None = Query(None, alias="to", max_length=10),
) -> Search:
    return Search(
        subject=(subject or "").strip(),
        consumer=(consumer or "").strip(),
        resource=(resource or "").strip(),
        decision=decision if decision in DECISIONS else "",
        date_from=(date_from or "").strip(),
        date_to=(date_to or "").strip(),
    )


def _filters(query: Search, principal: ConsolePrincipal) -> tuple[LogFilter, list[str]]:
    """The filter, and the message keys of what could not be understood (then left out)."""
    problems = []
    first, last = _date(query.date_from), _date(query.date_to)
    if query.date_from and first is None:
        problems.append("access_log.bad_from")
    if query.date_to and last is None:
        problems.append("access_log.bad_to")
    if first and last and first > last:
        problems.append("access_log.bad_range")
        first = last = None
    return (
        LogFilter(
            subject=query.subject or None,
            # A consumer's scope already is its own requests: the field is not offered, nor obeyed.
            client_id=(query.consumer or None) if principal.role != "consumer" else None,
            resource_code=query.resource or None,
            decision=query.decision or None,
            since=monitoring.day_start(first) if first else None,
            until=monitoring.day_start(last + timedelta(days=1)) if last else None,
        ),
        problems,
    )


def _date(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


@router.get("/access-log", response_class=HTMLResponse)
def access_log_page(
    request: Request,
    query: Search = Depends(_query),  # noqa: B008
    before: int | None = Query(None, ge=0, le=2**31 - 1),
    after: int | None = Query(None, ge=0, le=2**31 - 1),
    principal: ConsolePrincipal = Depends(require(*ROLES)),  # noqa: B008
    db: Session = Depends(db_session),  # noqa: B008
) -> HTMLResponse:
    scope, moment = Scope.of(principal), now()
    filters, problems = _filters(query, principal)
    page = monitoring.search(db, scope=scope, filters=filters, limit=PAGE_SIZE, before=before, after=after)
    since, until = monitoring.anomaly_window(filters.since, filters.until, now=moment)
    found = monitoring.anomalies(db, scope=scope, since=since, until=until, client_id=filters.client_id)
    total = monitoring.count(db, scope=scope, filters=filters)
    return render(
        request,
        "access_log.html",
        principal,
        query=query,
        problems=problems,
        rows=[(row, monitoring.flags(row, found)) for row in page.rows],
        total=min(total, monitoring.COUNT_CAP),
        more_than_total=total > monitoring.COUNT_CAP,
        older_url=f"?{query.params(before=page.older)}" if page.older is not None else None,
        newer_url=f"?{query.params(after=page.newer)}" if page.newer is not None else None,
        newest_url=f"?{query.params()}" if before is not None or after is not None else None,
        csv_url=f"/console/access-log.csv?{query.params()}",
        anomalies=found,
        window=(monitoring.local(since), monitoring.local(until)),
        resources=monitoring.resource_choices(db, scope=scope),
        consumer_names=monitoring.consumer_names(db, [r.client_id for r in page.rows if r.client_id]),
        resource_names=monitoring.resource_names(db, [r.resource_code for r in page.rows if r.resource_code]),
        full_subjects=scope.everything,
        show_reason=principal.role != "consumer",
        decisions=DECISIONS,
        mask=monitoring.mask_subject,
        local=monitoring.local,
        thresholds={
            "many_subjects": monitoring.DISTINCT_SUBJECTS_PER_HOUR,
            "off_hours": monitoring.OFF_HOURS_PER_DAY,
            "denial_spike": monitoring.DENIALS_PER_HOUR,
        },
        csv_max=f"{monitoring.CSV_MAX_ROWS:,}",
    )


@router.get("/access-log.csv")
def access_log_csv(
    request: Request,
    query: Search = Depends(_query),  # noqa: B008
    principal: ConsolePrincipal = Depends(require(*ROLES)),  # noqa: B008
    db: Session = Depends(db_session),  # noqa: B008
) -> StreamingResponse:
    """The filtered entries as CSV, newest first, at most ``monitoring.CSV_MAX_ROWS`` of them."""
    scope, moment, lang = Scope.of(principal), now(), language(request)
    filters, _ = _filters(query, principal)
    truncated = monitoring.count(db, scope=scope, filters=filters, cap=monitoring.CSV_MAX_ROWS) > (
        monitoring.CSV_MAX_ROWS
    )
    since, until = monitoring.anomaly_window(filters.since, filters.until, now=moment)
    found = monitoring.anomalies(db, scope=scope, since=since, until=until, client_id=filters.client_id)
    export = _Export(
        lang=lang,
        full_subjects=scope.everything,
        show_reason=principal.role != "consumer",
        found=found,
    )
    sessions, limit = request.app.state.hub.sessions, monitoring.CSV_MAX_ROWS

    def lines() -> Iterator[str]:
        # Its own read-only session: the request's ends when the handler returns, the stream after.
        yield "\ufeff" + export.line(export.header())
        with sessions() as session:
            for row in monitoring.export(session, scope=scope, filters=filters, limit=limit):
                yield export.line(export.cells(row))

    stamp = monitoring.local(moment).strftime("%Y%m%d-%H%M")
    return StreamingResponse(
        lines(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="access-log-{stamp}.csv"',
            "X-Export-Limit": str(limit),
            "X-Export-Truncated": "true" if truncated else "false",
        },
    )


@dataclass(frozen=True)
class _Export:
    lang: str
    full_subjects: bool
    show_reason: bool
    found: list[monitoring.Anomaly]

    COLUMNS = (
        "index",
        "time",
        "consumer",
        "operator_id",
        "operator_name",
        "resource",
        "provider",
        "subject_type",
        "subject",
        "matter",
        "purpose",
        "endpoint",
        "decision",
        "status",
        "reason",
        "items_asked",
        "items_returned",
        "flags",
    )

    def header(self) -> list[str]:
        return [translate(self.lang, f"access_log.csv.{name}") for name in self.columns()]

    def columns(self) -> tuple[str, ...]:
        return self.COLUMNS if self.show_reason else tuple(c for c in self.COLUMNS if c != "reason")

    def cells(self, row: LogRow) -> list[str]:
        subject = row.subject_value if self.full_subjects else monitoring.mask_subject(row.subject_value)
        values = {
            "index": str(row.index),
            "time": monitoring.local(row.recorded_at).isoformat(timespec="seconds"),
            "consumer": row.client_id or "",
            "operator_id": row.operator_id or "",
            "operator_name": row.operator_name or "",
            "resource": row.resource_code or "",
            "provider": row.provider_id or "",
            "subject_type": row.subject_type or "",
            "subject": subject or "",
            "matter": row.matter_code or "",
            "purpose": row.purpose or "",
            "endpoint": row.endpoint,
            "decision": row.decision,
            "status": str(row.http_status),
            "reason": row.reason or "",
            "items_asked": " ".join(row.items_asked),
            "items_returned": " ".join(row.items_returned),
            "flags": " ".join(monitoring.flags(row, self.found)),
        }
        return [_cell(values[name]) for name in self.columns()]

    @staticmethod
    def line(cells: list[str]) -> str:
        buffer = io.StringIO()
        csv.writer(buffer).writerow(cells)  # RFC 4180 quoting, CRLF line ends
        return buffer.getvalue()


def _cell(value: str) -> str:
    """A cell a spreadsheet shows as text: a leading =, +, -, @, tab or CR would start a formula."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value
