"""Ingesting the drop: incremental, whole files only, bad files rejected with file:line, in order."""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import date

import pytest

from adapters.base import Subject
from adapters.errors import BadLegacyData, LegacyTimeout
from adapters.population import Population
from adapters.tax.adapter import TaxAdapter
from adapters.tax.datasets import CERTIFICATE, REGISTRATION
from adapters.tax.simulator import MARKER, TaxSystem, registration_record
from exchange.identifiers import make_citizen_id, make_uscc

from .conftest import quiet_guard
from .dropping import drop, receipt
from .truth import REGISTRATION_ITEMS

NEW_FIRM = make_uscc("9", "1", "330106", "MA2KX0016")
NEW_PERSON = make_citizen_id("330106", date(1990, 5, 17), 123)
WRONG_CHECK = "1" if NEW_PERSON[-1] != "1" else "2"


def _adapter(system: TaxSystem, timeout: float = 5.0) -> TaxAdapter:
    made = system.adapter(guard=quiet_guard(), timeout=timeout)
    assert isinstance(made, TaxAdapter)
    return made


def _taxpayer(population: Population) -> str:
    return next(p.citizen_id for p in population.persons_iter() if p.tax_payments)


def _receipts(adapter: TaxAdapter, taxpayer_id: str) -> set[str]:
    answer = adapter.lookup(CERTIFICATE, Subject.parse("id_card", taxpayer_id), ["payments"])
    return {p["receipt_no"] for p in answer["payments"]}


def test_new_files_are_ingested_incrementally_with_their_quirks(fresh: TaxSystem):
    adapter = _adapter(fresh)
    firm = Subject.parse("uscc", NEW_FIRM)
    person = Subject.parse("id_card", NEW_PERSON)
    with pytest.raises(Exception, match="no taxpayer"):
        adapter.lookup(REGISTRATION, firm, ["taxpayer_name"])
    long_name = "杭州" + "华" * 38  # 40 characters = the whole 80-byte field
    drop(
        fresh,
        "NSRDJ",
        [
            registration_record(
                NEW_FIRM, "杭州云帆科技00160有限公司", "DW", "330106", date(2020, 3, 4), "正常"
            ),
            registration_record(NEW_PERSON, long_name, "ZR", "330102", date(2021, 1, 1), "非正常"),
        ],
    )
    assert adapter.lookup(REGISTRATION, firm, REGISTRATION_ITEMS) == {
        "taxpayer_name": "杭州云帆科技00160有限公司",  # full-width digits come back as ASCII
        "taxpayer_kind": "1",
        "tax_office": "国家税务总局杭州市西湖区税务局",
        "registered_on": "2020-03-04",
        "status": "1",
    }
    assert adapter.lookup(REGISTRATION, person, ["taxpayer_name", "status"]) == {
        "taxpayer_name": long_name,
        "status": "3",
    }
    assert adapter.lookup(CERTIFICATE, person, ["payments", "total_amount", "latest_paid_on"]) == {
        "payments": [],
        "total_amount": "0.00",
        "latest_paid_on": None,
    }


def test_delimited_records_are_decoded_before_splitting(fresh: TaxSystem, population: Population):
    """Some GBK characters end in byte 0x7C, the delimiter: splitting bytes would cut them in two."""
    tricky = next(
        chr(code)
        for code in range(0x4E00, 0x9FA6)
        if len(encoded := chr(code).encode("gbk", errors="ignore")) == 2 and encoded[1] == 0x7C
    )
    adapter = _adapter(fresh)
    last = list(adapter.changes_since(None))[-1].watermark
    taxpayer = _taxpayer(population)
    drop(fresh, "WSZM", [receipt("333010260000000001", taxpayer.lower(), f"张{tricky}")])
    (change,) = adapter.changes_since(last)
    assert change.record.holder_name == f"张{tricky}"
    assert change.record.holder == Subject.parse("id_card", taxpayer)


def test_a_character_cut_by_a_field_boundary_is_bad_data(fresh: TaxSystem):
    good = registration_record(NEW_FIRM, "杭州某某公司", "DW", "330106", date(2020, 3, 4), "正常")
    name = "华" * 39 + " "  # 79 bytes, then the first byte of a character the kind field gets the rest of
    bad = good[:21] + name.encode("gbk") + "华".encode("gbk")[:1] + good[101:]
    path = drop(fresh, "NSRDJ", [good, bad[: len(good)]])
    with pytest.raises(BadLegacyData) as caught:
        _adapter(fresh).lookup(REGISTRATION, Subject.parse("uscc", NEW_FIRM), ["taxpayer_name"])
    assert caught.value.row == f"{path.name}:3"
    assert "taxpayer_name is not valid GBK" in str(caught.value)


