"""`exchange bench`: throughput, latency and memory against this machine's limits (docs/performance.md)."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from exchange.bench.report import BenchError
from exchange.bench.suite import PLANS, SECTIONS, Size
from exchange.bench.suite import run as run_suite
from exchange.cli.context import console, errors, fail


def bench(
    size: Size = typer.Option(
        Size.SMALL, "--size", help="small: a smoke run in minutes; large: the published figures (an hour)."
    ),
    only: list[str] = typer.Option(
        [], "--only", help="Run only these sections (repeatable): query, sync, audit. Default: all."
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print one JSON object on stdout, progress on stderr."
    ),
    workdir: Path | None = typer.Option(
        None,
        "--workdir",
        file_okay=False,
        help="Where the throw-away homes and databases go (a fresh temporary directory by default); "
        "large needs about 10 GB.",
    ),
    strict: bool = typer.Option(False, "--strict", help="Exit 3 when a target is not met."),
) -> None:
    """Measure the hub: signed queries against a bare pass-through, the license sync, audit verification.

    Every figure comes with the raw rate of this machine measured in the same run (Ed25519 signatures,
    SHA-256 hashes, SQLite inserts); the issue's targets are ratios and each is reported as met or not.
    Nothing is sent anywhere: the hub, its load generator and its databases run on loopback in
    throw-away homes.
    """
    sections = only or list(SECTIONS)
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        fail(f"unknown section {', '.join(unknown)}: choose from {', '.join(SECTIONS)}")

    def progress(message: str) -> None:
        errors.print(f"[dim]{time.strftime('%H:%M:%S')}[/] {message}", highlight=False)

    plan = PLANS[size]
    progress(
        f"exchange bench --size {size}: query phases of {plan.query_seconds:g} s, sync of "
        f"{plan.sync_licenses[0]:,} and {plan.sync_licenses[1]:,} licenses, "
        f"{plan.audit_entries:,} audit entries"
    )
    try:
        if workdir is not None:
            workdir.mkdir(parents=True, exist_ok=True)
            if any(workdir.iterdir()):
                fail(f"{workdir} is not empty: give an empty or new directory")
            report = run_suite(size, sections, workdir, progress)
        else:
            with tempfile.TemporaryDirectory(prefix="exchange-bench-") as tmp:
                report = run_suite(size, sections, Path(tmp), progress)
    except BenchError as exc:
        fail(str(exc))
    if as_json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        _print(report)
    if strict and not all(target["met"] for target in report["targets"]):
        raise typer.Exit(3)


def _print(report: dict[str, Any]) -> None:
    machine = report["machine"]
    console.print(
        f"[bold]machine[/] {machine['cores']} cores, {machine['cpu']}, Python {machine['python']}: "
        f"Ed25519 {machine['ed25519_sign_per_s']:,.0f} signatures/s and "
        f"{machine['ed25519_verify_per_s']:,.0f} verifications/s, "
        f"SHA-256 {machine['sha256_mb_per_s']:,.0f} MB/s, "
        f"SQLite {machine['db_inserts_per_s']:,.0f} inserts/s (one core each)"
    )
    for name in SECTIONS:
        figures = report.get(name)
        if figures is None:
            continue
        table = Table(title=name, title_justify="left", show_header=False)
        for key, value in figures.items():
            if not isinstance(value, dict | list):
                table.add_row(key, _number(value))
        console.print(table)
    targets = Table(title="targets", title_justify="left")
    for column in ("", "target", "figure", "measured", "limit"):
        targets.add_column(column)
    for target in report["targets"]:
        targets.add_row(
            "[green]met[/]" if target["met"] else "[red]NOT met[/]",
            target["description"],
            target["key"],
            _number(target["value"]),
            f"{target['comparison']} {_number(target['limit'])}",
        )
    console.print(targets)
    console.print(f"[dim]{report['elapsed_s']:.0f} s in all (--size {report['size']})[/]")


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
