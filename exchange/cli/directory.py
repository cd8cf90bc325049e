"""`exchange directory`: browse the resource catalogue and export it as DCAT-AP."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from directory import service as directory
from directory.schemas import ResourceRead
from exchange.cli.context import console, fail, settings
from exchange.cli.options import cell, choice, refuse, table, unit_of_work
from exchange.config import HUB_NAME

app = typer.Typer(help="The resource directory (catalogue of shared datasets).", no_args_is_help=True)

SHARING_TYPES = ("unconditional", "conditional", "none")
SHARING_LABELS = {
    "unconditional": "[green]unconditional[/] (无条件共享)",
    "conditional": "[yellow]conditional[/] (有条件共享)",
    "none": "[red]none[/] (不予共享)",
}
EXPORT_FORMATS = ("jsonld", "turtle")


# --- commands ------------------------------------------------------------------------------------


@app.command("list")
def list_resources(
    q: str | None = typer.Option(None, "--q", help="Words in the code, name, summary or provider."),
    provider: str | None = typer.Option(None, "--provider", help="Provider department id, e.g. tax."),
    sharing_type: str | None = typer.Option(
        None, "--sharing-type", metavar="[unconditional|conditional|none]", help="Only this sharing type."
    ),
    limit: int = typer.Option(50, "--limit", min=1, max=1000, help="At most this many rows."),
    offset: int = typer.Option(0, "--offset", min=0, help="Skip this many matches first."),
    withdrawn: bool = typer.Option(False, "--withdrawn", help="Include resources no longer declared."),
) -> None:
    """List catalogued resources (the same search as GET /v1/directory/resources)."""
    choice(sharing_type, SHARING_TYPES, "--sharing-type")
    with unit_of_work(settings()) as session:
        items, total = directory.search(
            session,
            q=q,
            provider=provider,
            sharing_type=sharing_type,
            include_withdrawn=withdrawn,
            limit=limit,
            offset=offset,
        )
    rows = table(
        "code", "name", "provider", "sharing type", "access methods", "items", "version", no_wrap=("code",)
    )
    for resource in items:
        name = cell(resource.name)
        if resource.withdrawn:
            name.append(" (withdrawn)", style="red")
        rows.add_row(
            cell(resource.code),
            name,
            cell(resource.provider.id),
            SHARING_LABELS[resource.sharing_type],
            cell(resource.access_methods),
            cell(len(resource.data_items)),
            cell(resource.version),
        )
    console.print(rows)
    shown = f"{len(items)} of {total}"
    console.print(f"{shown} (from offset {offset})" if offset else shown, highlight=False)


@app.command("show")
def show(code: str = typer.Argument(..., help="Resource code, e.g. 303003001-000001.")) -> None:
    """Show one resource with all its catalogue fields and data items, withdrawn ones included."""
    try:
        with unit_of_work(settings()) as session:
            resource = directory.resource_read(directory.get_resource(session, code=code))
    except directory.DirectoryError as exc:
        refuse(exc)
    print_resource(resource)


def print_resource(resource: ResourceRead) -> None:
    title = Text(f"{resource.code}  {resource.name}", style="bold")
    if resource.withdrawn:
        title.append("  (withdrawn)", style="bold red")
    console.print(title)
    fields = Table.grid(padding=(0, 2))
    fields.add_column(style="bold", no_wrap=True)
    fields.add_column()
    provider = resource.provider
    for label, value in (
        ("summary", cell(resource.summary)),
        ("provider", cell(f"{provider.id}  {provider.name}  (USCC {provider.uscc})")),
        ("sharing type", SHARING_LABELS[resource.sharing_type]),
        ("sharing conditions", cell(resource.sharing_conditions or None)),
        ("access methods", cell(resource.access_methods)),
        ("subject types", cell(resource.subject_types)),
        ("update cycle", cell(resource.update_cycle)),
        ("format", cell(resource.format)),
        ("open attribute", cell(resource.open_attribute)),
        ("legal basis", cell(resource.legal_basis or None)),
        ("license type", cell(resource.license_type)),
        ("related resources", cell(resource.related_resources)),
        ("publish date", cell(resource.publish_date)),
        ("version", cell(resource.version)),
        ("updated (UTC)", cell(resource.updated_at)),
        ("last data update (UTC)", cell(resource.last_data_update)),
    ):
        fields.add_row(label, value)
    console.print(fields)
    items = table(
        "name", "title", "type", "standard", "personal", "sensitivity", no_wrap=("name",), title="data items"
    )
    for item in resource.data_items:
        items.add_row(
            cell(item.name),
            cell(item.title),
            cell(item.type),
            cell(item.standard_ref or None),
            "yes" if item.personal else "no",
            cell(item.sensitivity),
        )
    console.print(items)


@app.command("export")
def export(
    format: str = typer.Option("jsonld", "--format", metavar="[jsonld|turtle]", help="JSON-LD or Turtle."),
    output: Path | None = typer.Option(
        None, "--output", dir_okay=False, help="Write to this file (atomically) instead of stdout."
    ),
) -> None:
    """Export the catalogue as DCAT-AP 3.0.1 (what GET /v1/directory/catalog serves)."""
    choice(format, EXPORT_FORMATS, "--format")
    current = settings()
    with unit_of_work(current) as session:
        resources = directory.all_resources(session)
    from directory import dcat  # rdflib is imported only when a catalogue is asked for

    graph = dcat.catalog_graph(
        resources,
        base_url=current.base_url,
        hub_id=current.hub_id,
        hub_name=HUB_NAME,
        modified=datetime.now(UTC),
    )
    if format == "turtle":
        text = dcat.catalog_turtle(graph)
    else:
        text = json.dumps(dcat.catalog_jsonld(graph), ensure_ascii=False, indent=2)
    if not text.endswith("\n"):
        text += "\n"
    if output is None:
        sys.stdout.write(text)  # plain text, not Rich: it is meant to be piped
        sys.stdout.flush()
        return
    try:
        write_atomically(output, text)
    except OSError as exc:
        fail(f"cannot write {escape(str(output))}: {exc.strerror or exc}")
    console.print(f"{len(resources)} resources written to {escape(str(output))} ({format})", highlight=False)


def write_atomically(path: Path, text: str) -> None:
    """Write beside the target, then rename over it: a reader never sees half a catalogue."""
    path = path.expanduser()
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed below, renamed or removed
        "w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False
    )
    try:
        with handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(handle.name, 0o644)
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
