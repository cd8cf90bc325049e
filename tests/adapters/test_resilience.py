"""Retries only where safe; the breaker opens on legacy failures, not on bad requests, and recovers."""

from __future__ import annotations

import time

import pytest

from adapters.errors import BadLegacyData, LegacyTimeout, LegacyUnavailable, SubjectNotFound
from adapters.resilience import LegacyGuard


class Flaky:
    """A legacy call that fails ``failures`` times with ``error`` and then answers."""

    def __init__(self, failures: int, error: Exception) -> None:
        self.failures, self.error, self.calls = failures, error, 0

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "answer"


def _guard(**kwargs) -> LegacyGuard:
    return LegacyGuard("test", backoff_initial=0.001, backoff_max=0.002, **kwargs)


def test_idempotent_reads_are_retried_after_retriable_failures():
    call = Flaky(2, LegacyTimeout("slow"))
    assert _guard(retries=2).call(call) == "answer"
    assert call.calls == 3


def test_writes_are_never_retried():
    call = Flaky(1, LegacyUnavailable("down"))
    with pytest.raises(LegacyUnavailable):
        _guard(retries=2).call(call, idempotent=False)
    assert call.calls == 1


def test_garbage_and_missing_subjects_are_not_retried():
    for error in (BadLegacyData("bad row", row="line 7"), SubjectNotFound("no such person")):
        call = Flaky(1, error)
        with pytest.raises(type(error)):
            _guard(retries=3).call(call)
        assert call.calls == 1


def test_breaker_opens_after_consecutive_failures_and_fails_fast():
    guard = _guard(retries=0, fail_max=3, reset_timeout=60)
    down = Flaky(1000, LegacyUnavailable("refused"))
    for _ in range(3):
        with pytest.raises(LegacyUnavailable):
            guard.call(down)
    assert guard.state == "open"
    calls_before = down.calls
    with pytest.raises(LegacyUnavailable, match="circuit open"):
        guard.call(down)
    assert down.calls == calls_before  # the legacy system was not touched


def test_breaker_closes_again_after_a_successful_trial_call():
    guard = _guard(retries=0, fail_max=2, reset_timeout=0.05)
    down = Flaky(2, LegacyUnavailable("refused"))
    for _ in range(2):
        with pytest.raises(LegacyUnavailable):
            guard.call(down)
    assert guard.state == "open"
    time.sleep(0.06)
    assert guard.call(down) == "answer"
    assert guard.state == "closed"


def test_unknown_subjects_do_not_open_the_breaker():
    guard = _guard(retries=0, fail_max=2)
    for _ in range(5):
        with pytest.raises(SubjectNotFound):
            guard.call(Flaky(1, SubjectNotFound("x")))
    assert guard.state == "closed"
