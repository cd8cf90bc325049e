"""A separate runtime role on the test PostgreSQL server, the way production runs the hub's workers
(docs/operations.md "Database roles"): the test database's owner migrates, a fresh login
role with a unique name connects as the hub. Use it around the ``postgres_url`` fixture::

    @pytest.fixture
    def role(postgres_url):
        with runtime_role(postgres_url) as role:
            yield role

On exit the role's sessions are ended, its privileges in that database revoked and the role dropped
(the owner needs CREATEROLE, as in CI).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


@dataclass(frozen=True)
class RuntimeRole:
    name: str
    owner_url: str  # the database as its owner, who migrates
    url: str  # the same database as the runtime role


@contextmanager
def runtime_role(owner_url: str) -> Iterator[RuntimeRole]:
    name = f"exchange_rt_{uuid.uuid4().hex[:12]}"
    password = uuid.uuid4().hex
    owner = create_engine(owner_url, isolation_level="AUTOCOMMIT")
    try:
        with owner.connect() as connection:
            connection.execute(text(f"CREATE ROLE \"{name}\" LOGIN PASSWORD '{password}'"))
        url = make_url(owner_url).set(username=name, password=password).render_as_string(hide_password=False)
        try:
            yield RuntimeRole(name, owner_url, url)
        finally:
            with owner.connect() as connection:
                database, owner_name = connection.execute(
                    text("SELECT current_database(), current_user")
                ).one()
                # Sessions the test left open would stop DROP DATABASE ... WITH (FORCE): only a member
                # of a role may end its sessions, and CREATEROLE may make us one.
                connection.execute(text(f'GRANT "{name}" TO "{owner_name}"'))
                connection.execute(
                    text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = :name"),
                    {"name": name},
                )
                for statement in (
                    f'REVOKE ALL ON ALL TABLES IN SCHEMA public FROM "{name}"',
                    f'REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM "{name}"',
                    f'REVOKE ALL ON SCHEMA public FROM "{name}"',
                    f'REVOKE ALL ON DATABASE "{database}" FROM "{name}"',
                    f'ALTER DEFAULT PRIVILEGES FOR ROLE "{owner_name}" IN SCHEMA public '
                    f'REVOKE ALL ON TABLES FROM "{name}"',
                    f'ALTER DEFAULT PRIVILEGES FOR ROLE "{owner_name}" IN SCHEMA public '
                    f'REVOKE ALL ON SEQUENCES FROM "{name}"',
                    f'DROP ROLE "{name}"',
                ):
                    connection.execute(text(statement))
    finally:
        owner.dispose()
