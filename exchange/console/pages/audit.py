"""Audit integrity: the signed checkpoints, newest first, and whether each one still holds.

For every checkpoint on the page (``monitoring.check_checkpoints``): its signature (a certificate the
hub CA issued to the hub, our hub id, the row equal to what was signed), whether the log's tree at
its size still has the signed root, and an RFC 9162 consistency proof to the next checkpoint (the
newest: to the current log). These are O(log n) each, so the page stays fast on any log. They read
the stored leaf hashes; an entry edited while its leaf hash stayed is found by the full verification
(``verify_log``: every entry's fields recomputed), which runs only when asked (``?verify=full``), one
at a time, and only up to ``monitoring.FULL_VERIFY_MAX_ENTRIES`` entries; beyond that the page points
to ``exchange audit verify``. Checkpoints and problems name tree sizes and entry indexes, never an
entry's content, so departments see the same page as governance; consumers get a 403.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from exchange.api.deps import db_session
from exchange.console import monitoring
from exchange.console.accounts import ConsolePrincipal
from exchange.console.web import NAVIGATION, PREFIX, now, render, require

router = APIRouter(prefix=PREFIX, include_in_schema=False)
PAGE_SIZE = 20
SHOWN_PROBLEMS = 20
ROLES = next(item.roles for item in NAVIGATION if item.key == "audit")


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    before: int | None = Query(None, ge=1, le=2**31 - 1),
    verify: str | None = Query(None, max_length=8),
    principal: ConsolePrincipal = Depends(require(*ROLES)),  # noqa: B008
    db: Session = Depends(db_session),  # noqa: B008
) -> HTMLResponse:
    hub = request.app.state.hub
    ca, hub_id = hub.ca_certificate, hub.settings.hub_id
    found = monitoring.checkpoints(db, limit=PAGE_SIZE + 1, before=before)
    rows, more = found[:PAGE_SIZE], len(found) > PAGE_SIZE
    newer = monitoring.next_checkpoint(db, rows[0].tree_size) if rows else None
    states = monitoring.check_checkpoints(db, rows, newer=newer, ca_certificate=ca, hub_id=hub_id)
    report, full = None, None
    if verify == "full":
        try:
            report = monitoring.full_verification(db, ca_certificate=ca, hub_id=hub_id)
            full = "done" if report is not None else "too_large"
        except monitoring.VerificationBusy:
            full = "busy"
    return render(
        request,
        "audit.html",
        principal,
        states=states,
        log_size=monitoring.log_size(db),
        checkpoint_count=monitoring.checkpoint_count(db),
        older_url=f"?before={rows[-1].tree_size}" if more else None,
        newest_url="?" if before is not None else None,
        full=full,
        report=report,
        shown_problems=SHOWN_PROBLEMS,
        full_limit=f"{monitoring.FULL_VERIFY_MAX_ENTRIES:,}",
        no_ca=ca is None,
        checked_at=monitoring.local(now()),
        local=monitoring.local,
    )
