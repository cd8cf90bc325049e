"""The drop directory looks like the collection system's: GBK, byte widths, markers, sequence."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from adapters.base import Subject
from adapters.population import Population
from adapters.tax import simulator
from adapters.tax.datasets import CERTIFICATE
from adapters.tax.simulator import MARKER, RECORD_BYTES, SIMULATOR

from .conftest import build_store, quiet_guard
from .truth import CERTIFICATE_ITEMS, certificate_truth

NAME = re.compile(r"^(NSRDJ_\d{8}_\d{6}\.dat|WSZM_\d{8}_\d{6}\.txt)$")


def _data_files(outbox: Path) -> list[Path]:
    return sorted((p for p in outbox.iterdir() if NAME.match(p.name)), key=lambda p: p.name.split("_")[2])


def test_every_data_file_is_complete_marked_and_in_one_sequence(template: Path):
    files = _data_files(template / "outbox")
    assert [int(p.name.split("_")[2].split(".")[0]) for p in files] == list(range(1, len(files) + 1))
    for path in files:
        assert path.with_name(path.name + MARKER).stat().st_size == 0
        lines = path.read_bytes().split(b"\r\n")
        assert lines[-1] == b"" and all(b"\n" not in line for line in lines)  # CRLF line ends
        assert lines[0].startswith(b"H") and lines[-2].startswith(b"T")
    markers = {p.name for p in (template / "outbox").iterdir() if p.name.endswith(MARKER)}
    assert markers == {p.name + MARKER for p in files}


def test_registration_records_are_fixed_width_in_gbk_bytes(template: Path, population: Population):
    path = next(p for p in _data_files(template / "outbox") if p.name.startswith("NSRDJ"))
    lines = path.read_bytes().split(b"\r\n")[1:-2]
    assert {len(line) for line in lines} == {RECORD_BYTES}
    names = [line[21:101].decode("gbk").rstrip() for line in lines]
    # Chinese names take two bytes a character: as text the records would have different lengths
    assert len({len(line.decode("gbk")) for line in lines}) > 1
    person = next(p for p in population.persons_iter() if p.tax_payments)
    assert person.name in names
    assert lines[-1].startswith(b"D") and int(path.read_bytes().split(b"\r\n")[-2][1:]) == len(lines)


def test_employer_digits_are_written_full_width(template: Path):
    text = b"".join(
        p.read_bytes() for p in _data_files(template / "outbox") if p.name.startswith("NSRDJ")
    ).decode("gbk")
    assert re.search("有限公司", text)
    assert not re.search(r"[0-9]{5}有限公司", text)


def test_receipts_write_the_check_character_in_lower_case(template: Path, population: Population):
    text = b"".join(p.read_bytes() for p in _data_files(template / "outbox") if p.name.startswith("WSZM"))
    person = next(p for p in population.persons_iter() if p.tax_payments and p.citizen_id.endswith("X"))
    assert f"|{person.citizen_id.lower()}|".encode("gbk") in text


def test_voids_come_as_later_correction_records(template: Path, population: Population):
    files = [p for p in _data_files(template / "outbox") if p.name.startswith("WSZM")]
    voided = [t for p in population.persons_iter() for t in p.tax_payments if t.voided_on is not None]
    assert voided
    corrections = files[-1].read_bytes().decode("gbk").split("\r\n")
    assert {line.split("|")[1] for line in corrections if line.startswith("C|")} == {
        t.receipt_no for t in voided
    }
    total = sum(-t.amount for t in voided)
    assert corrections[-2] == f"T|{len(voided)}|{total:.2f}"
    assert all(
        not line.startswith("C|") for p in files[:-1] for line in p.read_bytes().decode("gbk").split("\r\n")
    )


def test_files_roll_over_at_the_record_limit_and_are_read_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(simulator, "MAX_RECORDS", 40)
    population = build_store(tmp_path, 200)
    files = _data_files(tmp_path / "outbox")
    assert len(files) > 6
    for path in files:
        assert 1 <= len(path.read_bytes().split(b"\r\n")[1:-2]) <= 40
    adapter = SIMULATOR.start(tmp_path).adapter(guard=quiet_guard())
    for person in population.persons_iter():
        if person.tax_payments:
            subject = Subject.parse("id_card", person.citizen_id)
            assert adapter.lookup(CERTIFICATE, subject, CERTIFICATE_ITEMS) == certificate_truth(
                person.tax_payments
            )
