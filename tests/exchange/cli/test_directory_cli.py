"""`exchange directory | grants | applications | tokens`: the catalogue and its access rules at the console."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta

import pytest
import rdflib
from typer.testing import CliRunner

from directory import service as directory
from directory.calendar import WorkCalendar, today
from directory.models import Grant
from directory.schemas import ApplicationCreate
from exchange.cli.context import console, errors
from exchange.cli.main import app
from exchange.config import get_settings
from exchange.db.engine import session_factory, session_scope

runner = CliRunner()
# Wide enough for long temporary paths, also under pytest-xdist (whose workers set COLUMNS=80).
console.width = errors.width = 200

UNCONDITIONAL = "303003001-000001"  # 单位参保登记信息: employer_name, si_number, insured_count, status
CONDITIONAL = "303001001-000001"  # 参保信息
NOT_SHARED = "301003001-000001"  # 人口照片信息
DEMO = "demo-approval"
FRIDAY = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # 10:00 on a Friday in China Standard Time


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False, env={"COLUMNS": "200"})


def refused(*args: str, message: str):
    result = runner.invoke(app, list(args), env={"COLUMNS": "200"})
    assert result.exit_code == 1, (args, result.output)
    assert message in result.output, (args, result.output)
    assert "Traceback" not in result.output
    return result


@pytest.fixture
def hub(home, monkeypatch):
    """A migrated hub with the four departments' resources registered and the demo consumer."""
    monkeypatch.setenv("USER", "alice")
    result = invoke("up", "--init-only", "--no-sync")  # the directory needs no licenses
    assert result.exit_code == 0, result.output
    return home


def grants_in_db(engine):
    with session_scope(session_factory(engine)) as session:
        return [(g.id, g.client_id, g.resource_code, g.items, g.status) for g in session.query(Grant)]


def file_directly(engine, *, now, client_id=DEMO, items=("name", "insured_status")) -> int:
    """An application filed through the service at a fixed time (the CLI files at the real time)."""
    data = ApplicationCreate(
        client_id=client_id,
        resource_code=CONDITIONAL,
        matter_code="M-001",
        purpose="school enrolment",
        legal_basis="local regulation 12",
        items=list(items),
        period_from=date(2026, 1, 1),
        period_to=date(2026, 12, 31),
    )
    calendar = WorkCalendar.from_file(get_settings().holidays_file)
    with session_scope(session_factory(engine)) as session:
        return directory.file_application(session, data=data, calendar=calendar, now=now).id


def row_of(output: str, first_cell: str) -> str:
    """The table row whose first cell is ``first_cell``, wrapped cells joined back into one line."""
    rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in output.splitlines() if "│" in line]
    for index, cells in enumerate(rows):
        if cells[0] != first_cell:
            continue
        columns = [[text] for text in cells]
        for more in rows[index + 1 :]:
            if more[0]:  # the next row starts
                break
            for column, text in zip(columns, more, strict=True):
                column.append(text)
        return " │ ".join(" ".join(part for part in column if part) for column in columns)
    raise AssertionError(f"no row {first_cell!r} in\n{output}")


@pytest.mark.parametrize(
    "command",
    [
        ["directory"],
        ["directory", "list"],
        ["directory", "show"],
        ["directory", "export"],
        ["grants"],
        ["grants", "add"],
        ["grants", "list"],
        ["grants", "revoke"],
        ["applications"],
        ["applications", "list"],
        ["applications", "file"],
        ["applications", "approve"],
        ["applications", "reject"],
        ["tokens"],
        ["tokens", "add"],
        ["tokens", "list"],
        ["tokens", "revoke"],
    ],
)
def test_every_command_has_help(command):
    result = invoke(*command, "--help")
    assert result.exit_code == 0
    assert "Usage" in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["directory", "list"],
        ["directory", "show", UNCONDITIONAL],
        ["directory", "export"],
        ["grants", "list"],
        ["grants", "revoke", "1", "--reason", "r"],
        ["applications", "list"],
        ["applications", "reject", "1", "--reason", "r"],
        ["tokens", "list"],
        ["tokens", "add", "ops", "--role", "admin"],
    ],
)
def test_commands_refuse_an_unmigrated_database(home, args):
    refused(*args, message="exchange db upgrade")


