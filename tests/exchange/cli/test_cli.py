"""The `exchange` command line: what a hub administrator types, and the errors they see."""

from __future__ import annotations

import re

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from typer.testing import CliRunner

from certs.jwk import jwk_thumbprint
from certs.keys import KeyAlgorithm, generate_private_key, public_key_pem
from exchange.cli.context import console, errors
from exchange.cli.main import app
from exchange.db import migrate
from tests.certs.helpers import openssl_verify

runner = CliRunner()
# Wide enough for long temporary paths, also under pytest-xdist (whose workers set COLUMNS=80).
console.width = errors.width = 200


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False, env={"COLUMNS": "200"})


@pytest.fixture
def cli_home(home):
    result = invoke("pki", "init")
    assert result.exit_code == 0, result.output
    return home


def _public_key_file(tmp_path, algorithm=KeyAlgorithm.ED25519):
    key = generate_private_key(algorithm)
    path = tmp_path / f"{algorithm.value}.pub.pem"
    path.write_text(public_key_pem(key.public_key()))
    return key, path


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["up"],
        ["pki"],
        ["pki", "init"],
        ["pki", "issue"],
        ["pki", "revoke"],
        ["pki", "verify"],
        ["pki", "list"],
        ["pki", "crl"],
        ["consumers"],
        ["consumers", "add"],
        ["consumers", "list"],
        ["db"],
        ["db", "upgrade"],
        ["db", "downgrade"],
        ["db", "current"],
        ["version"],
    ],
)
def test_every_command_has_help(command):
    result = invoke(*command, "--help")
    assert result.exit_code == 0
    assert "Usage" in result.output


def test_version():
    assert re.search(r"exchange \d+\.\d+", invoke("version").output)


def test_pki_init_creates_then_keeps(cli_home):
    assert (cli_home / "pki" / "ca.pem").exists()
    again = invoke("pki", "init")
    assert again.exit_code == 0 and "already present" in again.output


@pytest.mark.parametrize("algorithm", list(KeyAlgorithm))
def test_consumers_add_prints_certificate_path_and_kid(cli_home, tmp_path, algorithm):
    key, path = _public_key_file(tmp_path, algorithm)
    result = invoke("consumers", "add", "one-window", "--name", "One window", "--public-key", str(path))
    assert result.exit_code == 0, result.output
    certificate = cli_home / "pki" / "consumers" / "one-window.pem"
    assert str(certificate) in result.output
    assert f"kid: {jwk_thumbprint(key.public_key())}" in result.output
    assert openssl_verify(cli_home / "pki" / "ca.pem", certificate).returncode == 0
    listed = invoke("consumers", "list")
    assert "one-window" in listed.output


def test_consumer_from_csr_via_pki_issue(cli_home, tmp_path):
    key = generate_private_key(KeyAlgorithm.P256)
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ignored")]))
        .sign(key, hashes.SHA256())
    )
    path = tmp_path / "req.csr"
    path.write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    result = invoke("pki", "issue", "--consumer", "tax-portal", "--name", "Tax portal", "--csr", str(path))
    assert result.exit_code == 0, result.output
    assert f"kid: {jwk_thumbprint(key.public_key())}" in result.output


