"""One syncer per department: a run held by a live process is refused, a dead holder's run is resumed."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from adapters.registry import DEPARTMENTS
from adapters.simulation import running
from certs.store import PkiPaths
from exchange.cli.context import console, errors
from exchange.cli.main import app
from exchange.db.engine import session_factory, session_scope
from exchange.licenses import tasks
from exchange.licenses.lease import LEASE, Holder, SyncBusy
from exchange.licenses.models import License, SyncRun
from exchange.licenses.sync import run_sync, start_run
from exchange.queries.evidence import DepartmentSigner

PUBLIC = "http://127.0.0.1:8000"
console.width = errors.width = 200


def _now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
def live_process() -> Iterator[int]:
    """A real process on this host that stays alive during the test: a holder that is not us."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])  # noqa: S603
    try:
        yield child.pid
    finally:
        child.kill()
        child.wait()


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])  # noqa: S603
    child.wait()
    return child.pid


def _held_run(engine, holder: Holder, *, heartbeat: datetime | None = None) -> int:
    with session_scope(session_factory(engine)) as session:
        run_id = start_run(session, department_id="tax", now=heartbeat or _now(), holder=holder)
    return run_id


def _sync_tax(booted, engine):
    signer = DepartmentSigner.load(PkiPaths(booted.pki_dir), "tax")
    with running(booted.legacy_dir, ["tax"]) as systems:
        return run_sync(
            session_factory(engine),
            department=DEPARTMENTS["tax"],
            adapter=systems["tax"].adapter(),
            signer=signer,
            now=_now,
            public_url=PUBLIC,
        )


def _licenses(engine) -> int:
    with session_factory(engine)() as session:
        return session.scalar(select(func.count()).select_from(License)) or 0


def test_a_run_held_by_a_live_process_is_refused_and_left_to_it(booted, engine, live_process):
    holder = Holder("airflow license_sync task (tax)", Holder.this_process("x").host, live_process)
    run_id = _held_run(engine, holder)
    with pytest.raises(SyncBusy, match=rf"held by airflow license_sync task \(tax\) \(pid {live_process}"):
        _sync_tax(booted, engine)
    with session_factory(engine)() as session:
        run = session.get(SyncRun, run_id)
        assert run.status == "running" and run.holder_pid == live_process  # not closed, not taken
    assert _licenses(engine) == 0
    with pytest.raises(SyncBusy):  # Airflow's start task is refused too, and retries later
        tasks.start("tax")


def test_the_run_of_a_holder_that_died_is_resumed_by_the_next_sync(booted, engine):
    dead = Holder("exchange sync", Holder.this_process("x").host, _dead_pid())
    run_id = _held_run(engine, dead)
    resumed = _sync_tax(booted, engine)
    assert resumed.id == run_id and resumed.status == "succeeded"
    assert resumed.holder == "exchange sync" and resumed.holder_pid != dead.pid
    assert _licenses(engine) == resumed.counts["created"] > 0


def test_a_holder_on_another_host_is_trusted_until_its_lease_runs_out(booted, engine):
    elsewhere = Holder("airflow license_sync task (tax)", "airflow-worker-1", 4242)
    _held_run(engine, elsewhere)
    with pytest.raises(SyncBusy, match="pid 4242 on airflow-worker-1"):
        _sync_tax(booted, engine)
    with session_scope(session_factory(engine)) as session:
        run = session.scalars(select(SyncRun)).one()
        run.heartbeat_at = _now() - LEASE - timedelta(seconds=1)  # no batch committed for a whole lease
    assert _sync_tax(booted, engine).status == "succeeded"


def test_exchange_sync_says_who_holds_the_department(booted, engine, live_process):
    _held_run(engine, Holder("airflow license_sync task (tax)", Holder.this_process("x").host, live_process))
    result = CliRunner().invoke(app, ["sync", "tax"])
    assert result.exit_code == 1
    assert "held by airflow license_sync task (tax)" in result.output
    assert _licenses(engine) == 0


def test_exchange_sync_without_sealing_keys_says_how_to_make_them(booted, engine):
    PkiPaths(booted.pki_dir).department_key("tax").unlink()
    result = CliRunner().invoke(app, ["sync", "tax"])
    assert result.exit_code == 1
    assert "no sealing key for tax" in result.output and "exchange pki init" in result.output
