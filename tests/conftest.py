"""Shared fixtures: an isolated EXCHANGE_HOME per test, a migrated database, an initialised PKI.

The hub database of a test is a SQLite file in its EXCHANGE_HOME, or, with
``EXCHANGE_TEST_DATABASE=postgresql``, a fresh database on the PostgreSQL server of
``EXCHANGE_TEST_POSTGRES_URL`` that the ``home`` fixture names in EXCHANGE_DATABASE_URL, so in-process code
and the subprocesses a test starts use it alike. Tests about SQLite itself carry ``@pytest.mark.sqlite``.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from psycopg.errors import InsufficientPrivilege, ObjectInUse
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from adapters.registry import DEPARTMENTS
from certs import service as pki
from certs.store import PkiPaths
from exchange.config import Settings, get_settings, normalise_database_url
from exchange.db import migrate
from exchange.db.engine import engine_for, make_engine, session_factory

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
# Where every test's hub database lives: "sqlite" (the default) or "postgresql" (README "Development").
TEST_DATABASE = os.environ.get("EXCHANGE_TEST_DATABASE", "sqlite")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "sqlite: the test is about SQLite; its hub database stays a SQLite file on every run"
    )
    if TEST_DATABASE not in ("sqlite", "postgresql"):
        raise pytest.UsageError(f"EXCHANGE_TEST_DATABASE must be sqlite or postgresql, not {TEST_DATABASE!r}")
    if TEST_DATABASE == "postgresql" and not os.environ.get("EXCHANGE_TEST_POSTGRES_URL"):
        raise pytest.UsageError("EXCHANGE_TEST_DATABASE=postgresql needs EXCHANGE_TEST_POSTGRES_URL")


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
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hub_database_url: str | None) -> Path:
    path = tmp_path / "home"
    monkeypatch.setenv("EXCHANGE_HOME", str(path))
    if hub_database_url is not None:
        monkeypatch.setenv("EXCHANGE_DATABASE_URL", hub_database_url)
    get_settings.cache_clear()
    return path


@pytest.fixture(scope="module")
def module_database_env(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """For a hub shared by a module's tests: EXCHANGE_DATABASE_URL of a fresh, empty PostgreSQL database
    (dropped after the module) to merge into its environment, or nothing for SQLite in its EXCHANGE_HOME.
    """
    if TEST_DATABASE == "sqlite":
        yield {}
        return
    databases: PostgresDatabases = request.getfixturevalue("postgres_databases")
    with databases.fresh() as url:
        yield {"EXCHANGE_DATABASE_URL": url}


@pytest.fixture
def hub_database_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """This test's PostgreSQL hub database (dropped afterwards), or None for SQLite in EXCHANGE_HOME.

    A test that uses the ``engine`` fixture gets a database already migrated to head; any other test an
    empty one, as a fresh EXCHANGE_HOME holds no SQLite file yet.
    """
    if TEST_DATABASE == "sqlite" or request.node.get_closest_marker("sqlite"):
        yield None
        return
    databases: PostgresDatabases = request.getfixturevalue("postgres_databases")
    with databases.fresh(migrated="engine" in request.fixturenames) as url:
        yield url


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


class PostgresDatabases:
    """Creates and drops this process's test databases (``exchange_test_*``) on the test server.

    A migrated database is a copy of a template migrated once per process (per xdist worker):
    ``CREATE DATABASE ... TEMPLATE`` takes a fraction of the time the migrations take.
    """

    def __init__(self, admin_url: str) -> None:
        self._admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        self._base = admin_url.rpartition("/")[0]
        self._template: str | None = None

    def _create(self, template: str | None = None) -> str:
        name = f"exchange_test_{uuid.uuid4().hex[:12]}"
        suffix = f' TEMPLATE "{template}"' if template else ""
        with self._admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"{suffix}'))
        return name

    def _drop(self, name: str) -> None:
        # FORCE ends the connections a test left open, but an autovacuum worker in the database makes
        # it fail ("must be a member of the role whose process is being terminated"): retry.
        for attempt in range(100):
            try:
                with self._admin.connect() as connection:
                    connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                return
            except DBAPIError as exc:
                if attempt == 99 or not isinstance(exc.orig, InsufficientPrivilege | ObjectInUse):
                    raise
                time.sleep(0.1)

    def _migrated_template(self) -> str:
        if self._template is None:
            name = self._create()
            engine = make_engine(f"{self._base}/{name}", poolclass=NullPool)
            try:
                migrate.upgrade(engine)
            finally:
                engine.dispose()  # a template must have no connections while it is copied
            self._template = name
        return self._template

    @contextmanager
    def fresh(self, *, migrated: bool = False) -> Iterator[str]:
        """A new database's URL, empty or migrated to head; dropped on exit, connections or not."""
        name = self._create(self._migrated_template() if migrated else None)
        try:
            yield f"{self._base}/{name}"
        finally:
            self._drop(name)

    def close(self) -> None:
        if self._template is not None:
            self._drop(self._template)
        self._admin.dispose()


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[PostgresDatabases]:
    """The PostgreSQL server of EXCHANGE_TEST_POSTGRES_URL, a role that may CREATE DATABASE.

    In CI the variable is mandatory: a missing PostgreSQL fails the run instead of skipping the tests.
    """
    admin_url = os.environ.get("EXCHANGE_TEST_POSTGRES_URL")
    if not admin_url:
        if os.environ.get("CI"):
            pytest.fail("CI must provide EXCHANGE_TEST_POSTGRES_URL (see .ci/run)")
        pytest.skip("EXCHANGE_TEST_POSTGRES_URL is not set")
    databases = PostgresDatabases(normalise_database_url(admin_url))
    yield databases
    databases.close()


@pytest.fixture
def postgres_url(postgres_databases: PostgresDatabases) -> Iterator[str]:
    """A fresh, empty PostgreSQL database (psycopg 3); dropped afterwards."""
    with postgres_databases.fresh() as url:
        yield url
