"""The simulated front-end DB: its legacy quirks, its streaming sink, and rows the adapter must refuse."""

from __future__ import annotations

import sqlite3
import tracemalloc
from datetime import date
from pathlib import Path

import pytest

from adapters.base import Subject
from adapters.errors import BadLegacyData
from adapters.household.datasets import HOUSEHOLD_REGISTER, PERSON_BASIC
from adapters.household.simulator import DB_FILE, SIMULATOR, read_only_url
from adapters.population import Household, Person, Population
from exchange.identifiers import citizen_id_check_char

from .conftest import quiet_guard, write_store

ADDRESS = "杭州市西湖区文三路123号王花园5幢1203室"


def citizen_id(born: date, *, ending_x: bool = False, start: int = 101) -> str:
    for sequence in range(start, 999):
        first17 = f"330106{born:%Y%m%d}{sequence:03d}"
        check = citizen_id_check_char(first17)
        if (check == "X") == ending_x:
            return first17 + check
    raise AssertionError("no sequence fits")


def person(index: int, number: str, relation: str, name: str, **extra) -> Person:
    born = extra.pop("born", date(1980, 5, 17))
    return Person(
        index=index,
        citizen_id=extra.pop("citizen_id", None) or citizen_id(born, start=101 + index),
        name=name,
        sex=extra.pop("sex", "1"),
        ethnicity=extra.pop("ethnicity", "01"),
        birth_date=born,
        birthplace="330106",
        household=number,
        relation=relation,
        **extra,
    )


@pytest.fixture(scope="module")
def crafted(tmp_path_factory) -> tuple[Path, list[Household]]:
    """Households whose person indexes and numbers trigger every quirk the sink knows."""
    number = "330000003"  # number % 3 == 0: the head's relation is stored as '01'
    members = (
        person(5, number, "02", "王伟"),  # index % 5 == 0: U+3000 in the padding; % 4 == 1: full-width
        person(88, number, "12", "帕尔哈提·古丽娜尔", sex="2", ethnicity="05"),  # dot as U+2022
        person(  # ends in X, stored with a lower-case x; ZXRQ NULL; address padded with U+3000
            6,
            number,
            "21",
            "王子涵",
            born=date(2008, 2, 29),
            citizen_id=citizen_id(date(2008, 2, 29), ending_x=True),
        ),
        person(7, number, "32", "王梓轩", sex="2", born=date(2010, 7, 1)),  # MZ '1 '
        person(14, number, "51", "艾力·买买提", ethnicity="05", deregistered_on=date(2024, 3, 8)),  # U+30FB
    )
    gone = "330000010"  # everybody deregistered: the household is cancelled (HZT 1)
    lonely = (person(20, gone, "02", "李强", born=date(1940, 1, 2), deregistered_on=date(2025, 6, 30)),)
    households = [
        Household(number, "330106", ADDRESS, "1", date(2001, 3, 4), members),
        Household(gone, "330106", ADDRESS, "1", date(1985, 1, 1), lonely),
    ]
    root = write_store(tmp_path_factory.mktemp("crafted"), households)
    return root, households


def raw(root: Path, gmsfhm: str) -> dict[str, str | None]:
    with sqlite3.connect(root / DB_FILE) as db:
        db.row_factory = sqlite3.Row
        row = db.execute(
            "SELECT * FROM RK_CZRKJBXX WHERE GMSFHM IN (?, ?)", (gmsfhm, gmsfhm.lower())
        ).fetchone()
        return dict(row)


def test_the_sink_writes_the_legacy_quirks(crafted):
    root, households = crafted
    head, wife, son, daughter, father = households[0].members
    assert raw(root, head.citizen_id)["XM"] == "王伟\u3000" + " " * 24  # GBK CHAR(30) padding
    assert raw(root, head.citizen_id)["YHZGX"] == "01"  # pre-2008 code for the head
    assert raw(root, head.citizen_id)["MLXZ"] == "杭州市西湖区文三路１２３号王花园５幢１２０３室"
    assert raw(root, head.citizen_id)["MZ"] == "1"
    assert raw(root, head.citizen_id)["ZXRQ"] == " " * 8
    assert raw(root, wife.citizen_id)["XM"] == "帕尔哈提\u2022古丽娜尔"
    assert raw(root, father.citizen_id)["XM"].startswith("艾力\u30fb买买提")
    assert raw(root, son.citizen_id)["GMSFHM"] == son.citizen_id[:17] + "x"
    assert raw(root, son.citizen_id)["ZXRQ"] is None
    assert raw(root, son.citizen_id)["MLXZ"] == ADDRESS + "\u3000\u3000"
    assert raw(root, daughter.citizen_id)["MZ"] == "1 "
    with sqlite3.connect(root / DB_FILE) as db:
        assert db.execute("SELECT HZT FROM RK_HJXX WHERE HH = '330000010'").fetchone() == ("1",)
        assert db.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        indexes = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"IX_CZRKJBXX_GMSFHM", "IX_CZRKJBXX_HH", "IX_HJXX_HH", "IX_HJXX_GXSJ_HH"} <= indexes


