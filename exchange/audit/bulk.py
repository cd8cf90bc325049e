"""verify_log's fast path: the leaf hashes of thousands of entries at once, straight from the database.

The reference is :func:`exchange.audit.schemas.canonical_entry` over an entry's fields as SQLAlchemy
reads them (``service.leaf_of``): a dict per row, a JSON encoder per row, about 50 us an entry. Here
the entries of a batch are read as tuples of the driver's own values, column by column, and written
with C-level loops (``map``, one ``%`` template per row) into exactly the same RFC 8785 bytes:

- the members are in a fixed order, the sorted field names (all ASCII, so code point order is the
  UTF-16 order RFC 8785 section 3.2.3 asks for);
- strings go through the standard library's JSON string writer, the one ``canonical_entry`` uses
  (RFC 8785 section 3.2.2.2: only ``"``, ``\\`` and control characters escaped); values that repeat
  (decisions, departments, purposes) are written once and remembered;
- integers must be ``int`` within +-(2**53 - 1) (RFC 8785 section 3.2.2.3), lists of items are the
  JSON text the column stores, decoded as SQLAlchemy decodes it, and must hold only strings;
- ``recorded_at``: SQLite keeps the text ``YYYY-MM-DD HH:MM:SS.ffffff``; only that exact form of a
  valid time is taken, whose RFC 3339 form is the same digits with ``T`` and ``Z``
  (``schemas.timestamp_text``); a driver's ``datetime`` (PostgreSQL) is converted to UTC as
  ``UTCDateTime`` does.

Anything else (a NULL where a number belongs, an integer in a text column, a float, a lone surrogate,
a dict of items, another time format) makes :meth:`Encoder.leaves` return ``None``, and verify_log
hands the log from that batch on to the reference, entry by entry. So a tampered log is judged by
the reference code; this module only ever vouches for batches whose every leaf it computed exactly
as the reference would (tests/exchange/audit/test_bulk.py checks both agree, nasty values included,
on both databases).

:func:`scan` runs over a range of the log and returns a :class:`Block`: how far the entries are
regular (indexes 0, 1, 2, ... and every leaf equal to its stored ``leaf_hash``), the RFC 6962
subtree hashes of that stretch, and the compact ranges verify_log needs at checkpoint sizes. It runs
in the caller's session or, for ``processes > 1``, in worker processes on their own connections.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import attrgetter, methodcaller
from typing import Any

from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from exchange.audit import merkle, repository
from exchange.audit.schemas import ENTRY_FIELDS, MAX_SAFE_INTEGER

# The canonical member order: sorted names (ASCII: code point order is UTF-16 order, RFC 8785 3.2.3).
COLUMNS: tuple[str, ...] = tuple(sorted(ENTRY_FIELDS))
_INTEGERS = frozenset({"index", "http_status", "latency_ms"})
_ITEMS = frozenset({"items_asked", "items_returned"})
_TIME = "recorded_at"
# Text that rarely repeats: written directly instead of through the memo (a speed hint only).
_UNIQUE = frozenset({"request_id", "request_hash", "request_jti", "response_hash", "subject_value"})


def _member(name: str) -> str:
    if name == _TIME:
        return f'"{name}":"%sZ"'
    return f'"{name}":%d' if name in _INTEGERS else f'"{name}":%s'


# One row's canonical bytes: "%s" takes already encoded JSON values, "%d" an int (checked to be one).
_TEMPLATE = ("{" + ",".join(map(_member, COLUMNS)) + "}").encode()
_INDEX = COLUMNS.index("index")
_LEAF = len(COLUMNS)  # the stored leaf_hash follows the entry's columns in a row
MEMO_LIMIT = 100_000
_NULL = b"null"
# SQLite's storage form of a UTCDateTime, one per line; [0-9], not \d (which takes any script's digits).
_STORED_TIMES = re.compile(r"(?:[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}\n)*")
_encode_string: Callable[[str], str] = json.encoder.encode_basestring  # type: ignore[attr-defined]
_isoformat = methodcaller("isoformat", "T", "microseconds")
_to_utc = methodcaller("astimezone", UTC)
_naive = methodcaller("replace", tzinfo=None)
_tzinfo = attrgetter("tzinfo")


class _Outside(Exception):
    """A value the fast path does not write: the batch goes to the reference."""


class Encoder:
    """Writes batches of entries in RFC 8785 form; remembers the encoding of values that repeat."""

    def __init__(self) -> None:
        self._text: dict[Any, bytes] = {None: _NULL}
        self._items: dict[Any, bytes] = {None: _NULL}

    def leaves(self, columns: Sequence[Sequence[Any]]) -> list[bytes] | None:
        """RFC 6962 leaf hashes of a batch given column-wise (``COLUMNS`` order, raw driver values),
        or None if any value is outside what this fast path writes exactly like ``canonical_entry``."""
        try:
            written = [self._column(name, values) for name, values in zip(COLUMNS, columns, strict=True)]
        except (_Outside, ValueError, TypeError):  # UnicodeEncodeError (a lone surrogate) is a ValueError
            return None
        return merkle.leaf_hashes(map(_TEMPLATE.__mod__, zip(*written, strict=True)))

    def _column(self, name: str, values: Sequence[Any]) -> Sequence[Any]:
        if name in _INTEGERS:
            if (
                set(map(type, values)) != {int}
                or min(values) < -MAX_SAFE_INTEGER
                or max(values) > MAX_SAFE_INTEGER
            ):
                raise _Outside(name)
            return values  # "%d" writes an int in decimal, as json.dumps does
        if name == _TIME:
            return _times(values)
        if name in _ITEMS:
            return self._memo(self._items, values, _items)
        if name in _UNIQUE:
            try:
                return list(map(str.encode, map(_encode_string, values)))  # raises TypeError on a non-str
            except TypeError:
                return [_NULL if value is None else _encode_string(value).encode() for value in values]
        return self._memo(self._text, values, _text)

    @staticmethod
    def _memo(memo: dict[Any, bytes], values: Sequence[Any], write: Callable[[Any], bytes]) -> list[bytes]:
        written = list(map(memo.get, values))
        if None in written:  # str and None keys only, so a hit is a value already checked
            if len(memo) > MEMO_LIMIT:
                memo.clear()
                memo[None] = _NULL
            for position, value in enumerate(values):
                if written[position] is None:
                    known = memo.get(value)
                    written[position] = memo[value] = write(value) if known is None else known
        return written


def _text(value: Any) -> bytes:
    if value is None:
        return _NULL
    if type(value) is not str:
        raise _Outside("text")
    return _encode_string(value).encode()


def _items(stored: Any) -> bytes:
    """A list of items as stored (the JSON text SQLAlchemy decodes with json.loads), written compact."""
    if type(stored) is not str:
        raise _Outside("items")
    value = json.loads(stored)
    if value is None:
        return _NULL
    if type(value) is not list or any(type(item) is not str for item in value):
        raise _Outside("items")
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _times(values: Sequence[Any]) -> list[bytes]:
    """``recorded_at`` as ``schemas.timestamp_text`` writes it, without the final ``Z`` (the template's)."""
    kinds = set(map(type, values))
    if kinds == {str}:  # SQLite: "YYYY-MM-DD HH:MM:SS.ffffff", naive UTC
        joined = "\n".join(values) + "\n"
        if _STORED_TIMES.fullmatch(joined) is None:
            raise _Outside(_TIME)
        deque(map(datetime.fromisoformat, values), maxlen=0)  # a valid date and time (SQLAlchemy's parser)
        return joined.replace(" ", "T").encode().split(b"\n")[:-1]
    if kinds == {datetime}:  # PostgreSQL: timestamptz, aware
        zones = set(map(_tzinfo, values))
        if None in zones:
            if zones != {None}:
                raise _Outside(_TIME)
            return list(map(str.encode, map(_isoformat, values)))  # UTCDateTime takes naive as UTC
        return list(map(str.encode, map(_isoformat, map(_naive, map(_to_utc, values)))))
    raise _Outside(_TIME)


# --- scanning a range of the log ------------------------------------------------------------------

Peaks = list[tuple[int, bytes]]  # complete subtrees as (level, hash), largest first


@dataclass
class Block:
    """What the fast path found in the entries from position ``start`` on (``start`` a multiple of
    the batch size): the first ``size`` are regular, ``complete`` says whether it stopped because
    the range (or the log) ended rather than at an entry the reference must judge."""

    start: int
    size: int = 0
    complete: bool = True
    peaks: Peaks = field(default_factory=list)  # the compact range of [start, start + size)
    # complete subtrees of level >= cache_level inside the block, in the order the leaves finish them
    subtrees: list[tuple[int, int, bytes]] = field(default_factory=list)
    # for each asked size t in (start, start + size]: the compact range of [start, t)
    at: dict[int, Peaks] = field(default_factory=dict)


def scan(
    session: Session,
    *,
    start: int,
    limit: int | None,
    batch: int,
    sizes: Sequence[int],
    cache_level: int,
    progress: Callable[[int], None] | None = None,
) -> Block:
    """Read entries from position ``start`` (``limit`` of them at most) ``batch`` at a time and hash
    them; stop at the first batch holding anything irregular. ``sizes``: tree sizes whose compact
    ranges are wanted (the checkpoints).

    The subtrees are those of the whole log (RFC 6962 splits at powers of two), so the range must be
    aligned: ``start`` 0, or ``limit`` a power of two that divides ``start``, and ``batch`` too.
    """
    aligned = start == 0 or (limit is not None and not limit & (limit - 1) and start % limit == 0)
    if batch < 1 or batch & (batch - 1) or start % batch or not aligned:
        raise ValueError(f"an unaligned range: start {start}, limit {limit}, batch {batch}")
    block = Block(start)
    compact = merkle.CompactRange()
    encoder = Encoder()
    wanted = deque(sorted(size for size in set(sizes) if size > start))
    after = start - 1 if start else None  # from the very first row: a negative index is irregular
    while limit is None or block.size < limit:
        count = batch if limit is None else min(batch, limit - block.size)
        rows = repository.raw_entry_rows(session, COLUMNS, after=after, limit=count)
        if not rows:
            break
        columns = list(zip(*rows, strict=True))
        position = start + block.size
        leaves = None
        if list(columns[_INDEX]) == list(range(position, position + len(rows))):
            leaves = encoder.leaves(columns[:_LEAF])
        if leaves is None or leaves != list(columns[_LEAF]):
            block.complete = False
            break
        levels = merkle.subtree_levels(leaves)
        while wanted and wanted[0] <= position + len(rows):
            size = wanted.popleft()
            block.at[size] = _peaks(compact, levels, size - position)
        for level in range(cache_level, len(levels)):
            block.subtrees += [
                (level, (position >> level) + i, value) for i, value in enumerate(levels[level])
            ]
        for level, value in _peaks(merkle.CompactRange(), levels, len(rows)):
            for done, at, merged in compact.append_subtree(level, value):
                if done >= cache_level:
                    block.subtrees.append((done, (start >> done) + at, merged))
        block.size += len(rows)
        after = position + len(rows) - 1
        if progress is not None:
            progress(start + block.size)
        if len(rows) < count:
            break
    block.subtrees.sort(key=lambda item: ((item[1] + 1) << item[0], item[0]))  # finished at, lowest first
    block.peaks = _peaks(compact)
    return block


def _peaks(compact: merkle.CompactRange, levels: Sequence[Sequence[bytes]] = (), count: int = 0) -> Peaks:
    """The compact range of ``compact``'s leaves and the first ``count`` leaves of a batch (whose
    ``subtree_levels`` are ``levels``), as ``(level, hash)``, largest first."""
    at = compact.copy()
    done = 0
    for level in _levels_of(count):
        at.append_subtree(level, levels[level][done >> level])
        done += 1 << level
    return list(zip(_levels_of(at.size), at.peaks, strict=True))


def _levels_of(size: int) -> list[int]:
    return [level for level in range(size.bit_length() - 1, -1, -1) if size >> level & 1]


# --- worker processes -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Task:
    """One block for a worker process: the database's URL and what :func:`scan` is asked."""

    url: str
    start: int
    limit: int
    batch: int
    sizes: tuple[int, ...]
    cache_level: int


def run_task(task: Task) -> Block:
    """:func:`scan` in a worker process, on a connection of its own, closed when done."""
    from exchange.db.engine import make_engine, session_factory

    engine = make_engine(task.url, poolclass=NullPool)
    try:
        with session_factory(engine)() as session:
            return scan(
                session,
                start=task.start,
                limit=task.limit,
                batch=task.batch,
                sizes=task.sizes,
                cache_level=task.cache_level,
            )
    finally:
        engine.dispose()
