"""The partitioning plan of docs/operations.md runs as written (PostgreSQL).

The SQL blocks marked ``<!-- sql: NAME -->`` in docs/operations.md are read from the document and run
with 512-entry partitions instead of 2^27 (and a first boundary of 1024 instead of 2^30): converting
``audit_entries`` into a partitioned table while the hub's runtime role appends, the monthly
procedure, the append-only triggers on every partition, the runtime role's privileges, proofs and
checkpoints after the oldest partition is detached, and a full verify once it is attached again.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from exchange.audit import merkle, repository, service
from exchange.db import migrate, roles
from exchange.db.engine import make_engine, session_factory
from tests.conftest import NOW
from tests.exchange.audit.conftest import Signer, record, sign
from tests.pg_roles import RuntimeRole, runtime_role

OPERATIONS = Path(__file__).resolve().parents[3] / "docs" / "operations.md"
SIZES = {"134217728": "512", "1073741824": "1024"}  # production partition size and first boundary


def sql_block(name: str) -> str:
    found = re.search(
        rf"<!-- sql: {name} -->\n```sql\n(.*?)```", OPERATIONS.read_text(encoding="utf-8"), re.S
    )
    assert found, f"docs/operations.md has no SQL block {name!r}"
    return re.sub("|".join(SIZES), lambda match: SIZES[match.group(0)], found.group(1))


@pytest.fixture
def role(postgres_url: str) -> Iterator[RuntimeRole]:
    with runtime_role(postgres_url) as role:
        yield role


@pytest.fixture
def engines(role: RuntimeRole) -> Iterator[tuple[Engine, Engine]]:
    owner, runtime = make_engine(role.owner_url), make_engine(role.url)
    migrate.upgrade(owner)
    migrate.grant(owner, role.name)
    yield owner, runtime
    runtime.dispose()
    owner.dispose()


def _script(engine: Engine, sql: str) -> None:
    """Run SQL as psql would: several statements, its own BEGIN and COMMIT, CALL outside a transaction."""
    raw = engine.raw_connection()
    try:
        raw.driver_connection.autocommit = True
        raw.driver_connection.execute(sql)
    finally:
        raw.close()


def _append(runtime: Engine, signer: Signer, start: int, end: int, signed_at: tuple[int, ...] = ()) -> None:
    with session_factory(runtime)() as session:
        for i in range(start, end):
            service.append(session, record(i), NOW + timedelta(seconds=i))
            if i + 1 in signed_at:
                sign(session, signer, seconds=i)
        session.commit()


def _refusal(engine: Engine, statement: str) -> str:
    with engine.connect() as connection, pytest.raises(DBAPIError) as caught:
        connection.execute(text(statement))
    return str(caught.value.orig).splitlines()[0]


def _partitions(owner: Engine) -> list[tuple[str, int, int]]:
    with owner.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT partition, bound_from, bound_to FROM exchange_audit_partition_bounds ORDER BY bound_from"
            )
        )
        return [tuple(row) for row in rows]


def test_the_documented_partitioning_keeps_the_log_append_only_and_provable(engines, role, signer):
    owner, runtime = engines
    _append(runtime, signer, 0, 700, signed_at=(256, 512, 700))
    for block in ("bound", "convert", "bounds", "procedure"):
        _script(owner, sql_block(block))
    _script(owner, "CALL exchange_audit_partitions(512, 2)")
    assert _partitions(owner) == [
        ("audit_entries_p00000", 0, 1024),
        ("audit_entries_p00002", 1024, 1536),
        ("audit_entries_p00003", 1536, 2048),
    ]
    migrate.grant(owner, role.name)
    _append(runtime, signer, 700, 1700, signed_at=(1024, 1700))  # through the parent, across partitions
    _script(owner, "CALL exchange_audit_partitions(512, 2, interval '0 seconds', 'pg_default')")
    assert [name for name, _, _ in _partitions(owner)][-2:] == [
        "audit_entries_p00004",
        "audit_entries_p00005",
    ]
    migrate.grant(owner, role.name)

    with owner.connect() as connection:
        held = roles.table_privileges(connection, role.name, ["audit_entries", "audit_entries_p00002"])
    assert held == {"audit_entries": {"SELECT", "INSERT"}, "audit_entries_p00002": set()}
    assert "permission denied for table audit_entries" in _refusal(
        runtime, "UPDATE audit_entries SET purpose = 'x'"
    )
    for statement, table, event in (
        ("UPDATE audit_entries SET purpose = 'x' WHERE \"index\" = 5", "audit_entries_p00000", "UPDATE"),
        ("UPDATE audit_entries_p00002 SET purpose = 'x'", "audit_entries_p00002", "UPDATE"),
        ("DELETE FROM audit_entries_p00003", "audit_entries_p00003", "DELETE"),
        ("TRUNCATE audit_entries_p00002", "audit_entries_p00002", "TRUNCATE"),
        ("TRUNCATE audit_entries_p00005", "audit_entries_p00005", "TRUNCATE"),
        ("TRUNCATE audit_entries", "audit_entries", "TRUNCATE"),
    ):
        assert _refusal(owner, statement) == f"{table} is append-only: {event} refused", statement

    with session_factory(runtime)() as session:
        report = service.verify_log(session, ca_certificate=signer.ca, hub_id=signer.hub_id)
        assert report.ok and (report.entries, report.checkpoints) == (1700, 5)
        leaves = repository.leaf_hashes(session, 0, 1024)
    with owner.connect() as connection:
        subtree = connection.execute(text(sql_block("subtree"))).mappings().one()
    assert (subtree["level"], subtree["index"]) == (10, 0)
    assert bytes.fromhex(subtree["subtree_hash"]) == merkle.root(leaves)

    with owner.begin() as connection:  # archive the oldest partition
        connection.execute(text("ALTER TABLE audit_entries DETACH PARTITION audit_entries_p00000"))
    _append(runtime, signer, 1700, 1800, signed_at=(1800,))
    with session_factory(runtime)() as session:
        latest = service.latest_checkpoint(session)
        proof = service.inclusion(session, 1500, 1800)
        path = [base64.b64decode(node) for node in proof.inclusion_path]
        root = base64.b64decode(latest.root_hash)
        assert latest.tree_size == 1800
        assert merkle.verify_inclusion(1500, 1800, base64.b64decode(proof.leaf_hash), path, root)
        consistency = service.consistency(session, 1024, 1800)
        assert consistency.first_root == service.covering_checkpoint(session, 1023).root_hash
        with pytest.raises(merkle.ProofError):
            service.inclusion(session, 10, 1800)  # an archived entry: its proof needs the archive
        report = service.verify_log(session, ca_certificate=signer.ca, hub_id=signer.hub_id)
        assert report.first_problem.message.startswith("entries 0..1023 are missing")

    with owner.begin() as connection:  # restored from the archive
        connection.execute(
            text(
                "ALTER TABLE audit_entries ATTACH PARTITION audit_entries_p00000 FOR VALUES FROM (0) TO (1024)"
            )
        )
    with session_factory(runtime)() as session:
        report = service.verify_log(session, ca_certificate=signer.ca, hub_id=signer.hub_id)
    assert report.ok and (report.entries, report.checkpoints) == (1800, 6)
