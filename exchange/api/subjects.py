"""GET /v1/me/access-log for the data subject, and the embedded default's demo sign-in."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from exchange.api.deps import MAX_INTEGER, db_session
from exchange.api.problems import Problem, documented
from exchange.subjects import service
from exchange.subjects.identity import DEMO_WARNING, DemoIdentityProvider, NotAuthenticated, SubjectIdentity

router = APIRouter(tags=["data subjects"])


def subject(request: Request) -> SubjectIdentity:
    """The citizen, from ``Authorization: Bearer <ID token>`` of the configured identity provider."""
    provider = request.app.state.hub.identity
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if provider is None:
        raise Problem(
            503, "identity-unavailable", "Sign-in unavailable", "no identity provider is configured"
        )
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthenticated("sign in with your identity provider and send its ID token as a Bearer token")
    try:
        return provider.authenticate(token.strip(), now=datetime.now(UTC))
    except NotAuthenticated as exc:
        raise _unauthenticated(str(exc)) from None


@router.get("/v1/me/access-log", response_model=service.AccessLog, responses=documented(401, 503))
def access_log(
    identity: Annotated[SubjectIdentity, Depends(subject)],
    db: Annotated[Session, Depends(db_session)],
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_INTEGER)] = 0,
) -> service.AccessLog:
    """When, which consumer system, which department's resource, for which matter and purpose:
    every exchange about the signed-in citizen, answered or refused, newest first."""
    return service.access_log(db, identity, limit=limit, offset=offset)


class DemoSignIn(BaseModel):
    citizen_id: str = Field(min_length=15, max_length=18)


class DemoToken(BaseModel):
    id_token: str
    warning: str


@router.post("/v1/demo-idp/token", response_model=DemoToken, tags=["demo"], responses=documented(404, 422))
def demo_sign_in(body: DemoSignIn, request: Request) -> DemoToken:
    """DEMO ONLY: an ID token for any citizen ID, no questions asked. Exists only while
    ``EXCHANGE_SUBJECT_AUTH=demo`` (the embedded default); a deployment uses its identity provider."""
    provider = request.app.state.hub.identity
    if not isinstance(provider, DemoIdentityProvider):
        raise Problem(404, "not-found", "Not found", "the demo identity provider is switched off")
    try:
        token = provider.issue(body.citizen_id, now=datetime.now(UTC))
    except NotAuthenticated as exc:
        raise Problem(422, "invalid-identifier", "Invalid identifier", str(exc)) from None
    return DemoToken(id_token=token, warning=DEMO_WARNING)


def _unauthenticated(detail: str) -> Problem:
    return Problem(
        401,
        "unauthenticated",
        "Unauthenticated",
        detail,
        headers={"WWW-Authenticate": 'Bearer realm="citizens"'},
    )
