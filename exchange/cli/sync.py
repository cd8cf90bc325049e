"""`exchange sync [DEPARTMENT]`: the license sync without Airflow, with progress."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from adapters.registry import DEPARTMENTS
from adapters.simulation import read_manifest
from certs.store import PkiPaths
from exchange.cli.context import console, fail, migrated_engine, settings
from exchange.licenses.lease import SyncBusy
from exchange.licenses.runner import sync_departments
from exchange.licenses.sync import BATCH_SIZE, BatchOutcome


def sync(
    department: str | None = typer.Argument(
        None, help="household, tax, social_insurance or real_estate; all if omitted."
    ),
    batch_size: int = typer.Option(
        BATCH_SIZE,
        "--batch-size",
        min=1,
        max=BATCH_SIZE,
        help="Changes per committed batch (a killed sync resumes after its last committed batch).",
    ),
) -> None:
    """Sync e-licenses from one department (or all four) into the store, sealing new versions."""
    current = settings()
    chosen = [department] if department else list(DEPARTMENTS)
    unknown = [d for d in chosen if d not in DEPARTMENTS]
    if unknown:
        fail(f"unknown department {unknown[0]!r}; known: {', '.join(sorted(DEPARTMENTS))}")
    migrated_engine(current).dispose()
    local = [d for d in chosen if d not in current.gateways]  # the others sync through their gateway
    if local and read_manifest(current.legacy_dir) is None:
        fail(f"no simulated departments in {current.legacy_dir}: run `exchange up` or `exchange demo-data`")
    paths = PkiPaths(current.pki_dir)
    keyless = [d for d in local if not paths.department_key(d).exists()]
    if keyless:
        fail(
            f"no sealing key for {', '.join(keyless)} in {current.pki_dir}: "
            "run `exchange pki init` (or `exchange up`)"
        )
    totals: dict[str, dict[str, int]] = {d: {} for d in chosen}
    # The change feed's length is unknown until it ends: the bar pulses, the counts say how far it got.
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
    ) as progress:
        tasks = {d: progress.add_task(f"{d}: waiting", total=None) for d in chosen}

        def report(department_id: str, outcome: BatchOutcome) -> None:
            seen = totals[department_id]
            for name in ("read", "created", "superseded", "revoked", "quarantined", "unchanged"):
                seen[name] = seen.get(name, 0) + getattr(outcome, name)
            progress.update(tasks[department_id], description=f"{department_id}: " + _summary(seen))

        try:
            runs = sync_departments(current, chosen, progress=report, batch_size=batch_size)
        except SyncBusy as exc:  # another process (an Airflow task) is on it: nothing was changed
            fail(str(exc))
        except Exception as exc:  # the run is recorded as failed; say why in one line
            fail(f"sync failed: {type(exc).__name__}: {exc}")
        for task in tasks.values():  # the feeds have ended: full bars
            progress.update(task, total=1, completed=1)
    for run in runs:
        console.print(f"[green]✓[/] {run.department_id}: run {run.id}, {_summary(run.counts)}")


def _summary(counts: dict[str, int]) -> str:
    return (
        f"{counts.get('read', 0)} read, {counts.get('created', 0)} sealed, "
        f"{counts.get('superseded', 0)} superseded, {counts.get('revoked', 0)} revoked, "
        f"{counts.get('quarantined', 0)} quarantined"
    )