# --- directory -----------------------------------------------------------------------------------


def test_list_shows_the_whole_catalogue(hub):
    result = invoke("directory", "list")
    assert result.exit_code == 0, result.output
    assert "11 of 11" in result.output
    assert row_of(result.output, UNCONDITIONAL).split(" │ ") == [
        UNCONDITIONAL,
        "单位参保登记信息",
        "social_insurance",
        "unconditional (无条件共享)",
        "query, verify",
        "4",
        "1",
    ]
    assert "none" in row_of(result.output, NOT_SHARED)


@pytest.mark.parametrize(
    ("args", "codes", "footer"),
    [
        (["--sharing-type", "unconditional"], [UNCONDITIONAL], "1 of 1"),
        (["--sharing-type", "none"], [NOT_SHARED], "1 of 1"),
        (["--provider", "tax"], ["302001001-000001", "302002001-000001"], "2 of 2"),
        (["--q", "不动产"], ["304001001-000001", "304002001-000001", "304002002-000001"], "3 of 3"),
        (["--q", "303003"], [UNCONDITIONAL], "1 of 1"),
        (["--limit", "2"], ["301001001-000001", "301002001-000001"], "2 of 11"),
        (["--limit", "2", "--offset", "10"], ["304002002-000001"], "1 of 11 (from offset 10)"),
        (["--q", "no such words"], [], "0 of 0"),
    ],
)
def test_list_searches_and_filters(hub, args, codes, footer):
    result = invoke("directory", "list", *args)
    assert result.exit_code == 0, result.output
    assert re.findall(r"\b3\d{8}-\d{6}\b", result.output) == codes
    assert footer in result.output


def test_list_refuses_an_unknown_sharing_type(hub):
    refused("directory", "list", "--sharing-type", "public", message="--sharing-type 'public' is not one of")


def test_show_prints_every_field_and_the_data_items(hub):
    result = invoke("directory", "show", UNCONDITIONAL)
    assert result.exit_code == 0, result.output
    for expected in (
        "单位参保登记信息",
        "social_insurance",
        "某市人力资源和社会保障局",
        "unconditional (无条件共享)",
        "query, verify",
        "application/jwt",
        "不予开放",
        "update cycle",
        "legal basis",
        "publish date",
        "data items",
        "employer_name",
        "si_number",
        "insured_count",
    ):
        assert expected in result.output, expected


def test_show_refuses_an_unknown_code(hub):
    refused("directory", "show", "309009009-000001", message="no resource 309009009-000001 in the directory")


def test_export_jsonld_is_json_and_names_every_shared_resource(hub):
    result = invoke("directory", "export")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    text = json.dumps(document, ensure_ascii=False)
    assert UNCONDITIONAL in text and CONDITIONAL in text


def test_export_turtle_parses_with_rdflib(hub):
    result = invoke("directory", "export", "--format", "turtle")
    assert result.exit_code == 0, result.output
    graph = rdflib.Graph().parse(data=result.stdout, format="turtle")
    dcat = rdflib.Namespace("http://www.w3.org/ns/dcat#")
    assert len(list(graph.subjects(rdflib.RDF.type, dcat.Dataset))) >= 10


def test_export_to_a_file_writes_it_whole(hub, tmp_path):
    target = tmp_path / "catalog.ttl"
    target.write_text("old")
    result = invoke("directory", "export", "--format", "turtle", "--output", str(target))
    assert result.exit_code == 0, result.output
    assert str(target) in result.output and "@prefix" not in result.output
    rdflib.Graph().parse(target, format="turtle")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".catalog")] == []  # no temporary left


