"""Console accounts: argon2id hashes, lockout, sessions, CSRF tokens, the CLI and the demo accounts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select
from typer.testing import CliRunner

from exchange.cli.context import console, errors
from exchange.cli.main import app
from exchange.console import accounts
from exchange.console.models import ConsoleSession, ConsoleUser
from exchange.demo import ensure_demo_console_accounts
from tests.conftest import NOW

console.width = errors.width = 200
PASSWORD = "correct horse battery staple"


def _user(session, username="gov", role="governance", **scope):
    return accounts.create_user(
        session, username=username, display_name="王治理", role=role, password=PASSWORD, now=NOW, **scope
    )


def test_passwords_are_stored_only_as_argon2id_hashes(session):
    user = _user(session)
    assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash
    assert PasswordHasher().verify(user.password_hash, PASSWORD)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"role": "admin"}, "unknown role 'admin'"),
        ({"role": "department"}, "a department user needs --department"),
        ({"role": "department", "department_id": "police"}, "unknown department 'police'"),
        ({"role": "consumer", "client_id": "nobody"}, "no consumer system 'nobody'"),
        ({"role": "governance", "department_id": "tax"}, "only a department user takes it"),
        ({"username": "a b"}, "a username is 1 to 64 letters"),
        ({"username": ""}, "a username is 1 to 64 letters"),
        ({"password": "short"}, "a password has 12 to 1024 characters"),
    ],
)
def test_bad_accounts_are_refused_with_the_reason(session, changes, message):
    wanted = {"username": "x", "display_name": "", "role": "governance", "password": PASSWORD, **changes}
    with pytest.raises(accounts.AccessError) as err:  # AccountError for name and password
        accounts.create_user(session, now=NOW, **wanted)
    assert message in str(err.value)
    assert session.scalars(select(ConsoleUser)).all() == []


def test_a_username_is_taken_once(session):
    _user(session)
    with pytest.raises(accounts.AccountError, match="taken"):
        _user(session)


def test_signing_in_makes_a_session_whose_cookie_secret_is_stored_only_hashed(session):
    user = _user(session, "tax-admin", "department", department_id="tax")
    principal, secret = accounts.sign_in(session, username="tax-admin", password=PASSWORD, now=NOW)
    assert (principal.role, principal.department_id, principal.label) == (
        "department",
        "tax",
        "department:tax:tax-admin",
    )
    stored = session.scalars(select(ConsoleSession)).one()
    assert stored.secret_hash != secret and secret not in stored.secret_hash and stored.user_id == user.id
    assert accounts.principal_of(session, secret, now=NOW + timedelta(hours=1)) == principal
    assert accounts.principal_of(session, secret, now=NOW + accounts.SESSION_LIFETIME) is None  # expired
    assert accounts.principal_of(session, secret + "x", now=NOW) is None
    assert accounts.csrf_matches(principal, principal.csrf_token)
    assert not accounts.csrf_matches(principal, None) and not accounts.csrf_matches(principal, "forged")
    accounts.sign_out(session, session_id=principal.session_id, now=NOW)
    assert accounts.principal_of(session, secret, now=NOW) is None


def test_wrong_passwords_lock_the_account_then_it_opens_again(session):
    _user(session)
    for _ in range(accounts.MAX_FAILURES):
        assert accounts.sign_in(session, username="gov", password="wrong password!!", now=NOW) is None
    # Locked: even the right password is refused, for the whole lockout.
    assert (
        accounts.sign_in(session, username="gov", password=PASSWORD, now=NOW + timedelta(minutes=1)) is None
    )
    later = NOW + accounts.LOCKOUT + timedelta(seconds=1)
    assert accounts.sign_in(session, username="gov", password=PASSWORD, now=later) is not None


def test_unknown_users_and_absurd_passwords_are_refused_without_error(session):
    assert accounts.sign_in(session, username="nobody", password=PASSWORD, now=NOW) is None
    _user(session)
    assert accounts.sign_in(session, username="gov", password="x" * 100_000, now=NOW) is None


def test_disabling_an_account_ends_its_sessions(session):
    _user(session)
    _, secret = accounts.sign_in(session, username="gov", password=PASSWORD, now=NOW)
    accounts.disable_user(session, username="gov", now=NOW)
    assert accounts.principal_of(session, secret, now=NOW) is None
    assert accounts.sign_in(session, username="gov", password=PASSWORD, now=NOW) is None


def test_the_cli_adds_lists_changes_and_disables_accounts(engine, tmp_path):
    runner = CliRunner()
    secret = tmp_path / "password"
    secret.write_text(PASSWORD + "\n", encoding="utf-8")
    added = runner.invoke(
        app,
        [
            "console",
            "users",
            "add",
            "tax-admin",
            "--role",
            "department",
            "--department",
            "tax",
            "--name",
            "税务管理员",
            "--password-file",
            str(secret),
        ],
    )
    assert added.exit_code == 0, added.output
    assert "created console user tax-admin: department (tax)" in added.output
    listed = runner.invoke(app, ["console", "users", "list"])
    assert "tax-admin" in listed.output and "$argon2" not in listed.output
    refused = runner.invoke(
        app, ["console", "users", "add", "x", "--role", "consumer", "--password-file", str(secret)]
    )
    assert refused.exit_code == 1 and "a consumer user needs --client-id" in refused.output
    secret.write_text("another long password\n", encoding="utf-8")
    assert (
        runner.invoke(
            app, ["console", "users", "password", "tax-admin", "--password-file", str(secret)]
        ).exit_code
        == 0
    )
    assert runner.invoke(app, ["console", "users", "disable", "tax-admin"]).exit_code == 0
    missing = runner.invoke(app, ["console", "users", "disable", "nobody"])
    assert missing.exit_code == 1 and "no console user 'nobody'" in missing.output


def test_the_demo_accounts_are_made_once_with_their_passwords_in_a_private_file(
    session, settings, initialised
):
    from exchange.demo import ensure_demo_consumer

    ensure_demo_consumer(session, paths=initialised, demo_dir=settings.demo_dir, passphrase=None, now=NOW)
    written = ensure_demo_console_accounts(session, demo_dir=settings.demo_dir, now=NOW)
    assert written is not None and written.stat().st_mode & 0o777 == 0o600
    rows = [line.split("\t") for line in written.read_text(encoding="utf-8").splitlines()[1:]]
    assert {row[0] for row in rows} >= {"governance", "tax-admin", "demo-approval-admin"}
    username, _, _, password = rows[0]
    assert accounts.sign_in(session, username=username, password=password, now=NOW) is not None
    before = written.read_text(encoding="utf-8")
    assert ensure_demo_console_accounts(session, demo_dir=settings.demo_dir, now=NOW) == written
    assert written.read_text(encoding="utf-8") == before  # not remade
