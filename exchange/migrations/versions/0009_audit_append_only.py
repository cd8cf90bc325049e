"""audit log append-only by trigger; 64-bit positions; indexes for newest-first pages by consumer,
department, subject

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22 09:00:00.000000

Triggers refuse UPDATE and DELETE of a row and, on PostgreSQL, TRUNCATE of audit_entries,
audit_checkpoints and audit_subtrees, whatever the role (the owner too); the runtime role has no such
privilege in the first place (exchange/db/roles.py). SQLite gets the same refusal for UPDATE and
DELETE (a DELETE without WHERE fires it too: SQLite has no TRUNCATE). Someone who may drop or disable
a trigger can still rewrite the log: `exchange audit verify` catches that against the signed
checkpoints (docs/audit.md, docs/operations.md).

On PostgreSQL entry indexes, tree sizes and subtree indexes become BIGINT (INTEGER ends at 2**31 - 1
entries); this rewrites the audit tables under an exclusive lock, quick while the log is small. The
SQL is written out here, not imported, so this revision stays what it was when later code changes.
On a large PostgreSQL log, build the indexes beforehand with CREATE INDEX CONCURRENTLY under the same
names: this revision then skips them (IF NOT EXISTS) instead of blocking appends while it builds them.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("audit_entries", "audit_checkpoints", "audit_subtrees")
FUNCTION = "exchange_audit_append_only"
# Entry indexes, tree sizes and subtree indexes: 64-bit on PostgreSQL, for billions of entries.
POSITIONS = (("audit_entries", "index"), ("audit_checkpoints", "tree_size"), ("audit_subtrees", "index"))
INDEXES = {
    "ix_audit_entries_client_id_index": ["client_id", "index"],
    "ix_audit_entries_provider_id_index": ["provider_id", "index"],
    "ix_audit_entries_subject_value_index": ["subject_value", "index"],
}

PG_FUNCTION = f"""
CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege',
              DETAIL = 'The audit log''s entries, checkpoints and cached subtrees are only ever inserted.',
              HINT = 'Old entries are archived with their partition (docs/operations.md), never changed.';
END
$$
"""


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":  # SQLite's INTEGER is 64-bit already
        for table, column in POSITIONS:
            op.alter_column(
                table, column, type_=sa.BigInteger(), existing_type=sa.Integer(), existing_nullable=False
            )
    for name, columns in INDEXES.items():
        op.create_index(name, "audit_entries", columns, if_not_exists=True)
    # (subject_value, index) serves every lookup the single-column index served.
    op.drop_index("ix_audit_entries_subject_value", table_name="audit_entries")
    if dialect == "postgresql":
        op.execute(PG_FUNCTION)
        for table in TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION {FUNCTION}()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_append_only_truncate BEFORE TRUNCATE ON {table} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION}()"
            )
    elif dialect == "sqlite":
        for table in TABLES:
            for event in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_append_only_{event.lower()} BEFORE {event} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {event} refused'); END"
                )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        for table in TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only_truncate ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}()")
    elif dialect == "sqlite":
        for table in TABLES:
            for event in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only_{event}")
    op.create_index("ix_audit_entries_subject_value", "audit_entries", ["subject_value"])
    for name in reversed(INDEXES):
        op.drop_index(name, table_name="audit_entries")
    if dialect == "postgresql":  # fails, as it should, once a position no longer fits 32 bits
        for table, column in POSITIONS:
            op.alter_column(
                table, column, type_=sa.Integer(), existing_type=sa.BigInteger(), existing_nullable=False
            )
