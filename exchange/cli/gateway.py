"""`exchange gateway`: run one department's adapter as its own service, holding the department's key.

On the gateway's host (its own ``EXCHANGE_HOME``)::

    exchange gateway request --department tax      # key pair (0600) + CSR
    # on the hub: exchange pki issue --department tax --csr tax.csr
    exchange gateway install --department tax --certificate tax.pem --ca ca.pem
    exchange gateway --department tax --port 8100 --hub-url http://hub:8000

and on the hub ``EXCHANGE_GATEWAYS='{"tax": "http://tax-gateway:8100"}'``. docs/gateways.md.
"""

from __future__ import annotations

from pathlib import Path

import typer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from adapters.registry import DEPARTMENTS, get_department
from certs.authority import department_name
from certs.keys import KeyAlgorithm, generate_private_key, load_private_key, write_private_key
from certs.store import PkiPaths, load_certificate, write_certificate
from certs.verification import CertificateRejected, ensure_valid
from exchange.cli.context import console, fail, settings

app = typer.Typer(
    help="A department gateway: one department's adapter as its own HTTP service, holding its key.",
    invoke_without_command=True,
)


def _department(department_id: str | None) -> str:
    if department_id is None:
        fail(f"give --department (one of: {', '.join(DEPARTMENTS)})")
    try:
        return get_department(department_id).id
    except KeyError as exc:
        fail(str(exc.args[0]))


@app.callback()
def serve(
    ctx: typer.Context,
    department: str | None = typer.Option(None, "--department", help="The department this gateway serves."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8100, "--port", min=1, max=65535, help="TCP port."),
    legacy_dir: Path | None = typer.Option(
        None,
        "--legacy-dir",
        file_okay=False,
        help="Simulated legacy systems (default $EXCHANGE_HOME/legacy).",
    ),
    legacy_url: str | None = typer.Option(
        None,
        "--legacy-url",
        help="A legacy HTTP interface served by another process (`exchange legacy serve`).",
    ),
    hub_url: str | None = typer.Option(
        None,
        "--hub-url",
        help="The hub's URL, to fetch its CRL from (else keep pki/crl.pem current yourself).",
    ),
) -> None:
    """Serve the department's gateway (the hub reaches it through EXCHANGE_GATEWAYS)."""
    if ctx.invoked_subcommand is not None:
        return
    department_id = _department(department)
    current = settings()
    paths = PkiPaths(current.pki_dir)
    missing = [
        str(path)
        for path in (paths.ca_cert, paths.department_key(department_id), paths.department_cert(department_id))
        if not path.exists()
    ]
    if missing:
        fail(
            f"the gateway needs {', '.join(missing)}: run `exchange gateway request --department "
            f"{department_id}`, have the hub issue the certificate, then `exchange gateway install`"
        )
    if hub_url is None and not paths.crl.exists():
        fail(f"no CRL at {paths.crl}: give --hub-url to fetch the hub's, or copy it there")
    import uvicorn

    from exchange.gateways.app import create_gateway_app

    console.print(f"gateway of {department_id} on http://{host}:{port} (hub {current.hub_id})")
    uvicorn.run(
        create_gateway_app(
            current, department_id, legacy_dir=legacy_dir, legacy_url=legacy_url, hub_url=hub_url
        ),
        host=host,
        port=port,
        log_level="info",
    )


@app.command()
def request(
    department: str = typer.Option(..., "--department", help="The department this gateway serves."),
    algorithm: KeyAlgorithm = typer.Option(KeyAlgorithm.ED25519, "--algorithm", help="Key algorithm."),
) -> None:
    """Generate the department's key pair here (0600) and a CSR for the hub CA to certify."""
    department_id = _department(department)
    target = get_department(department_id)
    paths = PkiPaths(settings().pki_dir)
    paths.ensure_dirs()
    key_path = paths.department_key(department_id)
    if key_path.exists():
        fail(f"{key_path} already exists; move it away first to start over")
    key = generate_private_key(algorithm)
    write_private_key(key_path, key)
    digest = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(department_name(target.id, target.name, target.uscc))
        .sign(key, digest)  # type: ignore[arg-type]
    )
    csr_path = key_path.with_suffix(".csr")
    csr_path.write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    console.print(f"private key (stays here): {key_path}")
    console.print(f"CSR: {csr_path}")
    console.print(f"next, on the hub: exchange pki issue --department {department_id} --csr {csr_path.name}")


@app.command()
def install(
    department: str = typer.Option(..., "--department", help="The department this gateway serves."),
    certificate: Path = typer.Option(..., "--certificate", exists=True, dir_okay=False, help="Issued PEM."),
    ca: Path = typer.Option(..., "--ca", exists=True, dir_okay=False, help="The hub CA certificate (PEM)."),
) -> None:
    """Install the certificate the hub issued, after checking it names this department, certifies
    the key generated here and chains to the given hub CA."""
    from datetime import UTC, datetime

    department_id = _department(department)
    paths = PkiPaths(settings().pki_dir)
    key_path = paths.department_key(department_id)
    if not key_path.exists():
        fail(f"no key at {key_path}: run `exchange gateway request --department {department_id}` first")
    try:
        issued, authority = load_certificate(certificate.read_bytes()), load_certificate(ca.read_bytes())
    except ValueError as exc:
        fail(str(exc))
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    ours = load_private_key(key_path).public_key().public_bytes(serialization.Encoding.DER, spki)
    if issued.public_key().public_bytes(serialization.Encoding.DER, spki) != ours:
        fail(f"{certificate} certifies another key than {key_path}")
    names = [str(a.value) for a in issued.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)]
    if names != [department_id]:
        fail(f"{certificate} names {names}, not {department_id}")
    try:
        ensure_valid(issued, ca_certificate=authority, revocation=None, now=datetime.now(UTC))
    except CertificateRejected as exc:
        if not exc.reason.startswith("revocation"):
            fail(f"{certificate} is not usable: {exc.reason}")
    write_certificate(paths.department_cert(department_id), issued)
    write_certificate(paths.ca_cert, authority)
    console.print(f"installed {paths.department_cert(department_id)} and {paths.ca_cert}")
