"""verify_log's fast path (exchange/audit/bulk.py) writes exactly the reference's RFC 8785 bytes.

The reference is ``service.leaf_of`` over the fields SQLAlchemy reads (``canonical_entry``). Whatever
the fast path answers must equal it; for what it does not know it answers None (and verify_log hands
the batch to the reference). Checked on synthetic columns shaped as each driver returns them, on
entries appended to and read back from real databases, and on values an attacker wrote directly.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from exchange.audit import bulk, merkle, repository, service
from exchange.audit.schemas import ENTRY_FIELDS, MAX_SAFE_INTEGER, AuditRecord
from tests.conftest import NOW
from tests.exchange.audit.conftest import record, sql

# Characters that JSON writers get wrong: controls (short and \u00xx escapes), quote, backslash,
# solidus (not escaped by RFC 8785), DEL, C1, line/paragraph separators (not escaped), BOM, CJK,
# non-BMP (no surrogate pairs in UTF-8), the replacement character.
NASTY = (
    [chr(c) for c in range(0x20)]
    + list('"\\/\x7f\x80\x9f\xa0é€\u2028\u2029\ufeff\ufffd王小明')
    + ["\U0001f600", "\U00010000", "\U0010ffff", "a", " ", "'", "<", "}", ",", ":", "[", "null"]
)


def nasty_text(rng: random.Random, longest: int = 12) -> str:
    return "".join(rng.choice(NASTY) for _ in range(rng.randrange(longest + 1)))


def nasty_fields(rng: random.Random, index: int) -> dict[str, Any]:
    """An entry's fields as the reference reads them: any text, None, ints at the bounds."""
    texts = [name for name in ENTRY_FIELDS if name not in bulk._INTEGERS | bulk._ITEMS | {bulk._TIME}]
    fields: dict[str, Any] = {name: rng.choice([None, nasty_text(rng)]) for name in texts}
    fields.update(
        index=index,
        http_status=rng.choice([100, 200, 599, 0, -1]),
        latency_ms=rng.choice([0, 2**31 - 1, MAX_SAFE_INTEGER, -MAX_SAFE_INTEGER]),
        items_asked=[nasty_text(rng) for _ in range(rng.randrange(4))],
        items_returned=rng.choice([[], [nasty_text(rng)], None]),
        recorded_at=datetime(2026, 1, 1, tzinfo=UTC)
        + timedelta(days=rng.randrange(-(10**5), 10**5), microseconds=rng.randrange(10**11)),
    )
    return fields


def sqlite_row(fields: dict[str, Any]) -> tuple[Any, ...]:
    """The raw values SQLite hands the fast path: naive UTC time text, items as SQLAlchemy's JSON."""
    raw = dict(fields)
    raw["recorded_at"] = fields["recorded_at"].astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    for name in bulk._ITEMS:
        raw[name] = None if fields[name] is None else json.dumps(fields[name])
    return tuple(raw[name] for name in bulk.COLUMNS)


def postgres_row(fields: dict[str, Any], zone: timezone | None) -> tuple[Any, ...]:
    """What psycopg hands it: a datetime (aware, in the session's zone; naive for a column without time
    zone), items as the text the json column stores."""
    raw = dict(fields)
    moment = fields["recorded_at"].astimezone(zone or UTC)
    raw["recorded_at"] = moment if zone else moment.replace(tzinfo=None)
    for name in bulk._ITEMS:
        raw[name] = None if fields[name] is None else json.dumps(fields[name], ensure_ascii=False)
    return tuple(raw[name] for name in bulk.COLUMNS)


def fast(rows: list[tuple[Any, ...]]) -> list[bytes] | None:
    return bulk.Encoder().leaves(list(zip(*rows, strict=True)))


def test_the_template_is_every_member_sorted_without_whitespace():
    values = tuple(
        7 if name in bulk._INTEGERS else b"2026" if name == bulk._TIME else b'"v"' for name in bulk.COLUMNS
    )
    body = bulk._TEMPLATE % values
    document = json.loads(body)
    assert list(document) == sorted(ENTRY_FIELDS) and document["recorded_at"] == "2026Z"
    assert body == json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


@pytest.mark.parametrize("seed", range(8))
def test_nasty_entries_hash_as_the_reference_hashes_them(seed):
    rng = random.Random(seed)
    entries = [nasty_fields(rng, rng.choice([i, MAX_SAFE_INTEGER - i])) for i in range(300)]
    expected = [service.leaf_of(fields) for fields in entries]
    assert fast([sqlite_row(fields) for fields in entries]) == expected
    zone = timezone(timedelta(hours=rng.choice([-12, 0, 5.5, 8, 14])))
    assert fast([postgres_row(fields, zone) for fields in entries]) == expected
    assert fast([postgres_row(fields, None) for fields in entries]) == expected


