"""The numbers side reports what happens to fetches; observers subscribe (metrics, logs, traces).

Like aiohttp's TraceConfig signals: the core calls each event on the observer it was given and
knows nothing of what listens. An observer overrides the events it wants; `Observers` passes
each event to several. Events are called on the event loop, inside the fetch's own context
for the fetch events, and must not block.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from app.numbers.errors import BackendError

# How a request for the total got it: it started a fetch, joined one running, or was
# answered at once from a recent fetch's total, fresh or stale.
HowAnswered = Literal["started", "joined", "fresh", "stale"]


@dataclass(frozen=True)
class FetchReport:
    """What one fetch did: `outcome` is ok, not_modified, cancelled, or the failure's (`error`)."""

    fetch_id: str
    outcome: str
    seconds: float
    # Requests made to the backend: 1 plus the retries.
    attempts: int
    count: int = 0
    error: BackendError | None = None


class FetchObserver:
    """Every event, ignored: subclasses override those they observe."""

    def total_requested(self, how: HowAnswered) -> None:
        """A request for the total is answered `how`; for started or joined, once the fetch ends."""

    def fetch_started(self, fetch_id: str, source: str) -> None:
        """A fetch from `source` (its description) starts."""

    def fetch_retried(self, fetch_id: str, attempt: int, of: int, error: BackendError) -> None:
        """The backend is asked again after `error`: retry `attempt` of `of` at most."""

    def fetch_ended(self, report: FetchReport) -> None:
        """A fetch ended: successfully, reused by a 304, or failed (`report.error`)."""

    def breaker_opened(self, failures: int, cooldown: float) -> None:
        """After `failures` failed fetches in a row, the breaker answers for the backend for
        `cooldown` seconds from now."""

    def breaker_closed(self) -> None:
        """The backend answered again after the breaker had opened."""


class Observers(FetchObserver):
    """Passes every event to each of `observers`, in order."""

    def __init__(self, observers: Iterable[FetchObserver]) -> None:
        self._observers = tuple(observers)

    def total_requested(self, how: HowAnswered) -> None:
        for observer in self._observers:
            observer.total_requested(how)

    def fetch_started(self, fetch_id: str, source: str) -> None:
        for observer in self._observers:
            observer.fetch_started(fetch_id, source)

    def fetch_retried(self, fetch_id: str, attempt: int, of: int, error: BackendError) -> None:
        for observer in self._observers:
            observer.fetch_retried(fetch_id, attempt, of, error)

    def fetch_ended(self, report: FetchReport) -> None:
        for observer in self._observers:
            observer.fetch_ended(report)

    def breaker_opened(self, failures: int, cooldown: float) -> None:
        for observer in self._observers:
            observer.breaker_opened(failures, cooldown)

    def breaker_closed(self) -> None:
        for observer in self._observers:
            observer.breaker_closed()
