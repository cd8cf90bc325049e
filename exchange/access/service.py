"""Issuing and checking management-API tokens. The token is shown once; only its SHA-256 is kept."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from adapters.registry import DEPARTMENTS
from exchange.access.models import AccessToken
from exchange.consumers import repository as consumers

ROLES = ("admin", "governance", "department", "consumer")
TOKEN_PREFIX = "dxh_"  # noqa: S105 - a marker that makes leaked tokens greppable, not a secret


class AccessError(Exception):
    """Invalid token request (unknown role, department or consumer)."""


@dataclass(frozen=True)
class Principal:
    """Who is calling the management API, as their token says."""

    token_id: int
    name: str
    role: str
    department_id: str | None = None
    client_id: str | None = None

    @property
    def label(self) -> str:
        """How decisions and grants record who made them."""
        return principal_label(self.role, self.department_id or self.client_id, self.name)


def principal_label(role: str, scope: str | None, name: str) -> str:
    """``role:scope:name`` (or ``role:name``): who made a decision, in grants, applications and logs."""
    return f"{role}:{scope}:{name}" if scope else f"{role}:{name}"


def issue_token(
    session: Session,
    *,
    name: str,
    role: str,
    department_id: str | None = None,
    client_id: str | None = None,
    now: datetime,
) -> tuple[AccessToken, str]:
    """A new token for ``role``; returns the row and the secret, which is never stored or shown again."""
    check_scope(session, role=role, department_id=department_id, client_id=client_id, what="token")
    if not name.strip():
        raise AccessError("a token needs a name saying who holds it")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = AccessToken(
        name=name.strip(),
        role=role,
        department_id=department_id,
        client_id=client_id,
        token_hash=_digest(secret),
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row, secret


def check_scope(
    session: Session,
    *,
    role: str,
    department_id: str | None,
    client_id: str | None,
    what: str,
    roles: tuple[str, ...] = ROLES,
) -> None:
    """A role and its scope: a department role names a known department, a consumer role a known system.

    Raises :class:`AccessError` naming what is wrong; ``what`` is the thing issued (token, user).
    """
    if role not in roles:
        raise AccessError(f"unknown role {role!r}; one of {', '.join(roles)}")
    if (role == "department") != (department_id is not None):
        raise AccessError(f"a department {what} needs --department, and only a department {what} takes it")
    if (role == "consumer") != (client_id is not None):
        raise AccessError(f"a consumer {what} needs --client-id, and only a consumer {what} takes it")
    if department_id is not None and department_id not in DEPARTMENTS:
        raise AccessError(f"unknown department {department_id!r}; known: {', '.join(sorted(DEPARTMENTS))}")
    if client_id is not None and consumers.get(session, client_id=client_id) is None:
        raise AccessError(f"no consumer system {client_id!r}")


def authenticate(session: Session, secret: str) -> Principal | None:
    """The principal of a live token, or None (unknown, malformed or revoked)."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    row = session.scalars(select(AccessToken).where(AccessToken.token_hash == _digest(secret))).first()
    if row is None or row.revoked_at is not None:
        return None
    return Principal(row.id, row.name, row.role, row.department_id, row.client_id)


def revoke_token(session: Session, *, token_id: int, now: datetime) -> AccessToken:
    row = session.get(AccessToken, token_id)
    if row is None:
        raise AccessError(f"no token {token_id}")
    if row.revoked_at is None:
        row.revoked_at = now
        session.flush()
    return row


def list_tokens(session: Session) -> list[AccessToken]:
    return list(session.scalars(select(AccessToken).order_by(AccessToken.id)))


def _digest(secret: str) -> str:
    # A 256-bit random secret needs no slow hash: SHA-256 is preimage-resistant at that entropy.
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()
