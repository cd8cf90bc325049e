"""`exchange pki`: the hub root CA, department and consumer certificates, revocation."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.table import Column, Table

from adapters.registry import DEPARTMENTS, get_department
from certs import repository
from certs import service as pki
from certs.keys import KeyAlgorithm, UnusableKey
from certs.store import PkiPaths
from exchange.cli import consumers as consumers_cli
from exchange.cli.context import console, fail, migrated_engine, settings
from exchange.db import migrate
from exchange.db.engine import engine_for, session_factory, session_scope
from exchange.db.roles import RoleError

app = typer.Typer(help="The hub's PKI (X.509).", no_args_is_help=True)


@app.command()
def init(
    algorithm: KeyAlgorithm = typer.Option(
        KeyAlgorithm.ED25519, "--algorithm", help="Key algorithm of the CA and the keys it generates."
    ),
) -> None:
    """Create the hub root CA, the hub's certificate and one certificate per department.

    Idempotent: what exists is kept. Migrates the database first (certificates are recorded there).
    """
    current = settings()
    engine = engine_for(current)
    try:
        migrate.upgrade_database(current, engine)
    except RoleError as exc:
        fail(str(exc))
    paths = PkiPaths(current.pki_dir)
    try:
        with session_scope(session_factory(engine)) as session:
            result = pki.init_pki(
                session,
                paths=paths,
                hub_id=current.hub_id,
                departments=[d for d in DEPARTMENTS.values() if d.id not in current.gateways],
                now=datetime.now(UTC),
                algorithm=algorithm,
                passphrase=current.ca_passphrase(),
            )
    except pki.PkiError as exc:
        fail(str(exc))
    state = "created" if result.created_ca else "already present"
    console.print(f"hub CA {state} ({result.algorithm.value}): {result.ca_path}")
    if result.created_ca is False and result.algorithm != algorithm:
        console.print(f"[yellow]note:[/] the existing CA uses {result.algorithm.value}; kept it")
    for item in result.issued:
        console.print(f"issued certificate: {item}")


@app.command()
def issue(
    department: str | None = typer.Option(None, "--department", help="Department id (new key pair)."),
    consumer: str | None = typer.Option(None, "--consumer", help="Consumer client_id to register."),
    name: str | None = typer.Option(None, "--name", help="Consumer system name (with --consumer)."),
    public_key: Path | None = typer.Option(
        None, "--public-key", dir_okay=False, help="Consumer PEM public key."
    ),
    csr: Path | None = typer.Option(
        None,
        "--csr",
        exists=True,
        dir_okay=False,
        help="PKCS#10 CSR: a consumer's, or a department gateway's (`exchange gateway request`).",
    ),
) -> None:
    """Issue a certificate: a department's (after its previous one was revoked) or a consumer's.

    With --department and --csr the certificate is for the key the department's gateway holds;
    the hub keeps no key of that department.
    """
    if (department is None) == (consumer is None):
        fail("give exactly one of --department ID or --consumer CLIENT_ID")
    if consumer is not None:
        if not name:
            fail("--consumer needs --name")
        consumers_cli.register(consumer, name, public_key, csr)
        return
    assert department is not None
    try:
        target = get_department(department)
    except KeyError as exc:
        fail(str(exc.args[0]))
    current = settings()
    engine = migrated_engine(current)
    paths = PkiPaths(current.pki_dir)
    now = datetime.now(UTC)
    try:
        with session_scope(session_factory(engine)) as session:
            if repository.current_for(session, kind="department", owner_id=target.id) is not None:
                fail(f"department {target.id} has a valid certificate; revoke it first")
            authority = pki.load_authority(paths, current.ca_passphrase())
            public_key = pki.public_key_from_csr(csr.read_bytes()) if csr is not None else None
            pki.retire_department_files(paths, target.id, now=now)
            record = pki.issue_department(session, authority, paths, target, now=now, public_key=public_key)
    except (pki.PkiError, UnusableKey) as exc:
        fail(str(exc))
    console.print(f"issued department certificate {record.serial}: {paths.department_cert(target.id)}")


@app.command()
def revoke(
    serial: str = typer.Argument(..., help="Certificate serial (hex, or an unambiguous 8+ digit prefix)."),
    reason: str = typer.Option(
        "unspecified", "--reason", help=f"One of: {', '.join(pki.REVOCATION_REASONS)}."
    ),
) -> None:
    """Revoke a certificate and publish a new CRL; every hub worker refuses it from its next request."""
    current = settings()
    engine = migrated_engine(current)
    paths = PkiPaths(current.pki_dir)
    try:
        with session_scope(session_factory(engine)) as session:
            authority = pki.load_authority(paths, current.ca_passphrase())
            record = pki.revoke(
                session, authority, paths, serial=serial, reason=reason, now=datetime.now(UTC)
            )
    except pki.PkiError as exc:
        fail(str(exc))
    console.print(f"revoked {record.kind} certificate {record.serial} of {record.owner_id} ({reason})")
    console.print(f"CRL: {paths.crl}")


@app.command()
def verify(
    certificate: Path = typer.Argument(..., exists=True, dir_okay=False, help="PEM certificate file."),
) -> None:
    """Check a certificate's chain to the hub CA, its validity period, profile and revocation.

    Exits 0 only when every check passes.
    """
    current = settings()
    paths = PkiPaths(current.pki_dir)
    if not pki.is_initialised(paths):
        fail(f"no hub CA in {paths.root}; run `exchange pki init` first")
    try:
        report = pki.verify_pem(paths, certificate.read_bytes(), now=datetime.now(UTC))
    except ValueError as exc:
        fail(f"{certificate}: {exc}")
    table = Table("check", "result", "detail")
    for check in report.checks:
        table.add_row(check.name, "[green]ok[/]" if check.ok else "[red]FAILED[/]", check.detail)
    console.print(table)
    if not report.ok:
        fail(f"{certificate} is not valid: {report.first_failure.name}")  # type: ignore[union-attr]
    console.print(f"[green]{certificate} is valid[/]")


@app.command("list")
def list_certificates(
    kind: str | None = typer.Option(None, "--kind", help="ca, hub, department or consumer."),
) -> None:
    """List every certificate the hub CA issued."""
    current = settings()
    engine = migrated_engine(current)
    table = Table(Column("serial", no_wrap=True), "kind", "owner", "algorithm", "not after", "revoked")
    with session_scope(session_factory(engine)) as session:
        for record in repository.list_all(session, kind=kind):
            table.add_row(
                record.serial,
                record.kind,
                record.owner_id,
                record.key_algorithm,
                record.not_after.date().isoformat(),
                f"{record.revoked_at:%Y-%m-%d} {record.revocation_reason}" if record.revoked_at else "",
            )
    console.print(table)


@app.command()
def crl() -> None:
    """Sign and publish a fresh CRL (run daily from cron: a CRL past its nextUpdate fails closed)."""
    current = settings()
    engine = migrated_engine(current)
    paths = PkiPaths(current.pki_dir)
    try:
        with session_scope(session_factory(engine)) as session:
            pki.refresh_crl(
                session, pki.load_authority(paths, current.ca_passphrase()), paths, now=datetime.now(UTC)
            )
    except pki.PkiError as exc:
        fail(str(exc))
    console.print(f"CRL published: {paths.crl}")
