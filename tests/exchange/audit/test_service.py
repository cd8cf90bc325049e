"""The audit log service on real SQLite (and PostgreSQL when EXCHANGE_TEST_POSTGRES_URL is set):
appends, checkpoints, proofs, and verify_log naming what a database attacker did."""

from __future__ import annotations

import base64
import json
import threading
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from joserfc import jws as rfc_jws
from joserfc.jwk import ECKey, OKPKey
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from certs import jose
from certs.jwk import public_jwk
from certs.keys import generate_private_key
from exchange.audit import bulk, merkle, repository, service
from exchange.audit.models import AuditEntry, AuditSubtree
from exchange.audit.schemas import canonical_entry
from exchange.db.engine import session_factory, session_scope
from tests.conftest import NOW
from tests.exchange.audit.conftest import Signer, build_log, record, sign, sql
from tests.exchange.audit.tampering import triggers_off


def _leaves(session: Session) -> list[bytes]:
    return repository.leaf_hashes(session, 0, service.tree_size(session))


def _fields(session: Session, index: int) -> dict:
    entry = service.get_entry(session, index)
    assert entry is not None
    return entry.fields


def _b64(values):
    return [base64.b64decode(value) for value in values]


# --- appending ------------------------------------------------------------------------------------


def test_append_numbers_from_zero_and_hashes_the_canonical_entry(session):
    assert [service.append(session, record(i), NOW) for i in range(3)] == [0, 1, 2]
    session.commit()
    entry = session.get(AuditEntry, 1)
    fields = _fields(session, 1)
    assert entry.leaf_hash == merkle.leaf_hash(canonical_entry(fields))
    assert entry.recorded_at == NOW and entry.client_id == "approval-portal"
    assert service.get_entry(session, 1).intact


def test_a_record_may_depend_on_its_own_index(session):
    service.append(session, record(0), NOW)
    index = service.append(session, lambda i: record(1, response_hash=f"evidence-naming-{i}"), NOW)
    assert index == 1 and session.get(AuditEntry, 1).response_hash == "evidence-naming-1"
    assert service.get_entry(session, 1).intact


def test_recorded_at_of_the_record_wins_over_now(session):
    earlier = NOW - timedelta(seconds=3)
    index = service.append(session, record(0, recorded_at=earlier), NOW)
    assert session.get(AuditEntry, index).recorded_at == earlier


def test_a_rolled_back_append_leaves_no_gap(engine: Engine):
    factory = session_factory(engine)
    with session_scope(factory) as session:
        service.append(session, record(0), NOW)
    with pytest.raises(RuntimeError), session_scope(factory) as session:
        service.append(session, record(1), NOW)
        raise RuntimeError("the exchange failed after its audit entry was written")
    with session_scope(factory) as session:
        assert service.append(session, record(2), NOW) == 1


def _concurrent_appends(engine: Engine, threads: int, each: int) -> list[int]:
    factory = session_factory(engine)
    taken: list[int] = []
    failures: list[BaseException] = []
    barrier = threading.Barrier(threads)

    def worker(n: int) -> None:
        try:
            barrier.wait()
            for i in range(each):
                with session_scope(factory) as session:
                    index = service.append(session, record(n * 1000 + i), NOW)
                taken.append(index)
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    workers = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    assert failures == []
    return taken


@pytest.mark.sqlite
def test_concurrent_appends_never_share_an_index_on_sqlite(engine):
    taken = _concurrent_appends(engine, threads=6, each=40)
    assert sorted(taken) == list(range(240))
    with session_factory(engine)() as session:
        assert service.verify_log(session).ok


def test_subtrees_are_cached_as_appends_complete_them(session):
    build_log(session, 600)
    keys = session.execute(select(AuditSubtree.level, AuditSubtree.index)).all()
    assert sorted(keys) == [(8, 0), (8, 1), (9, 0)]
    leaves = _leaves(session)
    assert repository.subtree_hashes(session, [(9, 0)])[(9, 0)] == merkle.root(leaves[:512])


