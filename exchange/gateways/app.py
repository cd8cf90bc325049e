"""A department gateway: one department's adapter as its own HTTP service, holding that department's
key next to its legacy system (``exchange gateway --department tax``).

It answers only the hub (requests signed by the hub certificate the hub CA issued, for this
department, for the endpoint called, once) and signs only what it produced: a draft of the legacy
answer first, then the evidence for a draft it signed itself, so a compromised hub cannot make it
vouch for data its legacy system never gave. Wire contract: :mod:`exchange.gateways.protocol`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from fastapi import FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool

import exchange
from adapters.errors import AdapterError, LegacyUnavailable
from adapters.registry import get_department
from adapters.simulation import connect, read_manifest, running, simulators
from certs import jose
from certs.revocation import RevocationChecker, crl_state
from certs.store import PkiPaths, read_certificate
from exchange.api.problems import PROBLEM_BASE, adapter_problem
from exchange.config import Settings
from exchange.gateways import protocol
from exchange.licenses.records import NotALicense, license_record
from exchange.licenses.sealing import SD_JWT_VC_TYP, ToSeal
from exchange.licenses.status_list import StatusList, StatusListError
from exchange.queries.evidence import DepartmentSigner
from exchange.queries.providers import Draft, LocalProvider

logger = logging.getLogger("exchange.gateway")
_NO_TIME_CHECK = 10**11  # a credential's own validity is the relying party's check, not ours


@dataclass
class GatewayState:
    department_id: str
    hub_id: str
    provider: LocalProvider
    ca_certificate: x509.Certificate
    revocation: RevocationChecker
    replays: protocol.ReplayCache


class _Refused(Exception):
    def __init__(self, status: int, slug: str, title: str, detail: str, adapter_error: str | None = None):
        super().__init__(detail)
        self.status, self.slug, self.title, self.detail, self.adapter_error = (
            status,
            slug,
            title,
            detail,
            adapter_error,
        )


def create_gateway_app(
    settings: Settings,
    department_id: str,
    *,
    legacy_dir: Path | None = None,
    legacy_url: str | None = None,
    hub_url: str | None = None,
) -> FastAPI:
    """The gateway of ``department_id``; its key, certificate, the hub CA and the CRL are read from
    ``$EXCHANGE_HOME/pki``. ``legacy_dir`` holds the simulated legacy systems (``exchange
    demo-data``, or the volume of an ``exchange legacy serve``); ``legacy_url`` is the address of a
    legacy HTTP interface served by another process (otherwise the simulated system is started in
    this process); ``hub_url`` is where the CRL is fetched from (otherwise the CRL file is kept
    current by the operator)."""
    paths = PkiPaths(settings.pki_dir)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        signer = DepartmentSigner.load(paths, department_id)
        ca = read_certificate(paths.ca_cert)
        with contextlib.ExitStack() as stack:
            adapter = None
            root = legacy_dir or settings.legacy_dir
            policy = settings.legacy_policy()  # EXCHANGE_LEGACY_*: deadline, circuit, retries
            guard, timeout = policy.guard(department_id), policy.timeout
            if legacy_url is not None or not simulators()[department_id].network:
                # A legacy service in another process: over HTTP, or through the files it keeps.
                adapter = connect(root, department_id, url=legacy_url, guard=guard, timeout=timeout)
            elif read_manifest(root) is not None:  # start the simulated HTTP system in this process
                system = stack.enter_context(running(root, [department_id]))[department_id]
                adapter = system.adapter(guard=guard, timeout=timeout)
            else:
                logger.warning("no legacy system under %s: every question is answered 503", root)
            app.state.gateway = GatewayState(
                department_id=department_id,
                hub_id=settings.hub_id,
                provider=LocalProvider(signer, adapter),
                ca_certificate=ca,
                revocation=RevocationChecker(paths.crl, ca),
                replays=protocol.ReplayCache(),
            )
            tasks = []
            if hub_url:
                await asyncio.to_thread(fetch_crl, hub_url, paths.crl, ca)
                tasks.append(
                    asyncio.create_task(_keep_crl(hub_url, paths.crl, ca, settings.crl_refresh_seconds))
                )
            try:
                yield
            finally:
                for task in tasks:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task

    app = FastAPI(
        title=f"Data Exchange Hub gateway: {department_id}",
        version=exchange.__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )

    async def call(
        request: Request, path: str, work: Callable[[GatewayState, dict[str, Any]], Response]
    ) -> Response:
        state: GatewayState = request.app.state.gateway
        request_id = request.headers.get("x-request-id", "")[:64] or uuid.uuid4().hex
        try:
            if request.headers.get("content-type", "").split(";")[0].strip().lower() != protocol.MEDIA_TYPE:
                raise _Refused(
                    415, "unsupported-media-type", "Unsupported media type", "send application/jwt"
                )
            body = await _bounded(request)
            claims = await run_in_threadpool(_authenticate, state, body, path)
            return await run_in_threadpool(work, state, claims)
        except _Refused as exc:
            if exc.status == 401:
                logger.warning("refused a request to %s: %s (request %s)", path, exc.detail, request_id)
            return _problem(exc, request_id)
        except AdapterError as exc:
            logger.info("the legacy system could not answer: %s (request %s)", exc, request_id)
            problem = adapter_problem(exc)
            refused = _Refused(
                problem.status, problem.slug, problem.title, problem.detail, protocol.adapter_error_name(exc)
            )
            return _problem(refused, request_id, problem.headers)

    def endpoint(path: str, work: Callable[[GatewayState, dict[str, Any]], Response]) -> Any:
        async def handle(request: Request) -> Response:
            return await call(request, path, work)

        return handle

    for path, work in (
        (protocol.ANSWERS_PATH, _answer),
        (protocol.EVIDENCE_PATH, _evidence),
        (protocol.STATUS_LIST_PATH, _status_list),
        (protocol.CHANGES_PATH, _changes),
        (protocol.SEAL_PATH, _seal),
    ):
        app.add_api_route(path, endpoint(path, work), methods=["POST"], response_class=Response)

    @app.get("/health")
    def health(request: Request) -> dict[str, Any]:
        state: GatewayState = request.app.state.gateway
        return {
            "status": "ok",
            "department": state.department_id,
            "kid": state.provider.signer.kid,
            "legacy": "connected" if state.provider.adapter is not None else "missing",
        }

    return app


def _authenticate(state: GatewayState, body: bytes, path: str) -> dict[str, Any]:
    try:
        return protocol.verify_request(
            body.decode("ascii"),
            ca_certificate=state.ca_certificate,
            revocation=state.revocation,
            hub_id=state.hub_id,
            department_id=state.department_id,
            path=path,
            replays=state.replays,
            now=datetime.now(UTC),
        )
    except (protocol.GatewayAuthError, UnicodeDecodeError) as exc:
        raise _Refused(401, "unauthenticated", "Not the hub", str(exc)) from None


def _answer(state: GatewayState, claims: dict[str, Any]) -> Response:
    """Ask the legacy system; answer a signed draft that only this gateway can turn into evidence."""
    try:
        question = protocol.question_from_claims(claims)
    except ValueError as exc:
        raise _Refused(400, "malformed", "Malformed question", str(exc)) from None
    if question.operation == "license":
        _check_own_credentials(state, question.credentials)
    draft = state.provider.answer(question)
    now = int(datetime.now(UTC).timestamp())
    content: dict[str, Any] = {
        "iss": state.department_id,
        "aud": state.hub_id,
        "iat": now,
        "exp": now + protocol.DRAFT_LIFETIME,
        "jti": uuid.uuid4().hex,
        "in_reply_to": claims["jti"],
        "question": protocol.question_claims(question),
    }
    for name in ("data", "results", "credentials"):
        if getattr(draft, name) is not None:
            content[name] = getattr(draft, name)
    signer = state.provider.signer
    token = jose.sign(content, signer.key, typ=protocol.DRAFT_TYP, kid=signer.kid, x5c=signer.chain)
    return Response(token, media_type=protocol.MEDIA_TYPE)


def _evidence(state: GatewayState, claims: dict[str, Any]) -> Response:
    """Sign the evidence for a draft this gateway signed, naming the hub's audit entry."""
    token, index = claims.get("draft"), claims.get("log_index")
    if not isinstance(token, str) or not isinstance(index, int) or isinstance(index, bool) or index < 0:
        raise _Refused(400, "malformed", "Malformed request", "needs draft (a JWS) and log_index (>= 0)")
    try:
        draft = _signed_here(
            state, token, typ=protocol.DRAFT_TYP, audience=state.hub_id, require=("exp", "jti", "question")
        )
        question = protocol.question_from_claims(draft["question"])
    except (jose.JoseError, ValueError) as exc:
        raise _Refused(400, "invalid-draft", "Invalid draft", str(exc)) from None
    if not state.replays.first_use(f"draft:{draft['jti']}", draft["exp"] + protocol.CLOCK_SKEW):
        raise _Refused(409, "replay", "Draft already used", "each draft is signed as evidence once")
    answer = Draft(data=draft.get("data"), results=draft.get("results"), credentials=draft.get("credentials"))
    signed = state.provider.evidence(answer, question, log_index=index, now=datetime.now(UTC))
    return Response(signed, media_type=protocol.MEDIA_TYPE)


