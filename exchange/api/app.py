"""The FastAPI application factory (``uvicorn --factory exchange.api.app:create_app``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from cryptography import x509
from fastapi import FastAPI
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

import exchange
from certs.revocation import RevocationChecker
from certs.store import PkiPaths, read_certificate
from exchange.api import health, problems
from exchange.config import Settings, get_settings
from exchange.db.engine import engine_for, session_factory


@dataclass
class HubState:
    """What every request handler may use; built once per worker process."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    pki: PkiPaths
    ca_certificate: x509.Certificate | None
    revocation: RevocationChecker | None


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
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.hub = build_state(settings)
        try:
            yield
        finally:
            app.state.hub.engine.dispose()

    app = FastAPI(
        title="Data Exchange Hub",
        version=exchange.__version__,
        summary="Signed, audited exchange of government data between departments.",
        lifespan=lifespan,
    )
    problems.install(app)
    app.include_router(health.router)
    return app
