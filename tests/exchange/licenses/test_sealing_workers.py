"""Sealing in worker processes (EXCHANGE_SYNC_WORKERS): the credentials verify with our code and the
reference implementation, in order; refusals and dead workers are reported; a sync through the
workers, reading ahead, stores what a sync in one process stores."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sd_jwt.verifier import SDJWTVerifier
from sqlalchemy import delete, select

from adapters.registry import DEPARTMENTS
from adapters.simulation import running
from certs.store import PkiPaths, read_certificate
from exchange.db.engine import session_factory
from exchange.licenses import sync as license_sync
from exchange.licenses.models import License, QualityResult, QuarantinedRecord, StatusList, SyncRun
from exchange.licenses.sealing import BackgroundSealer, ToSeal, verify_credential
from exchange.licenses.sealing_workers import SealingWorkerError, SealingWorkers
from exchange.licenses.sync import run_sync
from exchange.queries.evidence import DepartmentSigner
from tests.conftest import NOW
from tests.exchange.licenses.test_sealing import STATUS_URI, always_valid, issuer_key, record_of

PUBLIC = "http://127.0.0.1:8000"


def items_for(license_type: str, count: int, **changes) -> list[ToSeal]:
    """``count`` licenses to seal, each with its own status index (its position)."""
    return [
        ToSeal(None, record_of(license_type, **changes), STATUS_URI, index)  # type: ignore[arg-type]
        for index in range(count)
    ]


@pytest.fixture
def workers(initialised):
    with SealingWorkers(initialised.root, ["household", "tax"], processes=2, min_batch=1) as started:
        yield started


def test_the_workers_seal_credentials_that_verify_in_order(workers, initialised):
    ca = read_certificate(initialised.ca_cert)
    sealer = workers.sealer("household")
    assert isinstance(sealer, BackgroundSealer) and sealer.department_id == "household"
    credentials = sealer.seal_licenses(items_for("household_register", 9), now=NOW)
    assert workers.started == 2 and len(credentials) == 9
    for index, credential in enumerate(credentials):
        report = verify_credential(credential, ca_certificate=ca, now=NOW, status_of=always_valid)
        assert report.ok, report.checks
        assert report.claims["status"]["status_list"] == {"idx": index, "uri": STATUS_URI}  # order kept
        assert SDJWTVerifier(credential, issuer_key).get_verified_payload() == report.claims
    # Workers seal with the department's own key: the same signature check as a seal in this process.
    here = DepartmentSigner.load(initialised, "household").seal_licenses(
        items_for("household_register", 1), now=NOW
    )
    assert credentials[0].split(".")[0] == here[0].split(".")[0]  # same header: typ, alg, kid, x5c


def test_start_sealing_returns_at_once_and_the_credentials_come_later(workers):
    sealer = workers.sealer("tax")
    pending = sealer.start_sealing(items_for("tax_payment_certificate", 4), now=NOW)
    other = workers.sealer("household").start_sealing(items_for("household_register", 3), now=NOW)
    assert len(other()) == 3  # the first request was collected before the second went out
    assert len(pending()) == 4 and pending() == pending()


def test_a_record_the_key_refuses_is_a_value_error_and_the_workers_carry_on(workers):
    sealer = workers.sealer("household")
    bad = items_for("household_register", 3) + items_for("household_register", 3, issuer_code="X")
    with pytest.raises(ValueError, match="issuer_code"):
        sealer.seal_licenses(bad, now=NOW)
    assert len(sealer.seal_licenses(items_for("household_register", 5), now=NOW)) == 5


def test_small_batches_are_sealed_in_this_process_without_starting_workers(initialised):
    with SealingWorkers(initialised.root, ["household"], processes=2) as workers:
        credentials = workers.sealer("household").seal_licenses(items_for("household_register", 3), now=NOW)
        assert len(credentials) == 3 and workers.started == 0


def test_a_dead_worker_fails_the_batch_and_says_so(workers):
    sealer = workers.sealer("household")
    sealer.seal_licenses(items_for("household_register", 2), now=NOW)
    worker = workers._workers[0]._process  # our own child
    worker.kill()
    worker.wait()
    with pytest.raises(SealingWorkerError, match="gone"):
        sealer.seal_licenses(items_for("household_register", 4), now=NOW)
    with pytest.raises(SealingWorkerError):  # and stays failed: the sync run fails and is resumed later
        sealer.seal_licenses(items_for("household_register", 4), now=NOW)


def test_a_worker_without_the_key_does_not_start(initialised, tmp_path):
    with (
        SealingWorkers(tmp_path, ["household"], processes=1, min_batch=1) as workers,
        pytest.raises(SealingWorkerError, match="did not start"),
    ):
        workers.submit("household", items_for("household_register", 1), now=NOW)
    with pytest.raises(KeyError):
        SealingWorkers(initialised.root, ["household"], processes=1).sealer("tax")


def _stored(engine) -> list[tuple]:
    """What a sync stores, but the credentials' salts and times: per license, its row."""
    with session_factory(engine)() as session:
        rows = session.scalars(select(License).order_by(License.id)).all()
        return [
            (r.identifier, r.source_id, r.source_version, r.version, r.status, r.record, r.status_list_id)
            + (r.status_index, r.holder_code, r.superseded_by is not None, r.revoked_at is not None)
            for r in rows
        ]


