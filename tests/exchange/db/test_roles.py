"""The owner migrates, the hub runs as a role that may only append to the audit log (PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from adapters.population import Population, in_all_systems
from certs.keys import load_private_key
from certs.store import read_certificate
from exchange.api.app import checkpoint_if_due, create_app
from exchange.audit import service
from exchange.bootstrap import bootstrap
from exchange.cli.context import console, errors
from exchange.cli.main import app as cli
from exchange.client import ExchangeClient
from exchange.config import Settings, get_settings
from exchange.db import migrate, roles
from exchange.db.engine import engine_for, make_engine, session_factory
from exchange.db.metadata import metadata
from exchange.demo import DEMO_CLIENT_ID, DEMO_MATTER
from tests.exchange.audit.conftest import Signer, build_log
from tests.pg_roles import RuntimeRole, runtime_role

AUDIT = ("audit_entries", "audit_checkpoints", "audit_subtrees")
ORDINARY = {"SELECT", "INSERT", "UPDATE", "DELETE"}
console.width = errors.width = 200


@pytest.fixture
def role(postgres_url: str) -> Iterator[RuntimeRole]:
    with runtime_role(postgres_url) as role:
        yield role


@pytest.fixture
def signer(initialised, settings) -> Signer:
    """The hub's checkpoint key and chain (as in tests/exchange/audit/conftest.py)."""
    ca = read_certificate(initialised.ca_cert)
    return Signer(
        load_private_key(initialised.hub_key),
        [read_certificate(initialised.hub_cert), ca],
        settings.hub_id,
        ca,
    )


@pytest.fixture
def granted(role: RuntimeRole) -> Iterator[tuple[Engine, Engine]]:
    """(owner engine, runtime engine) on a database migrated by the owner, runtime role granted."""
    owner, runtime = make_engine(role.owner_url), make_engine(role.url)
    migrate.upgrade(owner)
    migrate.grant(owner, role.name)
    yield owner, runtime
    runtime.dispose()
    owner.dispose()


def _refused(engine: Engine, statement: str) -> DBAPIError:
    with engine.connect() as connection, pytest.raises(DBAPIError) as caught:
        connection.execute(text(statement))
    return caught.value


def test_the_runtime_role_may_not_update_delete_or_truncate_the_audit_log(granted, role, signer):
    owner, runtime = granted
    with session_factory(runtime)() as as_hub:
        build_log(as_hub, 300, signer, at=(300,))  # appends, a cached subtree, a checkpoint: as the hub
    for table in AUDIT:
        for statement in (f"UPDATE {table} SET {_column(table)} = {_column(table)}", f"DELETE FROM {table}"):
            error = _refused(runtime, statement)
            assert error.orig.sqlstate == "42501", statement
            assert f"permission denied for table {table}" in str(error.orig), statement
        assert "permission denied" in str(_refused(runtime, f"TRUNCATE {table}").orig)
    assert "permission denied" in str(_refused(runtime, "DELETE FROM audit_lock").orig)
    assert "permission denied" in str(_refused(runtime, "INSERT INTO alembic_version VALUES ('x')").orig)
    with owner.connect() as connection:
        if connection.scalar(text("SHOW server_version_num")) >= "150000":  # PUBLIC may CREATE before 15
            assert "permission denied" in str(_refused(runtime, "CREATE TABLE evil (a int)").orig)
        counts = [connection.scalar(text(f"SELECT count(*) FROM {table}")) for table in AUDIT]
    assert counts == [300, 1, 1]


def test_as_the_runtime_role_appends_checkpoints_proofs_and_verify_work(granted, signer):
    _, runtime = granted
    with session_factory(runtime)() as as_hub:
        build_log(as_hub, 600, signer, at=(100, 600))
        proof = service.inclusion(as_hub, 300, 600)
        assert proof.root_hash == service.latest_checkpoint(as_hub).root_hash
        assert (
            service.consistency(as_hub, 100, 600).first_root
            == service.covering_checkpoint(as_hub, 0).root_hash
        )
        report = service.verify_log(as_hub, ca_certificate=signer.ca, hub_id=signer.hub_id)
    assert report.ok and report.entries == 600 and report.checkpoints == 2


def test_privileges_are_exactly_the_runtime_ones(granted, role):
    owner, _ = granted
    tables = [*metadata.tables, roles.VERSION_TABLE]
    with owner.connect() as connection:
        held = roles.table_privileges(connection, role.name, tables)
        sequences = connection.execute(
            text(
                "SELECT c.relname, has_sequence_privilege(:role, c.oid, 'USAGE'), "
                "has_sequence_privilege(:role, c.oid, 'UPDATE') FROM pg_class c WHERE c.relkind = 'S'"
            ),
            {"role": role.name},
        ).all()
    expected = {table: ORDINARY for table in metadata.tables}
    expected.update({table: {"SELECT", "INSERT"} for table in AUDIT})
    expected["audit_lock"] = {"SELECT", "UPDATE"}
    expected[roles.VERSION_TABLE] = {"SELECT"}
    assert held == expected
    assert sequences and all(usage and not update for _, usage, update in sequences)


