"""`exchange audit verify | checkpoint | show`: exit codes and what an operator reads."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from exchange.cli import audit
from exchange.cli.context import console, errors
from tests.exchange.audit.conftest import build_log, sql

runner = CliRunner()
console.width = errors.width = 200
# What exchange/cli/main.py will do: app.add_typer(audit.app, name="audit").
cli = typer.Typer()
cli.add_typer(audit.app, name="audit")


def invoke(*args: str):
    return runner.invoke(cli, list(args), catch_exceptions=False, env={"COLUMNS": "200"})


@pytest.fixture
def logged(session, signer):
    build_log(session, 40)
    for _ in range(2):
        result = invoke("audit", "checkpoint")
        assert result.exit_code == 0, result.output
    return session


def test_help():
    for command in (["audit"], ["audit", "verify"], ["audit", "checkpoint"], ["audit", "show"]):
        assert invoke(*command, "--help").exit_code == 0


def test_checkpoint_then_verify(logged):
    result = invoke("audit", "verify")
    assert result.exit_code == 0, result.output
    assert "audit log verified: 40 entries, 1 signed checkpoint(s)" in result.output


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        ("UPDATE audit_entries SET reason = 'ok' WHERE \"index\" = 17", "entry 17 was changed"),
        ('DELETE FROM audit_entries WHERE "index" = 3', "entry 3 is missing"),
        (
            'UPDATE audit_entries SET leaf_hash = :junk WHERE "index" = 39',
            "entry 39 had its stored leaf_hash changed",
        ),
        ("UPDATE audit_checkpoints SET root_hash = 'AAAA'", "differ from what was signed"),
    ],
)
def test_verify_exits_1_and_prints_the_first_problem(logged, tamper, message):
    sql(logged, tamper, **({"junk": b"\x01" * 32} if ":junk" in tamper else {}))
    result = invoke("audit", "verify")
    assert result.exit_code == 1
    assert "audit log does not verify" in result.output and message in result.output


def test_verify_of_an_empty_log_passes_with_a_note(engine):
    result = invoke("audit", "verify")
    assert result.exit_code == 0 and "0 entries" in result.output
    assert "no signed checkpoint" in result.output


def test_checkpoint_needs_the_pki_and_entries(engine, initialised):
    result = invoke("audit", "checkpoint")
    assert result.exit_code == 1 and "the audit log is empty" in result.output


def test_checkpoint_without_a_pki_says_what_to_run(engine):
    result = invoke("audit", "checkpoint")
    assert result.exit_code == 1 and "exchange pki init" in result.output


def test_show_an_entry(logged):
    result = invoke("audit", "show", "7")
    assert result.exit_code == 0, result.output
    assert "req-000007" in result.output and "its fields hash to its stored leaf" in result.output
    assert "its fields are included in the checkpoint of size 40" in result.output
    sql(logged, "UPDATE audit_entries SET purpose = 'x' WHERE \"index\" = 7")
    result = invoke("audit", "show", "7")
    assert "do NOT hash" in result.output and "NOT included" in result.output
    assert invoke("audit", "show", "99").exit_code == 1