def test_export_refuses_an_unknown_format_and_an_unwritable_file(hub, tmp_path):
    refused("directory", "export", "--format", "rdfxml", message="--format 'rdfxml' is not one of")
    refused("directory", "export", "--output", str(tmp_path / "missing" / "c.json"), message="cannot write")


# --- grants --------------------------------------------------------------------------------------


def test_grant_an_unconditional_resource_list_and_revoke(hub, engine):
    added = invoke(
        "grants", "add", DEMO, UNCONDITIONAL, "--fields", "employer_name, status,", "--matter", "M-1",
        "--matter", "M-2", "--from", "2026-01-01",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    assert "granted #1" in added.output
    for expected in ("employer_name, status", "M-1, M-2", "2026-01-01 to 2027-01-01", "admin:cli:alice"):
        assert expected in added.output, expected
    assert grants_in_db(engine) == [(1, DEMO, UNCONDITIONAL, ["employer_name", "status"], "active")]

    listed = invoke("grants", "list", "--client", DEMO)
    line = row_of(listed.output, "1")
    assert "active" in line and "employer_name, status" in line and "admin:cli:alice" in line
    assert "1 grant" in listed.output
    assert "0 grants" in invoke("grants", "list", "--provider", "tax").output
    assert "1 grant" in invoke("grants", "list", "--resource", UNCONDITIONAL).output

    revoked = invoke("grants", "revoke", "1", "--reason", "system retired", "--by", "bob")
    assert revoked.exit_code == 0, revoked.output
    assert "revoked grant #1" in revoked.output and "admin:cli:bob" in revoked.output
    line = row_of(invoke("grants", "list").output, "1")
    assert "revoked" in line and "system retired" in line
    refused("grants", "revoke", "1", "--reason", "again", message="grant 1 was already revoked")


def test_grant_defaults_to_a_year_from_today(hub):
    result = invoke("grants", "add", DEMO, UNCONDITIONAL, "--fields", "status", "--matter", "M-1")
    assert result.exit_code == 0, result.output
    start = today()
    assert f"{start} to {start.replace(year=start.year + 1)}" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([DEMO, CONDITIONAL, "--fields", "name", "--matter", "M-1"], "files an application"),
        ([DEMO, NOT_SHARED, "--fields", "photo", "--matter", "M-1"], "not shared (不予共享)"),
        ([DEMO, UNCONDITIONAL, "--fields", "salary", "--matter", "M-1"], "has no item salary"),
        (["nobody", UNCONDITIONAL, "--fields", "status", "--matter", "M-1"], "no consumer system 'nobody'"),
        ([DEMO, "309009009-000001", "--fields", "status", "--matter", "M-1"], "no resource 309009009-000001"),
        ([DEMO, "not-a-code", "--fields", "status", "--matter", "M-1"], "RESOURCE_CODE: String should match"),
        ([DEMO, UNCONDITIONAL, "--fields", " , ", "--matter", "M-1"], "--fields needs at least one"),
        ([DEMO, UNCONDITIONAL, "--matter", "M-1"], "--fields needs at least one"),
        ([DEMO, UNCONDITIONAL, "--fields", "status"], "--matter is required"),
        (
            [DEMO, UNCONDITIONAL, "--fields", "status", "--matter", "bad code"],
            "invalid matter code(s): bad code",
        ),
        ([DEMO, UNCONDITIONAL, "--fields", "status", "--matter", "M", "--from", "2026-02-30"], "not a date"),
        ([DEMO, UNCONDITIONAL, "--fields", "status", "--matter", "M", "--to", "20260101"], "not a date"),
        (
            [
                DEMO,
                UNCONDITIONAL,
                "--fields",
                "status",
                "--matter",
                "M",
                "--from",
                "2026-05-01",
                "--to",
                "2026-04-01",
            ],
            "--to is before --from",
        ),
        ([DEMO, UNCONDITIONAL, "--fields", "status", "--matter", "M", "--by", " "], "give --by NAME"),
    ],
)
def test_grants_add_refusals(hub, engine, args, message):
    refused("grants", "add", *args, message=message)
    assert grants_in_db(engine) == []


