"""One writer at a time per SQLite database file in this process, queued on a lock.

SQLite lets one connection write at a time. The others wait in its busy handler, which polls with
sleeps of 1, 2, 5, 10 ... 100 ms (``sqliteDefaultBusyCallback``), so with a few dozen request
threads that each write briefly most of a wait is sleep after the write lock was already free: the
hub's throughput and its tail latency paid for it. Here a thread about to write first takes a
Python lock of that database file, held until its transaction ends, and the next writer starts
the moment the last one commits. Other processes (more workers, the CLI) still meet SQLite's own
lock and busy handler; nothing changes for them.

Used as the ``factory`` of ``sqlite3.connect`` (``exchange.db.engine.make_engine``), so every write
through SQLAlchemy, ORM or Core, or through the raw DB-API cursor, is covered.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from typing import Any

_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def lock_for(database: str) -> threading.Lock:
    """The writer lock of one database file (one per path, whichever engine opened it)."""
    key = os.path.realpath(database)
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())


def _is_write(sql: str) -> bool:
    return sql.lstrip()[:7].upper().startswith(_WRITES)


class QueuedWriterConnection(sqlite3.Connection):
    """A connection that takes its file's writer lock before its first write and releases it when
    the transaction ends (commit, rollback, close)."""

    def __init__(self, database: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(database, *args, **kwargs)
        name = os.fspath(database) if not isinstance(database, bytes) else database.decode()
        in_memory = name in ("", ":memory:") or name.startswith("file::memory:") or "mode=memory" in name
        self._writer_lock = None if in_memory else lock_for(name.removeprefix("file:").split("?", 1)[0])
        self._holds_writer_lock = False
        # As long as SQLite itself would wait (busy_timeout); past it the write goes on to SQLite,
        # which then fails the way it always did ("database is locked") instead of waiting forever.
        self._writer_wait = float(kwargs.get("timeout", args[0] if args else 5.0))

    def cursor(self, factory: Any = None) -> Any:
        return super().cursor(factory or QueuedWriterCursor)

    def execute(self, sql: str, parameters: Any = (), /) -> Any:  # the C shortcut skips cursor()
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> Any:
        return self.cursor().executemany(sql, seq_of_parameters)

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.release_writer_lock()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.release_writer_lock()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.release_writer_lock(force=True)

    def take_writer_lock(self) -> None:
        if self._writer_lock is not None and not self._holds_writer_lock:
            self._holds_writer_lock = self._writer_lock.acquire(timeout=self._writer_wait)

    def release_writer_lock(self, *, force: bool = False) -> None:
        if self._holds_writer_lock and (force or not self.in_transaction):
            self._holds_writer_lock = False
            assert self._writer_lock is not None
            self._writer_lock.release()


class QueuedWriterCursor(sqlite3.Cursor):
    """Takes the connection's writer lock before a write statement; a write outside a transaction
    (autocommit) lets it go as soon as the statement is done."""

    connection: QueuedWriterConnection

    def execute(self, sql: str, parameters: Any = (), /) -> QueuedWriterCursor:
        if _is_write(sql):
            self.connection.take_writer_lock()
        try:
            return super().execute(sql, parameters)
        finally:
            self.connection.release_writer_lock()

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> QueuedWriterCursor:
        if _is_write(sql):
            self.connection.take_writer_lock()
        try:
            return super().executemany(sql, seq_of_parameters)
        finally:
            self.connection.release_writer_lock()