def _with(name: str, value: Any) -> list[tuple[Any, ...]]:
    rows = [sqlite_row({**record(i).model_dump(), "index": i, "recorded_at": NOW}) for i in range(3)]
    position = bulk.COLUMNS.index(name)
    rows[1] = rows[1][:position] + (value,) + rows[1][position + 1 :]
    return rows


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("purpose", "\ud800"),  # a lone surrogate: UTF-8 cannot hold it (the reference fails too)
        ("request_id", "\udfff x"),
        ("purpose", 5),  # an integer in a text column (SQLite stores what it is given)
        ("request_hash", 5),
        ("purpose", 1.5),
        ("purpose", True),
        ("purpose", b"bytes"),
        ("http_status", None),
        ("http_status", 200.0),
        ("http_status", True),
        ("http_status", "200"),
        ("latency_ms", MAX_SAFE_INTEGER + 1),
        ("index", -MAX_SAFE_INTEGER - 1),
        ("items_asked", '{"a": "b"}'),
        ("items_asked", "[1]"),
        ("items_asked", '[["a"]]'),
        ("items_asked", '"a"'),
        ("items_asked", "[NaN]"),
        ("items_asked", "not json"),
        ("items_asked", '["\\ud800"]'),
        ("items_asked", ["already", "decoded"]),
        ("recorded_at", "2026-11-21T09:00:00.000000"),
        ("recorded_at", "2026-11-21 09:00:00"),
        ("recorded_at", "2026-11-21 09:00:00.000000+00:00"),
        ("recorded_at", "2026-02-30 09:00:00.000000"),
        ("recorded_at", "2026-11-21 24:00:00.000000"),
        ("recorded_at", "2026-11-21 09:00:00.00000٣"),
        ("recorded_at", None),
        ("recorded_at", 1700000000),
        ("recorded_at", NOW),  # a datetime among SQLite's texts
    ],
)
def test_values_outside_the_fast_path_are_left_to_the_reference(name, value):
    assert fast(_with(name, value)) is None


def test_mixed_aware_and_naive_times_are_left_to_the_reference():
    rows = [postgres_row({**record(i).model_dump(), "index": i, "recorded_at": NOW}, UTC) for i in range(2)]
    at = bulk.COLUMNS.index("recorded_at")
    rows[0] = rows[0][:at] + (NOW.replace(tzinfo=None),) + rows[0][at + 1 :]
    assert fast(rows) is None


def test_the_memo_is_bounded_and_stays_exact(monkeypatch):
    monkeypatch.setattr(bulk, "MEMO_LIMIT", 5)
    encoder = bulk.Encoder()
    rng = random.Random(3)
    for _ in range(4):
        entries = [nasty_fields(rng, i) for i in range(50)]
        assert encoder.leaves(list(zip(*map(sqlite_row, entries), strict=True))) == [
            service.leaf_of(fields) for fields in entries
        ]
    assert len(encoder._text) <= 5 + 50 * 12


# --- through real databases -----------------------------------------------------------------------


def _nasty_records(count: int) -> list[AuditRecord]:
    rng = random.Random(11)
    records = []
    for i in range(count):
        fields = nasty_fields(rng, i)
        values = {
            **record(i).model_dump(),
            **{name: fields[name] for name in ("operator_name", "purpose", "reason", "legal_basis")},
            "request_id": nasty_text(rng) or "r",
            "request_hash": nasty_text(rng),
            "items_asked": fields["items_asked"],
            "items_returned": fields["items_returned"] or [],
            "latency_ms": rng.choice([0, 2**31 - 1, 7]),
            "http_status": rng.choice([100, 599]),
            "recorded_at": fields["recorded_at"].astimezone(
                timezone(timedelta(hours=rng.choice([-7, 0, 8])))
            ),
        }
        records.append(AuditRecord.model_validate(values))
    return records


def _check_database(session: Session, count: int) -> None:
    for i, entry in enumerate(_nasty_records(count)):
        service.append(session, entry, NOW + timedelta(seconds=i))
    session.commit()
    rows = repository.raw_entry_rows(session, bulk.COLUMNS, after=None, limit=count)
    stored = [bytes(row[-1]) for row in rows]
    reference = [service.get_entry(session, i).recomputed for i in range(count)]  # type: ignore[union-attr]
    assert fast([tuple(row[:-1]) for row in rows]) == stored == reference


def test_entries_read_back_from_sqlite_hash_as_appended(session):
    _check_database(session, 200)


def test_entries_read_back_from_postgresql_hash_as_appended(pg_session):
    _check_database(pg_session, 200)


