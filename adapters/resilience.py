"""Calling a legacy system safely: a circuit breaker per system and retries only where safe.

Timeouts are enforced by each legacy interface itself (socket, database and file deadlines), which
raise :class:`~adapters.errors.LegacyTimeout`; this module decides what happens next:

- the circuit breaker opens after ``fail_max`` consecutive legacy failures, answers
  ``LegacyUnavailable`` at once while open (the legacy system is not called), and after
  ``reset_timeout`` lets exactly one trial call through: its success closes the circuit, its failure
  opens it for another ``reset_timeout``; the other calls keep failing fast meanwhile;
- retries (tenacity, exponential backoff with a small jitter) happen only for idempotent reads
  that failed fast and retriably (``LegacyUnavailable``: refused, reset, HTTP 503). A timeout is not
  retried: the system already had the whole deadline, and asking again would multiply the
  consumer's wait and the load on a struggling system; the breaker deals with repeated timeouts.
  With ``budget`` set, no retry starts once that many seconds have passed since the first attempt.

Request errors (unknown subject, unknown item) never count against the legacy system: the system
answered, so they count as successes.

Why not pybreaker's ``CircuitBreaker.call``: it holds one lock for the whole guarded call, so the
calls of one legacy system ran one at a time: concurrent requests queued behind a slow one (each
then waiting its own deadline after the previous one's), and "fail fast while open" waited for the
lock. Here the lock guards only the breaker's state, never a legacy call.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import (
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
    stop_never,
    wait_exponential_jitter,
)

from adapters.errors import LegacyFailure, LegacyTimeout, LegacyUnavailable, RequestError

T = TypeVar("T")

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"


class LegacyGuard:
    """One per legacy system and process; safe to share between threads."""

    def __init__(
        self,
        name: str,
        *,
        fail_max: int = 5,
        reset_timeout: float = 30.0,
        retries: int = 2,
        backoff_initial: float = 0.05,
        backoff_max: float = 1.0,
        budget: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if fail_max < 1 or reset_timeout <= 0 or retries < 0:
            raise ValueError("fail_max must be at least 1, reset_timeout positive, retries not negative")
        self.name = name
        self.retries = retries
        self.fail_max = fail_max
        self.reset_timeout = reset_timeout
        self._budget = budget
        # tenacity's jitter defaults to up to 1 s: keep it in proportion to the backoff.
        self._wait = wait_exponential_jitter(
            multiplier=backoff_initial, max=backoff_max, jitter=backoff_initial
        )
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._trial = False  # the half-open trial call is under way
        self._in_flight = 0

    @property
    def state(self) -> str:
        """``closed``, ``open`` or ``half-open`` (a trial call is due or under way)."""
        with self._lock:
            if self._opened_at is None:
                return CLOSED
            if self._trial or self._clock() - self._opened_at >= self.reset_timeout:
                return HALF_OPEN
            return OPEN

    @property
    def in_flight(self) -> int:
        """Legacy calls running now: what a stuck worker would show."""
        with self._lock:
            return self._in_flight

    def call(self, operation: Callable[[], T], *, idempotent: bool = True) -> T:
        """Run ``operation`` through the breaker, retrying fast retriable failures of idempotent reads."""
        attempts = self.retries + 1 if idempotent else 1
        retrying = Retrying(
            stop=stop_after_attempt(attempts)
            | (stop_never if self._budget is None else stop_before_delay(self._budget)),
            wait=self._wait,
            retry=retry_if_exception(_worth_retrying),
            reraise=True,
        )
        return retrying(self._through_breaker, operation)

    def _through_breaker(self, operation: Callable[[], T]) -> T:
        trial = self._admit()
        try:
            result = operation()
        except RequestError:
            self._settle(trial, failed=False)
            raise
        except BaseException:
            self._settle(trial, failed=True)
            raise
        self._settle(trial, failed=False)
        return result

    def _admit(self) -> bool:
        """Let the call through (True when it is the half-open trial) or fail fast."""
        with self._lock:
            trial = False
            if self._opened_at is not None:
                if self._trial or self._clock() - self._opened_at < self.reset_timeout:
                    raise _CircuitOpen(f"{self.name}: circuit open after repeated failures")
                self._trial = trial = True
            self._in_flight += 1
            return trial

    def _settle(self, trial: bool, *, failed: bool) -> None:
        with self._lock:
            self._in_flight -= 1
            if trial:
                self._trial = False
            if not failed:
                self._failures, self._opened_at = 0, None
            elif trial:
                self._opened_at = self._clock()  # the trial failed: open for another reset_timeout
            elif self._opened_at is None:  # a call admitted before the circuit opened may end later
                self._failures += 1
                if self._failures >= self.fail_max:
                    self._opened_at = self._clock()


@dataclass(frozen=True)
class LegacyPolicy:
    """How one process calls its legacy systems (EXCHANGE_LEGACY_* settings, docs/configuration.md).

    ``timeout`` None keeps each adapter's own default deadline.
    """

    timeout: float | None = None
    fail_max: int = 5
    reset_timeout: float = 30.0
    retries: int = 2

    def guard(self, name: str) -> LegacyGuard:
        """A new guard (its own circuit) for the legacy system ``name``; retries stay within the timeout."""
        return LegacyGuard(
            name,
            fail_max=self.fail_max,
            reset_timeout=self.reset_timeout,
            retries=self.retries,
            budget=self.timeout,
        )


class _CircuitOpen(LegacyUnavailable):
    """Not retried: waiting out the breaker is the point."""


def _worth_retrying(exc: BaseException) -> bool:
    return (
        isinstance(exc, LegacyFailure) and exc.retriable and not isinstance(exc, _CircuitOpen | LegacyTimeout)
    )
