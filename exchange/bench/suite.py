"""One `exchange bench` run: the sizes, the sections in order, and the report as one JSON object."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from exchange.bench import machine
from exchange.bench.report import Section


class Size(StrEnum):
    SMALL = "small"  # a smoke run: every section works (CI runs this one)
    MEDIUM = "medium"
    LARGE = "large"  # the sizes: 100,000 and 1,000,000 licenses, a million audit entries


@dataclass(frozen=True)
class Plan:
    primitive_seconds: float  # each raw rate of the machine
    query_seconds: float  # each query phase
    sync_licenses: tuple[int, int]  # the two sync sizes compared
    audit_entries: int


PLANS = {
    Size.SMALL: Plan(0.5, 3, (1_000, 10_000), 10_000),
    Size.MEDIUM: Plan(1, 10, (10_000, 100_000), 100_000),
    Size.LARGE: Plan(2, 30, (100_000, 1_000_000), 1_000_000),
}
SECTIONS = ("query", "sync", "audit")


def run(
    size: Size, sections: Sequence[str], workdir: Path, progress: Callable[[str], None]
) -> dict[str, Any]:
    """Measure the machine, then each of ``sections``; the report, targets last."""
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        raise ValueError(f"unknown section {', '.join(unknown)}: choose from {', '.join(SECTIONS)}")
    plan = PLANS[size]
    started = time.perf_counter()
    progress("machine: Ed25519, SHA-256 and SQLite insert rates")
    measured = machine.measure(plan.primitive_seconds, workdir)
    report: dict[str, Any] = {"size": str(size), "machine": asdict(measured)}
    done: list[Section] = []
    for name in SECTIONS:
        if name not in sections:
            continue
        section_dir = workdir / name
        section_dir.mkdir()
        done.append(_section(name, plan, section_dir, progress))
    for section in done:
        report[section.name] = section.figures
    report["targets"] = [target.as_json() for section in done for target in section.targets]
    report["elapsed_s"] = time.perf_counter() - started
    return report


def _section(name: str, plan: Plan, workdir: Path, progress: Callable[[str], None]) -> Section:
    if name == "query":
        from exchange.bench import query

        return query.run(plan.query_seconds, workdir, progress)
    if name == "sync":
        from exchange.bench import sync

        small, large = plan.sync_licenses
        return sync.run(small, large, workdir, progress)
    from exchange.bench import audit

    return audit.run(plan.audit_entries, workdir, progress)
