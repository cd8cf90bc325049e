"""Bring a data directory to a runnable state: migrate, PKI, demo. Idempotent; used by `exchange up`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine

from adapters.registry import DEPARTMENTS
from certs import service as pki
from certs.keys import KeyAlgorithm
from certs.revocation import RevocationUnavailable, load_crl
from certs.store import PkiPaths, read_certificate
from exchange import demo
from exchange.config import Settings
from exchange.db import migrate
from exchange.db.engine import session_factory, session_scope


@dataclass
class BootstrapReport:
    home: Path
    database: str
    ca_certificate: Path
    pki: pki.InitResult
    demo: demo.DemoConsumer | None


def passphrase_of(settings: Settings) -> bytes | None:
    secret = settings.ca_key_passphrase
    return secret.get_secret_value().encode("utf-8") if secret else None


def bootstrap(
    settings: Settings,
    engine: Engine,
    *,
    with_demo: bool = True,
    algorithm: KeyAlgorithm = KeyAlgorithm.ED25519,
    now: datetime | None = None,
) -> BootstrapReport:
    now = now or datetime.now(UTC)
    settings.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    migrate.upgrade(engine)
    paths = PkiPaths(settings.pki_dir)
    passphrase = passphrase_of(settings)
    sessions = session_factory(engine)
    with session_scope(sessions) as session:
        init = pki.init_pki(
            session,
            paths=paths,
            hub_id=settings.hub_id,
            departments=DEPARTMENTS.values(),
            now=now,
            algorithm=algorithm,
            passphrase=passphrase,
        )
        if _crl_needs_refresh(paths, now):
            pki.refresh_crl(session, pki.load_authority(paths, passphrase), paths, now=now)
    seeded = None
    if with_demo:
        with session_scope(sessions) as session:
            seeded = demo.ensure_demo_consumer(
                session, paths=paths, demo_dir=settings.demo_dir, passphrase=passphrase, now=now
            )
    return BootstrapReport(
        home=settings.home,
        database=_masked(engine),
        ca_certificate=paths.ca_cert,
        pki=init,
        demo=seeded,
    )


def _crl_needs_refresh(paths: PkiPaths, now: datetime) -> bool:
    """Re-sign the CRL when less than a day of its validity is left."""
    try:
        state = load_crl(paths.crl, read_certificate(paths.ca_cert))
    except RevocationUnavailable:
        return True
    return state.next_update is None or state.next_update - now < timedelta(days=1)


def _masked(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)
