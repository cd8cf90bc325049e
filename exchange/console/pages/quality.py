"""Data quality: pass rates per license type, their trend, the latest failed expectations, the quarantine
and the Great Expectations Data Docs (``/console/quality``, ``/console/quality/docs/{path}``).

Scope: governance staff see every license type; a department sees the types it issues
(``LICENSE_TYPES[...].department_id``) and only its own quarantined records; consumers get a 403.

Figures come from the stored gate results (``QualityResult.statistics``, the fields of
:class:`exchange.quality.gate.GateStatistics`): a run's pass rate is its records passed over its
records checked, summed over its batches. The failed expectations are read from the stored GX result
JSON, which the gate already stripped of unexpected values: only the expectation, the column and the
unexpected count are shown. Quarantined records are listed by :func:`exchange.licenses.quarantine.quarantined`
(the service behind ``GET /v1/quality/quarantine``) with their reasons, not their content: the console
shows no personal data. The license store has no read repository for gate results yet, so the two
small read-only queries on ``quality_results`` live here, in :func:`_recent_batches` and
:func:`_results`.

**Data Docs.** The static site under ``$EXCHANGE_HOME/quality-docs/site/``
(:func:`exchange.quality.data_docs.docs_index`) is served read-only under ``/console/quality/docs/``.
A path is resolved (symlinks included) and must stay inside ``site/``, else 404. A department may open
the pages of its own license types (``expectations/license_<type>.html``,
``validations/license_<type>/...``) and the shared ``static/`` assets; the index, which lists every
type, is for governance staff (a department is sent back to this page).

GX writes its pages to load Bootstrap, jQuery, bootstrap-table, Font Awesome, Vega and more from
public CDNs. The console loads nothing from outside at run time, so HTML (and CSS) is rewritten as it
is served: the files GX needs are **vendored** from their npm packages, same releases, into
``static/vendor/data-docs/`` (with their licences and a README; GX's own SRI hashes match them), and
their ``<script>``/``<link>`` tags point there; what is not vendored is dropped: Vega (charts of
profiling pages, which the gate does not produce) and the dark-theme stylesheet. Any other outside
address left (the GX logo, links to its web site, a ``url()`` in a style) is removed, so the pages
render the way GX draws them, minus the logo on the dark theme. Each page is sent with a CSP like the
rest of the console (``'self'`` only, no ``'unsafe-inline'``): GX's own inline scripts, event
handlers and styles of *that* page are allowed by their SHA-256 hashes (``'unsafe-hashes'``), nothing
else inline runs. The few style attributes that bootstrap-table writes into the page at run time are
refused by the browser (a console message, no visible loss: column widths and a pointer cursor).
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import Session

from adapters.registry import DEPARTMENTS
from exchange.api.deps import db_session
from exchange.console.accounts import ConsolePrincipal
from exchange.console.charts import Series, line_chart
from exchange.console.i18n import translate
from exchange.console.web import PREFIX, language, render, require
from exchange.licenses.models import QualityResult
from exchange.licenses.quarantine import quarantined
from exchange.licenses.types import LICENSE_TYPES, LicenseType

router = APIRouter(prefix=PREFIX, include_in_schema=False)

DOCS_PREFIX = f"{PREFIX}/quality/docs"
SITE = ("quality-docs", "site")  # under EXCHANGE_HOME: exchange.quality.data_docs.docs_index (no GX import)
RECENT_RUNS = 12  # points on each trend chart
FAILED_BATCHES = 5  # the latest batches with failures whose expectations are listed
FAILED_ROWS = 30
PAGE_SIZE = 20
CST = timezone(timedelta(hours=8), "CST")


# --- the page ------------------------------------------------------------------------------------


@dataclass
class RunRate:
    run_id: int
    validated_at: datetime
    records: int
    passed: int

    @property
    def percent(self) -> float | None:
        return round(100 * self.passed / self.records, 1) if self.records else None


@dataclass
class TypeQuality:
    license_type: LicenseType
    department: Any
    runs: list[RunRate]
    chart: Markup | None = None
    suite_page: str | None = None
    latest_page: str | None = None

    @property
    def latest(self) -> RunRate | None:
        return self.runs[-1] if self.runs else None


@dataclass
class FailedExpectation:
    license_type: str
    run_id: int
    validated_at: datetime
    expectation: str
    column: str
    unexpected_count: int | None
    field_name: str = ""
    page: str | None = None


@dataclass
class Quality:
    types: list[TypeQuality] = field(default_factory=list)
    failures: list[FailedExpectation] = field(default_factory=list)


@router.get("/quality", response_class=HTMLResponse)
def quality_page(
    request: Request,
    license_type: str | None = Query(None, max_length=64),
    page: int = Query(1, ge=1, le=10_000),
    principal: ConsolePrincipal = Depends(require("governance", "department")),  # noqa: B008
    db: Session = Depends(db_session),  # noqa: B008
) -> HTMLResponse:
    """Pass rates and trends per license type in scope, failed expectations, the quarantine, Data Docs."""
    scope = license_types_of(principal)
    license_type = license_type if license_type in scope else None
    lang = language(request)
    site = site_dir(request)
    quality = _quality(db, scope, site=site, lang=lang)
    rows = quarantined(
        db,
        department_id=principal.department_id,
        license_type=license_type,
        limit=PAGE_SIZE + 1,  # one more tells whether there is a next page
        offset=(page - 1) * PAGE_SIZE,
    )
    index = site / "index.html"
    return render(
        request,
        "quality.html",
        principal,
        quality=quality,
        scope=[LICENSE_TYPES[key] for key in scope],
        quarantine=list(rows[:PAGE_SIZE]),
        has_next=len(rows) > PAGE_SIZE,
        page=page,
        license_type=license_type or "",
        docs_index=f"{DOCS_PREFIX}/index.html"
        if principal.role == "governance" and index.is_file()
        else None,
        local_time=local_time,
        type_label=lambda key: type_label(lang, key),
    )


def license_types_of(principal: ConsolePrincipal) -> list[str]:
    """The license types a principal may watch: all for governance, a department's own for it."""
    if principal.role == "governance":
        return list(LICENSE_TYPES)
    if principal.role == "department":
        return [key for key, kind in LICENSE_TYPES.items() if kind.department_id == principal.department_id]
    return []


