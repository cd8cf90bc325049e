"""`exchange demo-data` and `exchange demo`: the synthetic population behind the simulated departments."""

from __future__ import annotations

from datetime import date

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from adapters.population import DEFAULT_AS_OF, DEFAULT_SEED
from adapters.registry import DEPARTMENTS
from adapters.simulation import generate, read_manifest
from exchange.cli.context import console, fail, settings

app = typer.Typer(help="Try the hub with the simulated departments.", no_args_is_help=True)


def demo_data(
    persons: int = typer.Option(
        2000, "--persons", min=1, max=10_000_000, help="How many persons (1,000,000 takes a few minutes)."
    ),
    seed: int = typer.Option(DEFAULT_SEED, "--seed", help="Same seed, same population, on any machine."),
    as_of: str = typer.Option(
        DEFAULT_AS_OF.isoformat(),
        "--as-of",
        help="The day the legacy systems were last updated (YYYY-MM-DD).",
    ),
    department: list[str] = typer.Option(
        [], "--department", help="Only these departments (repeatable); default all four."
    ),
) -> None:
    """Generate the synthetic population into the four simulated legacy systems (replaces what is there)."""
    try:
        as_of_date = date.fromisoformat(as_of)
    except ValueError:
        fail(f"--as-of {as_of!r} is not a date in the form YYYY-MM-DD")
    if as_of_date > date.today():
        fail(f"--as-of {as_of} is in the future")
    root = settings().legacy_dir
    columns = (
        TextColumn("[bold]generating"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("persons"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    # A console of its own on stderr: stdout stays clean, the shared console's state untouched.
    with Progress(*columns, console=Console(stderr=True), transient=False) as progress:
        task = progress.add_task("persons", total=persons)
        try:
            manifest = generate(
                root,
                persons,
                seed=seed,
                as_of=as_of_date,
                departments=department or None,
                progress=lambda done: progress.update(task, completed=done),
            )
        except ValueError as exc:
            fail(str(exc))
    console.print(
        f"{manifest.persons:,} persons and {manifest.employers:,} employers "
        f"(seed {manifest.seed}, as of {manifest.as_of}) written to {root}"
    )


@app.command()
def subjects(
    count: int = typer.Option(10, "--count", min=1, max=100_000, help="How many ID numbers to print."),
) -> None:
    """Print citizen ID numbers that every simulated department knows, one a line."""
    root = settings().legacy_dir
    manifest = read_manifest(root)
    if manifest is None:
        fail(f"no simulated legacy data in {root}: run `exchange up` or `exchange demo-data` first")
    absent = sorted(set(DEPARTMENTS) - set(manifest.departments))
    if absent:
        fail(f"the demo data in {root} lacks {', '.join(absent)}: run `exchange demo-data` for all four")
    printed = 0
    for citizen_id in manifest.population().known_everywhere():
        print(citizen_id)
        printed += 1
        if printed == count:
            return
    fail(f"only {printed} persons of {manifest.persons:,} are known to every department; generate more")
