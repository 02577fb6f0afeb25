"""The circuit breaker's rule on its own, with a hand-driven clock: it opens on a failing *share* of the calls
in its window (with a minimum count), so a Chatwoot that fails one call in five never stops a busy worker,
while one that is down is cut off after a handful of calls."""

from __future__ import annotations

import pytest

from aibroker.adapters.inbox.chatwoot_http import CircuitBreaker, CircuitOpenError


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _call(breaker: CircuitBreaker, *, fails: bool) -> None:
    breaker.before_call()
    if fails:
        breaker.record_failure()
    else:
        breaker.record_success()


def test_a_fifth_of_calls_failing_never_opens_it_even_in_runs() -> None:
    clock = Clock()
    breaker = CircuitBreaker(clock=clock)
    # 1,000 calls over 100 s, every 5th failing, plus runs of 6 failures in a row now and then: under the old
    # "5 failures in a row" rule each run would have opened the circuit for the whole cool-down.
    for number in range(1000):
        clock.now += 0.1
        run = number % 100 < 6 and number >= 100
        _call(breaker, fails=run or number % 5 == 0)
        assert breaker.state == "closed", f"opened at call {number}"


def test_a_just_started_worker_is_not_tripped_by_a_small_unlucky_sample() -> None:
    clock = Clock()
    breaker = CircuitBreaker(clock=clock)  # the defaults
    for number in range(16):  # its first calls: 7 of 16 fail (a quarter-failing Chatwoot, unlucky start)
        clock.now += 0.1
        _call(breaker, fails=number % 2 == 0 and number < 14)
    assert breaker.state == "closed"


def test_a_chatwoot_that_is_down_is_cut_off_after_the_threshold() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=5, clock=clock)
    for _ in range(20):  # a healthy past in the window
        clock.now += 0.1
        _call(breaker, fails=False)
    refused_at = None
    for number in range(1, 40):
        clock.now += 0.1
        try:
            _call(breaker, fails=True)
        except CircuitOpenError as error:
            assert error.retry_after_s is not None and 0 < error.retry_after_s <= breaker.reset_after_s
            refused_at = number
            break
    # It opened once failures were half of the calls in the window (20 successes + 20 failures): the 21st
    # call after the healthy past is refused without reaching Chatwoot.
    assert refused_at == 21 and breaker.state == "open"


def test_with_little_traffic_the_threshold_still_applies() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=5, clock=clock)
    for _ in range(4):
        _call(breaker, fails=True)
    assert breaker.state == "closed"  # 4 failures, even 100 % of the calls, are below the threshold
    _call(breaker, fails=True)
    assert breaker.state == "open"


def test_failures_slide_out_of_the_window() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=5, window_s=10.0, clock=clock)
    for _ in range(4):
        _call(breaker, fails=True)
    clock.now += 10.5  # those four are now older than the window
    for _ in range(4):
        _call(breaker, fails=True)
    assert breaker.state == "closed"
    _call(breaker, fails=True)
    assert breaker.state == "open"


def test_a_late_success_does_not_cut_the_cool_down_short_but_the_trial_does() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=3, reset_after_s=10.0, clock=clock)
    breaker.before_call()  # a slow call starts while Chatwoot still looks healthy ...
    for _ in range(3):
        _call(breaker, fails=True)
    assert breaker.state == "open"
    breaker.record_success()  # ... and ends after the circuit opened
    assert breaker.state == "open"
    with pytest.raises(CircuitOpenError):
        breaker.before_call()

    clock.now += 10.0
    assert breaker.state == "half_open"
    breaker.before_call()  # the one trial call
    with pytest.raises(CircuitOpenError):  # nobody else while it runs
        breaker.before_call()
    breaker.record_success()
    assert breaker.state == "closed"
    _call(breaker, fails=True)  # the failures before the opening were forgotten with it
    _call(breaker, fails=True)
    assert breaker.state == "closed"
