from __future__ import annotations

import pytest

from app.numbers.breaker import CircuitBreaker
from app.numbers.errors import BackendUnavailableError


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_threshold() -> None:
    """It opens after the threshold of failures in a row, for the cooldown."""
    clock = Clock()
    breaker = CircuitBreaker(threshold=3, cooldown=5.0, clock=clock)
    assert (breaker.failed(), breaker.failed()) == (0, 0)
    breaker.check()  # two failures: still closed
    assert breaker.failed() == 3  # it opened, after 3 in a row
    clock.now += 0.4
    with pytest.raises(BackendUnavailableError, match="failed 3 times in a row") as raised:
        breaker.check()
    assert raised.value.status == 503
    assert raised.value.headers == {"Retry-After": "5"}  # 4.6 s left, rounded up
    clock.now += 4.6
    breaker.check()  # the cooldown is over: the next fetch may try


def test_a_success_resets_the_count() -> None:
    breaker = CircuitBreaker(threshold=2, cooldown=5.0, clock=Clock())
    breaker.failed()
    assert not breaker.succeeded()  # it was not open: nothing closed
    breaker.failed()
    breaker.check()


def test_a_success_after_opening_closes_it() -> None:
    breaker = CircuitBreaker(threshold=1, cooldown=5.0, clock=Clock())
    breaker.failed()
    assert breaker.succeeded()
    assert not breaker.succeeded()


def test_a_failed_trial_opens_it_again() -> None:
    clock = Clock()
    breaker = CircuitBreaker(threshold=1, cooldown=2.0, clock=clock)
    breaker.failed()
    clock.now += 2.0
    breaker.check()
    breaker.failed()  # the trial fetch failed
    with pytest.raises(BackendUnavailableError):
        breaker.check()


def test_threshold_zero_never_opens() -> None:
    breaker = CircuitBreaker(threshold=0, cooldown=5.0, clock=Clock())
    for _ in range(100):
        breaker.failed()
    breaker.check()
