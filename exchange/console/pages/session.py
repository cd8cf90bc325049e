"""Signing in and out of the console (``/console/login``, ``/console/logout``)."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session

from exchange.api.deps import db_session
from exchange.console import accounts
from exchange.console.accounts import ConsolePrincipal
from exchange.console.web import (
    PREFIX,
    SESSION_COOKIE,
    checked_form,
    now,
    redirect_after,
    render,
    safe_next,
    secure_cookies,
    signed_in,
)

router = APIRouter(prefix=PREFIX, include_in_schema=False)
LOGIN_CSRF_COOKIE = "dxh_login_csrf"  # double-submit token: no session exists before signing in


@router.get("")
def home() -> Response:
    return RedirectResponse(f"{PREFIX}/overview", status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = None) -> Response:  # noqa: A002 - the query name
    return _login(request, next_path=safe_next(next))


@router.post("/login")
async def login(request: Request, db: Session = Depends(db_session)) -> Response:  # noqa: B008
    form = await request.form()
    next_path = safe_next(str(form.get("next") or ""))
    token, cookie = form.get("csrf_token"), request.cookies.get(LOGIN_CSRF_COOKIE)
    if not (isinstance(token, str) and cookie and secrets.compare_digest(token.encode(), cookie.encode())):
        return _login(request, next_path=next_path, error="login.expired", status_code=400)
    signed = accounts.sign_in(
        db, username=str(form.get("username") or ""), password=str(form.get("password") or ""), now=now()
    )
    if signed is None:
        return _login(request, next_path=next_path, error="login.failed", status_code=401)
    _, secret = signed
    response = redirect_after(db, next_path)
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=int(accounts.SESSION_LIFETIME.total_seconds()),
        httponly=True,
        secure=secure_cookies(request),
        samesite="strict",
        path=PREFIX,
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path=PREFIX)
    return response


@router.post("/logout")
async def logout(
    request: Request,
    principal: ConsolePrincipal = Depends(signed_in),  # noqa: B008
    db: Session = Depends(db_session),  # noqa: B008
) -> Response:
    await checked_form(request, principal)
    accounts.sign_out(db, session_id=principal.session_id, now=now())
    response = redirect_after(db, f"{PREFIX}/login")
    response.delete_cookie(SESSION_COOKIE, path=PREFIX)
    return response


def _login(request: Request, *, next_path: str, error: str | None = None, status_code: int = 200) -> Response:
    token = secrets.token_urlsafe(32)
    response = render(
        request,
        "login.html",
        None,
        status_code=status_code,
        next_path=next_path,
        error=error,
        login_csrf=token,
    )
    secure = secure_cookies(request)
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, httponly=True, secure=secure, samesite="strict", path=PREFIX
    )
    return response
