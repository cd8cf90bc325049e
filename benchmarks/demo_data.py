"""Benchmark: `exchange demo-data` streams the synthetic population in bounded memory.

Runs the real command twice in child processes, for a small and a large population, and reports
throughput and peak resident memory of each and their ratios, measured in this one run:

    ./run python benchmarks/demo_data.py                      # 50,000 vs 1,000,000 persons
    ./run python benchmarks/demo_data.py --small 10000 --large 200000

Streaming means the memory ratio stays far below the population ratio (holding everyone would make
them equal). See docs/performance.md for recorded results.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from measure import exchange_command, progress


def run(persons: int, home: Path) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one `exchange demo-data` child."""
    progress(f"demo-data --persons {persons:,}")
    return exchange_command(["demo-data", "--persons", str(persons)], {"EXCHANGE_HOME": str(home)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=50_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    args = parser.parse_args()
    if not 0 < args.small < args.large:
        parser.error("need 0 < --small < --large")
    with tempfile.TemporaryDirectory() as tmp:
        small_s, small_kib = run(args.small, Path(tmp) / "small")
        large_s, large_kib = run(args.large, Path(tmp) / "large")
    print(f"{'persons':>10} {'seconds':>9} {'persons/s':>10} {'µs/person':>10} {'peak RSS MiB':>13}")
    for persons, seconds, kib in ((args.small, small_s, small_kib), (args.large, large_s, large_kib)):
        rate, cost = persons / seconds, seconds / persons * 1e6
        print(f"{persons:>10,} {seconds:>9.1f} {rate:>10,.0f} {cost:>10.1f} {kib / 1024:>13.0f}")
    print(
        f"population ratio {args.large / args.small:.1f}x, peak-memory ratio {large_kib / small_kib:.2f}x, "
        f"per-person time ratio {(large_s / args.large) / (small_s / args.small):.2f}x"
    )


if __name__ == "__main__":
    main()