def test_revoke_refusals(hub):
    refused("grants", "revoke", "99", "--reason", "gone", message="no grant 99")
    invoke("grants", "add", DEMO, UNCONDITIONAL, "--fields", "status", "--matter", "M-1")
    refused("grants", "revoke", "1", message="--reason is required")
    refused("grants", "revoke", "1", "--reason", "  ", message="--reason is required")
    assert "active" in row_of(invoke("grants", "list").output, "1")


def test_a_grant_for_another_consumer(hub, tmp_path):
    from certs.keys import KeyAlgorithm, generate_private_key, public_key_pem

    key = tmp_path / "portal.pub.pem"
    key.write_text(public_key_pem(generate_private_key(KeyAlgorithm.ED25519).public_key()))
    assert (
        invoke("consumers", "add", "tax-portal", "--name", "Portal", "--public-key", str(key)).exit_code == 0
    )
    result = invoke("grants", "add", "tax-portal", UNCONDITIONAL, "--fields", "status", "--matter", "M-9")
    assert result.exit_code == 0, result.output
    assert "tax-portal" in row_of(invoke("grants", "list", "--client", "tax-portal").output, "1")


# --- applications --------------------------------------------------------------------------------


def test_file_prints_the_due_date_ten_working_days_on(hub, tmp_path, monkeypatch):
    holidays = tmp_path / "holidays.txt"
    holidays.write_text("# test\n2026-11-25 holiday test day\n2026-12-02 holiday another\n")
    monkeypatch.setenv("EXCHANGE_HOLIDAYS_FILE", str(holidays))
    get_settings.cache_clear()
    calendar = WorkCalendar.from_file(holidays)
    before = calendar.due_on(datetime.now(UTC))
    result = invoke(
        "applications", "file", DEMO, CONDITIONAL, "--matter", "M-001", "--purpose", "school enrolment",
        "--legal-basis", "local regulation 12", "--fields", "name,insured_status",
    )  # fmt: skip
    after = calendar.due_on(datetime.now(UTC))
    assert result.exit_code == 0, result.output
    assert "filed application #1" in result.output
    due = re.search(r"due on (\d{4}-\d{2}-\d{2})", result.output).group(1)
    assert date.fromisoformat(due) in {before, after}
    listed = invoke("applications", "list")
    line = row_of(listed.output, "1")
    assert due in line and "pending" in line and "OVERDUE" not in line
    assert "name, insured_status" in line and "school enrolment" in line and "social_insurance" in line


@pytest.mark.parametrize(
    ("holidays", "due"),
    [
        (None, "2026-12-04"),  # Friday, ten working days: two weeks later
        ("2026-11-25 holiday\n", "2026-12-07"),  # a holiday in between: the Monday after
        ("2026-11-25 holiday\n2026-11-28 workday make-up day\n", "2026-12-04"),  # 调休: Friday again
    ],
)
def test_a_friday_filing_is_due_two_weeks_later_on_the_holiday_calendar(
    hub, engine, tmp_path, monkeypatch, holidays, due
):
    if holidays is not None:
        path = tmp_path / "holidays.txt"
        path.write_text(holidays)
        monkeypatch.setenv("EXCHANGE_HOLIDAYS_FILE", str(path))
        get_settings.cache_clear()
    application_id = file_directly(engine, now=FRIDAY)
    line = row_of(invoke("applications", "list").output, str(application_id))
    assert due in line and "2026-11-20 02:00" in line


