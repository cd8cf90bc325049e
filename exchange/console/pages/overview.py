"""The overview: requests per day, refusals, top consumers, license sync and audit integrity at a glance.

Scope (``monitoring.Scope``): governance sees every exchange, a department those of its own resources
and its own sync runs, a consumer its own requests (and no sync runs). Subject identifiers in the
lists here are masked: the overview never needs them, the access log's search does.

Audit integrity is checked on every load against the latest signed checkpoint only, and cheaply: its
signature (hub certificate issued by the hub CA, our hub id, the row equal to what was signed), then
an RFC 9162 consistency proof that the log's tree at that size has the signed root and extends to the
current log (``audit.service.consistency`` + ``merkle.verify_consistency``): O(log n), a few
milliseconds at a million entries, so it runs on every load and the page shows when it was checked.
Recomputing every entry from its fields (``verify_log``, about 60 s per million entries) is left to the
audit page's on-demand full verification and to ``exchange audit verify``. Only governance and
department users (who may open the audit page) see this part.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from adapters.registry import DEPARTMENTS
from exchange.api.deps import db_session
from exchange.console import monitoring
from exchange.console.accounts import ConsolePrincipal
from exchange.console.charts import Series, bar_chart
from exchange.console.i18n import translate
from exchange.console.monitoring import Scope
from exchange.console.web import NAVIGATION, PREFIX, language, now, render, require

router = APIRouter(prefix=PREFIX, include_in_schema=False)
DAYS = 14
RECENT_DENIALS = 10
AUDIT_ROLES = next(item.roles for item in NAVIGATION if item.key == "audit")
SYNC_COUNTS = ("read", "created", "superseded", "revoked", "quarantined", "unchanged")


@router.get("/overview", response_class=HTMLResponse)
def overview_page(
    request: Request,
    principal: ConsolePrincipal = Depends(require("governance", "department", "consumer")),  # noqa: B008
    db: Session = Depends(db_session),  # noqa: B008
) -> HTMLResponse:
    """Bounded work only: two GROUP BY queries over the last 14 days, two LIMITed lists, one row per
    department and one checkpoint check."""
    scope, moment, lang = Scope.of(principal), now(), language(request)
    days = monitoring.daily_counts(db, scope=scope, days=DAYS, now=moment)
    since = monitoring.day_start(days[0].day)
    allowed, denied = sum(d.allowed for d in days), sum(d.denied for d in days)
    chart = bar_chart(
        [d.day.strftime("%m-%d") for d in days],
        [
            Series(translate(lang, "overview.allowed"), [d.allowed for d in days]),
            Series(translate(lang, "overview.denied"), [d.denied for d in days]),
        ],
        title=translate(lang, "overview.chart_title", days=DAYS),
    )
    denials = monitoring.search(
        db, scope=scope, filters=monitoring.LogFilter(decision="deny"), limit=RECENT_DENIALS
    ).rows
    sync = None
    if scope.everything or scope.provider_id:
        runs = monitoring.latest_sync_runs(db, scope=scope)
        shown = sorted(DEPARTMENTS) if scope.everything else [scope.provider_id]
        sync = [(DEPARTMENTS.get(d), d, runs.get(d)) for d in shown if d]
    integrity = None
    if principal.role in AUDIT_ROLES:
        hub = request.app.state.hub
        integrity = monitoring.integrity(
            db, ca_certificate=hub.ca_certificate, hub_id=hub.settings.hub_id, now=moment
        )
    return render(
        request,
        "overview.html",
        principal,
        days=DAYS,
        chart=chart,
        total=allowed + denied,
        allowed=allowed,
        denied=denied,
        denial_rate=(100 * denied / (allowed + denied)) if allowed + denied else 0.0,
        consumers=monitoring.top_consumers(db, scope=scope, since=since),
        denials=denials,
        denial_resources=monitoring.resource_names(db, [r.resource_code for r in denials if r.resource_code]),
        sync=sync,
        sync_counts=SYNC_COUNTS,
        integrity=integrity,
        mask=monitoring.mask_subject,
        local=monitoring.local,
        since=since,
    )