# What an owner with the triggers off can write; SQLite keeps any value in any column.
TAMPERED = [
    'UPDATE audit_entries SET purpose = 5 WHERE "index" = 1',
    'UPDATE audit_entries SET purpose = 1.5 WHERE "index" = 1',
    "UPDATE audit_entries SET purpose = X'00ff' WHERE \"index\" = 1",
    "UPDATE audit_entries SET purpose = NULL, reason = '' WHERE \"index\" = 1",
    "UPDATE audit_entries SET http_status = '200' WHERE \"index\" = 1",
    "UPDATE audit_entries SET http_status = 'two hundred' WHERE \"index\" = 1",
    'UPDATE audit_entries SET http_status = 200.5 WHERE "index" = 1',
    'UPDATE audit_entries SET latency_ms = 9007199254740992 WHERE "index" = 1',
    'UPDATE audit_entries SET items_asked = \'["name","birth_date"]\' WHERE "index" = 1',
    'UPDATE audit_entries SET items_asked = \' [ "name" ] \' WHERE "index" = 1',
    "UPDATE audit_entries SET items_asked = 'null' WHERE \"index\" = 1",
    'UPDATE audit_entries SET items_asked = \'{"name": 1}\' WHERE "index" = 1',
    'UPDATE audit_entries SET items_asked = 5 WHERE "index" = 1',
    "UPDATE audit_entries SET items_asked = X'5b5d' WHERE \"index\" = 1",
    "UPDATE audit_entries SET recorded_at = '2026-11-21 09:00:00' WHERE \"index\" = 1",
    "UPDATE audit_entries SET recorded_at = '2026-11-21T09:00:00.000000' WHERE \"index\" = 1",
    "UPDATE audit_entries SET recorded_at = '2026-11-21 10:00:00.000000+01:00' WHERE \"index\" = 1",
    'UPDATE audit_entries SET recorded_at = 5 WHERE "index" = 1',
]


@pytest.mark.parametrize("statement", TAMPERED)
def test_values_an_attacker_wrote_hash_as_the_reference_reads_them_or_not_at_all(session, statement):
    for i in range(3):
        service.append(session, record(i), NOW + timedelta(seconds=i))
    session.commit()
    try:
        sql(session, statement)
    except DBAPIError:  # PostgreSQL's column types refuse the value: no such row can exist there
        session.rollback()
        return
    rows = repository.raw_entry_rows(session, bulk.COLUMNS, after=None, limit=3)
    try:
        reference: list[bytes] | None = [
            service.leaf_of(dict(row)) for row in repository.iter_entries(session)
        ]
    except (ValueError, TypeError):
        reference = None  # the reference cannot read or hash it: the fast path must not either
    assert fast([tuple(row[:-1]) for row in rows]) in (None, reference)
    if reference is None:
        assert fast([tuple(row[:-1]) for row in rows]) is None


def test_the_raw_rows_are_the_columns_in_canonical_order(session):
    service.append(session, record(0), NOW)
    session.commit()
    (row,) = repository.raw_entry_rows(session, bulk.COLUMNS, after=None, limit=5)
    assert list(row._mapping) == [*bulk.COLUMNS, "leaf_hash"]
    assert session.execute(text('SELECT count(*) FROM audit_entries WHERE "index" > 0')).scalar() == 0


# --- the tree of a block ---------------------------------------------------------------------------


def test_subtree_levels_are_the_aligned_subtrees():
    leaves = [merkle.leaf_hash(bytes([i])) for i in range(13)]
    levels = merkle.subtree_levels(leaves)
    for level, nodes in enumerate(levels):
        assert len(nodes) == 13 >> level
        for i, value in enumerate(nodes):
            assert value == merkle.root(leaves[i << level : (i + 1) << level])


def test_appending_subtrees_builds_the_same_compact_range():
    leaves = [merkle.leaf_hash(bytes([i])) for i in range(64)]
    one_by_one, by_blocks = merkle.CompactRange(), merkle.CompactRange()
    finished = [item for leaf in leaves for item in one_by_one.append(leaf)]
    blocks = [(5, 0, 32), (3, 32, 40), (3, 40, 48), (4, 48, 64)]
    merged = []
    for level, start, end in blocks:
        merged += by_blocks.append_subtree(level, merkle.root(leaves[start:end]))
        assert (by_blocks.size, by_blocks.root()) == (end, merkle.root(leaves[:end]))
    assert by_blocks.peaks == one_by_one.peaks
    # the subtrees the blocks finished, as the leaves finished them
    assert (
        merged
        == [item for item in finished if item in merged]
        == [
            (4, 2, merkle.root(leaves[32:48])),
            (5, 1, merkle.root(leaves[32:64])),
            (6, 0, merkle.root(leaves)),
        ]
    )
    with pytest.raises(ValueError):
        by_blocks.append_subtree(7, leaves[0])
