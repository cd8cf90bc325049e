"""Benchmark: the license sync streams 1,000,000 licenses end to end in bounded memory.

For a small and a large synthetic population (about two licenses a person), each in its own fresh
home and SQLite database, it generates the legacy data, then times the real ``exchange sync`` of all
four departments in a child process: extract, validate (GX), seal (SD-JWT VC), upsert. Reported from
this one run:

- licenses/s over the pipeline (the sync runs' own start and finish, without process start-up),
  and its ratio to the raw Ed25519 signing rate of this machine measured alongside;
- the child's peak RSS, and the ratios of time and memory between the two sizes.

    ./run python benchmarks/license_sync.py                        # ~100,000 vs ~1,000,000 licenses
    ./run python benchmarks/license_sync.py --small 5000 --large 50000 --json

See docs/performance.md for recorded results.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from measure import exchange_command, progress
from sqlalchemy import func, select

from exchange.config import Settings
from exchange.db.engine import engine_for, session_factory
from exchange.licenses.models import License, SyncRun

LICENSES_PER_PERSON = 2.0  # about: everyone is registered, most pay tax or contributions, some own homes
MEMORY_TARGET_MIB = 1024  # issue 9: peak RSS <= 1 GiB at 1,000,000 licenses
SCALING_TARGET = 1.1  # issue 9: time(1,000,000) / time(100,000) <= 11, i.e. per-license time ratio <= 1.1
SIGNING_TARGET = 0.3  # issue 9: licenses/s >= 0.3 x raw Ed25519 signatures/s on the same cores


@dataclass
class SyncFigures:
    persons: int
    licenses: int
    read: int
    quarantined: int
    pipeline_s: float
    wall_s: float
    peak_rss_mb: float

    @property
    def licenses_per_s(self) -> float:
        return self.licenses / self.pipeline_s


def raw_sign_per_s(seconds: float = 2.0, size: int = 1500) -> float:
    """Ed25519 signatures per second over inputs the size of a license's signing input, one core."""
    key = Ed25519PrivateKey.generate()
    message = os.urandom(size)
    count, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        for _ in range(200):
            key.sign(message)
        count += 200
    return count / elapsed


def measure(persons: int, home: Path) -> SyncFigures:
    env = {"EXCHANGE_HOME": str(home)}
    progress(f"{persons:,} persons: generating the legacy data")
    exchange_command(["demo-data", "--persons", str(persons)], env)
    exchange_command(["db", "upgrade"], env)
    exchange_command(["pki", "init"], env)
    progress(f"{persons:,} persons: exchange sync (all four departments)")
    wall, peak_kib = exchange_command(["sync"], env)
    engine = engine_for(Settings(home=home))
    try:
        with session_factory(engine)() as session:
            runs = session.scalars(select(SyncRun)).all()
            licenses = session.scalar(select(func.count()).select_from(License)) or 0
            figures = SyncFigures(
                persons=persons,
                licenses=licenses,
                read=sum(run.counts.get("read", 0) for run in runs),
                quarantined=sum(run.counts.get("quarantined", 0) for run in runs),
                pipeline_s=sum((run.finished_at - run.started_at).total_seconds() for run in runs),
                wall_s=wall,
                peak_rss_mb=peak_kib / 1024,
            )
    finally:
        engine.dispose()
    progress(f"{persons:,} persons: {figures.licenses:,} licenses in {figures.pipeline_s:.1f} s")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=50_000, help="persons (about 100,000 licenses)")
    parser.add_argument("--large", type=int, default=500_000, help="persons (about 1,000,000 licenses)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args()
    if not 0 < args.small < args.large:
        parser.error("need 0 < --small < --large")
    if any(os.environ.get(name) for name in ("EXCHANGE_DATABASE_URL", "EXCHANGE_DATABASE_URL_FILE")):
        parser.error("each size needs its own fresh SQLite database: unset EXCHANGE_DATABASE_URL(_FILE)")
    progress("raw Ed25519 signing rate")
    signing = raw_sign_per_s()
    with tempfile.TemporaryDirectory() as tmp:
        small = measure(args.small, Path(tmp) / "small")
        large = measure(args.large, Path(tmp) / "large")
    scaling = (large.pipeline_s / small.pipeline_s) / (large.licenses / small.licenses)
    ratio = large.licenses_per_s / signing
    targets = {
        f"peak RSS at {large.licenses:,} licenses <= {MEMORY_TARGET_MIB} MiB": (
            large.peak_rss_mb <= MEMORY_TARGET_MIB
        ),
        f"per-license time ratio large/small <= {SCALING_TARGET}": scaling <= SCALING_TARGET,
        f"licenses/s >= {SIGNING_TARGET} x raw Ed25519 signatures/s": ratio >= SIGNING_TARGET,
    }
    if args.json:
        report = {
            "sync": {
                "licenses_per_s": large.licenses_per_s,
                "raw_sign_per_s": signing,
                "ratio": ratio,
                "peak_rss_mb": large.peak_rss_mb,
                "scaling": scaling,
                "small": asdict(small),
                "large": asdict(large),
            },
            "targets": targets,
        }
        print(json.dumps(report, indent=2))
        return
    print(
        f"{'persons':>9} {'licenses':>10} {'quarantined':>11} {'pipeline s':>10} {'licenses/s':>10} "
        f"{'µs/license':>10} {'wall s':>7} {'peak RSS MiB':>12}"
    )
    for f in (small, large):
        print(
            f"{f.persons:>9,} {f.licenses:>10,} {f.quarantined:>11,} {f.pipeline_s:>10.1f} "
            f"{f.licenses_per_s:>10,.0f} {f.pipeline_s / f.licenses * 1e6:>10.0f} {f.wall_s:>7.1f} "
            f"{f.peak_rss_mb:>12.0f}"
        )
    print(
        f"licenses ratio {large.licenses / small.licenses:.1f}x, per-license time ratio {scaling:.2f}x, "
        f"peak-memory ratio {large.peak_rss_mb / small.peak_rss_mb:.2f}x"
    )
    print(f"raw Ed25519 {signing:,.0f} signatures/s on one core; sync/raw ratio {ratio:.3f}")
    for name, met in targets.items():
        print(f"  {'met    ' if met else 'NOT met'}  {name}")


if __name__ == "__main__":
    main()