def test_the_adapter_normalises_every_quirk(crafted):
    root, households = crafted
    adapter = SIMULATOR.start(root).adapter(guard=quiet_guard())
    head, wife, son, daughter, father = households[0].members
    items = ["name", "ethnicity", "address", "relation_to_head", "status", "deregistered_on"]

    def basic(member: Person) -> dict:
        return adapter.lookup(PERSON_BASIC, Subject.parse("id_card", member.citizen_id), items)

    assert basic(head) == {
        "name": "王伟",
        "ethnicity": "01",
        "address": ADDRESS,
        "relation_to_head": "02",
        "status": "active",
        "deregistered_on": None,
    }
    assert basic(wife)["name"] == "帕尔哈提\u00b7古丽娜尔"
    assert basic(son)["address"] == ADDRESS and basic(son)["deregistered_on"] is None
    assert basic(daughter)["ethnicity"] == "01"
    assert basic(father) | {"name": ""} == basic(father) | {
        "name": "",
        "status": "deregistered",
        "deregistered_on": "2024-03-08",
    }
    assert basic(father)["name"] == "艾力\u00b7买买提"
    booklet = adapter.lookup(HOUSEHOLD_REGISTER, Subject.parse("id_card", son.citizen_id), ["members"])
    assert [m["id_number"] for m in booklet["members"]] == [
        head.citizen_id,
        wife.citizen_id,
        son.citizen_id,
        daughter.citizen_id,
    ]  # active only; head first, then by GB/T 4761 code; the lower-case x read as X
    changes = list(adapter.changes_since(None))
    assert [(c.record.source_id, c.record.cancelled) for c in changes] == [
        ("330000003", False),
        ("330000010", True),
    ]
    assert changes[1].record.holder.value == households[1].head.citizen_id
    assert changes[1].record.fields["members"] == []


def _peak_while_writing(root: Path, households: list[Household]) -> int:
    tracemalloc.start()
    try:
        write_store(root, households, batch_size=500)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_the_sink_streams_in_bounded_memory(tmp_path):
    households = list(Population(8000).households())
    small, count = [], 0
    for household in households:
        if count >= 2000:
            break
        small.append(household)
        count += len(household.members)
    peak_small = _peak_while_writing(tmp_path / "small", small)
    peak_large = _peak_while_writing(tmp_path / "large", households)
    assert peak_large < peak_small * 1.5 + 64 * 1024, (peak_small, peak_large)
    with sqlite3.connect(tmp_path / "large" / DB_FILE) as db:
        assert db.execute("SELECT COUNT(*) FROM RK_CZRKJBXX").fetchone() == (8000,)
        assert db.execute("SELECT COUNT(*) FROM RK_HJXX").fetchone() == (len(households),)


def test_start_needs_a_store_and_the_adapter_never_creates_one(tmp_path):
    with pytest.raises(FileNotFoundError):
        SIMULATOR.start(tmp_path)
    from adapters.household import HouseholdAdapter

    adapter = HouseholdAdapter(read_only_url(tmp_path / DB_FILE), guard=quiet_guard())
    assert not adapter.health().ok
    assert not (tmp_path / DB_FILE).exists()


# --- rows the adapter must refuse, naming the row ------------------------------------------------