def _status_list(state: GatewayState, claims: dict[str, Any]) -> Response:
    uri, listed, ttl = claims.get("uri"), claims.get("status_list"), claims.get("ttl")
    if not isinstance(uri, str) or not uri.startswith(("http://", "https://")):
        raise _Refused(400, "malformed", "Malformed request", "uri must be the list's http(s) URI")
    if not isinstance(ttl, int) or isinstance(ttl, bool) or not 0 < ttl <= 86_400:
        raise _Refused(400, "malformed", "Malformed request", "ttl must be 1..86400 seconds")
    try:
        if not isinstance(listed, dict):
            raise StatusListError("status_list must be {bits, lst}")
        status_list = StatusList.from_encoded(listed.get("lst"), listed.get("bits"))  # type: ignore[arg-type]
    except (StatusListError, TypeError, ValueError) as exc:
        raise _Refused(400, "malformed", "Malformed request", f"status_list: {exc}") from None
    token = state.provider.status_list_token(status_list, uri=uri, now=datetime.now(UTC), ttl=ttl)
    return Response(token, media_type="application/statuslist+jwt")


def _changes(state: GatewayState, claims: dict[str, Any]) -> Response:
    """A page of the legacy system's certificate changes, signed so that only this page can be sealed."""
    watermark, limit = claims.get("watermark"), claims.get("limit")
    if watermark is not None and not isinstance(watermark, str):
        raise _Refused(400, "malformed", "Malformed request", "watermark must be a text or null")
    if not isinstance(limit, int) or isinstance(limit, bool) or not 0 < limit <= protocol.MAX_CHANGES:
        raise _Refused(400, "malformed", "Malformed request", f"limit must be 1..{protocol.MAX_CHANGES}")
    adapter = state.provider.adapter
    if adapter is None:
        raise LegacyUnavailable(f"the {state.department_id} legacy system is not connected")
    page = list(islice(adapter.changes_since(watermark), limit))
    now = int(datetime.now(UTC).timestamp())
    content = {
        "iss": state.department_id,
        "aud": state.hub_id,
        "iat": now,
        "exp": now + protocol.CHANGES_LIFETIME,
        "jti": uuid.uuid4().hex,
        "in_reply_to": claims["jti"],
        "after": watermark,
        "changes": [
            {"record": protocol.certificate_to_json(change.record), "watermark": change.watermark}
            for change in page
        ],
    }
    signer = state.provider.signer
    token = jose.sign(content, signer.key, typ=protocol.CHANGES_TYP, kid=signer.kid, x5c=signer.chain)
    return Response(token, media_type=protocol.MEDIA_TYPE)


