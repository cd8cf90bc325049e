"""The citizen's page (``/console/me``): who used my data, when, for which matter. No console account.

The data subject signs in with the hub's identity provider (``EXCHANGE_SUBJECT_AUTH``):

- ``demo`` (the embedded default): the clearly labelled DEMO identity provider
  (:class:`exchange.subjects.identity.DemoIdentityProvider`). The page asks for a citizen ID, checks
  it (GB 11643-1999, MOD 11-2 check character: a wrong one gets its own message), has the provider
  issue a demo ID token in-process, and keeps that signed token in a short-lived cookie (HttpOnly,
  SameSite=Strict, path ``/console/me``, the token's own 30 minutes). Every request verifies the
  token again with the same provider; an expired or forged one is a signed-out visitor. A banner says
  on every view that anyone can sign in as anyone here.
- ``oidc``: citizens sign in through the government service portal (OpenID Connect) and read their
  record there or through ``GET /v1/me/access-log``; the console has no OIDC login flow of its own
  (no client secret, no redirect URI registered with the provider), so the page says so and offers no
  form.

The record is :func:`exchange.subjects.service.access_log`, the service behind
``GET /v1/me/access-log``, newest first, paginated. Signing in and out are POSTs protected by a
double-submit CSRF token (a random value in an HttpOnly SameSite=Strict cookie and in the form), as on
the console's sign-in form: no session exists to bind a token to.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta, timezone

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from exchange.api.deps import db_session
from exchange.console.web import PREFIX, render, secure_cookies
from exchange.identifiers import InvalidIdentifier, citizen_id_check_char, validate_citizen_id
from exchange.subjects import service
from exchange.subjects.identity import (
    DEMO_LIFETIME,
    DEMO_WARNING,
    DemoIdentityProvider,
    NotAuthenticated,
    SubjectIdentity,
)

router = APIRouter(prefix=PREFIX, include_in_schema=False)

PATH = f"{PREFIX}/me"
SUBJECT_COOKIE = "dxh_subject"  # the demo ID token, as the identity provider signed it
CSRF_COOKIE = "dxh_me_csrf"  # double-submit token of the sign-in and sign-out forms
PAGE_SIZE = 20
CST = timezone(timedelta(hours=8), "CST")


@router.get("/me", response_class=HTMLResponse)
def me_page(
    request: Request,
    page: int = Query(1, ge=1, le=10_000),
    db: Session = Depends(db_session),  # noqa: B008
) -> Response:
    """The sign-in form, or the signed-in citizen's access record."""
    mode = _mode(request)
    if mode != "demo":
        return _render(request, mode=mode)
    identity = _identity(request)
    if identity is None:
        response = _render(request, mode=mode)
        if request.cookies.get(SUBJECT_COOKIE):  # expired or not ours: forget it
            response.delete_cookie(SUBJECT_COOKIE, path=PATH)
        return response
    record = service.access_log(db, identity, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    return _render(
        request,
        mode=mode,
        record=record,
        page=page,
        pages=max(1, -(-record.total // PAGE_SIZE)),
        masked=mask(identity.citizen_id),
    )


@router.post("/me")
async def sign_in(request: Request) -> Response:
    """DEMO ONLY: sign in as the citizen whose ID is typed (no proof of who is asking)."""
    mode = _mode(request)
    if mode != "demo":
        return _render(request, mode=mode, status_code=404)
    form = await request.form()
    if not _csrf_ok(request, form.get("csrf_token")):
        return _render(request, mode=mode, error="me.error.expired", status_code=400)
    typed = str(form.get("citizen_id") or "").strip()
    now = datetime.now(UTC)
    error = citizen_id_problem(typed, now=now)
    if error is not None:
        return _render(request, mode=mode, error=error, typed=typed, status_code=422)
    provider = request.app.state.hub.identity
    try:
        token = provider.issue(typed, now=now)
    except NotAuthenticated:
        return _render(request, mode=mode, error="me.error.invalid", typed=typed, status_code=422)
    response = RedirectResponse(PATH, status_code=303)
    response.set_cookie(
        SUBJECT_COOKIE,
        token,
        max_age=int(DEMO_LIFETIME.total_seconds()),
        httponly=True,
        secure=secure_cookies(request),
        samesite="strict",
        path=PATH,
    )
    return response


@router.post("/me/logout")
async def sign_out(request: Request) -> Response:
    form = await request.form()
    if not _csrf_ok(request, form.get("csrf_token")):
        return _render(request, mode=_mode(request), error="me.error.expired", status_code=400)
    response = RedirectResponse(PATH, status_code=303)
    response.delete_cookie(SUBJECT_COOKIE, path=PATH)
    return response


def citizen_id_problem(value: str, *, now: datetime) -> str | None:
    """None for a valid citizen ID, else the message key saying what is wrong (GB 11643-1999)."""
    if not value:
        return "me.error.empty"
    if len(value) != 18:
        return "me.error.length"
    try:
        validate_citizen_id(value, today=now.date())
    except InvalidIdentifier:
        if value[:17].isdigit() and value[17] in "0123456789Xx":
            try:
                if citizen_id_check_char(value[:17]) != value[17].upper():
                    return "me.error.check_digit"
            except InvalidIdentifier:
                pass
        return "me.error.invalid"
    return None


def mask(citizen_id: str) -> str:
    """The ID as shown on screen: the first 6 and last 4 characters (as counters print it)."""
    return citizen_id[:6] + "*" * 8 + citizen_id[-4:]


def local_time(moment: datetime | None) -> str:
    """China Standard Time, to the second (stored times are UTC; SQLite drops the zone)."""
    if moment is None:
        return "—"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(CST).strftime("%Y-%m-%d %H:%M:%S")


def _mode(request: Request) -> str:
    """``oidc``, ``demo`` (the demo provider is up) or ``unavailable`` (no hub key yet)."""
    hub = request.app.state.hub
    if hub.settings.subject_auth == "oidc":
        return "oidc"
    return "demo" if isinstance(hub.identity, DemoIdentityProvider) else "unavailable"


def _identity(request: Request) -> SubjectIdentity | None:
    token = request.cookies.get(SUBJECT_COOKIE)
    if not token or len(token) > 4096:
        return None
    try:
        return request.app.state.hub.identity.authenticate(token, now=datetime.now(UTC))
    except NotAuthenticated:
        return None


def _csrf_ok(request: Request, token: object) -> bool:
    cookie = request.cookies.get(CSRF_COOKIE)
    return bool(isinstance(token, str) and cookie and secrets.compare_digest(token.encode(), cookie.encode()))


def _render(request: Request, *, mode: str, status_code: int = 200, **context: object) -> HTMLResponse:
    existing = request.cookies.get(CSRF_COOKIE, "")
    token = existing if 20 <= len(existing) <= 100 else secrets.token_urlsafe(32)
    response = render(
        request,
        "me.html",
        None,
        status_code=status_code,
        mode=mode,
        me_csrf=token,
        demo_warning=DEMO_WARNING,
        local_time=local_time,
        **context,
    )
    response.set_cookie(
        CSRF_COOKIE, token, httponly=True, secure=secure_cookies(request), samesite="strict", path=PATH
    )
    return response
