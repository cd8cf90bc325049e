"""`exchange audit`: verify the whole log, sign a checkpoint now, show one entry."""

from __future__ import annotations

import base64
import json
import os
from datetime import UTC, datetime

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from certs.keys import UnusableKey, load_private_key
from certs.store import PkiPaths, read_certificate
from exchange.audit import merkle, service
from exchange.cli.context import console, errors, fail, settings
from exchange.cli.options import unit_of_work

app = typer.Typer(help="The audit log (RFC 6962 Merkle tree, signed checkpoints).", no_args_is_help=True)
SHOWN_PROBLEMS = 20


@app.command()
def verify(
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only problems."),
) -> None:
    """Recompute every entry's leaf, every checkpoint's signature and root; exit 0 only when the whole
    log verifies, else print the first entry that was changed, removed, inserted or reordered."""
    current = settings()
    paths = PkiPaths(current.pki_dir)
    ca = read_certificate(paths.ca_cert) if paths.ca_cert.exists() else None
    progress = Progress(
        TextColumn("verifying"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=quiet or not console.is_terminal,
    )
    with progress, unit_of_work(current) as session:
        task = progress.add_task("entries", total=None)
        report = service.verify_log(
            session,
            ca_certificate=ca,
            hub_id=current.hub_id,
            progress=lambda done, total: progress.update(task, completed=done, total=total),
            processes=os.cpu_count() or 1,  # a long log is verified by one process per core
        )
    if ca is None:
        report.notes.append(f"no hub CA certificate at {paths.ca_cert}")
    if report.ok:
        if not quiet:
            console.print(
                f"[green]audit log verified[/]: {report.entries:,} entries, "
                f"{report.checkpoints} signed checkpoint(s)"
            )
            for note in report.notes:
                console.print(Text(f"note: {note}", style="dim"))
        return
    first = report.problems[0]
    errors.print(f"[bold red]audit log does not verify:[/] {escape(first.message)}", highlight=False)
    rest = report.problems[1:]
    for problem in rest[:SHOWN_PROBLEMS]:
        errors.print(Text(f"  also: {problem.message}"), highlight=False)
    if len(rest) > SHOWN_PROBLEMS:
        errors.print(f"  ... and {len(rest) - SHOWN_PROBLEMS} more problems", highlight=False)
    raise typer.Exit(1)


@app.command()
def checkpoint() -> None:
    """Sign a checkpoint of the log as it is now, with the hub key (EXCHANGE_HOME/pki/hub.key)."""
    current = settings()
    paths = PkiPaths(current.pki_dir)
    if not (paths.hub_key.exists() and paths.hub_cert.exists() and paths.ca_cert.exists()):
        fail(f"no hub key and certificate in {paths.root}: run `exchange pki init` first")
    try:
        key = load_private_key(paths.hub_key)
    except (UnusableKey, TypeError) as exc:
        fail(escape(str(exc)))
    chain = [read_certificate(paths.hub_cert), read_certificate(paths.ca_cert)]
    try:
        with unit_of_work(current) as session:
            signed = service.checkpoint(
                session, signer_key=key, signer_chain=chain, hub_id=current.hub_id, now=datetime.now(UTC)
            )
    except service.AuditError as exc:
        fail(escape(str(exc)))
    console.print(f"checkpoint: tree size [bold]{signed.tree_size:,}[/]")
    console.print(f"root hash:  {signed.root_hash}")
    console.print(f"signed at:  {signed.signed_at.isoformat()} by {escape(signed.signer)}")


@app.command()
def show(index: int = typer.Argument(..., min=0, help="The entry's index (0 is the first).")) -> None:
    """Show one entry, whether its fields still hash to its leaf, and the first checkpoint covering it."""
    current = settings()
    with unit_of_work(current) as session:
        entry = service.get_entry(session, index)
        if entry is None:
            fail(f"there is no audit entry {index} (the log holds {service.tree_size(session):,})")
        covering = service.covering_checkpoint(session, index)
        included = None
        if covering is not None and covering.tree_size <= service.tree_size(session):
            proof = service.inclusion(session, index, covering.tree_size)
            included = merkle.verify_inclusion(  # the leaf its fields give now, not the stored one
                index,
                covering.tree_size,
                entry.recomputed or entry.leaf_hash,
                [base64.b64decode(value) for value in proof.inclusion_path],
                base64.b64decode(covering.root_hash),
            )
    table = Table(show_header=False)
    table.add_column("field", no_wrap=True)
    table.add_column("value", overflow="fold")
    for name, value in entry.fields.items():
        shown = value.isoformat() if isinstance(value, datetime) else value
        if isinstance(shown, list):
            shown = json.dumps(shown, ensure_ascii=False)
        table.add_row(name, Text("-" if shown is None else str(shown)))
    table.add_row("leaf_hash", entry.leaf_hash.hex())
    console.print(table)
    if entry.intact:
        console.print("[green]its fields hash to its stored leaf[/]")
    else:
        console.print("[bold red]its fields do NOT hash to its stored leaf[/]")
    if covering is None:
        console.print("no checkpoint covers it yet")
    elif included is None:
        console.print(f"the checkpoint of size {covering.tree_size} covers it, but the log is now shorter")
    else:
        verdict = (
            "[green]its fields are included[/]" if included else "[bold red]its fields are NOT included[/]"
        )
        console.print(
            f"{verdict} in the checkpoint of size {covering.tree_size:,} signed at "
            f"{covering.signed_at.isoformat()}"
        )
