"""A circuit breaker: after failures in a row, fail fast for a while instead of asking again."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

from app.numbers import fetch_metrics
from app.numbers.errors import BackendUnavailableError

log = logging.getLogger(__name__)


class CircuitBreaker:
    """Opens after `threshold` failures in a row (0: never); while open, `check` raises for
    `cooldown` seconds. Then calls go through again: the next outcome closes it, or opens it
    for another `cooldown`.
    """

    def __init__(self, threshold: int, cooldown: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self._clock = clock
        self._failures = 0
        self._open_until = 0.0

    def is_open(self) -> bool:
        return self._open_until > self._clock()

    def publish(self) -> None:
        """Set the breaker's gauge: it turns from open to closed with time alone, so whoever
        reads the metrics calls this first."""
        fetch_metrics.BREAKER_OPEN.set(self.is_open())

    def check(self) -> None:
        """Raise BackendUnavailableError while the breaker is open."""
        left = self._open_until - self._clock()
        if left > 0:
            raise BackendUnavailableError(
                f"the numbers backend failed {self._failures} times in a row;"
                f" the service asks it again in {left:.1f} s",
                retry_after=math.ceil(left),
            )

    def succeeded(self) -> None:
        if self._failures >= self.threshold > 0:
            log.info("circuit breaker closed: the numbers backend answered again")
        self._failures = 0

    def failed(self) -> None:
        self._failures += 1
        if self._failures >= self.threshold > 0:
            self._open_until = self._clock() + self.cooldown
            log.warning(
                "circuit breaker open: %d fetches in a row failed; answering 503 for %g s",
                self._failures,
                self.cooldown,
            )
