"""The query and verify path, top to bottom: verify the request → rate limit → replay → the
question → the directory's grant → the adapter → sign the evidence → the audit entry.

Every request, allowed or denied, ends in exactly one audit entry written in the caller's
transaction; the caller commits it before any byte of the answer leaves (exchange/api/queries.py).

Write transactions are kept short: the ``jti`` is committed as soon as it is checked, so the
department's answer is awaited outside any write transaction, and the audit entry's transaction
writes only the entry. SQLite has one write lock for the whole database; a transaction that kept it
from the replay check through the legacy call serialised every request behind the slowest
department, and under load its waiters ran past busy_timeout into 503s.

Refusals are :class:`~exchange.queries.verification.Rejected` or the domain errors they stand for,
each turned into its problem document here, so the audit entry records the status the consumer sees.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509
from sqlalchemy import delete, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from adapters.base import Subject
from adapters.errors import AdapterError, LegacyFailure
from certs.revocation import RevocationChecker
from certs.store import PkiPaths
from directory import service as directory
from directory.calendar import local_date
from directory.schemas import RESOURCE_CODE_FORM, is_resource_code
from exchange.api.problems import PROBLEM_BASE, adapter_problem, directory_problem
from exchange.audit.schemas import ITEM_LENGTH, LENGTHS, MAX_ITEMS
from exchange.identifiers import InvalidIdentifier
from exchange.licenses import store as licenses
from exchange.queries.evidence import body_hash
from exchange.queries.limits import RateLimiter
from exchange.queries.models import SeenRequest
from exchange.queries.providers import Provider, Question
from exchange.queries.verification import Rejected, malformed, unauthenticated, verify_request

ENDPOINTS = ("query", "verify", "license")
# Text claims must not hold what the audit log cannot keep as sent or a reader cannot see as sent:
# C0 and C1 controls (NUL among them), lone surrogates (no Unicode scalar value; RFC 7493 section
# 2.1 forbids them in I-JSON) and the bidirectional embedding, override and isolate controls of
# UAX #9, which make text display as something else ("Trojan Source", CVE-2021-42574).
_UNSAFE_TEXT = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
EVIDENCE_MEDIA_TYPE = "application/jwt"
PROBLEM_MEDIA_TYPE = "application/problem+json"


@dataclass
class Exchange:
    """What the path needs from the running hub; built once per worker."""

    paths: PkiPaths
    ca_certificate: x509.Certificate
    revocation: RevocationChecker
    hub_id: str
    providers: Mapping[str, Provider]  # by department id: local or behind a gateway
    limiter: RateLimiter
    max_body_bytes: int
    max_skew: timedelta
    replay_window: timedelta
    purge: ReplayPurge = field(default_factory=lambda: ReplayPurge())


@dataclass
class ReplayPurge:
    """When this worker next deletes expired ``jti`` records: a delete per request would add a scan
    to every write transaction."""

    every: timedelta = timedelta(seconds=10)
    due: datetime | None = None

    def now_due(self, now: datetime) -> bool:
        if self.due is not None and now < self.due:
            return False
        self.due = now + self.every
        return True


@dataclass
class Answer:
    status: int
    body: bytes
    media_type: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Trail:
    """What the audit entry will say, filled in as the request goes down the path."""

    endpoint: str
    resource_code: str | None  # None until a license search names its type
    request_id: str
    request_hash: str
    content_type: str = "application/jwt"
    client_id: str | None = None
    request_jti: str | None = None
    operator_id: str | None = None
    operator_name: str | None = None
    provider_id: str | None = None
    subject_type: str | None = None
    subject_value: str | None = None
    items_asked: list[str] = field(default_factory=list)
    items_returned: list[str] = field(default_factory=list)
    matter_code: str | None = None
    purpose: str | None = None
    legal_basis: str | None = None
    decision: str = "deny"
    reason: str = ""
    http_status: int = 500
    response_hash: str | None = None


AppendAudit = Callable[[Session, Trail, int, datetime, Callable[[int], bytes]], int]


def handle(
    session: Session,
    hub: Exchange,
    *,
    endpoint: str,
    resource_code: str,
    body: bytes,
    content_type: str,
    request_id: str,
    now: datetime,
    append_audit: AppendAudit,
    commit: Callable[[], None],
) -> Answer:
    """Answer one signed request and write its audit entry (not committed: the caller commits).

    ``commit`` is the caller's: called once the ``jti`` is recorded, it ends that short write
    transaction before the department is asked (see the module's docstring); called again just before
    the department is asked, it ends the read transaction, so no pooled connection waits on a legacy system.
    """
    started = time.perf_counter()
    trail = Trail(
        endpoint, resource_code, request_id, body_hash(body), content_type.split(";")[0].strip().lower()
    )
    evidence: Callable[[int], bytes] | None = None
    try:
        evidence = _answer(session, hub, trail, body, now, commit)
        trail.decision, trail.http_status, trail.reason = "allow", 200, "answered"
        answer = Answer(200, b"", EVIDENCE_MEDIA_TYPE)
    except Exception as exc:
        answer = _refusal(exc, trail, request_id)
    latency_ms = round((time.perf_counter() - started) * 1000)

    def render(index: int) -> bytes:
        nonlocal answer
        if evidence is not None:
            try:
                answer.body = evidence(index)
            except AdapterError as exc:  # a gateway that answered could not sign: no data leaves
                trail.decision = "deny"
                answer = _refusal(exc, trail, request_id)
        trail.response_hash = body_hash(answer.body)
        return answer.body

    append_audit(session, trail, latency_ms, now, render)
    return answer


def _refusal(exc: Exception, trail: Trail, request_id: str) -> Answer:
    """The problem answer for a refusal, recorded on the trail; anything else is re-raised."""
    rejected = _as_rejected(exc)
    if rejected is None:
        raise exc
    trail.http_status = rejected.status
    # The operator's record keeps what the consumer is not told (a legacy row, a legacy message).
    trail.reason = str(exc) if isinstance(exc, AdapterError) else rejected.detail
    trail.client_id = trail.client_id or rejected.client_id
    headers = getattr(rejected, "headers", {})
    return Answer(rejected.status, _problem_body(rejected, request_id), PROBLEM_MEDIA_TYPE, headers)


def _answer(
    session: Session, hub: Exchange, trail: Trail, body: bytes, now: datetime, commit: Callable[[], None]
) -> Callable[[int], bytes]:
    if trail.content_type != "application/jwt":
        raise Rejected(
            415, "unsupported-media-type", "Unsupported media type", "send Content-Type: application/jwt"
        )
    if len(body) > hub.max_body_bytes:
        raise Rejected(
            413, "body-too-large", "Request body too large", f"the body exceeds {hub.max_body_bytes} bytes"
        )
    request = verify_request(
        session,
        body,
        paths=hub.paths,
        ca_certificate=hub.ca_certificate,
        revocation=hub.revocation,
        hub_id=hub.hub_id,
        max_skew=hub.max_skew,
        now=now,
    )
    trail.client_id, trail.request_jti = request.client_id, request.jti
    wait = hub.limiter.acquire(request.client_id)
    if wait:
        rejected = Rejected(429, "rate-limited", "Too many requests", f"slow down: try again in {wait:.1f} s")
        rejected.headers = {"Retry-After": RateLimiter.retry_after(wait)}  # type: ignore[attr-defined]
        raise rejected
    if request.issued_at < now - hub.replay_window - hub.max_skew:
        raise unauthenticated(f"iat is older than the replay window of {hub.replay_window.seconds} s")
    _remember(
        session,
        request.client_id,
        request.jti,
        request.issued_at + hub.replay_window + hub.max_skew,
        now,
        purge=hub.purge.now_due(now),
    )
    commit()  # a jti is spent once checked, whatever happens to the request next

    claims = request.claims
    if trail.endpoint == "license":
        trail.resource_code = _license_resource(session, _required(claims, "license_type", ITEM_LENGTH))
    elif not is_resource_code(trail.resource_code or ""):
        # DESIGN.md: an invalid identifier is a 422, never a lookup (docs/directory.md gives the form).
        raise Rejected(
            422,
            "invalid-identifier",
            "Invalid identifier",
            f"the path's resource code is not {RESOURCE_CODE_FORM}",
        )
    elif claims.get("resource") != trail.resource_code:
        raise malformed(
            f"the resource claim {claims.get('resource')!r} is not the path's {trail.resource_code}"
        )
    operator = claims.get("operator")
    if not isinstance(operator, dict):
        raise malformed('operator must be {"id": ..., "name": ...}: the clerk who asks')
    trail.operator_id = _required(operator, "operator id", LENGTHS["operator_id"], key="id")
    trail.operator_name = _required(operator, "operator name", LENGTHS["operator_name"], key="name")
    subject = _subject(claims.get("subject"), trail)
    trail.matter_code = _required(claims, "matter_code", LENGTHS["matter_code"])
    trail.purpose = _required(claims, "purpose", LENGTHS["purpose"])
    if claims.get("legal_basis") not in (None, ""):  # optional: absent, null or empty
        trail.legal_basis = _required(claims, "legal_basis", LENGTHS["legal_basis"])
    if trail.endpoint == "license":
        items, asked = [], None  # a grant of the license resource for the matter covers the search
    elif trail.endpoint == "query":
        items = claims.get("fields")
        if not isinstance(items, list) or not items or not all(_item_name(i) for i in items):
            raise malformed("fields must be a non-empty list of data item names")
        items = _few(list(dict.fromkeys(items)))
        asked: Any = items
    else:
        asked = claims.get("claims")
        if not isinstance(asked, dict) or not asked or not all(_item_name(k) for k in asked):
            raise malformed("claims must be a non-empty object of item: value")
        if not all(v is None or isinstance(v, str | int | float) for v in asked.values()):
            # Every data item holds one value (adapters/*/datasets.py): a nested one is no claim about it.
            raise malformed("each claimed value must be a string, a number, a boolean or null")
        items = _few(list(asked))
    trail.items_asked = items or [claims["license_type"]]

    try:
        resource = directory.get_resource(session, code=trail.resource_code)
    except directory.NotFound:
        raise Rejected(
            404, "unknown-resource", "Unknown resource", f"no resource {trail.resource_code}"
        ) from None
    trail.provider_id = resource.provider_id
    if resource.withdrawn or resource.sharing_type == "none":
        raise directory.Refused(f"resource {resource.code} is not shared")
    if trail.endpoint not in resource.access_methods:
        raise directory.Refused(f"resource {resource.code} does not offer {trail.endpoint}")
    directory.authorise(
        session,
        client_id=request.client_id,
        resource_code=resource.code,
        items=items,
        matter_code=trail.matter_code,
        on=local_date(now),
    )

    provider = hub.providers.get(resource.provider_id)
    if provider is None:
        raise _Unreachable(f"the {resource.provider_id} department is not connected to this hub")
    question = Question(
        operation=trail.endpoint,  # type: ignore[arg-type]
        resource_code=resource.code,
        subject=subject,
        client_id=request.client_id,
        request_jti=request.jti,
        request_hash=trail.request_hash,
        items=tuple(items),
        asked=asked if trail.endpoint == "verify" else None,
        credentials=tuple(
            licenses.credentials_of(session, license_type=claims["license_type"], holder_code=subject.value)
            if trail.endpoint == "license"
            else ()
        ),
    )
    # End the read transaction: no pooled connection, shared by every department, waits on a legacy system.
    commit()
    draft = provider.answer(question)
    trail.items_returned = draft.items_returned

    def sign(index: int) -> bytes:
        return provider.evidence(draft, question, log_index=index, now=now).encode("ascii")

    return sign


def _license_resource(session: Session, license_type: str) -> str:
    code = directory.license_resource(session, license_type=license_type)
    if code is None:
        raise Rejected(
            404, "unknown-resource", "Unknown resource", f"no resource issues {license_type!r} licenses"
        )
    return code


class _Unreachable(LegacyFailure):
    retriable = True


def _remember(
    session: Session, client_id: str, jti: str, expires_at: datetime, now: datetime, *, purge: bool
) -> None:
    """Record the jti once; a second use while it is remembered is a replay (409)."""
    values = {"client_id": client_id, "jti": jti, "expires_at": expires_at}
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        statement = postgresql.insert(SeenRequest).values(values).on_conflict_do_nothing()
    elif dialect == "sqlite":
        statement = sqlite.insert(SeenRequest).values(values).on_conflict_do_nothing()
    else:  # pragma: no cover - the hub runs on SQLite and PostgreSQL only
        statement = insert(SeenRequest).values(values)
    # RETURNING says whether the row went in, on every backend: with psycopg 3 and SQLAlchemy 2.1 an
    # INSERT's rowcount reads -1, and every request looked like a replay on PostgreSQL.
    if session.execute(statement.returning(SeenRequest.jti)).first() is None:
        raise Rejected(409, "replay", "Replayed request", f"jti {jti} was already used", client_id=client_id)
    if purge:
        session.execute(delete(SeenRequest).where(SeenRequest.expires_at < now))


def _subject(value: Any, trail: Trail) -> Subject:
    if not isinstance(value, dict) or not _text(value.get("type")) or not _text(value.get("value")):
        raise malformed('subject must be {"type": "id_card" | "uscc" | "property_unit", "value": "..."}')
    trail.subject_type, trail.subject_value = value["type"], value["value"]
    try:
        subject = Subject.parse(value["type"], value["value"])
    except InvalidIdentifier as exc:
        raise Rejected(422, "invalid-identifier", "Invalid identifier", str(exc)) from None
    except ValueError:
        raise malformed(f"unknown subject type {value['type']!r}") from None
    trail.subject_value = subject.value
    return subject


def _required(claims: Mapping[str, Any], name: str, limit: int, *, key: str | None = None) -> str:
    """A text claim as the audit entry will hold it: at most ``limit`` characters (the entry's column,
    so nothing is clipped), none of ``_UNSAFE_TEXT``."""
    value = claims.get(key or name)
    if not _text(value) or len(value) > limit:
        raise malformed(f"{name} is required: a non-empty text of at most {limit} characters")
    if _UNSAFE_TEXT.search(value):
        raise malformed(f"{name} holds a control character, a lone surrogate or a bidirectional override")
    return value


def _item_name(value: Any) -> bool:
    return _text(value) and len(value) <= ITEM_LENGTH and not _UNSAFE_TEXT.search(value)


def _few(items: list[str]) -> list[str]:
    """At most as many items as an audit entry records: the log must name every item asked."""
    if len(items) > MAX_ITEMS:
        raise malformed(f"at most {MAX_ITEMS} data items may be asked at once")
    return items


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _as_rejected(exc: Exception) -> Rejected | None:
    if isinstance(exc, Rejected):
        return exc
    if isinstance(exc, directory.DirectoryError):
        problem = directory_problem(exc)
    elif isinstance(exc, AdapterError):
        problem = adapter_problem(exc)
    else:
        return None
    rejected = Rejected(problem.status, problem.slug, problem.title, problem.detail)
    rejected.headers = problem.headers  # type: ignore[attr-defined]
    return rejected


def _problem_body(rejected: Rejected, request_id: str) -> bytes:
    document = {
        "type": PROBLEM_BASE + rejected.slug,
        "title": rejected.title,
        "status": rejected.status,
        "detail": rejected.detail,
        "request_id": request_id,
    }
    return json.dumps(document, ensure_ascii=False).encode("utf-8")
