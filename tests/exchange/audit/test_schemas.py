"""The canonical form of an entry (RFC 8785) and how records are cleaned before they are hashed."""

from __future__ import annotations

import hashlib
import json
import random
from datetime import UTC, datetime, timedelta, timezone

import pytest

from exchange.audit.schemas import ENTRY_FIELDS, AuditRecord, canonical_entry, canonical_json, timestamp_text
from tests.exchange.audit.conftest import record


def test_members_are_sorted_by_utf16_code_units():
    # RFC 8785 section 3.2.3's sorting example: the emoji (a surrogate pair, 0xD83D...) sorts
    # between U+20AC and U+FB33, not after U+FB33 as code points would.
    document = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    keys = [key for key in json.loads(canonical_json(document))]
    assert keys == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]


def test_no_whitespace_and_minimal_escapes():
    value = {"b": [1, None, True, False], "a": 'q"\\\n\t\x01\x7f/é€\u2028'}
    assert (
        canonical_json(value)
        == ('{"a":"q\\"\\\\\\n\\t\\u0001\x7f/é€\u2028","b":[1,null,true,false]}').encode()
    )
    assert canonical_json({"n": -(2**53 - 1)}) == b'{"n":-9007199254740991}'


@pytest.mark.parametrize("bad", [1.5, 2**53, {"x": float("nan")}, "\ud800", {1: "a"}, b"bytes"])
def test_what_cannot_be_canonical_is_refused(bad):
    with pytest.raises(ValueError):
        canonical_json(bad)


def test_times_are_hashed_as_utc_with_microseconds():
    moment = datetime(2026, 11, 21, 17, 0, 0, 5, tzinfo=timezone(timedelta(hours=8)))
    assert timestamp_text(moment) == "2026-11-21T09:00:00.000005Z"
    with pytest.raises(ValueError):
        timestamp_text(datetime(2026, 1, 1))


def test_an_entry_canonical_form_holds_every_field_but_the_leaf_hash():
    fields = {"index": 7, **record(7).model_dump(), "recorded_at": datetime(2026, 1, 1, tzinfo=UTC)}
    body = canonical_entry(fields)
    decoded = json.loads(body)
    assert set(decoded) == set(ENTRY_FIELDS) and "leaf_hash" not in decoded
    assert decoded["index"] == 7 and decoded["recorded_at"] == "2026-01-01T00:00:00.000000Z"
    assert decoded["legal_basis"] is None  # unknown values are written as null, never left out
    assert list(decoded) == sorted(decoded)
    assert hashlib.sha256(body).hexdigest() == hashlib.sha256(canonical_entry(dict(fields))).hexdigest()


def test_records_are_clipped_and_cleaned_to_what_the_columns_hold():
    entry = record(1, operator_name="名" * 300, subject_value="1101\x00\ud800", items_asked=["x" * 100] * 250)
    assert len(entry.operator_name) == 200 and entry.operator_name.endswith("…")
    assert entry.subject_value == "1101\ufffd\ufffd"
    assert len(entry.items_asked) == 200 and entry.items_asked[-1] == "…" and len(entry.items_asked[0]) == 64
    canonical_json(entry.model_dump(exclude={"recorded_at"}))  # always canonicalisable


@pytest.mark.parametrize(
    "change",
    [{"decision": "maybe"}, {"endpoint": "other"}, {"http_status": 42}, {"latency_ms": -1}, {"extra": 1}],
)
def test_records_refuse_impossible_values(change):
    with pytest.raises(ValueError):
        record(1, **change)


def test_records_are_immutable():
    with pytest.raises(ValueError):
        record(1).decision = "deny"  # type: ignore[misc]
    assert AuditRecord.model_config["frozen"]


def test_the_fast_path_for_entries_is_exactly_rfc_8785():
    rng = random.Random(8785)
    alphabet = ['"', "\\", "\n", "\x00", "\x1f", "\x7f", "é", "€", "\u2028", "\U0001f600", "\ufb33", "a", " "]
    for i in range(300):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 12)))
        fields = {
            "index": rng.choice([0, i, 2**53 - 1]),
            **record(i, purpose=text, items_asked=[text, "x"], reason=text or None).model_dump(),
            "recorded_at": datetime(2026, 1, 1, tzinfo=UTC) + timedelta(microseconds=rng.randrange(10**12)),
        }
        expected = {**fields, "recorded_at": timestamp_text(fields["recorded_at"])}
        assert canonical_entry(fields) == canonical_json(expected)


def test_entries_outside_the_fast_path_still_canonicalise_or_refuse():
    fields = {"index": 1, **record(1).model_dump(), "recorded_at": datetime(2026, 1, 1, tzinfo=UTC)}
    nested = {**fields, "items_asked": [{"b": 1, "a": None}]}  # e.g. a tampered JSON column
    assert b'"items_asked":[{"a":null,"b":1}]' in canonical_entry(nested)
    with pytest.raises(ValueError):
        canonical_entry({**fields, "latency_ms": 1.5})
    with pytest.raises(ValueError):
        canonical_entry({**fields, "index": 2**53})
    with pytest.raises(ValueError):
        canonical_entry({**fields, "purpose": "\ud800"})
