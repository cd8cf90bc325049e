"""Bootstrapping is idempotent and works unchanged on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from certs import repository as certificates
from exchange.api.app import create_app
from exchange.bootstrap import bootstrap
from exchange.config import Settings
from exchange.consumers import repository as consumers
from exchange.db.engine import engine_for, session_factory


def _boot_twice_and_check(settings: Settings) -> None:
    engine = engine_for(settings)
    try:
        first = bootstrap(settings, engine)
        second = bootstrap(settings, engine)
        assert first.demo is not None and first.demo.created
        assert second.demo is not None and not second.demo.created
        assert second.demo.kid == first.demo.kid and second.pki.issued == []
        with session_factory(engine)() as session:
            records = certificates.list_all(session)
            assert sorted(r.kind for r in records) == [
                "ca",
                "consumer",
                "department",
                "department",
                "department",
                "department",
                "hub",
            ]
            assert all(r.issued_at.tzinfo is not None for r in records)
            assert [c.client_id for c in consumers.list_all(session)] == ["demo-approval"]
        with TestClient(create_app(settings)) as client:
            body = client.get("/health").json()
        assert body["status"] == "ok", body
        assert body["database"]["backend"] == engine.dialect.name
    finally:
        engine.dispose()


@pytest.mark.sqlite
def test_bootstrap_on_sqlite(settings):
    _boot_twice_and_check(settings)


def test_bootstrap_on_postgresql(home, postgres_url):
    settings = Settings(home=home, database_url=postgres_url)
    assert settings.database_url.startswith("postgresql+psycopg://")
    _boot_twice_and_check(settings)


def test_without_demo_no_consumer_is_created(settings):
    engine = engine_for(settings)
    report = bootstrap(settings, engine, with_demo=False)
    assert report.demo is None
    with session_factory(engine)() as session:
        assert consumers.list_all(session) == []
    engine.dispose()


@pytest.mark.parametrize("algorithm", ["p256"])
def test_bootstrap_with_p256(settings, algorithm):
    from certs.keys import KeyAlgorithm

    engine = engine_for(settings)
    report = bootstrap(settings, engine, algorithm=KeyAlgorithm(algorithm))
    assert report.pki.algorithm is KeyAlgorithm.P256
    engine.dispose()
