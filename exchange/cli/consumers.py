"""`exchange consumers`: register the approval systems allowed to send signed requests."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer
from pydantic import ValidationError
from rich.table import Table

from certs import service as pki
from certs.keys import PublicKey, UnusableKey, load_public_key
from certs.store import PkiPaths
from exchange.cli.context import console, fail, migrated_engine, settings
from exchange.cli.options import invalid
from exchange.consumers import repository
from exchange.consumers import service as consumers
from exchange.consumers.schemas import ConsumerCreate
from exchange.db.engine import session_factory, session_scope

app = typer.Typer(help="Consumer systems (approval systems).", no_args_is_help=True)


def read_public_key(public_key: Path | None, csr: Path | None) -> PublicKey:
    """The consumer's public key from exactly one of a PEM public key or a PKCS#10 CSR."""
    if (public_key is None) == (csr is None):
        fail("give exactly one of --public-key PEM_FILE or --csr CSR_FILE")
    path = public_key or csr
    assert path is not None
    try:
        pem = path.read_bytes()
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror}")
    try:
        return load_public_key(pem) if public_key is not None else pki.public_key_from_csr(pem)
    except UnusableKey as exc:
        fail(f"{path}: {exc}")


def register(client_id: str, name: str, public_key: Path | None, csr: Path | None) -> None:
    try:
        data = ConsumerCreate(client_id=client_id, name=name)
    except ValidationError as exc:
        invalid(exc, {"name": "--name"})
    key = read_public_key(public_key, csr)
    current = settings()
    engine = migrated_engine(current)
    paths = PkiPaths(current.pki_dir)
    try:
        with session_scope(session_factory(engine)) as session:
            created = consumers.register(
                session,
                paths=paths,
                data=data,
                public_key=key,
                passphrase=current.ca_passphrase(),
                now=datetime.now(UTC),
            )
    except (consumers.ConsumerConflict, pki.PkiError) as exc:
        fail(str(exc))
    console.print(f"registered consumer [bold]{created.client_id}[/] ({created.key_algorithm})")
    console.print(f"certificate: {created.certificate_path}")
    console.print(f"kid: {created.kid}")


@app.command("add")
def add(
    client_id: str = typer.Argument(..., help="The consumer's client_id (the `iss` of its requests)."),
    name: str = typer.Option(..., "--name", help="Human-readable name of the system."),
    public_key: Path | None = typer.Option(
        None, "--public-key", help="PEM public key (Ed25519 or P-256).", dir_okay=False
    ),
    csr: Path | None = typer.Option(
        None, "--csr", help="PKCS#10 CSR instead of a public key.", dir_okay=False
    ),
) -> None:
    """Register a consumer: the hub CA certifies its key; prints the certificate path and the kid
    (RFC 7638 thumbprint) the consumer must put in its request headers."""
    register(client_id, name, public_key, csr)


@app.command("list")
def list_consumers() -> None:
    """List registered consumers."""
    current = settings()
    engine = migrated_engine(current)
    table = Table("client_id", "name", "algorithm", "kid", "status")
    with session_scope(session_factory(engine)) as session:
        for consumer in repository.list_all(session):
            table.add_row(
                consumer.client_id, consumer.name, consumer.key_algorithm, consumer.kid, consumer.status
            )
    console.print(table)
