"""The console's web layer: templates, who is signed in, CSRF, languages and security headers.

Every page module in :mod:`exchange.console.pages` uses these pieces the same way:

- ``principal = Depends(signed_in)`` (or ``Depends(require("governance", ...))``): an anonymous
  browser is redirected to the sign-in page, a role not admitted gets a 403 page (deny by default);
- ``await checked_form(request, principal)`` for every POST: the session's CSRF token must come back
  in the ``csrf_token`` field or the ``X-CSRF-Token`` header (htmx sends it from the page's meta tag);
- ``render(request, "page.html", principal, ...)``: the template with ``t()`` (translate),
  ``lang``, ``csrf_token``, ``user`` and the navigation the role may use.

Every /console response carries a strict Content-Security-Policy (only this origin's scripts, styles
and images: all assets are vendored under ``static/``), no framing, no sniffing and no referrer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from exchange.api.deps import db_session
from exchange.console import accounts
from exchange.console.accounts import ConsolePrincipal
from exchange.console.i18n import pick_language, translate

PREFIX = "/console"
SESSION_COOKIE = "dxh_console"
LANGUAGE_COOKIE = "dxh_lang"
HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")  # autoescapes .html

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True)
class NavItem:
    key: str  # i18n key nav.<key>
    path: str
    roles: tuple[str, ...]


# The pages, in menu order, and who may open them (deny by default: a role not listed gets a 403).
NAVIGATION: tuple[NavItem, ...] = (
    NavItem("overview", "/console/overview", ("governance", "department", "consumer")),
    NavItem("access_log", "/console/access-log", ("governance", "department", "consumer")),
    NavItem("quality", "/console/quality", ("governance", "department")),
    NavItem("directory", "/console/directory", ("governance", "department", "consumer")),
    NavItem("applications", "/console/applications", ("governance", "department", "consumer")),
    NavItem("audit", "/console/audit", ("governance", "department")),
)


class SignInRequired(Exception):
    """No signed-in console session: the browser goes to the sign-in page and comes back after."""


class ConsoleForbidden(Exception):
    """Signed in, but this page or action is not for the role (or the scope)."""

    def __init__(self, reason: str = "error.forbidden") -> None:
        super().__init__(reason)
        self.reason = reason


def now() -> datetime:
    return datetime.now(UTC)


def language(request: Request) -> str:
    return pick_language(
        request.query_params.get("lang"),
        request.cookies.get(LANGUAGE_COOKIE),
        request.headers.get("accept-language"),
    )


def signed_in(request: Request, db: Session = Depends(db_session)) -> ConsolePrincipal:  # noqa: B008
    """The signed-in principal; :class:`SignInRequired` for an anonymous or expired session."""
    found = accounts.principal_of(db, request.cookies.get(SESSION_COOKIE, ""), now=now())
    if found is None:
        raise SignInRequired
    return found


def require(*roles: str) -> Callable[[ConsolePrincipal], ConsolePrincipal]:
    """A dependency admitting only these roles (a 403 page for the others)."""

    def check(principal: ConsolePrincipal = Depends(signed_in)) -> ConsolePrincipal:  # noqa: B008
        if principal.role not in roles:
            raise ConsoleForbidden
        return principal

    return check


async def checked_form(request: Request, principal: ConsolePrincipal) -> FormData:
    """The POSTed form, after its CSRF token matched the session's (else :class:`ConsoleForbidden`)."""
    form = await request.form()
    token = form.get("csrf_token") or request.headers.get("x-csrf-token")
    if not accounts.csrf_matches(principal, token if isinstance(token, str) else None):
        raise ConsoleForbidden("error.csrf")
    return form


def render(
    request: Request,
    template: str,
    principal: ConsolePrincipal | None,
    *,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A page in the browser's language, with what every console template expects."""
    lang = language(request)
    response = templates.TemplateResponse(
        request,
        template,
        {
            "lang": lang,
            "t": lambda key, **values: translate(lang, key, **values),
            "user": principal,
            "csrf_token": principal.csrf_token if principal else "",
            "navigation": [item for item in NAVIGATION if principal and principal.role in item.roles],
            "current_path": request.url.path,
            **context,
        },
        status_code=status_code,
    )
    if request.query_params.get("lang") == lang:
        response.set_cookie(LANGUAGE_COOKIE, lang, max_age=365 * 86400, samesite="strict", path=PREFIX)
    return response


def redirect_after(db: Session, url: str) -> RedirectResponse:
    """A POST's 303 answer, after its changes are committed.

    The request's transaction (``db_session``) may close only after the response is sent, and the
    browser follows a redirect at once: without this, the next page could miss what the POST did
    (a new session, a decision).
    """
    db.commit()
    return RedirectResponse(url, status_code=303)


def secure_cookies(request: Request) -> bool:
    """Cookies are Secure when the hub is published over HTTPS (EXCHANGE_PUBLIC_URL)."""
    return request.app.state.hub.settings.base_url.startswith("https://")


def install(app: FastAPI, routers: Sequence[Any]) -> None:
    """Mount the console: its pages, its vendored static files, its error pages and headers."""
    for router in routers:
        app.include_router(router)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=HERE / "static"), name="console-static")

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, _exc: SignInRequired) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.headers.get("hx-request"):  # htmx: a full-page redirect, not a fragment
            return Response(status_code=204, headers={"HX-Redirect": f"{PREFIX}/login"})
        return RedirectResponse(f"{PREFIX}/login?next={_quote(target)}", status_code=303)

    api_validation = app.exception_handlers.get(RequestValidationError)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        """A malformed query on a page is an HTML page saying so; the API keeps its problem details."""
        if _is_console(request.url.path):
            return render(request, "error.html", None, status_code=400, message_key="error.bad_request")
        if api_validation is None:
            raise exc
        return await api_validation(request, exc)  # type: ignore[misc]

    @app.exception_handler(ConsoleForbidden)
    async def _forbidden(request: Request, exc: ConsoleForbidden) -> Response:
        return render(request, "error.html", None, status_code=403, message_key=exc.reason)

    @app.middleware("http")
    async def _headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        if _is_console(request.url.path):
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
        return response


def safe_next(target: str | None) -> str:
    """Where to go after signing in: only a path inside the console (no open redirect)."""
    if target and target.startswith(PREFIX + "/") and not target.startswith("//") and "\\" not in target:
        return target
    return f"{PREFIX}/overview"


def _is_console(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


def _quote(path: str) -> str:
    from urllib.parse import quote

    return quote(path, safe="/")