def _seal(state: GatewayState, claims: dict[str, Any]) -> Response:
    """Seal licenses derived from records of a change page this gateway signed: the hub chooses the
    version and the status list entry, the content comes from the legacy system."""
    token, wanted = claims.get("changes"), claims.get("items")
    if not isinstance(token, str) or not isinstance(wanted, list) or not wanted:
        raise _Refused(
            400, "malformed", "Malformed request", "needs changes (a JWS) and a non-empty items list"
        )
    signer = state.provider.signer
    try:
        page = _signed_here(
            state, token, typ=protocol.CHANGES_TYP, audience=state.hub_id, require=("exp", "changes")
        )
    except jose.JoseError as exc:
        raise _Refused(400, "invalid-changes", "Invalid change page", str(exc)) from None
    department = get_department(state.department_id)
    items = []
    for number, item in enumerate(wanted):
        try:
            position, version = item["position"], item["version"]
            if not isinstance(position, int) or not 0 <= position < len(page["changes"]):
                raise ValueError(f"position {position!r} is not on the page")
            certificate = protocol.certificate_from_json(page["changes"][position]["record"])
            record = license_record(certificate, department=department, version=version)
            items.append(ToSeal(certificate, record, str(item["status_uri"]), item["status_index"]))
        except (KeyError, TypeError, ValueError, NotALicense) as exc:
            raise _Refused(400, "malformed", "Malformed request", f"item {number}: {exc}") from None
    try:
        credentials = signer.seal_licenses(items, now=datetime.now(UTC))
    except ValueError as exc:
        raise _Refused(400, "unsealable", "Cannot seal", str(exc)) from None
    return Response(json.dumps({"credentials": credentials}), media_type="application/json")


