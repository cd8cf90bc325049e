"""Retries only where safe; the breaker opens on legacy failures, not on bad requests, and recovers."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from adapters.errors import BadLegacyData, LegacyTimeout, LegacyUnavailable, SubjectNotFound
from adapters.resilience import LegacyGuard, LegacyPolicy


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
    call = Flaky(2, LegacyUnavailable("refused"))
    assert _guard(retries=2).call(call) == "answer"
    assert call.calls == 3


def test_timeouts_are_not_retried_the_deadline_was_the_consumers_whole_wait():
    call = Flaky(1, LegacyTimeout("no answer within 5 s"))
    with pytest.raises(LegacyTimeout):
        _guard(retries=3).call(call)
    assert call.calls == 1


def test_no_retry_starts_once_the_budget_is_spent():
    def slow_refusal() -> str:
        time.sleep(0.06)
        raise LegacyUnavailable("refused after a while")

    guard = _guard(retries=5, budget=0.1)
    started = time.monotonic()
    with pytest.raises(LegacyUnavailable):
        guard.call(slow_refusal)
    assert time.monotonic() - started < 0.3  # two attempts at most, not six


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


def test_calls_of_one_system_run_concurrently_not_one_after_another():
    """pybreaker's call held one lock across the guarded call: eight slow calls took eight times one."""
    guard = _guard(retries=0)
    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: guard.call(lambda: time.sleep(0.3) or "answer"), range(8)))
    assert results == ["answer"] * 8
    assert time.monotonic() - started < 1.2
    assert guard.in_flight == 0


def test_an_open_circuit_fails_fast_even_while_a_slow_call_is_under_way():
    guard = _guard(retries=0, fail_max=1, reset_timeout=60)
    release = threading.Event()

    def hanging() -> str:
        release.wait(5)
        raise LegacyTimeout("no answer")

    with ThreadPoolExecutor(1) as pool:
        slow = pool.submit(guard.call, hanging)
        while guard.in_flight == 0:
            time.sleep(0.005)
        with pytest.raises(LegacyUnavailable, match="refused"):
            guard.call(Flaky(1, LegacyUnavailable("refused")))  # opens the circuit
        started = time.monotonic()
        with pytest.raises(LegacyUnavailable, match="circuit open"):
            guard.call(lambda: "never called")
        assert time.monotonic() - started < 0.1
        release.set()
        with pytest.raises(LegacyTimeout):
            slow.result()
    assert guard.state == "open" and guard.in_flight == 0


def test_half_open_lets_exactly_one_trial_call_through():
    now = [0.0]
    guard = LegacyGuard("test", fail_max=1, reset_timeout=10, retries=0, clock=lambda: now[0])
    with pytest.raises(LegacyUnavailable):
        guard.call(Flaky(1, LegacyUnavailable("refused")))
    assert guard.state == "open"
    now[0] = 10.0
    assert guard.state == "half-open"
    trial_started, finish = threading.Event(), threading.Event()

    def trial() -> str:
        trial_started.set()
        finish.wait(5)
        return "answer"

    with ThreadPoolExecutor(1) as pool:
        result = pool.submit(guard.call, trial)
        trial_started.wait(5)
        with pytest.raises(LegacyUnavailable, match="circuit open"):
            guard.call(lambda: "a second trial")  # one trial at a time
        finish.set()
        assert result.result() == "answer"
    assert guard.state == "closed"


def test_a_failed_trial_opens_the_circuit_for_another_reset_timeout():
    now = [0.0]
    guard = LegacyGuard("test", fail_max=2, reset_timeout=10, retries=0, clock=lambda: now[0])
    down = Flaky(1000, LegacyUnavailable("refused"))
    for _ in range(2):
        with pytest.raises(LegacyUnavailable):
            guard.call(down)
    now[0] = 10.0
    with pytest.raises(LegacyUnavailable, match="refused"):
        guard.call(down)  # the trial reached the system and failed
    assert guard.state == "open"
    now[0] = 19.9
    with pytest.raises(LegacyUnavailable, match="circuit open"):
        guard.call(down)
    assert down.calls == 3


def test_backoff_jitter_stays_in_proportion():
    """tenacity's default jitter is up to 1 s per retry: two retries could add two seconds."""
    call = Flaky(2, LegacyUnavailable("refused"))
    started = time.monotonic()
    assert LegacyGuard("test", retries=2).call(call) == "answer"
    assert time.monotonic() - started < 0.5


def test_a_policy_gives_each_system_its_own_circuit():
    policy = LegacyPolicy(timeout=0.5, fail_max=1, reset_timeout=60, retries=0)
    household, tax = policy.guard("household"), policy.guard("tax")
    with pytest.raises(LegacyUnavailable):
        household.call(Flaky(1, LegacyUnavailable("refused")))
    assert household.state == "open" and tax.state == "closed"
    assert tax.call(lambda: "answer") == "answer"
