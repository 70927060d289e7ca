"""A circuit breaker: after failures in a row, fail fast for a while instead of asking again."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from app.numbers.errors import BackendUnavailableError


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

    def check(self) -> None:
        """Raise BackendUnavailableError while the breaker is open."""
        left = self._open_until - self._clock()
        if left > 0:
            raise BackendUnavailableError(
                f"the numbers backend failed {self._failures} times in a row;"
                f" the service asks it again in {left:.1f} s",
                retry_after=math.ceil(left),
            )

    def succeeded(self) -> bool:
        """Count a success; whether it closed the breaker."""
        was_open = self._failures >= self.threshold > 0
        self._failures = 0
        return was_open

    def failed(self) -> int:
        """Count a failure; the failures in a row if it opened the breaker, else 0."""
        self._failures += 1
        if self._failures >= self.threshold > 0:
            self._open_until = self._clock() + self.cooldown
            return self._failures
        return 0
