"""PostgreSQL roles: the owner migrates, the hub's workers run as a role that may do only what the hub
does at runtime (docs/operations.md "Database roles").

The runtime role gets SELECT, INSERT, UPDATE, DELETE on every table of the schema, except where a table
says otherwise in ``Table.info[RUNTIME_PRIVILEGES]``: the audit log's entries, checkpoints and cached
subtrees are SELECT and INSERT only, its lock table SELECT and UPDATE; ``alembic_version`` is SELECT
only (the hub checks the revision, it never migrates). Never TRUNCATE, REFERENCES or TRIGGER, never
DDL. Sequences: USAGE and SELECT. Default privileges give tables a later migration creates the
ordinary four until the grant runs again after that migration (``exchange db upgrade`` does so).

Granting is idempotent and exact: everything the role had on the schema's tables and sequences is
revoked first, in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection, MetaData, text

from exchange.db.base import RUNTIME_PRIVILEGES

ORDINARY = ("SELECT", "INSERT", "UPDATE", "DELETE")
SEQUENCES = ("USAGE", "SELECT")
VERSION_TABLE = "alembic_version"


class RoleError(ValueError):
    """The runtime role cannot be granted as asked; the message says why and what to do."""


@dataclass
class Grants:
    """What :func:`grant_runtime` gave: privileges by table, in the schema, to the role."""

    role: str
    schema: str
    owner: str
    tables: dict[str, tuple[str, ...]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def runtime_privileges(metadata: MetaData) -> dict[str, tuple[str, ...]]:
    """Table name -> the privileges the runtime role gets on it."""
    wanted = {
        name: tuple(table.info.get(RUNTIME_PRIVILEGES, ORDINARY)) for name, table in metadata.tables.items()
    }
    wanted[VERSION_TABLE] = ("SELECT",)
    return wanted


def grant_runtime(connection: Connection, role: str, metadata: MetaData) -> Grants:
    """Grant ``role`` exactly the runtime privileges on the tables ``connection``'s role owns.

    ``connection`` is the owner's (the role that ran the migrations), inside a transaction the caller
    commits. Raises ``RoleError`` when the role does not exist, is the owner, a member of the owner
    role (it would inherit the owner's rights) or a superuser, or the database is not PostgreSQL.
    """
    if connection.dialect.name != "postgresql":
        raise RoleError("database roles exist on PostgreSQL only; SQLite has no privileges to grant")
    quote = connection.dialect.identifier_preparer.quote
    owner, schema, database = connection.execute(
        text("SELECT current_user, current_schema(), current_database()")
    ).one()
    found = connection.execute(
        text(
            "SELECT rolsuper, pg_has_role(:role, current_user, 'MEMBER') FROM pg_roles WHERE rolname = :role"
        ),
        {"role": role},
    ).first()
    if found is None:
        raise RoleError(
            f"role {role!r} does not exist: create it first (CREATE ROLE {quote(role)} LOGIN PASSWORD '...')"
        )
    superuser, member = found
    if role == owner or superuser or member:
        kind = "a superuser" if superuser else f"the owner {owner!r} or a member of it"
        raise RoleError(
            f"role {role!r} is {kind}, so privileges would not restrict it: run the hub as a separate role"
        )
    grants = Grants(role=role, schema=schema, owner=owner)
    owned = set(
        connection.scalars(
            text(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = :schema AND c.relkind IN ('r', 'p') "
                "AND pg_get_userbyid(c.relowner) = :owner"
            ),
            {"schema": schema, "owner": owner},
        )
    )
    target, space = quote(role), quote(schema)
    statements = [
        f"GRANT CONNECT ON DATABASE {quote(database)} TO {target}",
        f"GRANT USAGE ON SCHEMA {space} TO {target}",
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {space} FROM {target}",
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {space} FROM {target}",
    ]
    for table, privileges in sorted(runtime_privileges(metadata).items()):
        if table not in owned:
            continue
        statements.append(f"GRANT {', '.join(privileges)} ON TABLE {space}.{quote(table)} TO {target}")
        grants.tables[table] = privileges
    statements += [
        f"GRANT {', '.join(SEQUENCES)} ON ALL SEQUENCES IN SCHEMA {space} TO {target}",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {quote(owner)} IN SCHEMA {space} "
        f"GRANT {', '.join(ORDINARY)} ON TABLES TO {target}",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {quote(owner)} IN SCHEMA {space} "
        f"GRANT {', '.join(SEQUENCES)} ON SEQUENCES TO {target}",
    ]
    for statement in statements:
        connection.execute(text(statement))
    missing = sorted(set(runtime_privileges(metadata)) - owned)
    if missing:
        grants.notes.append(f"not owned by {owner!r} in schema {schema!r}, not granted: {', '.join(missing)}")
    return grants


def table_privileges(connection: Connection, role: str, tables: Sequence[str]) -> dict[str, set[str]]:
    """The privileges ``role`` holds on each of ``tables`` (for checks and tests)."""
    kinds = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")
    held: dict[str, set[str]] = {}
    for table in tables:
        held[table] = {
            kind
            for kind in kinds
            if connection.scalar(
                text("SELECT has_table_privilege(:role, :table, :kind)"),
                {"role": role, "table": table, "kind": kind},
            )
        }
    return held
