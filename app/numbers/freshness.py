"""How long a fetched total may be answered again without waiting for a fetch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

State = Literal["fresh", "stale", "expired"]


@dataclass(frozen=True)
class Freshness:
    """TOTAL_MAX_AGE and TOTAL_STALE_WHILE_REVALIDATE: a total is fresh for `max_age` seconds
    after its fetch ended, then stale for `stale_while_revalidate` seconds (answered while one
    refresh runs), then expired. Both 0: every request waits for a fetch that ends after it."""

    max_age: float = 0.0
    stale_while_revalidate: float = 0.0

    @property
    def enabled(self) -> bool:
        return self.max_age > 0 or self.stale_while_revalidate > 0

    def state(self, age: float) -> State:
        """The state of a total `age` seconds after its fetch ended."""
        if age < self.max_age:
            return "fresh"
        if age < self.max_age + self.stale_while_revalidate:
            return "stale"
        return "expired"


# The default: no total is reused.
NEVER = Freshness()