# --- proofs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 2, 7, 256, 300, 513])
def test_proofs_from_the_database_verify(session, size):
    build_log(session, size)
    leaves = _leaves(session)
    root = merkle.root(leaves)
    for index in sorted({0, size // 2, size - 1}):
        proof = service.inclusion(session, index, size)
        assert base64.b64decode(proof.root_hash) == root
        assert base64.b64decode(proof.leaf_hash) == leaves[index]
        assert _b64(proof.inclusion_path) == merkle.inclusion_proof(index, size, leaves)
        assert merkle.verify_inclusion(index, size, leaves[index], _b64(proof.inclusion_path), root)
    for first in sorted({1, size // 3 or 1, size}):
        proof = service.consistency(session, first, size)
        assert base64.b64decode(proof.first_root) == merkle.root(leaves[:first])
        assert merkle.verify_consistency(
            first, size, merkle.root(leaves[:first]), root, _b64(proof.consistency_path)
        )


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: service.inclusion(s, 0, 0), "tree_size must be between 1 and 5"),
        (lambda s: service.inclusion(s, 0, 6), "tree_size must be between 1 and 5"),
        (lambda s: service.inclusion(s, 5, 5), "index must be between 0 and 4"),
        (lambda s: service.consistency(s, 0, 5), "first must be between 1 and second"),
        (lambda s: service.consistency(s, 4, 3), "first must be between 1 and second"),
        (lambda s: service.consistency(s, 1, 6), "second must be between 1 and 5"),
    ],
)
def test_out_of_range_proofs_say_why(session, call, message):
    build_log(session, 5)
    with pytest.raises(service.OutOfRange, match=message):
        call(session)


# --- checkpoints ----------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:EdDSA is deprecated")
def test_a_checkpoint_is_a_jws_an_independent_library_verifies(session, signer: Signer):
    build_log(session, 10)
    signed = sign(session, signer)
    session.commit()
    hub_key = signer.chain[0].public_key()
    jwk = public_jwk(hub_key)
    imported = OKPKey.import_key(jwk) if jwk["kty"] == "OKP" else ECKey.import_key(jwk)
    registry = rfc_jws.JWSRegistry(algorithms=[jose.algorithm_for(hub_key)])
    registry.max_header_length = 4096  # x5c carries two certificates; joserfc's default allows 512 bytes
    verified = rfc_jws.deserialize_compact(signed.jws, imported, registry=registry)
    header = verified.headers()
    assert header["typ"] == "exchange-checkpoint+jwt" and len(header["x5c"]) == 2
    claims = json.loads(verified.payload)
    assert claims == {
        "origin": signer.hub_id,
        "tree_size": 10,
        "root_hash": base64.b64encode(merkle.root(_leaves(session))).decode(),
        "timestamp": signed.timestamp,
    }
    assert signed.signed_at == NOW + timedelta(milliseconds=500)
    assert service.latest_checkpoint(session) == signed
    assert sign(session, signer, seconds=5) == signed  # the same size is not signed twice


def test_checkpoints_need_entries_and_the_chains_own_key(session, signer: Signer):
    with pytest.raises(service.AuditError, match="empty"):
        sign(session, signer)
    build_log(session, 1)
    with pytest.raises(service.AuditError, match="does not belong"):
        service.checkpoint(
            session, signer_key=generate_private_key(), signer_chain=signer.chain, hub_id="x", now=NOW
        )


def test_checkpoint_due(session, signer: Signer):
    def due(seconds: float) -> bool:
        return service.checkpoint_due(
            session, every_entries=10, every_seconds=60, now=NOW + timedelta(seconds=seconds)
        )

    assert not due(0)  # empty log
    build_log(session, 3)
    assert due(0)  # never signed
    sign(session, signer)
    assert not due(3600)  # nothing new
    build_log(session, 2)
    assert not due(10) and due(61)
    for i in range(8):
        service.append(session, record(i), NOW)
    assert due(10)


# --- verify_log: a clean log, then each kind of tampering ----------------------------------------

CHECKPOINTS = (16, 32, 48, 64)


@pytest.fixture
def log(session: Session, signer: Signer) -> Session:
    build_log(session, 64, signer, at=CHECKPOINTS)
    return session


def _verify(session: Session, signer: Signer, **options):
    """verify_log as the CLI runs it, checked to give the very same report as the reference loop alone
    and as small batches do (the fast path handing over to the reference mid-log)."""
    report = service.verify_log(session, ca_certificate=signer.ca, hub_id=signer.hub_id, **options)
    assert _reference_report(session, signer) == report
    for chunk in (4, 16):
        assert (
            service.verify_log(session, ca_certificate=signer.ca, hub_id=signer.hub_id, chunk=chunk) == report
        )
    return report


def _reference_report(session: Session, signer: Signer):
    """verify_log without its fast path: every entry through the reference loop."""
    with mock.patch.object(bulk, "scan", lambda session, *, start, **_: bulk.Block(start, complete=False)):
        return service.verify_log(session, ca_certificate=signer.ca, hub_id=signer.hub_id)


def _renumber(session: Session, at: int, shift: int) -> None:
    """Move every entry from ``at`` on by ``shift`` (through negative numbers: the PK stays unique)."""
    sql(session, 'UPDATE audit_entries SET "index" = -"index" - 1 WHERE "index" >= :at', at=at)
    sql(session, 'UPDATE audit_entries SET "index" = -"index" - 1 + :shift WHERE "index" < 0', shift=shift)


def _forge(session: Session, index: int, rehash: bool = True) -> None:
    fields = {**_fields(session, 3), "index": index, "request_id": "forged", "decision": "allow"}
    leaf = service.leaf_of(fields) if rehash else b"\x00" * 32
    repository.add_entry(session, {**fields, "leaf_hash": leaf})
    session.commit()


def _rehash_all(session: Session) -> None:
    for index in range(service.tree_size(session)):
        entry = service.get_entry(session, index)
        if entry is not None:
            sql(
                session,
                'UPDATE audit_entries SET leaf_hash = :h WHERE "index" = :i',
                h=entry.recomputed,
                i=index,
            )


def test_a_clean_log_verifies(log, signer):
    report = _verify(log, signer)
    assert report.ok, report.problems
    assert report.entries == 64 and report.checkpoints == 4 and report.notes == []


def test_editing_a_field_names_the_entry(log, signer):
    sql(log, "UPDATE audit_entries SET purpose = 'something else' WHERE \"index\" = 17")
    first = _verify(log, signer).first_problem
    assert (first.kind, first.first) == ("changed", 17)
    assert first.message.startswith(
        "entry 17 was changed: its fields do not hash to its leaf, which still matches"
    )


def test_editing_a_field_and_its_leaf_hash_names_the_checkpoint_range(log, signer):
    fields = {**_fields(log, 17), "purpose": "something else"}
    sql(
        log,
        "UPDATE audit_entries SET purpose = 'something else', leaf_hash = :h WHERE \"index\" = 17",
        h=service.leaf_of(fields),
    )
    report = _verify(log, signer)
    first = report.first_problem
    assert (first.kind, first.first, first.last) == ("changed", 16, 31)
    assert "the tree of size 32 does not match the checkpoint of size 32 signed at" in first.message
    assert "while the checkpoint of size 16 matches" in first.message
    assert "entries 16..31 were changed" in first.message


def test_editing_only_the_leaf_hash_is_told_apart(log, signer):
    sql(log, 'UPDATE audit_entries SET leaf_hash = :h WHERE "index" = 40', h=b"\x11" * 32)
    first = _verify(log, signer).first_problem
    assert (first.kind, first.first) == ("changed", 40)
    assert "had its stored leaf_hash changed: its fields are intact" in first.message


def test_deleting_an_entry_names_the_gap(log, signer):
    sql(log, 'DELETE FROM audit_entries WHERE "index" = 40')
    first = _verify(log, signer).first_problem
    assert (first.kind, first.first, first.last) == ("removed", 40, 40)
    assert first.message == "entry 40 is missing: the index jumps from 39 to 41"


def test_deleting_the_last_entries_is_caught_by_the_checkpoint(log, signer):
    sql(log, 'DELETE FROM audit_entries WHERE "index" >= 62')
    first = _verify(log, signer).first_problem
    assert (first.kind, first.first, first.last) == ("removed", 62, 63)
    assert first.message.startswith("entries 62..63 are missing: the checkpoint of size 64 signed at")


def test_deleting_an_entry_and_renumbering_names_it(log, signer):
    sql(log, 'DELETE FROM audit_entries WHERE "index" = 30')
    _renumber(log, 31, -1)
    first = _verify(log, signer).first_problem
    assert (first.kind, first.first) == ("removed", 30)
    assert first.message.startswith("entry 30 was removed: entries 30..62 hold the records logged as 31..63")


def test_inserting_an_entry_names_it(log, signer):
    _renumber(log, 20, +1)
    _forge(log, 20)
    first = _verify(log, signer).first_problem
    assert (first.kind, first.first) == ("inserted", 20)
    assert first.message.startswith("entry 20 was inserted: entries 21..64 hold the records logged as 20..63")


def test_inserting_an_entry_and_rehashing_everything_is_still_found(log, signer):
    _renumber(log, 20, +1)
    _forge(log, 20)
    _rehash_all(log)
    first = _verify(log, signer).first_problem
    assert (first.kind, first.first) == ("inserted", 20)
    assert (
        "without it, and with the entries after it numbered back, the first 32 entries match" in first.message
    )


def test_swapping_two_entries_and_rehashing_is_still_found(log, signer):
    sql(log, 'UPDATE audit_entries SET "index" = -1 WHERE "index" = 50')
    sql(log, 'UPDATE audit_entries SET "index" = 50 WHERE "index" = 53')
    sql(log, 'UPDATE audit_entries SET "index" = 53 WHERE "index" = -1')
    _rehash_all(log)
    first = _verify(log, signer).first_problem
    assert (first.kind, first.first, first.last) == ("reordered", 50, 53)
    assert "exchanging them back makes the first 64 entries match" in first.message


def test_swapping_two_entries_names_both(log, signer):
    sql(log, 'UPDATE audit_entries SET "index" = -1 WHERE "index" = 5')
    sql(log, 'UPDATE audit_entries SET "index" = 5 WHERE "index" = 9')
    sql(log, 'UPDATE audit_entries SET "index" = 9 WHERE "index" = -1')
    first = _verify(log, signer).first_problem
    assert (first.kind, first.first, first.last) == ("reordered", 5, 9)
    assert first.message == "entries 5 and 9 were swapped: each holds the record logged as the other"


def test_swapping_contents_but_not_leaf_hashes_is_found_too(log, signer):
    columns = [name for name in _fields(log, 0) if name != "index"]
    a, b = _fields(log, 33), _fields(log, 34)
    with triggers_off(log):
        for index, source in ((33, b), (34, a)):
            assignments = ", ".join(f"{name} = :{name}" for name in columns)
            params = {name: source[name] for name in columns}
            log.execute(AuditEntry.__table__.update().where(AuditEntry.index == index).values(**params))
    first = _verify(log, signer).first_problem
    assert (first.kind, first.first, first.last) == ("reordered", 33, 34), assignments


def test_a_changed_checkpoint_row_is_caught_by_its_signature(log, signer):
    sql(
        log,
        "UPDATE audit_checkpoints SET root_hash = :r WHERE tree_size = 32",
        r=base64.b64encode(b"\x22" * 32).decode(),
    )
    problems = _verify(log, signer).problems
    assert [p.kind for p in problems] == ["checkpoint"]
    assert "the row's root_hash differ from what was signed" in problems[0].message


def test_a_checkpoint_signed_by_another_key_is_refused(log, signer):
    forged = jose.sign(
        {
            "origin": signer.hub_id,
            "tree_size": 64,
            "root_hash": base64.b64encode(b"\x33" * 32).decode(),
            "timestamp": 1,
        },
        generate_private_key(),
        typ=service.CHECKPOINT_TYP,
        x5c=signer.chain,
    )
    sql(log, "UPDATE audit_checkpoints SET signature = :s WHERE tree_size = 64", s=forged)
    first = _verify(log, signer).first_problem
    assert first.kind == "checkpoint" and "does not verify" in first.message


def test_a_checkpoint_from_a_department_key_is_refused(log, signer, initialised):
    from certs.keys import load_private_key
    from certs.store import read_certificate

    department = [read_certificate(initialised.department_cert("household")), signer.ca]
    key = load_private_key(initialised.department_key("household"))
    root = base64.b64encode(merkle.root(_leaves(log))).decode()
    forged = jose.sign(
        {
            "origin": signer.hub_id,
            "tree_size": 64,
            "root_hash": root,
            "timestamp": int(NOW.timestamp() * 1000),
        },
        key,
        typ=service.CHECKPOINT_TYP,
        x5c=department,
    )
    sql(log, "UPDATE audit_checkpoints SET signature = :s WHERE tree_size = 64", s=forged)
    first = _verify(log, signer).first_problem
    assert first.kind == "checkpoint" and "not by the hub's certificate" in first.message


def test_an_altered_subtree_cache_is_reported(session, signer):
    build_log(session, 300, signer, at=(300,))
    sql(session, 'UPDATE audit_subtrees SET hash = :h WHERE level = 8 AND "index" = 0', h=b"\x44" * 32)
    problems = _verify(session, signer).problems
    assert [(p.kind, p.first, p.last) for p in problems] == [("cache", 0, 255)]


def test_entries_after_the_last_checkpoint_are_noted(session, signer):
    build_log(session, 10, signer, at=(8,))
    report = _verify(session, signer)
    assert report.ok
    assert report.notes == [
        "entries 8..9 are newer than the latest checkpoint (size 8): only their own leaf hashes protect them "
        "until the next one"
    ]


def test_without_the_ca_the_report_says_what_anchored_the_signatures(log):
    report = service.verify_log(log)
    assert report.ok and "not against the hub CA" in report.notes[0]


def test_progress_is_reported(log, signer):
    seen = []
    service.verify_log(log, progress=lambda done, total: seen.append((done, total)), chunk=16)
    assert seen[-1] == (64, 64) and (16, 64) in seen


# --- verify_log's fast path, in batches and in worker processes ----------------------------------


def test_a_clean_log_is_verified_by_the_fast_path_alone(log, signer, monkeypatch):
    def reference(*_):
        raise AssertionError("the reference loop hashed an entry of a clean log")

    monkeypatch.setattr(service, "leaf_of", reference)
    assert service.verify_log(log, ca_certificate=signer.ca, hub_id=signer.hub_id, chunk=16).ok


def test_the_reference_takes_over_at_the_batch_holding_the_first_irregular_entry(log, signer, monkeypatch):
    sql(log, "UPDATE audit_entries SET purpose = 'x' WHERE \"index\" = 40")
    starts = []
    entries = repository.iter_entries
    monkeypatch.setattr(
        repository,
        "iter_entries",
        lambda session, **options: starts.append(options["after"]) or entries(session, **options),
    )
    first = service.verify_log(log, ca_certificate=signer.ca, hub_id=signer.hub_id, chunk=16).first_problem
    assert (first.kind, first.first) == ("changed", 40) and starts == [31]


@pytest.fixture
def small_blocks(monkeypatch) -> list[object]:
    """Worker blocks of 16 entries, so a log of 64 is four of them; the pools verify_log started."""
    monkeypatch.setattr(service, "PARALLEL_BLOCK", 16)
    return _spy_pools(monkeypatch)


def _spy_pools(monkeypatch) -> list[object]:
    pools: list[object] = []
    start = service._pool
    monkeypatch.setattr(service, "_pool", lambda *args: pools.append(start(*args)) or pools[-1])
    return pools


def test_checkpoints_anywhere_in_batches_and_blocks_are_judged_alike(session, signer, small_blocks):
    build_log(session, 100, signer, at=(1, 5, 16, 17, 33, 64, 99))
    report = _verify(session, signer)
    assert report.ok and (report.entries, report.checkpoints) == (100, 7)
    assert report.notes == [
        "entry 99 is newer than the latest checkpoint (size 99): only their own leaf hashes protect them "
        "until the next one"
    ]
    assert _verify(session, signer, processes=2, chunk=4) == report
    assert any(small_blocks)  # it did run in worker processes


@pytest.mark.parametrize(
    "statements",
    [
        ["UPDATE audit_entries SET purpose = 'x' WHERE \"index\" = 40"],
        ['UPDATE audit_entries SET leaf_hash = :h WHERE "index" = 50'],
        ['DELETE FROM audit_entries WHERE "index" = 20', 'DELETE FROM audit_entries WHERE "index" = 63'],
        ['UPDATE audit_entries SET "index" = 70 WHERE "index" = 33'],
        ["UPDATE audit_checkpoints SET root_hash = 'AAAA' WHERE tree_size = 32"],
    ],
)
def test_worker_processes_report_what_the_reference_reports(log, signer, small_blocks, statements):
    for statement in statements:
        sql(log, statement, **({"h": b"\x11" * 32} if ":h" in statement else {}))
    report = _verify(log, signer, processes=2)
    assert not report.ok and report == _verify(log, signer, processes=2, chunk=4)
    assert any(small_blocks)


@pytest.mark.parametrize("block", [64, 256, 512])
def test_worker_processes_check_the_subtree_cache_as_the_reference_does(session, signer, monkeypatch, block):
    monkeypatch.setattr(service, "PARALLEL_BLOCK", block)
    pools = _spy_pools(monkeypatch)
    build_log(session, 1100, signer, at=(700, 1100))
    for level, index in ((8, 1), (9, 0), (10, 0), (8, 3)):
        sql(
            session,
            'UPDATE audit_subtrees SET hash = :h WHERE level = :l AND "index" = :i',
            h=b"D" * 32,
            l=level,
            i=index,
        )
    report = _verify(session, signer, processes=2, chunk=128)
    assert [(p.kind, p.first, p.last) for p in report.problems] == [
        ("cache", 0, 511),
        ("cache", 0, 1023),
        ("cache", 256, 511),
        ("cache", 768, 1023),
    ]
    assert any(pools)


# --- PostgreSQL ------------------------------------------------------------------------------------


def test_postgresql_append_proofs_and_verify(pg_engine, pg_session, signer):
    build_log(pg_session, 300, signer, at=(100, 300))
    leaves = _leaves(pg_session)
    proof = service.inclusion(pg_session, 150, 300)
    assert merkle.verify_inclusion(150, 300, leaves[150], _b64(proof.inclusion_path), merkle.root(leaves))
    assert _verify(pg_session, signer).ok
    assert sorted(_concurrent_appends(pg_engine, threads=6, each=20)) == list(range(300, 420))
    pg_session.rollback()
    assert _verify(pg_session, signer).ok
    sql(pg_session, "UPDATE audit_entries SET purpose = 'x' WHERE \"index\" = 42")
    first = _verify(pg_session, signer).first_problem
    assert (first.kind, first.first) == ("changed", 42)
    sql(pg_session, 'DELETE FROM audit_entries WHERE "index" = 50')
    assert (
        _verify(pg_session, signer).problems[1].message
        == "entry 50 is missing: the index jumps from 49 to 51"
    )


def test_deleting_the_first_entries_and_a_negative_index_are_named(log, signer):
    sql(log, 'DELETE FROM audit_entries WHERE "index" < 2')
    first = _verify(log, signer).first_problem
    assert first.message == "entries 0..1 are missing: the log starts at entry 2"
    _forge(log, -3)
    first = _verify(log, signer).first_problem
    assert (first.kind, first.first) == ("inserted", -3)
    assert first.message == "entry -3 has an index below 0: it was inserted"


def test_a_millisecond_timestamp_survives_the_round_trip():
    moment = NOW + timedelta(milliseconds=64)
    assert service._from_millis(service._millis(moment)) == moment
    assert service._millis(datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)) == 1000


def test_mismatches_beyond_the_limit_are_counted(log, signer, monkeypatch):
    monkeypatch.setattr(service, "MISMATCH_LIMIT", 3)
    sql(log, "UPDATE audit_entries SET purpose = 'x' WHERE \"index\" >= 50")
    problems = _verify(log, signer).problems
    assert [p.first for p in problems if p.kind == "changed"] == [50, 51, 52, 53]
    assert problems[3].message == (
        "11 more entries between 53 and 63 do not hash to their leaves (not analysed one by one)"
    )