@pytest.mark.parametrize(
    ("records", "trailer", "line", "reason"),
    [
        ([receipt("333010260000000001", NEW_PERSON).replace(b"|", b"||", 1)], None, 2, "12 fields"),
        ([receipt("333010260000000001", NEW_PERSON, paid_on="20260230")], None, 2, "calendar date"),
        ([receipt("333010260000000001", NEW_PERSON, amount="12.3")], b"T|1|12.30", 2, "two decimals"),
        ([receipt("333010260000000001", NEW_PERSON[:-1] + WRONG_CHECK)], None, 2, "invalid taxpayer id"),
        ([receipt("333010260000000001", NEW_FIRM[:-1] + "0")], None, 2, "invalid taxpayer id"),
        ([receipt("3330102600000001", NEW_PERSON)], None, 2, "18 digits"),
        (
            [receipt("333010260000000001", NEW_PERSON, period=("20260201", "20260101"))],
            None,
            2,
            "ends before",
        ),
        (
            [receipt("333010260000000001", NEW_PERSON, name="\x00")[:30] + b"\xff\xfe|x"],
            b"T|1|0.00",
            2,
            "GBK",
        ),
        ([receipt("333010260000000001", NEW_PERSON)], b"T|2|100.00", 3, "trailer counts 2"),
        ([receipt("333010260000000001", NEW_PERSON)], b"T|1|99.00", 3, "trailer total"),
        ([receipt("333010260000000001", NEW_PERSON)], b"T|1", 3, "malformed trailer"),
        ([receipt("333010260000000001", NEW_PERSON)], b"", 3, "unknown record type"),
        (
            [receipt("333010260000000001", NEW_PERSON, kind="C", amount="-100.00")],
            None,
            2,
            "unknown tax receipt",
        ),
        (
            [receipt("333010260000000001", NEW_PERSON), receipt("333010260000000001", NEW_PERSON)],
            None,
            3,
            "already on line 2",
        ),
    ],
)
def test_malformed_receipt_files_are_rejected_naming_file_and_line(
    fresh: TaxSystem, records: list[bytes], trailer: bytes | None, line: int, reason: str
):
    path = drop(fresh, "WSZM", records, trailer=trailer)
    with pytest.raises(BadLegacyData, match=reason) as caught:
        _adapter(fresh).lookup(REGISTRATION, Subject.parse("id_card", NEW_PERSON), ["taxpayer_name"])
    assert caught.value.row == f"{path.name}:{line}"


@pytest.mark.parametrize(
    ("kind", "status", "reason"),
    [
        ("XX", "正常", "unknown taxpayer kind"),
        ("DW", "吊销", "unknown taxpayer status"),
        ("ZR", "正常", "invalid"),
    ],
)
def test_malformed_registration_records_are_rejected(fresh: TaxSystem, kind: str, status: str, reason: str):
    path = drop(
        fresh, "NSRDJ", [registration_record(NEW_FIRM, "某公司", kind, "330106", date(2020, 1, 1), status)]
    )
    with pytest.raises(BadLegacyData, match=reason) as caught:
        _adapter(fresh).lookup(REGISTRATION, Subject.parse("uscc", NEW_FIRM), ["taxpayer_name"])
    assert caught.value.row == f"{path.name}:2"


def test_a_receipt_delivered_again_in_a_later_file_is_rejected(fresh: TaxSystem, population: Population):
    taxpayer = next(p for p in population.persons_iter() if p.tax_payments)
    again = taxpayer.tax_payments[0].receipt_no
    path = drop(
        fresh, "WSZM", [receipt("333010260000000001", NEW_PERSON), receipt(again, taxpayer.citizen_id)]
    )
    with pytest.raises(BadLegacyData, match="already delivered in file") as caught:
        _adapter(fresh).lookup(CERTIFICATE, Subject.parse("id_card", taxpayer.citizen_id), ["payments"])
    assert caught.value.row == f"{path.name}:3"


