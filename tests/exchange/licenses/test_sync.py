"""The license sync against the real simulated departments: sealing, idempotence, versions,
revocation, restart after a crash, and the quality gate stopping planted bad rows."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select

from adapters.base import Change
from adapters.errors import LegacyTimeout
from adapters.registry import DEPARTMENTS
from adapters.simulation import running
from certs.store import PkiPaths
from exchange.bootstrap import bootstrap
from exchange.db.engine import session_factory, session_scope
from exchange.licenses import store
from exchange.licenses.models import License, QuarantinedRecord, SyncRun
from exchange.licenses.runner import sync_departments
from exchange.licenses.sync import finish_run, run_sync, start_run, sync_batch
from exchange.queries.evidence import DepartmentSigner

PUBLIC = "http://127.0.0.1:8000"


def _now() -> datetime:
    return datetime.now(UTC)


def _tax_batch(session, run_id: int, adapter, signer: DepartmentSigner, **options):
    """One batch of the tax department's run, as the pipeline does it."""
    return sync_batch(
        session,
        run_id=run_id,
        adapter=adapter,
        signer=signer,
        department=DEPARTMENTS["tax"],
        now=_now(),
        public_url=PUBLIC,
        **options,
    )


def _licenses(engine) -> set[tuple[str, int, str]]:
    with session_factory(engine)() as session:
        return {(row.identifier, row.version, row.status) for row in session.scalars(select(License))}


def test_a_sync_seals_every_live_certificate_once(booted, engine):
    runs = sync_departments(booted, list(DEPARTMENTS))
    assert all(run.status == "succeeded" for run in runs)
    with session_factory(engine)() as session:
        for run in runs:
            live = session.scalar(
                select(func.count()).select_from(License).where(License.department_id == run.department_id)
            )
            assert live == run.counts["created"] > 0, run.department_id
        resource = session.scalars(
            select(store.Resource).where(store.Resource.code == "301002001-000001")
        ).one()
        assert resource.last_data_update is not None
    index = booted.home / "quality-docs" / "site" / "index.html"
    assert index.exists() and "household" in index.read_text(encoding="utf-8")
    again = sync_departments(booted, ["household"])[0]
    assert again.counts.get("created", 0) == 0  # nothing new after the watermark


def test_the_same_records_twice_make_no_new_license(booted, engine):
    sync_departments(booted, ["tax"])
    before = _licenses(engine)
    sessions = session_factory(engine)
    with running(booted.legacy_dir, ["tax"]) as systems:
        with session_scope(sessions) as session:
            run_id = start_run(session, department_id="tax", now=_now())
            session.get(SyncRun, run_id).watermark_to = None  # read the whole feed again
        signer = DepartmentSigner.load(PkiPaths(booted.pki_dir), "tax")
        with session_scope(sessions) as session:
            outcome = _tax_batch(session, run_id, systems["tax"].adapter(), signer, batch_size=100_000)
            finish_run(session, run_id=run_id, now=_now())
    assert outcome.read > 0 and outcome.unchanged > 0
    assert outcome.created == outcome.superseded == outcome.revoked == outcome.quarantined == 0
    assert _licenses(engine) == before


def test_a_cancellation_at_the_source_revokes_the_license(booted, engine):
    sync_departments(booted, ["real_estate"])
    with running(booted.legacy_dir, ["real_estate"]) as systems:
        cancelled = systems["real_estate"].cancel_one()
    run = sync_departments(booted, ["real_estate"])[0]
    assert run.counts["revoked"] == 1
    with session_factory(engine)() as session:
        row = store.latest(session, license_type="real_estate_title", source_id=cancelled)
        assert row.status == "revoked" and row.revoke_reason
        listed = session.get(store.StatusList, row.status_list_id)
        from exchange.licenses.status_list import StatusList as Bits

        assert Bits.from_bytes(listed.statuses, bits=1).get(row.status_index) == store.INVALID


def test_a_changed_record_is_a_new_version_that_supersedes(booted, engine):
    sync_departments(booted, ["household"])
    with running(booted.legacy_dir, ["household"]) as systems:
        system = systems["household"]
        changes = list(system.adapter().changes_since(None))
        household = next(c.record for c in changes if len(c.record.fields.get("members", [])) > 1)
        member = household.fields["members"][-1]["id_number"]
        system.deregister(member, date(2026, 11, 1))
    run = sync_departments(booted, ["household"])[0]
    assert run.counts["superseded"] >= 1
    with session_factory(engine)() as session:
        versions = session.scalars(
            select(License).where(License.source_id == household.source_id).order_by(License.version)
        ).all()
    assert [v.version for v in versions] == [1, 2]
    assert versions[0].status == "superseded" and versions[0].superseded_by == versions[1].id
    assert versions[1].status == "valid" and versions[1].identifier.endswith(versions[1].identifier[-1])
    assert ".002." in versions[1].identifier


