"""Helpers shared by the scripts in benchmarks/: run a command in a child process and measure only that
child (``exchange_command``, the one copy in :mod:`exchange.bench.processes`), report progress."""

from __future__ import annotations

import sys
import time

from exchange.bench.processes import exchange_command

__all__ = ["exchange_command", "progress"]


def progress(message: str) -> None:
    """A stage of a long benchmark, on stderr so that stdout stays the report."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
