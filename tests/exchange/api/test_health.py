"""GET /health tells an operator whether the database and the PKI are usable."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from exchange.api.app import create_app
from exchange.bootstrap import bootstrap
from exchange.db import migrate


@pytest.fixture
def booted(settings, engine):
    bootstrap(settings, engine)
    return settings


def _client(settings):
    return TestClient(create_app(settings))


def test_healthy_hub(booted, engine):
    with _client(booted) as client:
        response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    head = migrate.head_revision()
    assert body["database"] == {"ok": True, "backend": engine.dialect.name, "revision": head, "head": head}
    assert body["pki"]["ok"] and body["pki"]["revoked"] == 0
    assert "Root CA" in body["pki"]["ca_subject"]


def test_unmigrated_database_is_degraded(booted, engine):
    migrate.downgrade(engine, "base")
    with _client(booted) as client:
        response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["database"]["ok"] is False


def test_missing_pki_and_missing_crl_are_degraded(settings, engine):
    with _client(settings) as client:
        body = client.get("/health").json()
    assert body["status"] == "degraded" and "exchange pki init" in body["pki"]["error"]
    bootstrap(settings, engine)
    (settings.pki_dir / "crl.pem").unlink()
    with _client(settings) as client:
        response = client.get("/health")
    assert response.status_code == 503 and "no CRL" in response.json()["pki"]["error"]


def test_stale_crl_is_degraded(booted, monkeypatch):
    import exchange.api.health as health

    class Later(datetime):
        @classmethod
        def now(cls, tz=None):  # noqa: ANN001, ANN206
            return datetime(2040, 1, 1, tzinfo=UTC)

    monkeypatch.setattr(health, "datetime", Later)
    with _client(booted) as client:
        response = client.get("/health")
    assert response.status_code == 503


def test_unknown_path_is_a_problem_document(booted):
    with _client(booted) as client:
        response = client.get("/no/such/thing")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == "/problems/not-found" and body["status"] == 404
    assert body["request_id"] == response.headers["x-request-id"]