def test_a_run_killed_in_the_middle_resumes_to_exactly_the_right_store(booted, engine, tmp_path):
    sessions = session_factory(engine)
    signer = DepartmentSigner.load(PkiPaths(booted.pki_dir), "tax")
    with running(booted.legacy_dir, ["tax"]) as systems:
        adapter = systems["tax"].adapter()
        with session_scope(sessions) as session:
            run_id = start_run(session, department_id="tax", now=_now())
        with session_scope(sessions) as session:  # one committed batch ...
            _tax_batch(session, run_id, adapter, signer, batch_size=7)
        with pytest.raises(RuntimeError), session_scope(sessions) as session:  # ... then a crash mid-batch
            _tax_batch(session, run_id, adapter, signer, batch_size=7)
            raise RuntimeError("killed")
        resumed = run_sync(
            sessions,
            department=DEPARTMENTS["tax"],
            adapter=adapter,
            signer=signer,
            now=_now,
            public_url=PUBLIC,
            batch_size=7,
        )
    assert resumed.id == run_id and resumed.status == "succeeded"
    with session_factory(engine)() as session:
        rows = session.scalars(select(License)).all()
        sources = [row.source_id for row in rows]
    assert len(sources) == len(set(sources))  # no source sealed twice
    with running(booted.legacy_dir, ["tax"]) as systems:
        live = {
            c.record.source_id for c in systems["tax"].adapter().changes_since(None) if not c.record.cancelled
        }
    assert set(sources) >= live


class Planted:
    """The real adapter's feed with some records made bad in ways the gate must catch."""

    def __init__(self, adapter, spoil) -> None:
        self.adapter, self.spoil = adapter, spoil
        self.department = adapter.department

    def changes_since(self, watermark: str | None) -> Iterator[Change]:
        for position, change in enumerate(self.adapter.changes_since(watermark)):
            record = self.spoil(position, change.record)
            yield Change(record, change.watermark)


def test_the_quality_gate_quarantines_planted_bad_rows(booted, engine):
    def spoil(position, record):
        if position == 0:
            return dataclasses.replace(record, valid_to=date(1990, 1, 1))  # ends before it starts
        if position == 1:
            return dataclasses.replace(record, fields={**record.fields, "amount": "-5.00"})
        return record

    sessions = session_factory(engine)
    signer = DepartmentSigner.load(PkiPaths(booted.pki_dir), "tax")
    with running(booted.legacy_dir, ["tax"]) as systems:
        adapter = Planted(systems["tax"].adapter(), spoil)
        run = run_sync(
            sessions,
            department=DEPARTMENTS["tax"],
            adapter=adapter,
            signer=signer,
            now=_now,
            public_url=PUBLIC,
        )
    assert run.counts["quarantined"] >= 1
    with session_factory(engine)() as session:
        quarantined = session.scalars(select(QuarantinedRecord)).all()
        assert quarantined and all(q.reasons for q in quarantined)
        sealed = {row.source_id for row in session.scalars(select(License))}
    assert not ({q.source_id for q in quarantined} & sealed)


def test_quarantined_records_are_reviewable_by_governance_and_the_department(booted, engine):
    from fastapi.testclient import TestClient

    from exchange.access.service import issue_token
    from exchange.api.app import create_app

    def spoil(position, record):
        return dataclasses.replace(record, valid_to=date(1990, 1, 1)) if position == 0 else record

    sessions = session_factory(engine)
    signer = DepartmentSigner.load(PkiPaths(booted.pki_dir), "tax")
    with running(booted.legacy_dir, ["tax"]) as systems:
        run_sync(
            sessions,
            department=DEPARTMENTS["tax"],
            adapter=Planted(systems["tax"].adapter(), spoil),
            signer=signer,
            now=_now,
            public_url=PUBLIC,
        )
    with session_scope(sessions) as session:
        _, governance = issue_token(session, name="g", role="governance", now=_now())
        _, household = issue_token(
            session, name="h", role="department", department_id="household", now=_now()
        )
    with TestClient(create_app(booted)) as client:
        seen = client.get("/v1/quality/quarantine", headers={"Authorization": f"Bearer {governance}"}).json()
        assert seen and seen[0]["license_type"] == "tax_payment_certificate" and seen[0]["reasons"]
        other = client.get("/v1/quality/quarantine", headers={"Authorization": f"Bearer {household}"}).json()
        assert other == []
        assert client.get("/v1/quality/quarantine").status_code == 401


