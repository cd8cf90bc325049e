"""Calling a legacy system safely: a circuit breaker per system and retries only where safe.

Timeouts are enforced by each legacy interface itself (socket, database and file deadlines), which
raise :class:`~adapters.errors.LegacyTimeout`; this module decides what happens next. Retries use
exponential backoff with jitter (tenacity) and only for idempotent reads that failed retriably; the
breaker (pybreaker) opens after ``fail_max`` consecutive legacy failures, answers
``LegacyUnavailable`` at once while open, and lets one trial call through after ``reset_timeout``.
Request errors (unknown subject, unknown item) never count against the legacy system.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import pybreaker
from tenacity import (
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from adapters.errors import LegacyFailure, LegacyUnavailable, RequestError

T = TypeVar("T")


class LegacyGuard:
    """One per legacy system and process."""

    def __init__(
        self,
        name: str,
        *,
        fail_max: int = 5,
        reset_timeout: float = 30.0,
        retries: int = 2,
        backoff_initial: float = 0.05,
        backoff_max: float = 1.0,
    ) -> None:
        self.name = name
        self.retries = retries
        self._wait = wait_exponential_jitter(multiplier=backoff_initial, max=backoff_max)
        self._breaker = pybreaker.CircuitBreaker(
            fail_max=fail_max,
            reset_timeout=reset_timeout,
            exclude=[lambda exc: isinstance(exc, RequestError)],
            name=name,
        )

    @property
    def state(self) -> str:
        """``closed``, ``open`` or ``half-open``."""
        return str(self._breaker.current_state)

    def call(self, operation: Callable[[], T], *, idempotent: bool = True) -> T:
        """Run ``operation`` through the breaker, retrying retriable failures of idempotent reads."""
        attempts = self.retries + 1 if idempotent else 1
        retrying = Retrying(
            stop=stop_after_attempt(attempts),
            wait=self._wait,
            retry=retry_if_exception(_worth_retrying),
            reraise=True,
        )
        return retrying(self._through_breaker, operation)

    def _through_breaker(self, operation: Callable[[], T]) -> T:
        try:
            return self._breaker.call(operation)
        except pybreaker.CircuitBreakerError:
            raise _CircuitOpen(f"{self.name}: circuit open after repeated failures") from None


class _CircuitOpen(LegacyUnavailable):
    """Not retried: waiting out the breaker is the point."""


def _worth_retrying(exc: BaseException) -> bool:
    return isinstance(exc, LegacyFailure) and exc.retriable and not isinstance(exc, _CircuitOpen)