def _forget_every_sync(engine) -> None:
    with session_factory(engine)() as session, session.begin():
        for model in (License, QualityResult, QuarantinedRecord, SyncRun, StatusList):
            session.execute(delete(model))


def test_a_sync_through_the_workers_reading_ahead_stores_what_one_process_stores(booted, engine, monkeypatch):
    taken: list[int | None] = []
    take = license_sync.ReadAhead.take

    def spied(self, watermark):
        changes = take(self, watermark)
        taken.append(None if changes is None else len(changes))
        return changes

    monkeypatch.setattr(license_sync.ReadAhead, "take", spied)
    sessions = session_factory(engine)
    paths = PkiPaths(booted.pki_dir)

    def sync_tax(sealer) -> None:
        with running(booted.legacy_dir, ["tax"]) as systems:
            run = run_sync(
                sessions,
                department=DEPARTMENTS["tax"],
                adapter=systems["tax"].adapter(),
                signer=sealer,
                now=lambda: datetime.now(UTC),
                public_url=PUBLIC,
                batch_size=7,
            )
        assert run.status == "succeeded" and run.counts["batches"] > 2

    with SealingWorkers(booted.pki_dir, ["tax"], processes=2, min_batch=1) as workers:
        sync_tax(workers.sealer("tax"))
        assert workers.started == 2
    pooled = _stored(engine)
    assert any(taken), "the batches after the first were read while the one before was sealed"
    ca = read_certificate(paths.ca_cert)
    with session_factory(engine)() as session:
        for row in session.scalars(select(License)):
            report = verify_credential(
                row.credential, ca_certificate=ca, now=datetime.now(UTC), status_of=None
            )
            assert report.ok and report.claims["status"]["status_list"]["idx"] == row.status_index

    _forget_every_sync(engine)
    taken.clear()
    sync_tax(DepartmentSigner.load(paths, "tax"))
    assert not any(taken)  # a sealer in this process: nothing is read ahead
    assert _stored(engine) == pooled and pooled


def test_the_runner_seals_with_workers_when_the_setting_asks(booted, engine, monkeypatch):
    from exchange.licenses import sealing_workers
    from exchange.licenses.runner import connected, sync_departments

    monkeypatch.setattr(sealing_workers, "MIN_POOLED_BATCH", 1)
    with connected(booted.model_copy(update={"sync_workers": 2}), ["household"]) as departments:
        assert isinstance(departments["household"][1], BackgroundSealer)
    with connected(booted.model_copy(update={"sync_workers": 1}), ["household"]) as departments:
        assert isinstance(departments["household"][1], DepartmentSigner)
    runs = sync_departments(booted.model_copy(update={"sync_workers": 2}), list(DEPARTMENTS))
    assert all(run.status == "succeeded" and run.counts["created"] > 0 for run in runs)


def test_a_batch_whose_answers_were_not_all_read_retires_the_workers(workers, monkeypatch):
    """Answers left in a pipe would be read as the next batch's: the workers are stopped instead."""
    from exchange.licenses import sealing_workers

    sealer = workers.sealer("household")
    pending = sealer.start_sealing(items_for("household_register", 4), now=NOW)

    def interrupted(_busy):
        raise KeyboardInterrupt

    monkeypatch.setattr(sealing_workers, "_collect", interrupted)
    with pytest.raises(KeyboardInterrupt):
        pending()
    assert workers.started == 0
    with pytest.raises(SealingWorkerError, match="interrupted"):
        sealer.seal_licenses(items_for("household_register", 4), now=NOW)