def type_label(lang: str, key: str) -> str:
    """A license type's name in the page's language (the registered Chinese name as the fallback)."""
    text = translate(lang, f"license.{key}")
    return LICENSE_TYPES[key].name if text == f"license.{key}" and key in LICENSE_TYPES else text


def local_time(moment: datetime | None) -> str:
    """China Standard Time, to the minute (stored times are UTC; SQLite drops the zone)."""
    if moment is None:
        return "—"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(CST).strftime("%Y-%m-%d %H:%M")


def _quality(db: Session, scope: list[str], *, site: Path, lang: str) -> Quality:
    quality = Quality()
    failing: list[tuple[int, str, int, datetime]] = []  # result id, type, run, checked at
    for key in scope:
        kind = LICENSE_TYPES[key]
        runs: dict[int, RunRate] = {}
        for result_id, run_id, statistics, validated_at in _recent_batches(db, key, RECENT_RUNS):
            rate = runs.setdefault(run_id, RunRate(run_id, validated_at, 0, 0))
            rate.records += int(statistics.get("records") or 0)
            rate.passed += int(statistics.get("passed_records") or 0)
            rate.validated_at = max(rate.validated_at, validated_at)
            if int(statistics.get("failed_records") or 0) or int(
                statistics.get("unsuccessful_expectations") or 0
            ):
                failing.append((result_id, key, run_id, validated_at))
        ordered = [runs[run_id] for run_id in sorted(runs)]
        item = TypeQuality(kind, DEPARTMENTS.get(kind.department_id), ordered)
        if ordered:
            item.chart = line_chart(
                [f"#{run.run_id}" for run in ordered],
                [Series(type_label(lang, key), [run.percent for run in ordered])],
                title=translate(lang, "quality.trend_title", name=type_label(lang, key)),
                unit="%",
                top=100,
            )
            pages = validation_pages(site, key, ordered[-1].run_id)
            item.latest_page = pages[0] if pages else None
        suite = site / "expectations" / f"{suite_name(key)}.html"
        item.suite_page = f"{DOCS_PREFIX}/expectations/{suite.name}" if suite.is_file() else None
        quality.types.append(item)
    failing.sort(key=lambda row: row[0], reverse=True)
    latest = failing[:FAILED_BATCHES]
    results = _results(db, [row[0] for row in latest])
    for result_id, key, run_id, validated_at in latest:
        pages = validation_pages(site, key, run_id)
        for expectation, column, count, field_name in failed_expectations(results.get(result_id) or {}):
            quality.failures.append(
                FailedExpectation(
                    key,
                    run_id,
                    validated_at,
                    expectation,
                    column,
                    count,
                    field_name,
                    pages[0] if pages else None,
                )
            )
    del quality.failures[FAILED_ROWS:]
    return quality