def _check_own_credentials(state: GatewayState, credentials: tuple[str, ...]) -> None:
    """A license-search answer lists credentials; the gateway vouches only for ones it sealed."""
    for number, credential in enumerate(credentials):
        issuer_jwt = credential.split("~", 1)[0]
        try:
            _signed_here(state, issuer_jwt, typ=SD_JWT_VC_TYP, audience=None, leeway=_NO_TIME_CHECK)
        except jose.JoseError as exc:
            raise _Refused(
                400, "foreign-credential", "Not this department's credential", f"credential {number}: {exc}"
            ) from None


def _signed_here(
    state: GatewayState,
    token: str,
    *,
    typ: str,
    audience: str | None,
    require: tuple[str, ...] = (),
    leeway: float = protocol.CLOCK_SKEW,
) -> dict[str, Any]:
    """The claims of a JWS this gateway's own key signed; :class:`jose.JoseError` otherwise."""
    signer = state.provider.signer
    if jose.header(token).get("kid") != signer.kid:
        raise jose.JoseError(f"the {typ} was not signed by this gateway's key")
    return jose.verify(
        token,
        signer.key.public_key(),  # type: ignore[arg-type]
        typ=typ,
        audience=audience,
        require=require,
        leeway=leeway,
    )


async def _bounded(request: Request) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        chunks.append(chunk)
        size += len(chunk)
        if size > protocol.MAX_BODY_BYTES:
            raise _Refused(413, "body-too-large", "Request body too large", "the body is too large")
    return b"".join(chunks)


def _problem(refused: _Refused, request_id: str, headers: dict[str, str] | None = None) -> Response:
    document: dict[str, Any] = {
        "type": PROBLEM_BASE + refused.slug,
        "title": refused.title,
        "status": refused.status,
        "detail": refused.detail,
        "request_id": request_id,
    }
    if refused.adapter_error:
        document["adapter_error"] = refused.adapter_error
    return Response(
        json.dumps(document, ensure_ascii=False),
        status_code=refused.status,
        media_type=protocol.PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


def fetch_crl(hub_url: str, path: Path, ca: x509.Certificate) -> bool:
    """Fetch the hub's current CRL; keep it only if our CA signed it (written atomically)."""
    try:
        response = httpx.get(f"{hub_url.rstrip('/')}/v1/pki/crl", timeout=10)
        response.raise_for_status()
        crl = x509.load_der_x509_crl(response.content)  # RFC 5280 section 4.2.1.13: DER
        crl_state(crl, ca)
    except (httpx.HTTPError, ValueError) as exc:
        logger.warning("could not refresh the CRL from %s: %s", hub_url, exc)
        return False
    temporary = path.with_name(path.name + ".new")
    temporary.write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    temporary.replace(path)
    return True


async def _keep_crl(hub_url: str, path: Path, ca: x509.Certificate, every: float) -> None:
    while True:
        await asyncio.sleep(min(every, 300))
        await asyncio.to_thread(fetch_crl, hub_url, path, ca)