def test_the_sync_keeps_its_rules_on_postgresql(home, postgres_url):
    """The bulk upsert (RETURNING, row locks) on PostgreSQL: first versions, supersession, revocation."""
    from exchange.config import Settings
    from exchange.db.engine import engine_for

    settings = Settings(home=home, database_url=postgres_url)
    engine = engine_for(settings)
    try:
        bootstrap(settings, engine)
        first = sync_departments(settings, ["household", "real_estate"])
        created = sum(run.counts["created"] for run in first)
        assert created == len(_licenses(engine)) > 0
        with running(settings.legacy_dir, ["household", "real_estate"]) as systems:
            household = next(
                c.record
                for c in systems["household"].adapter().changes_since(None)
                if len(c.record.fields.get("members", [])) > 1
            )
            systems["household"].deregister(household.fields["members"][-1]["id_number"], date(2026, 11, 1))
            cancelled = systems["real_estate"].cancel_one()
        again = {
            run.department_id: run.counts for run in sync_departments(settings, ["household", "real_estate"])
        }
        assert again["household"]["superseded"] >= 1 and again["real_estate"]["revoked"] == 1
        with session_factory(engine)() as session:
            old, new = session.scalars(
                select(License).where(License.source_id == household.source_id).order_by(License.version)
            ).all()
            assert (old.status, old.superseded_by, new.status) == ("superseded", new.id, "valid")
            revoked = store.latest(session, license_type="real_estate_title", source_id=cancelled)
            assert revoked.status == "revoked"
            from exchange.licenses.status_list import StatusList as Bits

            for row, expected in ((old, store.INVALID), (revoked, store.INVALID), (new, store.VALID)):
                listed = session.get(store.StatusList, row.status_list_id)
                assert Bits.from_bytes(listed.statuses, bits=1).get(row.status_index) == expected
            indexes = session.execute(select(License.status_list_id, License.status_index)).all()
            assert len(indexes) == len(set(indexes))  # no status entry handed out twice
        unchanged = sync_departments(settings, ["household", "real_estate"])
        assert all(run.counts.get("created", 0) == 0 for run in unchanged)
    finally:
        engine.dispose()


class Flaky:
    """The real adapter's feed behind a legacy system that times out ``failures`` times first."""

    def __init__(self, adapter, failures: int) -> None:
        self.adapter, self.failures, self.calls = adapter, failures, 0
        self.department = adapter.department

    def changes_since(self, watermark: str | None) -> Iterator[Change]:
        self.calls += 1
        if self.calls <= self.failures:
            raise LegacyTimeout("ingest backlog: 3 files left after the 10.0s deadline")
        yield from self.adapter.changes_since(watermark)


def test_a_busy_legacy_system_is_waited_for_then_the_sync_goes_on(booted, engine, caplog):
    signer = DepartmentSigner.load(PkiPaths(booted.pki_dir), "tax")
    with running(booted.legacy_dir, ["tax"]) as systems:
        flaky = Flaky(systems["tax"].adapter(), failures=2)
        run = run_sync(
            session_factory(engine),
            department=DEPARTMENTS["tax"],
            adapter=flaky,
            signer=signer,
            now=_now,
            public_url=PUBLIC,
        )
    assert run.status == "succeeded" and run.counts["created"] > 0
    assert flaky.calls > 2
    assert "tax: legacy system not ready (ingest backlog" in caplog.text


def test_a_legacy_system_down_longer_than_the_patience_fails_the_run(booted, engine):
    sessions = session_factory(engine)
    signer = DepartmentSigner.load(PkiPaths(booted.pki_dir), "tax")
    with running(booted.legacy_dir, ["tax"]) as systems:
        flaky = Flaky(systems["tax"].adapter(), failures=10**6)
        with session_scope(sessions) as session:
            run_id = start_run(session, department_id="tax", now=_now())
        with pytest.raises(LegacyTimeout, match="ingest backlog"), session_scope(sessions) as session:
            _tax_batch(session, run_id, flaky, signer, patience=1.0)
    assert flaky.calls >= 2  # retried before giving up
    with session_factory(engine)() as session:
        assert session.get(SyncRun, run_id).watermark_to is None  # nothing moved
        assert session.scalar(select(func.count()).select_from(License)) == 0