def failed_expectations(result: dict[str, Any]) -> list[tuple[str, str, int | None, str]]:
    """(expectation type, column, unexpected count, field) of each failed expectation of a GX result."""
    found = []
    for item in result.get("results") or []:
        if item.get("success"):
            continue
        config = item.get("expectation_config") or {}
        kwargs = config.get("kwargs") or {}
        column = kwargs.get("column")
        if column is None and "column_A" in kwargs:
            column = f"{kwargs.get('column_A')}, {kwargs.get('column_B')}"
        if column is None and kwargs.get("column_list"):
            column = ", ".join(str(c) for c in kwargs["column_list"])
        count = (item.get("result") or {}).get("unexpected_count")
        meta = config.get("meta") or {}
        found.append(
            (
                str(config.get("type") or config.get("expectation_type") or "?"),
                str(column or "—"),
                int(count) if isinstance(count, int | float) else None,
                str(meta.get("field") or ""),
            )
        )
    return found


# --- queries (read-only; the license store has no repository for gate results yet) --------------


def _recent_batches(db: Session, license_type: str, runs: int) -> list[tuple[int, int, dict, datetime]]:
    """(result id, run id, statistics, validated at) of every batch of the type's latest ``runs`` runs."""
    run_ids = db.scalars(
        select(QualityResult.run_id)
        .where(QualityResult.license_type == license_type)
        .group_by(QualityResult.run_id)
        .order_by(QualityResult.run_id.desc())
        .limit(runs)
    ).all()
    if not run_ids:
        return []
    rows = db.execute(
        select(QualityResult.id, QualityResult.run_id, QualityResult.statistics, QualityResult.validated_at)
        .where(QualityResult.license_type == license_type, QualityResult.run_id.in_(run_ids))
        .order_by(QualityResult.id)
    ).all()
    return [(row[0], row[1], row[2] or {}, row[3]) for row in rows]


def _results(db: Session, ids: list[int]) -> dict[int, dict[str, Any]]:
    """The stored GX result JSON of these batches (already redacted of values by the gate)."""
    if not ids:
        return {}
    rows = db.execute(select(QualityResult.id, QualityResult.result).where(QualityResult.id.in_(ids))).all()
    return {row[0]: row[1] or {} for row in rows}


# --- the Data Docs -------------------------------------------------------------------------------


def site_dir(request: Request) -> Path:
    return Path(request.app.state.hub.settings.home).joinpath(*SITE)


def suite_name(license_type: str) -> str:
    """GX's suite name of a license type (exchange.quality.suites.suite_name, without importing GX)."""
    return f"license_{license_type}"


def validation_pages(site: Path, license_type: str, run_id: int) -> list[str]:
    """Console URLs of the Data Docs validation pages of one run of one license type."""
    folder = site / "validations" / suite_name(license_type) / str(run_id)
    if not folder.is_dir():
        return []
    return [f"{DOCS_PREFIX}/{page.relative_to(site).as_posix()}" for page in sorted(folder.rglob("*.html"))]


CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".png": "image/png",
    ".gif": "image/gif",
    ".jpg": "image/jpeg",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
    ".otf": "font/otf",
    ".ttf": "font/ttf",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
}


@router.get("/quality/docs")
def docs_root(
    principal: ConsolePrincipal = Depends(require("governance", "department")),  # noqa: B008
) -> Response:
    return RedirectResponse(f"{DOCS_PREFIX}/index.html", status_code=303)


