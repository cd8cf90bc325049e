"""Every SQL query on the audit tables. Inserts and reads only: nothing here updates or deletes an
entry, a checkpoint or a cached subtree (the lock row is the one row that is ever updated)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    JSON,
    Row,
    Select,
    Text,
    bindparam,
    cast,
    func,
    insert,
    select,
    tuple_,
    type_coerce,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.types import NullType

from exchange.audit.models import AuditCheckpoint, AuditEntry, AuditLock, AuditSubtree

APPEND_LOCK = "append"
_entries = AuditEntry.__table__
_lock = AuditLock.__table__
# Built once: appends run these thousands of times a second, statement construction would dominate.
_TAKE_LOCK = update(_lock).where(_lock.c.name == bindparam("lock")).values(held_at=bindparam("now"))
_ADD_LOCK = insert(_lock).values(name=bindparam("lock"), held_at=bindparam("now"))
_LAST_INDEX = select(func.max(_entries.c.index))
_ADD_ENTRY = insert(_entries)


def take_append_lock(session: Session, *, now: datetime) -> None:
    """Wait for our turn to append: an UPDATE of the lock row, held until the transaction ends.

    PostgreSQL blocks a second updater on the row lock until the first commits or rolls back. On
    SQLite the UPDATE is the transaction's first write, so it takes the database write lock (waiting
    up to the busy timeout) before we read the last index, never after (which could not be retried).
    """
    params = {"lock": APPEND_LOCK, "now": now}
    result = session.execute(_TAKE_LOCK, params)
    if result.rowcount == 0:  # type: ignore[attr-defined]  # the migration creates it; a bare schema may not
        session.execute(_ADD_LOCK, params)


def next_index(session: Session) -> int:
    last = session.scalar(_LAST_INDEX)
    return 0 if last is None else last + 1


def add_entry(session: Session, values: Mapping[str, Any]) -> None:
    session.execute(_ADD_ENTRY, dict(values))


def get_entry(session: Session, index: int) -> Mapping[str, Any] | None:
    """Entry ``index`` as read now (a query, not the session's identity map)."""
    return session.execute(select(_entries).where(_entries.c.index == index)).mappings().first()


def leaf_hashes(session: Session, start: int, end: int) -> list[bytes]:
    """Stored leaf hashes of entries ``start <= index < end``, in order."""
    rows = session.scalars(
        select(AuditEntry.leaf_hash)
        .where(AuditEntry.index >= start, AuditEntry.index < end)
        .order_by(AuditEntry.index)
    )
    return [bytes(value) for value in rows]


def iter_entries(
    session: Session, *, chunk: int = 5000, after: int | None = None
) -> Iterator[Mapping[str, Any]]:
    """Every entry (with ``index > after``) as a column mapping, in index order, read ``chunk`` rows
    at a time (keyset)."""
    query = select(_entries).order_by(_entries.c.index).limit(chunk)
    first = query if after is None else query.where(_entries.c.index > after)
    rows = session.execute(first).mappings().all()
    while rows:
        yield from rows
        rows = session.execute(query.where(_entries.c.index > rows[-1]["index"])).mappings().all()


def raw_entry_rows(
    session: Session, columns: Sequence[str], *, after: int | None, limit: int
) -> Sequence[Row[Any]]:
    """Up to ``limit`` entries with ``index > after`` (all if None), in index order, as rows of
    ``columns`` then ``leaf_hash``, holding what the driver returns: no type processing, JSON columns
    as the text they store (``exchange.audit.bulk`` turns them into canonical bytes itself)."""
    query = _raw_rows(tuple(columns))
    if after is not None:
        query = query.where(_entries.c.index > after)
    return session.execute(query.limit(limit)).all()


@cache
def _raw_rows(columns: tuple[str, ...]) -> Select[Any]:
    def raw(name: str) -> Any:
        column = _entries.c[name]
        value = cast(column, Text) if isinstance(column.type, JSON) else column
        return type_coerce(value, NullType()).label(name)

    return select(*map(raw, columns), _entries.c.leaf_hash).order_by(_entries.c.index)


def entries_between(session: Session, start: int, end: int) -> list[Mapping[str, Any]]:
    return list(
        session.execute(
            select(_entries)
            .where(_entries.c.index >= start, _entries.c.index < end)
            .order_by(_entries.c.index)
        ).mappings()
    )


def count_entries(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(AuditEntry)) or 0


def subtree_hashes(session: Session, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    if not keys:
        return {}
    rows = session.execute(
        select(AuditSubtree.level, AuditSubtree.index, AuditSubtree.hash).where(
            tuple_(AuditSubtree.level, AuditSubtree.index).in_(list(keys))
        )
    )
    return {(level, index): bytes(value) for level, index, value in rows}


def all_subtrees(session: Session) -> dict[tuple[int, int], bytes]:
    rows = session.execute(select(AuditSubtree.level, AuditSubtree.index, AuditSubtree.hash))
    return {(level, index): bytes(value) for level, index, value in rows}


def add_subtree(session: Session, level: int, index: int, value: bytes) -> None:
    session.execute(insert(AuditSubtree).values(level=level, index=index, hash=value))


def latest_checkpoint(session: Session) -> AuditCheckpoint | None:
    return session.scalars(
        select(AuditCheckpoint).order_by(AuditCheckpoint.tree_size.desc()).limit(1)
    ).first()


def get_checkpoint(session: Session, tree_size: int) -> AuditCheckpoint | None:
    return session.get(AuditCheckpoint, tree_size)


def first_checkpoint_covering(session: Session, index: int) -> AuditCheckpoint | None:
    """The smallest checkpoint whose tree holds entry ``index``."""
    query = (
        select(AuditCheckpoint).where(AuditCheckpoint.tree_size > index).order_by(AuditCheckpoint.tree_size)
    )
    return session.scalars(query.limit(1)).first()


def checkpoints(session: Session) -> Sequence[AuditCheckpoint]:
    return session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.tree_size)).all()


def add_checkpoint(session: Session, checkpoint: AuditCheckpoint) -> AuditCheckpoint:
    session.add(checkpoint)
    session.flush()
    return checkpoint
