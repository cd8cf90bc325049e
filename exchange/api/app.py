"""The FastAPI application factory (``uvicorn --factory exchange.api.app:create_app``)."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from fastapi import FastAPI
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

import exchange
from adapters.base import Adapter
from adapters.registry import DEPARTMENTS
from adapters.simulation import RunningSystem, read_manifest, running
from certs import service as pki
from certs.keys import load_private_key
from certs.revocation import RevocationChecker
from certs.store import PkiPaths, read_certificate
from directory.calendar import WorkCalendar
from exchange.api import audit as audit_api
from exchange.api import directory, health, licenses, problems, quality, queries, subjects
from exchange.api import metrics as metrics_api
from exchange.api import pki as pki_api
from exchange.api.limits import BODY_LIMIT_FACTOR, BodyLimit
from exchange.audit import service as audit
from exchange.config import Settings, get_settings
from exchange.console import pages as console_pages
from exchange.console import web as console
from exchange.db.engine import engine_for, session_factory, session_scope
from exchange.gateways.client import connect as connect_gateway
from exchange.observability import logs, metrics, shutdown
from exchange.observability.middleware import RequestObservability
from exchange.queries.evidence import DepartmentSigner
from exchange.queries.limits import RateLimiter
from exchange.queries.providers import LocalProvider, Provider
from exchange.queries.service import Exchange
from exchange.subjects.identity import DEMO_WARNING, DemoIdentityProvider, IdentityProvider, OidcProvider

logger = logging.getLogger("exchange.api")


@dataclass
class HubState:
    """What every request handler may use; built once per worker process."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    pki: PkiPaths
    ca_certificate: x509.Certificate | None
    revocation: RevocationChecker | None
    calendar: WorkCalendar
    exchange: Exchange | None = None  # None until the PKI exists: query and verify answer 503
    simulated: dict[str, RunningSystem] = field(default_factory=dict)  # the embedded default's departments
    identity: IdentityProvider | None = None  # how data subjects sign in (None: no hub key yet)


def build_state(settings: Settings) -> HubState:
    engine = engine_for(settings)
    pki = PkiPaths(settings.pki_dir)
    ca = read_certificate(pki.ca_cert) if pki.ca_cert.exists() else None
    return HubState(
        settings=settings,
        engine=engine,
        sessions=session_factory(engine),
        pki=pki,
        ca_certificate=ca,
        revocation=RevocationChecker(pki.crl, ca) if ca is not None else None,
        calendar=WorkCalendar.from_file(settings.holidays_file),
        identity=identity_provider(settings, pki),
    )


def identity_provider(settings: Settings, pki: PkiPaths) -> IdentityProvider | None:
    if settings.subject_auth == "oidc":
        return OidcProvider(
            issuer=settings.oidc_issuer,
            audience=settings.oidc_audience,
            jwks_url=settings.oidc_jwks_url,
            claim=settings.oidc_subject_claim,
        )
    if not pki.hub_key.exists():
        return None
    logger.warning(DEMO_WARNING)
    return DemoIdentityProvider(
        load_private_key(pki.hub_key),
        read_certificate(pki.hub_cert),
        issuer=f"{settings.base_url}/demo-idp",
        audience=settings.hub_id,
    )


def refresh_crl_once(state: HubState) -> bool:
    """Re-sign the CRL if it is due and this process can reach the CA key (embedded default)."""
    if not state.pki.ca_key.exists():
        return False
    with session_scope(state.sessions) as session:
        return pki.refresh_crl_if_due(
            session, state.pki, passphrase=state.settings.ca_passphrase(), now=datetime.now(UTC)
        )


async def _keep_crl_fresh(state: HubState) -> None:
    """A CRL past its nextUpdate fails every request closed; keep it fresh while we run."""
    while True:
        await asyncio.sleep(state.settings.crl_refresh_seconds)
        try:
            if await asyncio.to_thread(refresh_crl_once, state):
                logger.info("published a fresh CRL")
        except Exception:
            logger.exception("could not refresh the CRL; /health will report it when it goes stale")


def checkpoint_if_due(state: HubState) -> bool:
    """Sign a checkpoint of the audit log when enough entries or time have passed (needs the hub key)."""
    settings = state.settings
    return (
        sign_checkpoint(
            state,
            every_entries=settings.checkpoint_every_entries,
            every_seconds=settings.checkpoint_every_seconds,
        )
        is not None
    )


def sign_checkpoint(
    state: HubState, *, every_entries: int, every_seconds: float
) -> audit.CheckpointRead | None:
    """The checkpoint signed now if one is due (``audit.checkpoint_due``), else None; None without the
    hub key too. ``every_entries=1``: due as soon as any entry is unsigned (the final one at shutdown)."""
    if not state.pki.hub_key.exists():
        return None
    now = datetime.now(UTC)
    with session_scope(state.sessions) as session:
        if not audit.checkpoint_due(
            session, every_entries=every_entries, every_seconds=every_seconds, now=now
        ):
            return None
        return audit.checkpoint(
            session,
            signer_key=load_private_key(state.pki.hub_key),
            signer_chain=[read_certificate(state.pki.hub_cert), read_certificate(state.pki.ca_cert)],
            hub_id=state.settings.hub_id,
            now=now,
        )