def corrupt(root: Path, statement: str, *params: str) -> None:
    with sqlite3.connect(root / DB_FILE) as db:
        assert db.execute(statement, params).rowcount != 0


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        ("UPDATE RK_CZRKJBXX SET XB = '5' WHERE GMSFHM = ?", "XB '5' is not a GB/T 2261.1 code"),
        ("UPDATE RK_CZRKJBXX SET MZ = '77' WHERE GMSFHM = ?", "MZ '77' is not a GB/T 3304 code"),
        ("UPDATE RK_CZRKJBXX SET YHZGX = '98' WHERE GMSFHM = ?", "YHZGX '98' is not a GB/T 4761 code"),
        ("UPDATE RK_CZRKJBXX SET RYZT = '7' WHERE GMSFHM = ?", "RYZT '7' is not a person status code"),
        ("UPDATE RK_CZRKJBXX SET ZXRQ = '20200101' WHERE GMSFHM = ?", "contradicts ZXRQ"),
        ("UPDATE RK_CZRKJBXX SET CSRQ = '１９８０' WHERE GMSFHM = ?", "CSRQ is not a YYYYMMDD date"),
        ("UPDATE RK_CZRKJBXX SET CSRQ = '19800230' WHERE GMSFHM = ?", "CSRQ is not a real date"),
        ("UPDATE RK_CZRKJBXX SET CSDSSXQ = '3301' WHERE GMSFHM = ?", "CSDSSXQ is not 6 digits"),
        ("UPDATE RK_CZRKJBXX SET XM = '\u3000 ' WHERE GMSFHM = ?", "XM is empty"),
    ],
)
def test_bad_person_rows_are_reported_with_the_row(fresh, households, statement, message):
    system = fresh()
    target = households[1].members[0]
    corrupt(system.path.parent, statement, target.citizen_id)
    adapter = system.adapter(guard=quiet_guard())
    with pytest.raises(BadLegacyData, match=message) as caught:
        adapter.lookup(PERSON_BASIC, Subject.parse("id_card", target.citizen_id), ["name"])
    assert caught.value.row == f"RK_CZRKJBXX GMSFHM={target.citizen_id}"


def test_an_invalid_citizen_id_in_a_member_row_spoils_the_booklet(fresh, households):
    system = fresh()
    household = next(h for h in households if len(h.members) >= 2)
    member = household.members[1]
    broken = member.citizen_id[:17] + ("0" if member.citizen_id[17] != "0" else "1")
    corrupt(
        system.path.parent, "UPDATE RK_CZRKJBXX SET GMSFHM = ? WHERE GMSFHM = ?", broken, member.citizen_id
    )
    adapter = system.adapter(guard=quiet_guard())
    with pytest.raises(BadLegacyData, match="GMSFHM is not a valid citizen ID") as caught:
        adapter.lookup(HOUSEHOLD_REGISTER, Subject.parse("id_card", household.head.citizen_id), ["members"])
    assert caught.value.row == f"RK_CZRKJBXX GMSFHM={broken}"


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        ("UPDATE RK_HJXX SET HZT = '5' WHERE HH = ?", "HZT '5' is not a household status code"),
        ("UPDATE RK_HJXX SET HZT = '1' WHERE HH = ?", "HZT '1' contradicts the members' RYZT"),
        ("UPDATE RK_HJXX SET HLX = '7' WHERE HH = ?", "HLX '7' is not a 户类型 code"),
        ("UPDATE RK_HJXX SET HZXM = '某某' WHERE HH = ?", "do not name a member recorded as 户主"),
        ("UPDATE RK_HJXX SET DJRQ = '        ' WHERE HH = ?", "DJRQ is empty"),
        ("UPDATE RK_HJXX SET GXSJ = '20261399000000' WHERE HH = ?", "GXSJ is not a real"),
    ],
)
def test_bad_household_rows_are_reported_with_the_row(fresh, households, statement, message):
    system = fresh()
    household = households[2]
    corrupt(system.path.parent, statement, household.number)
    adapter = system.adapter(guard=quiet_guard())
    with pytest.raises(BadLegacyData, match=message) as caught:
        adapter.lookup(HOUSEHOLD_REGISTER, Subject.parse("id_card", household.head.citizen_id), ["members"])
    assert caught.value.row == f"RK_HJXX HH={household.number}"
    with pytest.raises(BadLegacyData, match=message):
        list(adapter.changes_since(None))


def test_a_person_whose_household_row_is_missing(fresh, households):
    system = fresh()
    household = households[3]
    corrupt(system.path.parent, "DELETE FROM RK_HJXX WHERE HH = ?", household.number)
    adapter = system.adapter(guard=quiet_guard())
    with pytest.raises(BadLegacyData, match="RK_HJXX does not hold") as caught:
        adapter.lookup(HOUSEHOLD_REGISTER, Subject.parse("id_card", household.head.citizen_id), ["members"])
    assert caught.value.row == f"RK_CZRKJBXX GMSFHM={household.head.citizen_id}"


def test_a_missing_table_is_bad_legacy_data(fresh, households):
    system = fresh()
    corrupt(system.path.parent, "ALTER TABLE RK_CZRKJBXX RENAME TO RK_CZRKJBXX_OLD")
    adapter = system.adapter(guard=quiet_guard())
    with pytest.raises(BadLegacyData, match="schema"):
        adapter.lookup(PERSON_BASIC, Subject.parse("id_card", households[0].head.citizen_id), ["name"])
