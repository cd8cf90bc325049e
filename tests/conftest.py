"""Shared fixtures: an isolated EXCHANGE_HOME per test, a migrated database, an initialised PKI."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session

from adapters.registry import DEPARTMENTS
from certs import service as pki
from certs.store import PkiPaths
from exchange.config import Settings, get_settings, normalise_database_url
from exchange.db import migrate
from exchange.db.engine import engine_for, session_factory

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A green run must have passed at least one test (CI must not be green on nothing)."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    passed = len(reporter.stats.get("passed", [])) if reporter is not None else 0
    if exitstatus == pytest.ExitCode.OK and passed == 0:
        session.exitstatus = pytest.ExitCode.NO_TESTS_COLLECTED


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No test sees the developer's EXCHANGE_* variables, .env file or ./var."""
    for name in list(os.environ):
        if name.startswith("EXCHANGE_") and name != "EXCHANGE_TEST_POSTGRES_URL":
            monkeypatch.delenv(name)
    # A demo population small enough that every bootstrap stays fast; tests that need the
    # default size set it themselves.
    monkeypatch.setenv("EXCHANGE_DEMO_PERSONS", "60")
    # Tests grant what they need themselves; the demo grants are tested on their own.
    monkeypatch.setenv("EXCHANGE_DEMO_GRANTS", "false")
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "home"
    monkeypatch.setenv("EXCHANGE_HOME", str(path))
    get_settings.cache_clear()
    return path


@pytest.fixture
def settings(home: Path) -> Settings:
    return get_settings()


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = engine_for(settings)
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with session_factory(engine)() as session:
        yield session
        session.rollback()


@pytest.fixture
def paths(settings: Settings) -> PkiPaths:
    return PkiPaths(settings.pki_dir)


@pytest.fixture
def initialised(session: Session, paths: PkiPaths, settings: Settings) -> PkiPaths:
    """An Ed25519 hub CA with hub and department certificates, issued at ``NOW``."""
    pki.init_pki(session, paths=paths, hub_id=settings.hub_id, departments=DEPARTMENTS.values(), now=NOW)
    session.commit()
    return paths


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database (psycopg 3); dropped afterwards.

    Set EXCHANGE_TEST_POSTGRES_URL to a role that may CREATE DATABASE. In CI the variable is
    mandatory: a missing PostgreSQL fails the run instead of skipping the tests.
    """
    admin_url = os.environ.get("EXCHANGE_TEST_POSTGRES_URL")
    if not admin_url:
        if os.environ.get("CI"):
            pytest.fail("CI must provide EXCHANGE_TEST_POSTGRES_URL (see .ci/run)")
        pytest.skip("EXCHANGE_TEST_POSTGRES_URL is not set")
    admin_url = normalise_database_url(admin_url)
    name = f"exchange_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    base, _, _ = admin_url.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
