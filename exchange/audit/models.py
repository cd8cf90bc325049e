"""The audit log's tables: entries, signed checkpoints and cached subtrees (append-only: triggers refuse
UPDATE, DELETE and TRUNCATE, and the runtime role may only SELECT and INSERT), and the append lock."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Index, Integer, LargeBinary, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from exchange.audit.schemas import LENGTHS
from exchange.db.base import RUNTIME_PRIVILEGES, Base

# What the hub's runtime database role may do to the append-only tables (exchange/db/roles.py); on
# PostgreSQL triggers refuse UPDATE, DELETE and TRUNCATE to every role, the owner too (migration 0009).
APPEND_ONLY = ("SELECT", "INSERT")
APPEND_ONLY_TABLES = ("audit_entries", "audit_checkpoints", "audit_subtrees")
# Positions in the log: 64-bit on PostgreSQL, for billions of entries (migration 0009); SQLite's
# INTEGER is 64-bit already and, as the primary key, the rowid itself.
Position = BigInteger().with_variant(Integer(), "sqlite")


def _text(name: str) -> String:
    return String(LENGTHS[name])


class AuditEntry(Base):
    """One request, allowed or denied. Rows are only ever inserted (see ``exchange.audit.service``).

    ``leaf_hash`` is SHA-256(0x00 || RFC 8785 bytes of every other column): RFC 6962 leaf ``index``.
    """

    __tablename__ = "audit_entries"
    __table_args__ = (
        # Time windows of the console's monitoring (exchange/console/monitoring.py), in all or one scope.
        Index("ix_audit_entries_recorded_at", "recorded_at"),
        Index("ix_audit_entries_client_id_recorded_at", "client_id", "recorded_at"),
        Index("ix_audit_entries_provider_id_recorded_at", "provider_id", "recorded_at"),
        # Newest-first pages (ORDER BY index DESC LIMIT n) of one consumer, one department, one data
        # subject: read in index order, O(n) whatever the log's size (docs/operations.md "Indexes").
        Index("ix_audit_entries_client_id_index", "client_id", "index"),
        Index("ix_audit_entries_provider_id_index", "provider_id", "index"),
        Index("ix_audit_entries_subject_value_index", "subject_value", "index"),
        {"info": {RUNTIME_PRIVILEGES: APPEND_ONLY}},
    )

    index: Mapped[int] = mapped_column(Position, primary_key=True, autoincrement=False)
    recorded_at: Mapped[datetime]
    request_id: Mapped[str] = mapped_column(_text("request_id"))
    client_id: Mapped[str | None] = mapped_column(_text("client_id"))  # None: unknown signer
    operator_id: Mapped[str | None] = mapped_column(_text("operator_id"))
    operator_name: Mapped[str | None] = mapped_column(_text("operator_name"))
    resource_code: Mapped[str | None] = mapped_column(_text("resource_code"))
    provider_id: Mapped[str | None] = mapped_column(_text("provider_id"))
    subject_type: Mapped[str | None] = mapped_column(_text("subject_type"))
    # The citizen's or enterprise's identifier: the data subject's access log looks entries up by it.
    subject_value: Mapped[str | None] = mapped_column(_text("subject_value"))
    items_asked: Mapped[list[str]] = mapped_column(JSON)
    items_returned: Mapped[list[str]] = mapped_column(JSON)
    matter_code: Mapped[str | None] = mapped_column(_text("matter_code"))
    purpose: Mapped[str | None] = mapped_column(_text("purpose"))
    legal_basis: Mapped[str | None] = mapped_column(_text("legal_basis"))
    decision: Mapped[str] = mapped_column(String(8))  # allow | deny
    reason: Mapped[str | None] = mapped_column(_text("reason"))
    http_status: Mapped[int] = mapped_column(SmallInteger)
    latency_ms: Mapped[int] = mapped_column(Integer)
    request_hash: Mapped[str] = mapped_column(_text("request_hash"))  # base64url SHA-256 of the body
    response_hash: Mapped[str | None] = mapped_column(_text("response_hash"))
    request_jti: Mapped[str | None] = mapped_column(_text("request_jti"))
    endpoint: Mapped[str] = mapped_column(String(16))  # query | verify | license
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class AuditCheckpoint(Base):
    """A signed tree head: the hub's signature over (origin, tree size, root hash, timestamp)."""

    __tablename__ = "audit_checkpoints"
    __table_args__ = ({"info": {RUNTIME_PRIVILEGES: APPEND_ONLY}},)

    tree_size: Mapped[int] = mapped_column(Position, primary_key=True, autoincrement=False)
    root_hash: Mapped[str] = mapped_column(String(64))  # base64
    signed_at: Mapped[datetime]
    signature: Mapped[str] = mapped_column(Text)  # compact JWS, typ exchange-checkpoint+jwt
    signer: Mapped[str] = mapped_column(String(512))  # subject of the signing certificate


class AuditSubtree(Base):
    """Cached hash of the complete subtree over leaves [index * 2**level, (index + 1) * 2**level).

    Only levels >= ``exchange.audit.service.CACHE_LEVEL``; written by the append that completes the
    subtree. A cache: ``verify_log`` recomputes and checks it, proofs never trust it over a checkpoint.
    """

    __tablename__ = "audit_subtrees"
    __table_args__ = ({"info": {RUNTIME_PRIVILEGES: APPEND_ONLY}},)

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    index: Mapped[int] = mapped_column(Position, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class AuditLock(Base):
    """The row every append updates first, so appends take turns (a row lock on PostgreSQL, the
    database write lock on SQLite) and no two transactions ever pick the same index."""

    __tablename__ = "audit_lock"
    __table_args__ = ({"info": {RUNTIME_PRIVILEGES: ("SELECT", "UPDATE")}},)  # the row exists (0003)

    name: Mapped[str] = mapped_column(String(16), primary_key=True)
    held_at: Mapped[datetime | None]
