"""The directory browser: every shared dataset, searchable by text, provider and sharing type."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from adapters.registry import DEPARTMENTS
from directory import service as directory
from exchange.api.deps import db_session
from exchange.console.accounts import ConsolePrincipal
from exchange.console.web import PREFIX, render, require

router = APIRouter(prefix=PREFIX, include_in_schema=False)
PAGE_SIZE = 20
SHARING_TYPES = ("unconditional", "conditional", "none")


@router.get("/directory", response_class=HTMLResponse)
def directory_page(
    request: Request,
    q: str | None = Query(None, max_length=100),
    provider: str | None = Query(None, max_length=32),
    sharing_type: str | None = Query(None, max_length=16),
    page: int = Query(1, ge=1, le=10_000),
    principal: ConsolePrincipal = Depends(require("governance", "department", "consumer")),  # noqa: B008
    db: Session = Depends(db_session),  # noqa: B008
) -> HTMLResponse:
    """The catalogue is public to every signed-in role: it says what exists, never the data."""
    provider = provider if provider in DEPARTMENTS else None
    sharing_type = sharing_type if sharing_type in SHARING_TYPES else None
    items, total = directory.search(
        db,
        q=q or None,
        provider=provider,
        sharing_type=sharing_type,
        limit=PAGE_SIZE,
        offset=(page - 1) * PAGE_SIZE,
    )
    return render(
        request,
        "directory.html",
        principal,
        items=items,
        total=total,
        q=q or "",
        provider=provider or "",
        sharing_type=sharing_type or "",
        departments=sorted(DEPARTMENTS.values(), key=lambda d: d.id),
        sharing_types=SHARING_TYPES,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
    )
