"""Bring a data directory to a runnable state: migrate, PKI, demo. Idempotent; used by `exchange up`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine

from adapters.registry import DEPARTMENTS, declared_datasets
from adapters.simulation import PopulationManifest, generate, read_manifest
from certs import service as pki
from certs.keys import KeyAlgorithm
from certs.store import PkiPaths
from directory import service as directory
from directory.calendar import WorkCalendar
from exchange import demo
from exchange.config import Settings
from exchange.db import migrate
from exchange.db.engine import session_factory, session_scope
from exchange.db.roles import Grants


@dataclass
class BootstrapReport:
    home: Path
    database: str
    ca_certificate: Path
    pki: pki.InitResult
    catalogue: directory.RegistrationReport
    demo: demo.DemoConsumer | None
    legacy: PopulationManifest | None = None
    legacy_dir: Path | None = None
    granted: Grants | None = None  # the runtime role's privileges, when an owner role migrated


def bootstrap(
    settings: Settings,
    engine: Engine,
    *,
    with_demo: bool = True,
    algorithm: KeyAlgorithm = KeyAlgorithm.ED25519,
    now: datetime | None = None,
) -> BootstrapReport:
    now = now or datetime.now(UTC)
    WorkCalendar.from_file(settings.holidays_file)  # a bad holidays file stops start-up, naming the line
    settings.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    granted = migrate.upgrade_database(settings, engine)  # as the owner role when one is configured
    paths = PkiPaths(settings.pki_dir)
    passphrase = settings.ca_passphrase()
    sessions = session_factory(engine)
    with session_scope(sessions) as session:
        init = pki.init_pki(
            session,
            paths=paths,
            hub_id=settings.hub_id,
            departments=[d for d in DEPARTMENTS.values() if d.id not in settings.gateways],
            now=now,
            algorithm=algorithm,
            passphrase=passphrase,
        )
        pki.refresh_crl_if_due(session, paths, passphrase=passphrase, now=now)
        catalogue = directory.register_declarations(
            session,
            declared=[(department, declared_datasets(department.id)) for department in DEPARTMENTS.values()],
            now=now,
        )
    seeded = None
    if with_demo:
        with session_scope(sessions) as session:
            seeded = demo.ensure_demo_consumer(
                session, paths=paths, demo_dir=settings.demo_dir, passphrase=passphrase, now=now
            )
            if settings.demo_grants:
                calendar = WorkCalendar.from_file(settings.holidays_file)
                demo.ensure_demo_grants(session, calendar=calendar, now=now)
    legacy = None
    if with_demo:
        legacy = read_manifest(settings.legacy_dir) or generate(settings.legacy_dir, settings.demo_persons)
    return BootstrapReport(
        home=settings.home,
        database=_masked(engine),
        ca_certificate=paths.ca_cert,
        pki=init,
        catalogue=catalogue,
        demo=seeded,
        legacy=legacy,
        legacy_dir=settings.legacy_dir if legacy else None,
        granted=granted,
    )


def _masked(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)
