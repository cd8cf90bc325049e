"""Request dependencies: one database transaction per request, and who is calling."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from exchange.access.service import Principal, authenticate
from exchange.api.problems import Problem
from exchange.db.engine import session_scope

# The largest id or offset a path or query may name: the tables' 32-bit INTEGER keys. A larger number
# is malformed (400); let through, it overflows the database driver (SQLite: OverflowError, a 500).
MAX_INTEGER = 2**31 - 1


def db_session(request: Request) -> Iterator[Session]:
    """The request's transaction: committed when the handler returns, rolled back when it raises."""
    with session_scope(request.app.state.hub.sessions) as session:
        yield session


def principal(request: Request, session: Session = Depends(db_session)) -> Principal:  # noqa: B008
    """The caller of a management endpoint, from ``Authorization: Bearer <token>``; 401 otherwise."""
    header = request.headers.get("authorization", "")
    scheme, _, secret = header.partition(" ")
    found = authenticate(session, secret.strip()) if scheme.lower() == "bearer" else None
    if found is None:
        raise Problem(
            401,
            "unauthenticated",
            "Unauthenticated",
            "send a valid management token as 'Authorization: Bearer <token>' (exchange tokens add)",
            headers={"WWW-Authenticate": 'Bearer realm="exchange-hub"'},
        )
    return found


def role(*allowed: str) -> Callable[[Principal], Principal]:
    """A dependency admitting only principals whose role is in ``allowed`` (deny by default)."""

    def check(caller: Principal = Depends(principal)) -> Principal:  # noqa: B008
        if caller.role not in allowed:
            raise Problem(403, "forbidden", "Forbidden", f"this needs the role {' or '.join(allowed)}")
        return caller

    return check