def test_consumer_errors_are_clear_and_write_nothing(cli_home, tmp_path):
    _key, path = _public_key_file(tmp_path)
    rsa_path = tmp_path / "rsa.pem"
    rsa_path.write_bytes(
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    cases = [
        (
            ["consumers", "add", "ok-id", "--name", "n", "--public-key", str(rsa_path)],
            "Ed25519 or ECDSA P-256",
        ),
        (
            ["consumers", "add", "ok-id", "--name", "n", "--public-key", str(tmp_path / "missing.pem")],
            "cannot read",
        ),
        (["consumers", "add", "ok-id", "--name", "n"], "exactly one of"),
        (["consumers", "add", "../etc", "--name", "n", "--public-key", str(path)], "client_id"),
        (["pki", "issue", "--consumer", "x-1"], "--name"),
        (["pki", "issue"], "exactly one of"),
        (["pki", "issue", "--department", "police"], "unknown department"),
        (["pki", "issue", "--department", "tax"], "revoke it first"),
    ]
    for args, message in cases:
        result = runner.invoke(app, args, env={"COLUMNS": "200"})
        assert result.exit_code == 1, (args, result.output)
        assert message in result.output, (args, result.output)
    assert not list((cli_home / "pki" / "consumers").iterdir())


def test_revoke_then_verify_fails_and_reissue_works(cli_home):
    tax = cli_home / "pki" / "departments" / "tax.pem"
    assert invoke("pki", "verify", str(tax)).exit_code == 0
    serial = format(x509.load_pem_x509_certificate(tax.read_bytes()).serial_number, "x")
    revoked = invoke("pki", "revoke", serial, "--reason", "key_compromise")
    assert revoked.exit_code == 0 and "revoked department certificate" in revoked.output
    result = runner.invoke(app, ["pki", "verify", str(tax)], env={"COLUMNS": "200"})
    assert result.exit_code == 1 and "revoked" in result.output
    reissued = invoke("pki", "issue", "--department", "tax")
    assert reissued.exit_code == 0, reissued.output
    assert invoke("pki", "verify", str(tax)).exit_code == 0
    assert list((cli_home / "pki" / "departments").glob("tax.key.retired-*"))
    listing = invoke("pki", "list", "--kind", "department")
    assert serial in listing.output and "key_compromise" in listing.output


def test_verify_rejects_garbage_and_foreign_files(cli_home, tmp_path):
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    result = runner.invoke(app, ["pki", "verify", str(garbage)], env={"COLUMNS": "200"})
    assert result.exit_code == 1 and "not a PEM X.509 certificate" in result.output


def test_commands_refuse_an_unmigrated_database(home, tmp_path):
    _key, path = _public_key_file(tmp_path)
    result = runner.invoke(
        app, ["consumers", "add", "portal", "--name", "P", "--public-key", str(path)], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 1
    assert "exchange db upgrade" in result.output


def test_db_commands_move_between_revisions(home):
    head = migrate.head_revision()
    assert f"database at revision {head}" in invoke("db", "upgrade").output
    assert f"current: {head}" in invoke("db", "current").output
    assert "base" in invoke("db", "downgrade", "base").output
    assert "current: none" in invoke("db", "current").output


def test_invalid_configuration_is_reported_not_a_traceback(monkeypatch):
    monkeypatch.setenv("EXCHANGE_HUB_ID", "bad id")
    result = runner.invoke(app, ["pki", "init"], env={"COLUMNS": "200"})
    assert result.exit_code == 1 and "invalid configuration" in result.output


def test_up_init_only_prints_where_things_are(home):
    result = invoke("up", "--init-only")
    assert result.exit_code == 0, result.output
    for expected in (str(home), str(home / "pki" / "ca.pem"), str(home / "demo" / "consumer.key")):
        assert expected in result.output
    assert (home / "demo" / "consumer.key").stat().st_mode & 0o777 == 0o600
    assert str(home / "legacy") in result.output and "60 persons" in result.output
    assert "first sync       household:" in result.output and "licenses sealed" in result.output
    generated = (home / "legacy" / "population.json").stat().st_mtime_ns
    again = invoke("up", "--init-only")
    assert (home / "legacy" / "population.json").stat().st_mtime_ns == generated  # kept, not regenerated
    assert "first sync" not in again.output  # once only; later syncs are `exchange sync` or Airflow
    assert again.exit_code == 0 and str(home / "demo" / "consumer.key") in again.output


def test_up_refuses_a_bad_holidays_file_naming_the_line(home, tmp_path, monkeypatch):
    holidays = tmp_path / "holidays.txt"
    holidays.write_text("2026-10-01 holiday\n2026-13-01 holiday\n", encoding="utf-8")
    monkeypatch.setenv("EXCHANGE_HOLIDAYS_FILE", str(holidays))
    from exchange.config import get_settings

    get_settings.cache_clear()
    result = invoke("up", "--init-only")
    assert result.exit_code == 1
    assert f"{holidays}:2" in result.output and "not a date" in result.output