def test_a_bad_file_is_not_half_ingested_and_stops_ingestion_until_replaced(
    fresh: TaxSystem, population: Population
):
    adapter = _adapter(fresh)
    taxpayer = _taxpayer(population)
    before = _receipts(adapter, taxpayer)
    good = receipt("333010260000000001", taxpayer)
    bad_path = drop(
        fresh, "WSZM", [good, receipt("333010260000000002", taxpayer, amount="x")], trailer=b"T|2|103.00"
    )
    drop(fresh, "WSZM", [receipt("333010260000000003", taxpayer)])  # a good file after the bad one
    for _ in range(2):  # the second time from the adapter's memory of the rejected file
        with pytest.raises(BadLegacyData) as caught:
            _receipts(adapter, taxpayer)
        assert caught.value.row == f"{bad_path.name}:3"
    health = adapter.health()
    assert not health.ok and bad_path.name in health.detail
    fresh_adapter = _adapter(fresh)  # nothing of the bad file, nor of the one after it, was staged
    with pytest.raises(BadLegacyData):
        _receipts(fresh_adapter, taxpayer)
    assert fresh_adapter._db.execute(
        "SELECT count(*) FROM receipt WHERE receipt_no LIKE '33301026000000000%'"
    ).fetchone() == (0,)

    bad_path.write_bytes(bad_path.read_bytes().replace(b"|x|", b"|7.00|"))  # now 107.00, not 103.00
    with pytest.raises(BadLegacyData, match="trailer total"):  # replaced, read again, still wrong
        _receipts(adapter, taxpayer)
    drop(
        fresh,
        "WSZM",
        [good, receipt("333010260000000002", taxpayer, amount="7.00")],
        seq=int(bad_path.stem[-6:]),
    )
    assert _receipts(adapter, taxpayer) == before | {
        "333010260000000001",
        "333010260000000002",
        "333010260000000003",
    }
    assert adapter.health().ok


def test_files_out_of_sequence_or_changed_after_ingestion_are_rejected(
    fresh: TaxSystem, population: Population
):
    adapter = _adapter(fresh)
    taxpayer = _taxpayer(population)
    _receipts(adapter, taxpayer)
    late = drop(fresh, "WSZM", [receipt("333010260000000001", taxpayer)], seq=0)
    with pytest.raises(BadLegacyData, match="out of sequence") as caught:
        _receipts(adapter, taxpayer)
    assert caught.value.row == f"{late.name}:1"
    late.unlink()
    ingested = sorted(fresh.outbox.glob("WSZM_*.txt"))[0]
    with ingested.open("ab") as handle:
        handle.write(b"N|\r\n")
    with pytest.raises(BadLegacyData, match="changed after it was ingested"):
        _receipts(adapter, taxpayer)


def test_the_adapter_waits_for_a_transfer_in_progress(fresh: TaxSystem, population: Population):
    adapter = _adapter(fresh, timeout=5.0)
    taxpayer = _taxpayer(population)
    path = drop(fresh, "WSZM", [receipt("333010260000000001", taxpayer)], marker=False)
    finisher = threading.Timer(0.3, path.with_name(path.name + MARKER).touch)
    started = time.monotonic()
    finisher.start()
    try:
        assert "333010260000000001" in _receipts(adapter, taxpayer)
    finally:
        finisher.join()
    assert time.monotonic() - started >= 0.25


def test_staging_records_each_ingested_file(fresh: TaxSystem):
    adapter = _adapter(fresh)
    assert adapter.health().ok
    list(adapter.changes_since(None))
    rows = adapter._db.execute(
        "SELECT name, size, sha256, records FROM ingested_file ORDER BY seq"
    ).fetchall()
    files = sorted(p for p in fresh.outbox.iterdir() if not p.name.endswith(MARKER))
    assert [row[0] for row in rows] == sorted((p.name for p in files), key=lambda n: n.split("_")[2])
    for name, size, digest, records in rows:
        data = (fresh.outbox / name).read_bytes()
        assert size == len(data) and len(digest) == 64 and records == data.count(b"\r\n") - 2


def test_a_staging_store_locked_by_another_process_is_a_timeout(fresh: TaxSystem, population: Population):
    adapter = _adapter(fresh, timeout=0.3)
    taxpayer = _taxpayer(population)
    _receipts(adapter, taxpayer)
    drop(fresh, "WSZM", [receipt("333010260000000001", taxpayer)])
    other = sqlite3.connect(fresh.staging_path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(LegacyTimeout, match="locked"):
            _receipts(adapter, taxpayer)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert "333010260000000001" in _receipts(adapter, taxpayer)