@router.get("/quality/docs/{path:path}")
def docs_file(
    request: Request,
    path: str,
    principal: ConsolePrincipal = Depends(require("governance", "department")),  # noqa: B008
) -> Response:
    """One file of the Data Docs site, read-only; 404 outside ``site/`` or outside the principal's scope."""
    target = resolve_inside(site_dir(request), path or "index.html")
    suffix = target.suffix.lower() if target is not None else ""
    if target is None or suffix not in CONTENT_TYPES:
        return _not_found(request, principal)
    relative = target.relative_to(site_dir(request).resolve()).parts
    if not may_read(principal, relative):
        if relative == ("index.html",):  # a department's way "home" is the quality page
            return RedirectResponse(f"{PREFIX}/quality", status_code=303)
        return _not_found(request, principal)
    if suffix == ".html":
        page, policy = offline_html(target.read_text(encoding="utf-8", errors="replace"))
        return HTMLResponse(page, headers={"Content-Security-Policy": policy})
    if suffix == ".css":
        text = strip_css_urls(target.read_text(encoding="utf-8", errors="replace"))
        return Response(text, media_type=CONTENT_TYPES[suffix])
    return FileResponse(target, media_type=CONTENT_TYPES[suffix])


def resolve_inside(root: Path, path: str) -> Path | None:
    """``root/path`` as an existing regular file inside ``root`` (symlinks resolved), else None."""
    try:
        base = root.resolve(strict=True)
        target = (base / path).resolve(strict=True)
    except (OSError, ValueError, RuntimeError):  # missing, a NUL byte, a symlink loop
        return None
    if not target.is_relative_to(base) or not target.is_file():
        return None
    if any(part.startswith(".") for part in target.relative_to(base).parts):
        return None
    return target


def may_read(principal: ConsolePrincipal, parts: tuple[str, ...]) -> bool:
    """Governance reads the whole site; a department its own types' pages and the shared assets."""
    if principal.role == "governance":
        return True
    if principal.role != "department" or not parts:
        return False
    own = {suite_name(key) for key in license_types_of(principal)}
    if parts[0] == "static":
        return True
    if parts[0] == "expectations" and len(parts) == 2:
        return parts[1].removesuffix(".html") in own
    if parts[0] == "validations" and len(parts) > 2:
        return parts[1] in own
    return False


def _not_found(request: Request, principal: ConsolePrincipal) -> HTMLResponse:
    return render(request, "error.html", principal, status_code=404, message_key="error.not_found")


# --- making a GX page work offline under the console's CSP ----------------------------------------

VENDOR = f"{PREFIX}/static/vendor/data-docs"
# The file name in GX's CDN address -> our copy of the same release (static/vendor/data-docs/README.md).
VENDORED = {
    "bootstrap.min.css": "bootstrap-4.3.1/bootstrap.min.css",
    "bootstrap.min.js": "bootstrap-4.3.1/bootstrap.min.js",
    "popper.min.js": "popper.js-1.12.9/popper.min.js",
    "jquery-3.7.1.min.js": "jquery-3.7.1/jquery.min.js",
    "bootstrap-table.min.css": "bootstrap-table-1.19.1/bootstrap-table.min.css",
    "bootstrap-table.min.js": "bootstrap-table-1.19.1/bootstrap-table.min.js",
    "bootstrap-table-filter-control.css": "bootstrap-table-1.19.1/bootstrap-table-filter-control.min.css",
    "bootstrap-table-filter-control.min.css": "bootstrap-table-1.19.1/bootstrap-table-filter-control.min.css",
    "bootstrap-table-filter-control.min.js": "bootstrap-table-1.19.1/bootstrap-table-filter-control.min.js",
    "bootstrap-datepicker.min.css": "bootstrap-datepicker-1.9.0/bootstrap-datepicker.min.css",
    "bootstrap-datepicker.min.js": "bootstrap-datepicker-1.9.0/bootstrap-datepicker.min.js",
    "all.min.css": "fontawesome-free-6.6.0/css/all.min.css",
}
# Outside images GX shows that the site itself ships a copy of.
LOCAL_IMAGES = {"logo-long.png": f"{DOCS_PREFIX}/static/images/logo-long.png"}

