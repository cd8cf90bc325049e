"""Console accounts: argon2id password hashes, lockout after failed sign-ins, server-side sessions.

Passwords are hashed with argon2-cffi's defaults (argon2id, RFC 9106 low-memory profile) and rehashed
on sign-in when those defaults change. An unknown username costs the same hash as a known one, so
timing does not tell which usernames exist. After :data:`MAX_FAILURES` wrong passwords in a row an
account is locked for :data:`LOCKOUT`. A session is a random 256-bit secret in an HttpOnly cookie;
the table keeps only its SHA-256 and a CSRF token bound to it (synchronizer token pattern, OWASP).
Services never commit: the request or the command does.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from exchange.access.service import AccessError, check_scope, principal_label
from exchange.console.models import ConsoleSession, ConsoleUser

CONSOLE_ROLES = ("governance", "department", "consumer")
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024  # argon2 takes any length; refuse absurd inputs before hashing
MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)
SESSION_LIFETIME = timedelta(hours=8)  # one working day

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not a password: equalises the time of unknown usernames")


class AccountError(AccessError):
    """A console account cannot be created or changed as asked."""


@dataclass(frozen=True)
class ConsolePrincipal:
    """Who is signed in, and the session's CSRF token: what every page needs to decide and render."""

    user_id: int
    username: str
    display_name: str
    role: str
    department_id: str | None
    client_id: str | None
    csrf_token: str
    session_id: int

    @property
    def label(self) -> str:
        """How decisions made in the console are recorded (the management API's ``role:scope:name``)."""
        return principal_label(self.role, self.department_id or self.client_id, self.username)


def create_user(
    session: Session,
    *,
    username: str,
    display_name: str,
    role: str,
    password: str,
    now: datetime,
    department_id: str | None = None,
    client_id: str | None = None,
) -> ConsoleUser:
    """A new account; :class:`AccountError` names what is wrong (role, scope, name, password)."""
    check_scope(
        session, role=role, department_id=department_id, client_id=client_id, what="user", roles=CONSOLE_ROLES
    )
    username = username.strip()
    if not username or len(username) > 64 or not all(c.isalnum() or c in "-_." for c in username):
        raise AccountError("a username is 1 to 64 letters, digits, '-', '_' or '.'")
    if session.scalars(select(ConsoleUser).where(ConsoleUser.username == username)).first() is not None:
        raise AccountError(f"the username {username!r} is taken")
    _check_password(password)
    user = ConsoleUser(
        username=username,
        display_name=display_name.strip() or username,
        role=role,
        department_id=department_id,
        client_id=client_id,
        password_hash=_hasher.hash(password),
        created_at=now,
        failed_logins=0,
    )
    session.add(user)
    session.flush()
    return user


def set_password(session: Session, *, username: str, password: str) -> ConsoleUser:
    user = _user(session, username)
    _check_password(password)
    user.password_hash = _hasher.hash(password)
    user.failed_logins, user.locked_until = 0, None
    return user


def disable_user(session: Session, *, username: str, now: datetime) -> ConsoleUser:
    """No more sign-ins, and every open session of the account ends now."""
    user = _user(session, username)
    user.disabled_at = user.disabled_at or now
    for row in session.scalars(
        select(ConsoleSession).where(ConsoleSession.user_id == user.id, ConsoleSession.ended_at.is_(None))
    ):
        row.ended_at = now
    return user


def list_users(session: Session) -> list[ConsoleUser]:
    return list(session.scalars(select(ConsoleUser).order_by(ConsoleUser.username)))


def sign_in(
    session: Session, *, username: str, password: str, now: datetime
) -> tuple[ConsolePrincipal, str] | None:
    """A new session for the right password (its principal and cookie secret), else None.

    The caller commits in both cases: a failed attempt is counted towards the lockout.
    """
    user = session.scalars(select(ConsoleUser).where(ConsoleUser.username == username.strip())).first()
    if user is None or len(password) > MAX_PASSWORD_LENGTH:
        _verify(_DUMMY_HASH, password[:MAX_PASSWORD_LENGTH])
        return None
    if user.disabled_at is not None or (user.locked_until is not None and user.locked_until > now):
        _verify(_DUMMY_HASH, password)
        return None
    if not _verify(user.password_hash, password):
        user.failed_logins += 1
        if user.failed_logins >= MAX_FAILURES:
            user.locked_until, user.failed_logins = now + LOCKOUT, 0
        return None
    user.failed_logins, user.locked_until = 0, None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    secret = secrets.token_urlsafe(32)
    row = ConsoleSession(
        secret_hash=_digest(secret),
        user_id=user.id,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        expires_at=now + SESSION_LIFETIME,
    )
    session.add(row)
    session.flush()
    return _principal(user, row), secret


def principal_of(session: Session, secret: str, *, now: datetime) -> ConsolePrincipal | None:
    """The signed-in principal of a cookie secret, or None (unknown, ended, expired or disabled)."""
    if not secret or len(secret) > 100:
        return None
    row = session.scalars(select(ConsoleSession).where(ConsoleSession.secret_hash == _digest(secret))).first()
    if row is None or row.ended_at is not None or row.expires_at <= now:
        return None
    user = session.get(ConsoleUser, row.user_id)
    if user is None or user.disabled_at is not None:
        return None
    return _principal(user, row)


def sign_out(session: Session, *, session_id: int, now: datetime) -> None:
    row = session.get(ConsoleSession, session_id)
    if row is not None and row.ended_at is None:
        row.ended_at = now


def csrf_matches(principal: ConsolePrincipal, token: str | None) -> bool:
    return token is not None and secrets.compare_digest(principal.csrf_token.encode(), token.encode())


def _principal(user: ConsoleUser, row: ConsoleSession) -> ConsolePrincipal:
    return ConsolePrincipal(
        user_id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        department_id=user.department_id,
        client_id=user.client_id,
        csrf_token=row.csrf_token,
        session_id=row.id,
    )


def _user(session: Session, username: str) -> ConsoleUser:
    user = session.scalars(select(ConsoleUser).where(ConsoleUser.username == username)).first()
    if user is None:
        raise AccountError(f"no console user {username!r}")
    return user


def _check_password(password: str) -> None:
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise AccountError(f"a password has {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters")


def _verify(hashed: str, password: str) -> bool:
    try:
        return _hasher.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


def _digest(secret: str) -> str:
    # A 256-bit random secret needs no slow hash (see exchange/access/service.py).
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()
