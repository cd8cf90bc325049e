"""Per-consumer rate limit: a token bucket per client id, in this worker's memory.

Each hub worker keeps its own buckets, so with N workers a consumer may reach N times the rate
in the worst case; the limit protects the legacy systems behind the hub, and the operator sizes
it per worker (docs/configuration.md). The clock is injectable for tests.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class RateLimiter:
    def __init__(
        self, rate_per_second: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate_per_second <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate, self.burst, self._clock = rate_per_second, burst, clock
        self._buckets: dict[str, tuple[float, float]] = {}  # client_id -> (tokens, last refill)
        self._lock = threading.Lock()

    def acquire(self, client_id: str) -> float:
        """0 when the request may go ahead, else the seconds to wait (for ``Retry-After``)."""
        with self._lock:
            now = self._clock()
            tokens, last = self._buckets.get(client_id, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= 1:
                self._buckets[client_id] = (tokens - 1, now)
                return 0.0
            self._buckets[client_id] = (tokens, now)
            return (1 - tokens) / self.rate

    @staticmethod
    def retry_after(wait: float) -> str:
        return str(max(1, math.ceil(wait)))