def test_overdue_pending_applications_are_marked_and_filtered(hub, engine):
    late = file_directly(engine, now=datetime.now(UTC) - timedelta(days=60))
    fresh = file_directly(engine, now=datetime.now(UTC))
    listed = invoke("applications", "list")
    assert "OVERDUE" in row_of(listed.output, str(late))
    assert "OVERDUE" not in row_of(listed.output, str(fresh))
    assert "2 applications, 1 overdue" in listed.output
    overdue = invoke("applications", "list", "--overdue")
    assert str(late) in [line.split("│")[1].strip() for line in overdue.output.splitlines() if "│" in line]
    assert "1 application, 1 overdue" in overdue.output
    refused("applications", "list", "--overdue", "--status", "approved", message="pending applications only")
    refused("applications", "list", "--status", "waiting", message="--status 'waiting' is not one of")
    # a decided application is never overdue
    assert invoke("applications", "reject", str(late), "--reason", "late").exit_code == 0
    assert "OVERDUE" not in invoke("applications", "list").output
    assert "0 applications" in invoke("applications", "list", "--overdue").output


def test_partial_approval_grants_only_the_approved_items(hub, engine):
    application_id = file_directly(
        engine, now=datetime.now(UTC), items=("name", "insured_status", "employer_name")
    )
    result = invoke(
        "applications", "approve", str(application_id), "--fields", "name", "--reason", "only the name"
    )
    assert result.exit_code == 0, result.output
    assert f"approved application #{application_id}" in result.output
    assert "grant #1 for name (1 of 3 items applied for)" in result.output
    assert "department:cli:alice" in result.output
    assert grants_in_db(engine) == [(1, DEMO, CONDITIONAL, ["name"], "active")]
    line = row_of(invoke("applications", "list", "--status", "approved").output, str(application_id))
    assert "grant #1: name" in line and "only the name" in line
    assert "application" in invoke("grants", "list").output
    refused("applications", "approve", str(application_id), message="was already approved")
    refused("applications", "reject", str(application_id), "--reason", "no", message="was already approved")


def test_approval_of_everything_applied_for(hub, engine):
    application_id = file_directly(engine, now=datetime.now(UTC))
    result = invoke("applications", "approve", str(application_id), "--by", "carol")
    assert result.exit_code == 0, result.output
    assert "for name, insured_status," in result.output and "department:cli:carol" in result.output
    assert grants_in_db(engine) == [(1, DEMO, CONDITIONAL, ["name", "insured_status"], "active")]


def test_approval_refusals(hub, engine):
    application_id = str(file_directly(engine, now=datetime.now(UTC)))
    refused("applications", "approve", "99", message="no application 99")
    refused("applications", "approve", application_id, "--fields", "photo", message="not applied for: photo")
    refused("applications", "approve", application_id, "--fields", ",", message="--fields needs at least one")
    assert grants_in_db(engine) == []
    assert "pending" in row_of(invoke("applications", "list").output, application_id)


def test_rejection_needs_a_reason(hub, engine):
    application_id = str(file_directly(engine, now=datetime.now(UTC)))
    refused("applications", "reject", application_id, message="--reason is required")
    refused("applications", "reject", application_id, "--reason", "   ", message="--reason is required")
    assert "pending" in row_of(invoke("applications", "list").output, application_id)
    result = invoke("applications", "reject", application_id, "--reason", "no legal basis", "--by", "dan")
    assert result.exit_code == 0, result.output
    assert f"rejected application #{application_id} by department:cli:dan: no legal basis" in result.output
    line = row_of(invoke("applications", "list", "--status", "rejected").output, application_id)
    assert "rejected" in line and "no legal basis" in line
    refused("applications", "reject", application_id, "--reason", "again", message="was already rejected")
    refused("applications", "approve", application_id, message="was already rejected")
    assert grants_in_db(engine) == []