async def _keep_checkpoints(state: HubState) -> None:
    """Every few seconds: sign a checkpoint if one is due, so the log is committed to publicly."""
    interval = min(5.0, state.settings.checkpoint_every_seconds)
    while True:
        await asyncio.sleep(interval)
        try:
            if await asyncio.to_thread(checkpoint_if_due, state):
                logger.info("signed an audit checkpoint")
        except Exception:
            logger.exception("could not sign an audit checkpoint; `exchange audit verify` will show the gap")


M_ARENA_MAX = -8  # glibc <malloc.h>
MALLOC_ARENAS = 2


def _fewer_malloc_arenas() -> None:
    """At most two glibc malloc arenas in a serving worker, unless ``MALLOC_ARENA_MAX`` says otherwise.

    glibc gives each thread that allocates its own arena (up to eight per core); the request thread
    pool's arenas fragment, and under steady load the worker's RSS crept up by about 10 % in ten
    minutes while the memory it held stayed flat (tests/reliability/test_soak.py,
    docs/operations.md "Crash recovery and soak tests"). With two it levels off. Elsewhere (musl,
    macOS) nothing changes.
    """
    if sys.platform != "linux" or "MALLOC_ARENA_MAX" in os.environ:
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).mallopt(M_ARENA_MAX, MALLOC_ARENAS)


def connect_departments(state: HubState, stack: contextlib.ExitStack) -> Exchange | None:
    """The departments this worker can answer for, each a :class:`Provider`.

    A department named in ``EXCHANGE_GATEWAYS`` is reached through its gateway, which holds its key;
    the hub must not hold that key. Every other department is local: the embedded default starts
    its simulated legacy system in this process (when ``exchange demo-data`` or ``exchange up``
    generated them) and signs with the department key in ``$EXCHANGE_HOME/pki``.
    """
    if state.ca_certificate is None or state.revocation is None:
        return None
    settings = state.settings
    providers: dict[str, Provider] = {}
    local = [department_id for department_id in DEPARTMENTS if department_id not in settings.gateways]
    for department_id in settings.gateways:
        if state.pki.department_key(department_id).exists():
            raise RuntimeError(
                f"{state.pki.department_key(department_id)} exists but {department_id} is served by its "
                "gateway: the hub must not hold a gateway department's key (move it to the gateway)"
            )
        gateway = connect_gateway(settings, department_id, revocation=state.revocation)
        stack.callback(gateway.close)
        providers[department_id] = gateway
    adapters: dict[str, Adapter] = {}
    manifest = read_manifest(settings.legacy_dir)
    simulated = [d for d in manifest.departments if d in local] if manifest is not None else []
    if simulated:
        systems = stack.enter_context(running(settings.legacy_dir, simulated))
        state.simulated = dict(systems)
        policy = settings.legacy_policy()  # EXCHANGE_LEGACY_*: deadline, circuit (one per system), retries
        adapters = {
            department_id: system.adapter(guard=policy.guard(department_id), timeout=policy.timeout)
            for department_id, system in systems.items()
        }
    for department_id, signer in DepartmentSigner.available(state.pki, local).items():
        providers[department_id] = LocalProvider(signer, adapters.get(department_id))
    return Exchange(
        paths=state.pki,
        ca_certificate=state.ca_certificate,
        revocation=state.revocation,
        hub_id=settings.hub_id,
        providers=providers,
        limiter=RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst),
        max_body_bytes=settings.max_body_bytes,
        max_skew=timedelta(seconds=settings.max_clock_skew_seconds),
        replay_window=timedelta(seconds=settings.replay_window_seconds),
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        _fewer_malloc_arenas()
        app.state.hub = state = build_state(settings)
        with contextlib.ExitStack() as departments:
            with logs.preserved():  # the simulated departments' uvicorn.Config resets logging
                state.exchange = connect_departments(state, departments)
            tasks = [
                asyncio.create_task(_keep_crl_fresh(state)),
                asyncio.create_task(_keep_checkpoints(state)),
            ]
            try:
                yield
            finally:
                for task in tasks:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                # uvicorn has drained the requests by now (docs/observability.md "Shutdown").
                await asyncio.to_thread(shutdown.final_checkpoint, state)
                metrics.worker_stopped()
                state.engine.dispose()

    app = FastAPI(
        title="Data Exchange Hub",
        version=exchange.__version__,
        summary="Signed, audited exchange of government data between departments.",
        lifespan=lifespan,
    )
    problems.install(app)
    generate_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = problems.describe(generate_openapi())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.include_router(health.router)
    app.include_router(directory.router)
    app.include_router(queries.router)
    app.include_router(subjects.router)
    app.include_router(audit_api.router)
    app.include_router(licenses.router)
    app.include_router(pki_api.router)
    app.include_router(quality.router)
    app.include_router(metrics_api.router)
    # Innermost: its 413 is raised where the route reads the body, not inside the console's middleware.
    app.add_middleware(BodyLimit, limit=BODY_LIMIT_FACTOR * settings.max_body_bytes)  # type: ignore[arg-type]
    console.install(app, console_pages.routers())
    app.add_middleware(RequestObservability)  # type: ignore[arg-type]  # added last: the outermost
    return app
