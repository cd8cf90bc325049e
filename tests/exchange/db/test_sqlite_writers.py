"""SQLite writers of one process queue on a lock per database file (exchange/db/sqlite_writers.py)."""

from __future__ import annotations

import os
import sqlite3
import threading
import time

import pytest
from sqlalchemy import text

from exchange.db import sqlite_writers
from exchange.db.engine import make_engine
from exchange.db.sqlite_writers import QueuedWriterConnection, lock_for

pytestmark = pytest.mark.sqlite


class CountingLock:
    """The writer lock, counting the writers that had to wait for it."""

    def __init__(self) -> None:
        self._lock, self.waited = threading.Lock(), 0

    def acquire(self, timeout: float = -1) -> bool:
        if self._lock.acquire(blocking=False):
            return True
        self.waited += 1
        return self._lock.acquire(timeout=timeout)

    def release(self) -> None:
        self._lock.release()

    def locked(self) -> bool:
        return self._lock.locked()


def test_many_threads_writing_at_once_wait_in_one_queue_and_all_succeed(tmp_path, monkeypatch):
    queue = CountingLock()
    monkeypatch.setitem(sqlite_writers._locks, os.path.realpath(tmp_path / "w.db"), queue)
    engine = make_engine(f"sqlite:///{tmp_path / 'w.db'}", pool_size=20, max_overflow=0)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (thread INTEGER, n INTEGER, PRIMARY KEY (thread, n))"))
    inside, most_inside, errors = 0, 0, []
    guard = threading.Lock()

    def writer(thread: int) -> None:
        nonlocal inside, most_inside
        try:
            for n in range(15):
                with engine.begin() as connection:
                    connection.execute(text("INSERT INTO t VALUES (:t, :n)"), {"t": thread, "n": n})
                    with guard:
                        inside += 1
                        most_inside = max(most_inside, inside)
                    time.sleep(0.002)  # work while holding the write: the next writer must wait for it
                    with guard:
                        inside -= 1
        except Exception as exc:  # collected: an exception in a thread would pass silently
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert most_inside == 1  # never two write transactions at once
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM t")).scalar() == 12 * 15
    assert queue.waited > 0  # they waited here, not in SQLite's busy handler
    assert not queue.locked()
    engine.dispose()


@pytest.mark.parametrize("end", ["commit", "rollback", "close"])
def test_the_lock_is_held_from_the_first_write_to_the_end_of_the_transaction(tmp_path, end):
    path = tmp_path / "w.db"
    connection = sqlite3.connect(path, factory=QueuedWriterConnection, timeout=1)
    connection.execute("CREATE TABLE t (n INTEGER)")
    lock = lock_for(str(path))
    connection.execute("SELECT count(*) FROM t").fetchall()
    assert not lock.locked()  # reading takes nothing
    connection.execute("INSERT INTO t VALUES (1)")
    assert lock.locked() and connection.in_transaction
    connection.executemany("INSERT INTO t VALUES (?)", [(2,), (3,)])
    assert lock.locked()
    getattr(connection, end)()
    assert not lock.locked()
    if end != "close":
        connection.close()


def test_a_write_outside_a_transaction_lets_the_lock_go_at_once(tmp_path):
    path = tmp_path / "w.db"
    connection = sqlite3.connect(path, factory=QueuedWriterConnection, isolation_level=None)
    connection.execute("CREATE TABLE t (n INTEGER)")
    connection.execute("INSERT INTO t VALUES (1)")
    assert not lock_for(str(path)).locked()
    connection.close()


def test_a_writer_that_never_ends_delays_others_only_as_long_as_sqlite_would(tmp_path):
    """Past the busy timeout the second writer goes on to SQLite, which refuses it as it always did."""
    path = tmp_path / "w.db"
    first = sqlite3.connect(path, factory=QueuedWriterConnection, timeout=0.2)
    first.execute("CREATE TABLE t (n INTEGER)")
    first.commit()
    first.execute("INSERT INTO t VALUES (1)")
    second = sqlite3.connect(path, factory=QueuedWriterConnection, timeout=0.2)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        second.execute("INSERT INTO t VALUES (2)")
    first.commit()
    second.execute("INSERT INTO t VALUES (3)")
    second.commit()
    assert [row[0] for row in second.execute("SELECT n FROM t ORDER BY n")] == [1, 3]
    first.close()
    second.close()
    assert not lock_for(str(path)).locked()


def test_in_memory_databases_have_no_lock():
    connection = sqlite3.connect(":memory:", factory=QueuedWriterConnection)
    connection.execute("CREATE TABLE t (n INTEGER)")
    connection.execute("INSERT INTO t VALUES (1)")
    assert connection._writer_lock is None
    connection.close()