FILE = ["--matter", "M-001", "--purpose", "school enrolment", "--legal-basis", "regulation 12"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([DEMO, NOT_SHARED, *FILE, "--fields", "photo"], "not shared (不予共享)"),
        ([DEMO, UNCONDITIONAL, *FILE, "--fields", "status"], "ask the hub administrator for a grant"),
        ([DEMO, CONDITIONAL, *FILE, "--fields", "salary"], "has no item salary"),
        (["nobody", CONDITIONAL, *FILE, "--fields", "name"], "no consumer system 'nobody'"),
        ([DEMO, "309009009-000001", *FILE, "--fields", "name"], "no resource 309009009-000001"),
        ([DEMO, CONDITIONAL, *FILE], "--fields needs at least one"),
        ([DEMO, CONDITIONAL, *FILE[2:], "--fields", "name"], "--matter is required"),
        ([DEMO, CONDITIONAL, *FILE[:2], *FILE[4:], "--fields", "name"], "--purpose is required"),
        ([DEMO, CONDITIONAL, *FILE[:4], "--fields", "name"], "--legal-basis is required"),
        (
            [DEMO, CONDITIONAL, *FILE, "--fields", "name", "--from", "2026-02-30"],
            "--from '2026-02-30' is not a date",
        ),
        (
            [DEMO, CONDITIONAL, *FILE, "--fields", "name", "--from", "2026-06-01", "--to", "2026-05-01"],
            "--to is before --from",
        ),
        (
            [DEMO, CONDITIONAL, "--matter", "M 1", *FILE[2:], "--fields", "name"],
            "--matter: String should match",
        ),
    ],
)
def test_file_refusals(hub, args, message):
    refused("applications", "file", *args, message=message)
    assert "0 applications" in invoke("applications", "list").output


def test_an_unreadable_holidays_file_is_a_clear_error(hub, tmp_path, monkeypatch):
    path = tmp_path / "holidays.txt"
    path.write_text("2026-13-01 holiday\n")
    monkeypatch.setenv("EXCHANGE_HOLIDAYS_FILE", str(path))
    get_settings.cache_clear()
    args = ["applications", "file", DEMO, CONDITIONAL, *FILE, "--fields", "name"]
    refused(*args, message="'2026-13-01' is not a date")


# --- tokens --------------------------------------------------------------------------------------


def test_tokens_add_list_revoke(hub):
    added = invoke("tokens", "add", "ops desk", "--role", "department", "--department", "tax")
    assert added.exit_code == 0, added.output
    assert "issued token #1 for ops desk: department (tax)" in added.output
    assert "shown only now and is not stored" in added.output
    secret = re.search(r"^dxh_\S+$", added.output, re.MULTILINE).group(0)

    listed = invoke("tokens", "list")
    line = row_of(listed.output, "1")
    assert "ops desk" in line and "department" in line and "tax" in line and "active" in line
    assert secret not in listed.output and secret[4:12] not in listed.output

    revoked = invoke("tokens", "revoke", "1")
    assert revoked.exit_code == 0 and "revoked token #1 (ops desk)" in revoked.output
    assert "revoked" in row_of(invoke("tokens", "list").output, "1")
    again = invoke("tokens", "revoke", "1")
    assert again.exit_code == 0 and "was already revoked" in again.output


def test_a_consumer_token_names_its_consumer(hub):
    result = invoke("tokens", "add", "portal", "--role", "consumer", "--client-id", DEMO)
    assert result.exit_code == 0, result.output
    assert f"issued token #1 for portal: consumer ({DEMO})" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ops", "--role", "root"], "unknown role 'root'"),
        (["ops"], "--role is required"),
        (["ops", "--role", "department"], "needs --department"),
        (["ops", "--role", "admin", "--department", "tax"], "only a department token takes it"),
        (["ops", "--role", "department", "--department", "police"], "unknown department 'police'"),
        (["ops", "--role", "consumer", "--client-id", "nobody"], "no consumer system 'nobody'"),
        (["  ", "--role", "admin"], "needs a name"),
    ],
)
def test_tokens_add_refusals(hub, args, message):
    refused("tokens", "add", *args, message=message)
    assert "0 tokens" in invoke("tokens", "list").output


def test_revoking_an_unknown_token_is_refused(hub):
    refused("tokens", "revoke", "7", message="no token 7")
