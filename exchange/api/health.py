"""GET /health: is the database reachable and migrated, is the PKI usable."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from certs.revocation import RevocationUnavailable
from exchange.db import migrate

router = APIRouter()


@router.get(
    "/health",
    tags=["operations"],
    summary="Database and PKI state",
    responses={
        503: {
            "description": "Degraded: the same document, naming what is wrong",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
def health(request: Request) -> JSONResponse:
    """Answers 200 when the database is reachable and at the latest migration and the PKI can
    verify certificates (CA valid, CRL signed and current); 503 otherwise, naming what is wrong."""
    state = request.app.state.hub
    now = datetime.now(UTC)
    database = _database(state.engine)
    pki = _pki(state, now)
    healthy = database["ok"] and pki["ok"]
    body = {"status": "ok" if healthy else "degraded", "database": database, "pki": pki}
    return JSONResponse(body, status_code=200 if healthy else 503)


def _database(engine: Any) -> dict[str, Any]:
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        revision, head = migrate.current_revision(engine), migrate.head_revision()
    except SQLAlchemyError as exc:
        return {"ok": False, "backend": engine.dialect.name, "error": type(exc).__name__}
    return {
        "ok": revision == head,
        "backend": engine.dialect.name,
        "revision": revision,
        "head": head,
    }


def _pki(state: Any, now: datetime) -> dict[str, Any]:
    ca = state.ca_certificate
    if ca is None:
        return {"ok": False, "error": "no hub CA; run `exchange pki init`"}
    result: dict[str, Any] = {
        "ca_subject": ca.subject.rfc4514_string(),
        "ca_not_after": ca.not_valid_after_utc.isoformat(),
    }
    ca_ok = ca.not_valid_before_utc <= now <= ca.not_valid_after_utc
    try:
        crl = state.revocation.state()
    except RevocationUnavailable as exc:
        return {**result, "ok": False, "error": str(exc)}
    result.update(
        crl_next_update=crl.next_update.isoformat() if crl.next_update else None,
        revoked=len(crl.serials),
        ok=ca_ok and not crl.is_stale(now),
    )
    return result