_OUTSIDE = re.compile(r"(?i)^\s*(?:https?:)?//")
_ANY_OUTSIDE = re.compile(r"""(?i)\bhttps?://[^\s"'<>()\\]+""")
_SCRIPT = re.compile(r"(?is)<script\b([^>]*)>(.*?)</script\s*>")
_STYLE_BLOCK = re.compile(r"(?is)<style\b[^>]*>(.*?)</style\s*>")
_TAG = re.compile(r"(?is)<(link|img|a|source|iframe|embed|object)\b[^>]*>")
_URL_ATTRIBUTE = re.compile(r"""(?is)\s(src|href|srcset|data)\s*=\s*(["'])(.*?)\2""")
_CSS_URL = re.compile(r"""(?is)url\(\s*(["']?)((?:https?:)?//[^)"']*)\1\s*\)""")
_CSS_IMPORT = re.compile(r"""(?is)@import\s+(?:url\()?\s*["']?(?:https?:)?//[^;]*;""")
_HANDLER = re.compile(r"""(?is)\son[a-z]+\s*=\s*(["'])(.*?)\1""")
_STYLE_ATTRIBUTE = re.compile(r"""(?is)\sstyle\s*=\s*(["'])(.*?)\1""")


def offline_html(page: str) -> tuple[str, str]:
    """The page with every outside reference vendored or removed, and the CSP that lets it run."""
    page = _SCRIPT.sub(_script, page)
    page = _TAG.sub(_tag, page)
    page = strip_css_urls(page)
    page = _ANY_OUTSIDE.sub("#", page)  # last resort: no outside address survives, even in text
    scripts = {_hash(body) for attributes, body in _SCRIPT.findall(page) if "src" not in attributes.lower()}
    scripts |= {_hash(html.unescape(code)) for _, code in _HANDLER.findall(page)}
    styles = {_hash(body) for body in _STYLE_BLOCK.findall(page)}
    styles |= {_hash(html.unescape(css)) for _, css in _STYLE_ATTRIBUTE.findall(page)}
    return page, docs_policy(scripts, styles)


def docs_policy(scripts: set[str], styles: set[str]) -> str:
    """The console's CSP, plus the hashes of this page's own inline code and styles."""

    def sources(hashes: set[str]) -> str:
        return " ".join(["'self'", *(["'unsafe-hashes'"] if hashes else []), *sorted(hashes)])

    return (
        f"default-src 'self'; script-src {sources(scripts)}; style-src {sources(styles)}; "
        "img-src 'self' data:; font-src 'self'; connect-src 'self'; form-action 'none'; "
        "frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    )


def strip_css_urls(text: str) -> str:
    """CSS without outside ``url()`` and ``@import`` (a missing background beats a call outside)."""
    return _CSS_URL.sub("none", _CSS_IMPORT.sub("", text))


def _script(match: re.Match[str]) -> str:
    attributes, body = match.group(1), match.group(2)
    source = _URL_ATTRIBUTE.search(" " + attributes)
    if source is None or source.group(1).lower() != "src" or not _OUTSIDE.match(source.group(3)):
        return match.group(0)
    local = VENDORED.get(_file_name(source.group(3)))
    if local is None:
        return ""  # not vendored (Vega: profiling charts only): dropped
    return f"<script{attributes.replace(source.group(3), f'{VENDOR}/{local}')}>{body}</script>"


def _tag(match: re.Match[str]) -> str:
    tag, name = match.group(0), match.group(1).lower()
    for attribute in _URL_ATTRIBUTE.finditer(tag):
        url = attribute.group(3)
        if not _OUTSIDE.match(url):
            continue
        if name == "link":
            local = VENDORED.get(_file_name(url))
            return tag.replace(url, f"{VENDOR}/{local}") if local else ""
        if name == "img" and _file_name(url) in LOCAL_IMAGES:
            return tag.replace(url, LOCAL_IMAGES[_file_name(url)])
        if name == "a":
            return tag.replace(attribute.group(0), "")  # the text stays, the link outside goes
        return ""  # an outside image, frame or object: dropped
    return tag


def _file_name(url: str) -> str:
    return url.split("?", 1)[0].split("#", 1)[0].rstrip("/").rsplit("/", 1)[-1]


def _hash(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode("utf-8")).digest()).decode() + "'"
