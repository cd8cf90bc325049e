"""The FastAPI application factory (``uvicorn --factory exchange.api.app:create_app``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from fastapi import FastAPI
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

import exchange
from certs import service as pki
from certs.revocation import RevocationChecker
from certs.store import PkiPaths, read_certificate
from directory.calendar import WorkCalendar
from exchange.api import directory, health, problems
from exchange.config import Settings, get_settings
from exchange.db.engine import engine_for, session_factory, session_scope

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


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.hub = state = build_state(settings)
        refresher = asyncio.create_task(_keep_crl_fresh(state))
        try:
            yield
        finally:
            refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await refresher
            state.engine.dispose()

    app = FastAPI(
        title="Data Exchange Hub",
        version=exchange.__version__,
        summary="Signed, audited exchange of government data between departments.",
        lifespan=lifespan,
    )
    problems.install(app)
    app.include_router(health.router)
    app.include_router(directory.router)
    return app
