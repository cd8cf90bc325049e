"""Configuration: defaults, EXCHANGE_* variables, .env file, and which one wins."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from exchange.config import Settings, get_settings


def test_defaults_put_everything_under_var_in_the_working_directory(tmp_path):
    settings = Settings()
    assert settings.home == tmp_path / "var"
    assert settings.database_url == f"sqlite:///{tmp_path / 'var' / 'exchange.db'}"
    assert settings.hub_id == "exchange-hub"
    assert settings.ca_cert_path == tmp_path / "var" / "pki" / "ca.pem"


def test_environment_overrides_defaults(monkeypatch, tmp_path):
    monkeypatch.setenv("EXCHANGE_HOME", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("EXCHANGE_HUB_ID", "city-hub")
    settings = get_settings()
    assert settings.home == tmp_path / "elsewhere"
    assert settings.database_url.endswith("/elsewhere/exchange.db")
    assert settings.hub_id == "city-hub"


def test_precedence_arguments_then_environment_then_dotenv_then_defaults(monkeypatch, tmp_path):
    Path(".env").write_text("EXCHANGE_HUB_ID=from-dotenv\nEXCHANGE_HOME=dotenv-home\n")
    assert Settings().hub_id == "from-dotenv"
    assert Settings().home == tmp_path / "dotenv-home"
    monkeypatch.setenv("EXCHANGE_HUB_ID", "from-env")
    assert Settings().hub_id == "from-env"
    assert Settings().home == tmp_path / "dotenv-home"
    assert Settings(hub_id="from-argument").hub_id == "from-argument"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u:p@db/exchange", "postgresql+psycopg://u:p@db/exchange"),
        ("postgres://u@db/exchange", "postgresql+psycopg://u@db/exchange"),
        ("postgresql+psycopg://u@db/x", "postgresql+psycopg://u@db/x"),
        ("sqlite:////data/x.db", "sqlite:////data/x.db"),
    ],
)
def test_database_urls_route_postgresql_to_psycopg3(monkeypatch, given, expected):
    monkeypatch.setenv("EXCHANGE_DATABASE_URL", given)
    assert Settings().database_url == expected


@pytest.mark.parametrize("bad", ["", "has space", "../../etc", "x" * 200])
def test_invalid_hub_id_is_a_clear_error(monkeypatch, bad):
    monkeypatch.setenv("EXCHANGE_HUB_ID", bad)
    with pytest.raises(ValidationError, match="hub_id"):
        Settings()


def test_passphrase_is_never_shown(monkeypatch):
    monkeypatch.setenv("EXCHANGE_CA_KEY_PASSPHRASE", "hunter2")
    settings = Settings()
    assert "hunter2" not in repr(settings) and "hunter2" not in str(settings.model_dump())
    assert settings.ca_key_passphrase is not None
    assert settings.ca_key_passphrase.get_secret_value() == "hunter2"


def test_database_url_from_a_secret_file(monkeypatch, tmp_path):
    secret = tmp_path / "db-url"
    secret.write_text("postgresql://hub:pw@db/exchange\n")
    monkeypatch.setenv("EXCHANGE_DATABASE_URL", "sqlite:///ignored.db")
    monkeypatch.setenv("EXCHANGE_DATABASE_URL_FILE", str(secret))
    assert Settings().database_url == "postgresql+psycopg://hub:pw@db/exchange"
    monkeypatch.setenv("EXCHANGE_DATABASE_URL_FILE", str(tmp_path / "missing"))
    with pytest.raises(ValidationError, match="cannot read EXCHANGE_DATABASE_URL_FILE"):
        Settings()


def test_the_sync_seals_on_every_cpu_unless_told(monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 6)
    assert Settings().sync_workers == 6
    monkeypatch.setattr("os.cpu_count", lambda: None)
    assert Settings().sync_workers == 1
    monkeypatch.setenv("EXCHANGE_SYNC_WORKERS", "1")
    assert Settings().sync_workers == 1  # the sync's own process seals


@pytest.mark.parametrize(
    ("bad", "message"),
    [("0", "greater than or equal to 1"), ("-2", "greater than or equal to 1"), ("two", "valid integer")],
)
def test_invalid_sync_workers_are_a_clear_error(monkeypatch, bad, message):
    monkeypatch.setenv("EXCHANGE_SYNC_WORKERS", bad)
    with pytest.raises(ValidationError, match="sync_workers") as raised:
        Settings()
    assert message in str(raised.value)