def test_granting_again_is_exact_and_later_tables_get_the_ordinary_privileges(granted, role):
    owner, _ = granted
    with owner.begin() as connection:
        connection.execute(text(f'GRANT ALL ON audit_entries TO "{role.name}"'))
        connection.execute(text("CREATE TABLE later_table (id serial PRIMARY KEY)"))
    migrate.grant(owner, role.name)
    with owner.connect() as connection:
        held = roles.table_privileges(connection, role.name, ["audit_entries", "later_table"])
    assert held == {"audit_entries": {"SELECT", "INSERT"}, "later_table": set()}  # revoked: not ours to know
    with owner.begin() as connection:
        connection.execute(text("DROP TABLE later_table"))
        connection.execute(text("CREATE TABLE later_table (id serial PRIMARY KEY)"))  # default privileges
        assert roles.table_privileges(connection, role.name, ["later_table"]) == {"later_table": ORDINARY}
        connection.execute(text("DROP TABLE later_table"))


@pytest.mark.sqlite  # checks the refusals on a SQLite hub database too
def test_granting_refuses_the_owner_a_missing_role_and_sqlite(granted, role, engine):
    owner, _ = granted
    with owner.connect() as connection:
        owner_name = connection.scalar(text("SELECT current_user"))
    with pytest.raises(roles.RoleError, match="privileges would not restrict it"):
        migrate.grant(owner, owner_name)
    with pytest.raises(roles.RoleError, match="does not exist: create it first"):
        migrate.grant(owner, "no_such_role_here")
    with pytest.raises(roles.RoleError, match="PostgreSQL only"):
        migrate.grant(engine, role.name)


@pytest.mark.sqlite  # checks the refusals on a SQLite hub database too
def test_the_admin_url_must_name_the_same_database_and_postgresql(role, home, tmp_path):
    other = role.owner_url.rpartition("/")[0] + "/postgres"
    settings = Settings(home=home, database_url=role.url, database_admin_url=other)
    with pytest.raises(roles.RoleError, match="same host, port and database"):
        migrate.owner_engine(settings)
    with pytest.raises(ValidationError, match="needs PostgreSQL URLs"):
        Settings(home=home, database_admin_url=role.owner_url)  # the database is SQLite
    secret = tmp_path / "admin-url"
    secret.write_text(role.owner_url.replace("postgresql+psycopg://", "postgresql://") + "\n")
    settings = Settings(home=home, database_url=role.url, database_admin_url_file=secret)
    assert settings.database_admin_url == role.owner_url


@pytest.mark.filterwarnings("ignore:EdDSA is deprecated")
def test_the_whole_query_path_runs_as_the_runtime_role(role, home):
    settings = Settings(
        home=home,
        database_url=role.url,
        database_admin_url=role.owner_url,
        demo_grants=True,
        demo_persons=60,
        checkpoint_every_entries=1,
    )
    engine = engine_for(settings)
    try:
        report = bootstrap(settings, engine)  # migrates as the owner, grants, seeds the demo as the hub
    finally:
        engine.dispose()
    assert report.granted is not None and report.granted.role == role.name
    assert report.granted.tables["audit_entries"] == ("SELECT", "INSERT")
    with TestClient(create_app(settings)) as hub:
        assert hub.get("/health").json()["database"]["ok"] is True
        client = ExchangeClient(
            DEMO_CLIENT_ID,
            settings.demo_dir / "consumer.key",
            "http://testserver",
            settings.ca_cert_path,
            transport=hub._transport,
        )
        evidence = client.query(
            "301001001-000001",
            "id_card",
            _citizen(),
            ["name"],
            matter_code=DEMO_MATTER,
            purpose="演示",
            operator_id="clerk-1",
            operator_name="演示窗口",
        )
        assert evidence.data["name"] and evidence.log_index == 0
        assert checkpoint_if_due(hub.app.state.hub) is True
        assert hub.get("/v1/audit/checkpoint").json()["tree_size"] == 1
        proof = hub.get("/v1/audit/proof/inclusion", params={"index": 0, "tree_size": 1})
        assert proof.status_code == 200, proof.text
    runtime = make_engine(role.url)
    try:
        with session_factory(runtime)() as session:
            ca = read_certificate(settings.ca_cert_path)
            assert service.verify_log(session, ca_certificate=ca, hub_id=settings.hub_id).ok
    finally:
        runtime.dispose()


def test_db_upgrade_and_grant_commands(role, home, monkeypatch):
    monkeypatch.setenv("EXCHANGE_DATABASE_URL", role.url)
    monkeypatch.setenv("EXCHANGE_DATABASE_ADMIN_URL", role.owner_url)
    get_settings.cache_clear()
    runner = CliRunner()
    result = runner.invoke(cli, ["db", "upgrade"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert f"database at revision {migrate.head_revision()}" in result.output
    assert f"granted role {role.name} its runtime privileges" in result.output
    assert "audit_entries: SELECT, INSERT only" in result.output
    result = runner.invoke(cli, ["db", "grant", role.name], catch_exceptions=False)
    assert result.exit_code == 0 and "audit_lock: SELECT, UPDATE only" in result.output
    result = runner.invoke(cli, ["db", "grant", "no_such_role_here"], catch_exceptions=False)
    assert result.exit_code == 1 and "does not exist" in result.output


def _column(table: str) -> str:
    return {"audit_entries": "purpose", "audit_checkpoints": "signer", "audit_subtrees": "hash"}[table]


def _citizen() -> str:
    for household in Population(60).households():
        for person in household.members:
            if in_all_systems(person, household):
                return person.citizen_id
    raise AssertionError("nobody is known everywhere in 60 persons")
