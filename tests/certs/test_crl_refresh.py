"""The CRL is re-signed before it goes stale, once, by whichever process gets there first."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from adapters.registry import DEPARTMENTS
from certs import service as pki
from certs.revocation import load_crl
from certs.store import read_certificate
from exchange.api.app import create_app
from exchange.config import Settings


def _number(paths):
    return load_crl(paths.crl, read_certificate(paths.ca_cert)).number


def _init_days_ago(session, paths, settings, days: float):
    then = datetime.now(UTC) - timedelta(days=days)
    pki.init_pki(session, paths=paths, hub_id=settings.hub_id, departments=DEPARTMENTS.values(), now=then)
    session.commit()


def test_refresh_only_when_due(session, paths, settings):
    _init_days_ago(session, paths, settings, 1)
    now = datetime.now(UTC)
    assert not pki.crl_is_due(paths, now=now)
    assert pki.refresh_crl_if_due(session, paths, passphrase=None, now=now) is False
    assert _number(paths) == 1
    later = now + timedelta(days=5, hours=1)
    assert pki.crl_is_due(paths, now=later)
    assert pki.refresh_crl_if_due(session, paths, passphrase=None, now=later) is True
    assert _number(paths) == 2
    assert pki.refresh_crl_if_due(session, paths, passphrase=None, now=later) is False


def test_running_hub_refreshes_a_crl_that_is_about_to_expire(session, paths, settings):
    _init_days_ago(session, paths, settings, 6.5)
    fast = Settings(home=settings.home, crl_refresh_seconds=0.05)
    with TestClient(create_app(fast)) as client:
        deadline = time.monotonic() + 10
        while _number(paths) == 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _number(paths) == 2
        assert client.get("/health").json()["pki"]["ok"] is True


def test_hub_without_the_ca_key_leaves_the_crl_alone(session, paths, settings):
    _init_days_ago(session, paths, settings, 6.5)
    paths.ca_key.rename(paths.root / "offline-ca.key")
    fast = Settings(home=settings.home, crl_refresh_seconds=0.05)
    with TestClient(create_app(fast)):
        time.sleep(0.3)
    assert _number(paths) == 1
